import type { FormEvent } from "react";
import { useSearchParams } from "react-router";
import { formatEther } from "viem";

import { Pager, QueryState, useCursorPages } from "../components/IndexerPages";
import { asRevenue, channelList, utcTime } from "../indexer/api";
import type { AssetRevenue, ChannelFilters, ChannelRow } from "../indexer/api";
import { useIndexer } from "../indexer/hooks";
import "../indexer/indexer.css";

const LIMIT = 25;
const CHANNEL_STATUSES = ["Open", "Closed", "Reclaimed"] as const;
const FILTER_KEYS = ["as", "owner", "status"] as const;

const short = (hex: string) => `${hex.slice(0, 10)}…${hex.slice(-6)}`;
/** An amount in wei (ETH or THING, both 18 decimals) with its asset. */
const amount = (wei: string | null | undefined, token: boolean) =>
  wei === null || wei === undefined ? "—" : `${formatEther(BigInt(wei))} ${token ? "THING" : "ETH"}`;

/** Payment channels from the indexer, by AS and/or owner and status; with an AS, its revenue. */
export function ChannelsPage() {
  const [params, setParams] = useSearchParams();
  const filters: ChannelFilters = {};
  for (const k of FILTER_KEYS) {
    const v = params.get(k);
    if (v !== null && v !== "") filters[k] = v;
  }
  const filterKey = JSON.stringify(filters);

  function applyFilters(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const next = new URLSearchParams();
    for (const k of FILTER_KEYS) {
      const v = String(form.get(k) ?? "").trim();
      if (v !== "") next.set(k, v);
    }
    setParams(next);
  }

  return (
    <>
      <h1>Channels</h1>
      <form className="filters" onSubmit={applyFilters} key={filterKey} aria-label="Filters">
        <label>
          AS (payee)
          <input name="as" defaultValue={filters.as ?? ""} placeholder="0x…" />
        </label>
        <label>
          Owner
          <input name="owner" defaultValue={filters.owner ?? ""} placeholder="0x…" />
        </label>
        <label>
          Status
          <select name="status" defaultValue={filters.status ?? ""}>
            <option value="">any</option>
            {CHANNEL_STATUSES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <div>
          <button type="submit">Filter</button>
        </div>
      </form>
      {filters.as !== undefined && <Revenue key={filters.as} address={filters.as} />}
      <ChannelTable key={filterKey} filters={filters} />
    </>
  );
}

function Revenue({ address }: { address: string }) {
  const revenue = useIndexer(["as-revenue", address], (url, signal) => asRevenue(url, address, signal));
  if (revenue.isPending || revenue.isError) return <QueryState query={revenue} errorTestId="revenue-error" />;
  const row = (label: string, r: AssetRevenue, token: boolean) => (
    <tr>
      <th scope="row">{label}</th>
      <td>{amount(r.paid, token)}</td>
      <td>{amount(r.refunded, token)}</td>
      <td>{r.closed}</td>
      <td>{r.reclaimed}</td>
      <td>{r.open}</td>
      <td>{amount(r.openDeposits, token)}</td>
    </tr>
  );
  return (
    <section aria-label="Revenue" data-testid="revenue">
      <h2>Revenue of {short(revenue.data.as)}</h2>
      <div className="table-scroll">
        <table>
          <thead>
            <tr>
              <th>Asset</th>
              <th>Paid to the AS</th>
              <th>Refunded</th>
              <th>Closed</th>
              <th>Reclaimed</th>
              <th>Open</th>
              <th>Open deposits</th>
            </tr>
          </thead>
          <tbody>
            {row("ETH", revenue.data.eth, false)}
            {row("THING", revenue.data.token, true)}
          </tbody>
        </table>
      </div>
    </section>
  );
}

/** One page of GET /channels; Next follows `nextCursor`, Previous pops the cursors that led here. */
function ChannelTable({ filters }: { filters: ChannelFilters }) {
  const pages = useCursorPages();
  const { cursor } = pages;
  const page = useIndexer(["channels", filters, cursor], (url, signal) =>
    channelList(url, filters, LIMIT, cursor, signal),
  );
  if (page.isPending || page.isError) return <QueryState query={page} errorTestId="list-error" />;
  const { items, nextCursor } = page.data;
  return (
    <>
      {items.length === 0 ? (
        <p data-testid="no-channels">No channel matches.</p>
      ) : (
        <div className="table-scroll">
          <table className="channels">
            <thead>
              <tr>
                <th>Channel</th>
                <th>Status</th>
                <th>Owner</th>
                <th>AS</th>
                <th>Deposit</th>
                <th>Paid so far</th>
                <th>Expiry (UTC)</th>
              </tr>
            </thead>
            <tbody>
              {items.map((c: ChannelRow) => (
                <tr key={c.id} data-testid="channel-row" data-channel-id={c.id}>
                  <td className="mono" title={c.id}>
                    {short(c.id)}
                  </td>
                  <td>{c.status}</td>
                  <td className="mono" title={c.owner}>
                    {short(c.owner)}
                  </td>
                  <td className="mono" title={c.payee}>
                    {short(c.payee)}
                  </td>
                  <td data-testid="deposit">{amount(c.deposit, c.token)}</td>
                  {/* The chain knows what was paid only at the close: the AS holds the receipts until then. */}
                  <td>{c.status === "Open" ? "not settled yet" : amount(c.paid, c.token)}</td>
                  <td>{utcTime(c.expiry)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager pages={pages} nextCursor={nextCursor} />
    </>
  );
}
