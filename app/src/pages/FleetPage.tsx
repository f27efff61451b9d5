import { useMemo } from "react";
import { Link } from "react-router";

import { FilterForm, StatusField, TextField, useSearchFilters } from "../components/Filters";
import { CursorTable, QueryState } from "../components/IndexerPages";
import type { Column } from "../components/IndexerPages";
import { TimeChart } from "../components/TimeChart";
import { FILTER_KEYS, IndexerError, STATUSES, activationsPerDay, deviceList, fleetStats } from "../indexer/api";
import type { DeviceFilters, IndexedDevice } from "../indexer/api";
import { useIndexer } from "../indexer/hooks";
import "../indexer/indexer.css";

const DAYS = 30;
const DEFAULT_LIMIT = 25;

/** The fleet from the indexer: how many devices in each status, activations per day, and every device, filtered. */
export function FleetPage() {
  const { params, filters, apply } = useSearchFilters(FILTER_KEYS);
  const limitParam = Number(params.get("limit") ?? DEFAULT_LIMIT);
  const limit = Number.isInteger(limitParam) && limitParam >= 1 && limitParam <= 100 ? limitParam : DEFAULT_LIMIT;
  const filterKey = JSON.stringify([filters, limit]);

  return (
    <>
      <h1>Fleet</h1>
      <FleetCounts />
      <ActivationsChart />
      <h2>Devices</h2>
      <FilterForm
        key={filterKey}
        onSubmit={(event) => apply(event, limit === DEFAULT_LIMIT ? {} : { limit: String(limit) })}
      >
        <TextField label="Manufacturer id" name="manufacturer" value={filters.manufacturer} numeric />
        <TextField label="Owner" name="owner" value={filters.owner} />
        <StatusField statuses={STATUSES} value={filters.status} />
        <TextField label="Device type" name="type" value={filters.type} numeric />
        <TextField label="Whitelist root" name="whitelist" value={filters.whitelist} />
      </FilterForm>
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

const DEVICE_COLUMNS: Column<IndexedDevice>[] = [
  {
    header: "Device",
    cell: (d) => (
      <td className="mono">
        <Link to={`/devices/${d.id}`} title={d.id}>
          {short(d.id)}
        </Link>
      </td>
    ),
  },
  { header: "Status", cell: (d) => <td className={`status-${d.status.toLowerCase()}`}>{d.status}</td> },
  { header: "Manufacturer", cell: (d) => <td>{d.manufacturerId}</td> },
  { header: "Type", cell: (d) => <td>{d.deviceType}</td> },
  {
    header: "Owner",
    cell: (d) => (
      <td className="mono" title={d.owner ?? ""}>
        {short(d.owner)}
      </td>
    ),
  },
  { header: "Score", cell: (d) => <td>{d.score ?? "—"}</td> },
];

/** One page of GET /devices, by id; Next and Previous follow the indexer's cursor. */
function DeviceTable({ filters, limit }: { filters: DeviceFilters; limit: number }) {
  return (
    <CursorTable
      name="device"
      queryKey={["devices", filters, limit]}
      fetchPage={(url, cursor, signal) => deviceList(url, filters, limit, cursor, signal)}
      columns={DEVICE_COLUMNS}
    />
  );
}
