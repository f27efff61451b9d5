import { useMemo } from "react";
import type { FormEvent } from "react";
import { Link, useSearchParams } from "react-router";

import { Pager, QueryState, useCursorPages } from "../components/IndexerPages";
import { TimeChart } from "../components/TimeChart";
import { FILTER_KEYS, IndexerError, STATUSES, activationsPerDay, deviceList, fleetStats } from "../indexer/api";
import type { DeviceFilters } from "../indexer/api";
import { useIndexer } from "../indexer/hooks";
import "../indexer/indexer.css";

const DAYS = 30;
const DEFAULT_LIMIT = 25;

/** The fleet from the indexer: how many devices in each status, activations per day, and every device, filtered. */
export function FleetPage() {
  const [params, setParams] = useSearchParams();
  const filters: DeviceFilters = {};
  for (const k of FILTER_KEYS) {
    const v = params.get(k);
    if (v !== null && v !== "") filters[k] = v;
  }
  const limitParam = Number(params.get("limit") ?? DEFAULT_LIMIT);
  const limit = Number.isInteger(limitParam) && limitParam >= 1 && limitParam <= 100 ? limitParam : DEFAULT_LIMIT;
  const filterKey = JSON.stringify([filters, limit]);

  function applyFilters(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const next = new URLSearchParams();
    for (const k of FILTER_KEYS) {
      const v = String(form.get(k) ?? "").trim();
      if (v !== "") next.set(k, v);
    }
    if (limit !== DEFAULT_LIMIT) next.set("limit", String(limit));
    setParams(next);
  }

  return (
    <>
      <h1>Fleet</h1>
      <FleetCounts />
      <ActivationsChart />
      <h2>Devices</h2>
      <form className="filters" onSubmit={applyFilters} key={filterKey} aria-label="Filters">
        <label>
          Manufacturer id
          <input name="manufacturer" defaultValue={filters.manufacturer ?? ""} inputMode="numeric" />
        </label>
        <label>
          Owner
          <input name="owner" defaultValue={filters.owner ?? ""} placeholder="0x…" />
        </label>
        <label>
          Status
          <select name="status" defaultValue={filters.status ?? ""}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Device type
          <input name="type" defaultValue={filters.type ?? ""} inputMode="numeric" />
        </label>
        <label>
          Whitelist root
          <input name="whitelist" defaultValue={filters.whitelist ?? ""} placeholder="0x…" />
        </label>
        <div>
          <button type="submit">Filter</button>
        </div>
      </form>
      <DeviceTable key={filterKey} filters={filters} limit={limit} />
    </>
  );
}

function FleetCounts() {
  const stats = useIndexer(["stats/fleet"], fleetStats);
  if (stats.isPending || stats.isError) return <QueryState query={stats} errorTestId="indexer-error" />;
  const { total, byStatus } = stats.data;
  return (
    <dl className="counts" aria-label="Devices by status">
      <div>
        <dt>All devices</dt>
        <dd data-testid="count-total">{total}</dd>
      </div>
      {STATUSES.map((s) => (
        <div key={s}>
          <dt>{s}</dt>
          <dd data-testid={`count-${s}`} className={`status-${s.toLowerCase()}`}>
            {byStatus[s]}
          </dd>
        </div>
      ))}
    </dl>
  );
}

function ActivationsChart() {
  const days = useIndexer(["stats/activations", DAYS], (url, signal) => activationsPerDay(url, DAYS, signal));
  const series = useMemo(() => {
    if (days.data === undefined) return undefined;
    const x = days.data.map((d) => Date.parse(`${d.day}T00:00:00Z`) / 1000);
    const y = days.data.map((d) => d.activations);
    return { x, y, total: y.reduce((a, b) => a + b, 0) };
  }, [days.data]);
  const missing = days.error instanceof IndexerError && days.error.missingRoute;
  return (
    <section>
      <h2>Activations per day</h2>
      {days.isPending && <p className="hint">Reading the indexer…</p>}
      {days.isError && (
        <p
          className={missing ? "hint" : "error"}
          role={missing ? undefined : "alert"}
          data-testid="activations-unavailable"
        >
          {missing
            ? "Activations per day are not available from this indexer (it has no /stats/activations route)."
            : days.error.message}
        </p>
      )}
      {series !== undefined && (
        <TimeChart
          x={series.x}
          y={series.y}
          label="activations"
          kind="bars"
          testId="activations-chart"
          summary={`${series.total} activation${series.total === 1 ? "" : "s"} in the last ${DAYS} days (UTC days).`}
        />
      )}
    </section>
  );
}

const short = (hex: string | null) => (hex === null ? "—" : `${hex.slice(0, 10)}…${hex.slice(-6)}`);

/** One page of GET /devices; Next follows `nextCursor`, Previous pops the stack of cursors that led here. */
function DeviceTable({ filters, limit }: { filters: DeviceFilters; limit: number }) {
  const pages = useCursorPages();
  const { cursor } = pages;
  const page = useIndexer(["devices", filters, limit, cursor], (url, signal) =>
    deviceList(url, filters, limit, cursor, signal),
  );
  if (page.isPending || page.isError) return <QueryState query={page} errorTestId="list-error" />;
  const { items, nextCursor } = page.data;
  return (
    <>
      {items.length === 0 ? (
        <p data-testid="no-devices">No device matches.</p>
      ) : (
        <div className="table-scroll">
          <table className="devices">
            <thead>
              <tr>
                <th>Device</th>
                <th>Status</th>
                <th>Manufacturer</th>
                <th>Type</th>
                <th>Owner</th>
                <th>Score</th>
              </tr>
            </thead>
            <tbody>
              {items.map((d) => (
                <tr key={d.id} data-testid="device-row" data-device-id={d.id}>
                  <td className="mono">
                    <Link to={`/devices/${d.id}`} title={d.id}>
                      {short(d.id)}
                    </Link>
                  </td>
                  <td className={`status-${d.status.toLowerCase()}`}>{d.status}</td>
                  <td>{d.manufacturerId}</td>
                  <td>{d.deviceType}</td>
                  <td className="mono" title={d.owner ?? ""}>
                    {short(d.owner)}
                  </td>
                  <td>{d.score ?? "—"}</td>
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
