/**
 * `npm run bench:indexer`: the indexer's catch-up and query latency over a large fleet on a local node.
 *
 * Starts a `hardhat node`, deploys the system and runs the demo on it, then registers N devices
 * (`BENCH_INDEXER_DEVICES`, default 100,000) with `registerDevices`, `BENCH_INDEXER_BATCH` (default 500) per
 * transaction, and activates A of them (`BENCH_INDEXER_ACTIVATIONS`, default 10,000) with device-signed
 * `activateDevice` calls, several per block. Then it starts the indexer (Ponder on a fresh PGlite folder) and
 * times its catch-up to the node's head, and measures query latency (sequential GETs on loopback) for a
 * device page (GET /devices/:id) and a filtered, paginated list (GET /devices?status=&type=&limit=25, following
 * cursors). Prints each figure beside its target, and says plainly which target is missed and by how much.
 * `BENCH_INDEXER_LOG=<file>` keeps Ponder's log. `DATABASE_URL=postgres://…` runs it on Postgres, in a schema of
 * its own (`bench_<pid>`, about 290 MB at the default size), dropped when the bench ends. Not part of `npm test`;
 * the exit code is 0 even when a target is missed, 1 only if the bench itself fails.
 */
import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";

import { Client } from "pg";

import { DeviceRegistry__factory } from "../src/chain/factories";
import { checkFleetOptions, seedFleet } from "../src/bench/fleet";
import { percentile, renderVerdicts, runBench, verdict } from "../src/bench/verdict";
import type { BenchRow } from "../src/bench/verdict";
import { indexedBlock, startIndexer, waitCaughtUp } from "../src/indexer";
import { MARKER_SCHEMA } from "../src/indexer/postgres";
import { freePort, startDemoNode } from "../test/shared/node";

const DEVICES = Number(process.env.BENCH_INDEXER_DEVICES ?? "100000");
const BATCH = Number(process.env.BENCH_INDEXER_BATCH ?? "500");
const ACTIVATIONS = Number(process.env.BENCH_INDEXER_ACTIVATIONS ?? "10000");
const SAMPLES = Number(process.env.BENCH_INDEXER_SAMPLES ?? "1000");
const TARGET_EVENTS_PER_S = 5_000;
const TARGET_P99_MS = 50;
/** On Postgres, the schema this run's tables go into (Ponder refuses a schema another build of the app wrote). */
const SCHEMA = process.env.DATABASE_URL === undefined ? "bench" : `bench_${process.pid}`;

