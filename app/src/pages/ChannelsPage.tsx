import { formatEther } from "viem";

import { FilterForm, StatusField, TextField, useSearchFilters } from "../components/Filters";
import { CursorTable, QueryState } from "../components/IndexerPages";
import type { Column } from "../components/IndexerPages";
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
  const { filters, apply } = useSearchFilters(FILTER_KEYS);
  const filterKey = JSON.stringify(filters);

  return (
    <>
      <h1>Channels</h1>
      <FilterForm key={filterKey} onSubmit={(event) => apply(event)}>
        <TextField label="AS (payee)" name="as" value={filters.as} />
        <TextField label="Owner" name="owner" value={filters.owner} />
        <StatusField statuses={CHANNEL_STATUSES} value={filters.status} />
      </FilterForm>
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

const mono = (hex: string) => (
  <td className="mono" title={hex}>
    {short(hex)}
  </td>
);

const CHANNEL_COLUMNS: Column<ChannelRow>[] = [
  { header: "Channel", cell: (c) => mono(c.id) },
  { header: "Status", cell: (c) => <td>{c.status}</td> },
  { header: "Owner", cell: (c) => mono(c.owner) },
  { header: "AS", cell: (c) => mono(c.payee) },
  { header: "Deposit", cell: (c) => <td data-testid="deposit">{amount(c.deposit, c.token)}</td> },
  // The chain knows what was paid only at the close: the AS holds the receipts until then.
  { header: "Paid so far", cell: (c) => <td>{c.status === "Open" ? "not settled yet" : amount(c.paid, c.token)}</td> },
  { header: "Expiry (UTC)", cell: (c) => <td>{utcTime(c.expiry)}</td> },
];

/** One page of GET /channels; Next and Previous follow the indexer's cursor. */
function ChannelTable({ filters }: { filters: ChannelFilters }) {
  return (
    <CursorTable
      name="channel"
      queryKey={["channels", filters]}
      fetchPage={(url, cursor, signal) => channelList(url, filters, LIMIT, cursor, signal)}
      columns={CHANNEL_COLUMNS}
    />
  );
}