/** Runs `work` with a client of the Postgres at `url`, and closes it. */
async function withPostgres<T>(url: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Refuses to start if this run's schema already exists: the bench drops only a schema it created. */
async function refuseExistingSchema(url: string): Promise<void> {
  const found = await withPostgres(url, (client) =>
    client.query("SELECT 1 FROM information_schema.schemata WHERE schema_name = $1", [SCHEMA]),
  );
  if (found.rowCount !== 0)
    throw new Error(`schema ${SCHEMA} already exists in DATABASE_URL's database; the bench creates and drops its own`);
}

/** Drops this run's schema: a run leaves nothing behind in someone's database. */
async function dropSchema(url: string): Promise<void> {
  await withPostgres(url, async (client) => {
    await client.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`);
    // And its record of which chain it indexed (src/indexer/postgres.ts), there since the indexer started.
    const marked = await client.query<{ t: string | null }>(`select to_regclass('${MARKER_SCHEMA}.schema_chain') as t`);
    if (marked.rows[0]?.t !== null)
      await client.query(`delete from ${MARKER_SCHEMA}.schema_chain where schema_name = $1`, [SCHEMA]);
  });
  console.log(`  dropped the run's schema ${SCHEMA}`);
}

/** Sequential GETs of `routes`: each one's time in ms, sorted; fails on a non-200. */
async function latencies(base: string, routes: string[]): Promise<number[]> {
  const times: number[] = [];
  for (const route of routes) {
    const started = performance.now();
    const response = await fetch(`${base}${route}`);
    const body = await response.text();
    times.push(performance.now() - started);
    if (response.status !== 200) throw new Error(`GET ${route}: ${response.status} ${body.slice(0, 200)}`);
  }
  return times.sort((a, b) => a - b);
}

async function main(): Promise<void> {
  checkFleetOptions({ devices: DEVICES, batch: BATCH, activations: ACTIVATIONS });
  if (process.env.DATABASE_URL !== undefined) await refuseExistingSchema(process.env.DATABASE_URL);
  console.log(
    `bench:indexer: ${DEVICES} devices (${BATCH} per registerDevices), ${ACTIVATIONS} activations, on ${process.env.DATABASE_URL === undefined ? "PGlite (embedded)" : `Postgres (DATABASE_URL), schema ${SCHEMA}`}`,
  );
  const chain = await startDemoNode("bench-indexer");
  const { node, provider, addresses, deploymentDir, scratch } = chain;
  let indexer: Awaited<ReturnType<typeof startIndexer>> | undefined;
  try {
    const registry = DeviceRegistry__factory.connect(addresses.DeviceRegistry, provider);
    const seeded = await seedFleet(provider, { addresses, devices: DEVICES, batch: BATCH, activations: ACTIVATIONS });
    const ids = seeded.ids;
    console.log(`  registered ${DEVICES} devices in ${seeded.registerSeconds.toFixed(1)} s`);
    console.log(`  activated ${ACTIVATIONS} devices in ${seeded.activateSeconds.toFixed(1)} s`);
    const head = await provider.getBlockNumber();
    const logs = (await registry.queryFilter(registry.filters.DevicesRegistered())).length;

    // Catch-up: from the indexer's start to its /ready at the head.
    const port = await freePort();
    const started = performance.now();
    indexer = await startIndexer({
      rpcUrl: node.url,
      chainId: 31337n,
      deploymentDir,
      port,
      dataDir: path.join(scratch, "db"),
      // DATABASE_URL=postgres://… measures the same run on Postgres instead of the embedded PGlite.
      databaseUrl: process.env.DATABASE_URL,
      schema: SCHEMA,
      // BENCH_INDEXER_LOG=<file> keeps Ponder's log (where its time went).
      onLog: (line) => {
        if (process.env.BENCH_INDEXER_LOG !== undefined) fs.appendFileSync(process.env.BENCH_INDEXER_LOG, `${line}\n`);
      },
    });
    const pruned = Object.values(indexer.prunedSync).reduce((sum, n) => sum + n, 0);
    // Timed from the start: the deletion is part of this run's catch-up.
    if (pruned > 0) console.log(`  removed ${pruned} rows of an earlier run's chain from ponder_sync`);
    let serving: number | undefined;
    void (async () => {
      while (serving === undefined && indexer !== undefined) {
        if ((await indexedBlock(indexer.url)) !== undefined) serving = performance.now();
        else await sleep(100);
      }
    })();
    await waitCaughtUp(indexer, async () => head, { timeoutMs: 60 * 60_000, pollMs: 250 });
    const caughtUp = performance.now();
    const events = DEVICES + ACTIVATIONS;
    const seconds = (caughtUp - started) / 1000;
    const indexingSeconds = (caughtUp - (serving ?? started)) / 1000;
    const rate = events / seconds;

    // Queries.
    const fleet = (await (await fetch(`${indexer.url}/stats/fleet`)).json()) as { total: number };
    if (fleet.total < DEVICES) throw new Error(`the indexer holds ${fleet.total} devices, expected >= ${DEVICES}`);
    const pick = (n: number) => ids[Math.floor((n * 7919) % DEVICES)];
    await latencies(indexer.url, ["/devices?limit=1", `/devices/${ids[0]}`]); // warm-up
    const pages = await latencies(
      indexer.url,
      Array.from({ length: SAMPLES }, (_, i) => `/devices/${pick(i)}`),
    );
    const listRoutes: string[] = [];
    const filters = ["status=registered&type=3", "status=active", "manufacturer=1&type=5", "type=2"];
    let cursor: string | null = null;
    let filter = 0;
    const listTimes: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const route: string = `/devices?${filters[filter]}&limit=25${cursor === null ? "" : `&cursor=${cursor}`}`;
      const t0 = performance.now();
      const response = await fetch(`${indexer.url}${route}`);
      const body = (await response.json()) as { nextCursor: string | null };
      listTimes.push(performance.now() - t0);
      if (response.status !== 200) throw new Error(`GET ${route}: ${response.status}`);
      listRoutes.push(route);
      cursor = body.nextCursor;
      if (cursor === null || i % 100 === 99) {
        cursor = null;
        filter = (filter + 1) % filters.length;
      }
    }
    listTimes.sort((a, b) => a - b);

    const rows: BenchRow[] = [
      [
        "catch-up (device events/s, start to ready)",
        `${rate.toFixed(0)} /s (${events} events in ${seconds.toFixed(1)} s)`,
        `>= ${TARGET_EVENTS_PER_S}`,
        verdict(rate, TARGET_EVENTS_PER_S, true),
      ],
      [
        "  of which indexing (from first /status)",
        `${(events / indexingSeconds).toFixed(0)} /s (${indexingSeconds.toFixed(1)} s)`,
        "",
        "",
      ],
      [
        "device page p99 (GET /devices/:id)",
        `${percentile(pages, 99).toFixed(1)} ms (p50 ${percentile(pages, 50).toFixed(1)})`,
        `<= ${TARGET_P99_MS} ms`,
        verdict(percentile(pages, 99), TARGET_P99_MS, false),
      ],
      [
        "filtered list p99 (GET /devices?...&cursor)",
        `${percentile(listTimes, 99).toFixed(1)} ms (p50 ${percentile(listTimes, 50).toFixed(1)})`,
        `<= ${TARGET_P99_MS} ms`,
        verdict(percentile(listTimes, 99), TARGET_P99_MS, false),
      ],
    ];
    console.log(
      `\n  chain: ${head} blocks, ${logs} DevicesRegistered logs + ${ACTIVATIONS} DeviceActivated (+ fee transfers); ` +
        `events counted: a registration per device, an activation each; ${SAMPLES} sequential GETs per query`,
    );
    console.log(renderVerdicts(rows, [44, 36, 10]));
    if (DEVICES !== 100_000 || ACTIVATIONS !== 10_000)
      console.log(`(a smaller run than the issue's 100,000 registrations + 10,000 activations)`);
  } finally {
    await indexer?.stop();
    await chain.stop();
    if (indexer !== undefined && process.env.DATABASE_URL !== undefined) await dropSchema(process.env.DATABASE_URL);
  }
}

runBench("bench:indexer", main);
