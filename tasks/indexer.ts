import { UserError } from "../src/errors";
import { defineTask } from "./lib";

interface IndexerSummary {
  network: string;
  chainId: string;
  url: string;
  database: string;
  indexedBlock: number;
  /** Whether Ponder resumed from what the database held (its crash recovery), rather than indexing from scratch. */
  resumed: boolean;
  /** Rows of another chain with this id (a restarted development node) removed from Postgres's ponder_sync. */
  prunedSyncRows: number;
  /** On the in-process network: its chain and the indexer's data end with the task. */
  inProcess: boolean;
  routes: string[];
}

defineTask(
  "indexer",
  "Indexes the system's events (Ponder, embedded PGlite or Postgres via DATABASE_URL) and serves the query API (default: the in-process network, throwaway)",
)
  .addOptionalParam("port", "HTTP port of the query API (REST, /graphql, and /sql with --sql)", "42069")
  .addOptionalParam("host", "Interface the query API listens on (0.0.0.0: every interface)", "127.0.0.1")
  .addFlag("sql", "Also serve Ponder's SQL over HTTP (/sql/*): any read-only query, so only for trusted clients")
  .addOptionalParam("dir", "PGlite data folder (unused with DATABASE_URL)", "data/indexer")
  .addOptionalParam("schema", "Database schema the indexer's tables go into", "thingledger")
  .addOptionalParam(
    "stallSeconds",
    "Seconds the indexed block may stay behind the chain's head without moving before the task calls the indexer stuck, answers 503 on /ready and exits with code 1 (0: only on Ponder's own signal)",
    "120",
  )
  .serve(
    async (
      args: {
        port: string;
        host: string;
        sql: boolean;
        dir: string;
        schema: string;
        stallSeconds: string;
        json: boolean;
      },
      hre,
    ) => {
      const port = Number(args.port);
      if (!Number.isInteger(port) || port < 1 || port > 65535)
        throw new UserError(`--port "${args.port}" is not a port (1-65535)`);
      if (!/^\d{1,6}$/.test(args.stallSeconds))
        throw new UserError(`--stall-seconds "${args.stallSeconds}" is not a whole number of seconds (0-999999)`);
      // Loaded here, as every task does: the deployments module loads the TypeChain factories, which a fresh
      // clone has only after its first compile (and `hardhat compile` loads this file first).
      const { startIndexerSession } = await import("./support/indexer");
      const session = await startIndexerSession(hre, {
        port,
        host: args.host,
        sql: args.sql,
        dir: args.dir,
        schema: args.schema,
        onProgress: (at, head) => process.stderr.write(`indexer: block ${at} of ${head}\n`),
        stallMs: Number(args.stallSeconds) * 1000,
      });
      const { indexer, indexedBlock, resumed } = session;
      const summary: IndexerSummary = {
        network: hre.network.name,
        chainId: session.system.chainId.toString(),
        url: indexer.url,
        database: session.database,
        inProcess: session.served !== undefined,
        indexedBlock,
        resumed,
        prunedSyncRows: Object.values(indexer.prunedSync).reduce((sum, n) => sum + n, 0),
        routes: [
          "/devices/:id",
          "/devices",
          "/stats/fleet",
          "/stats/activations",
          "/manufacturers/:id",
          "/wallets/:address",
          "/channels/:id",
          "/channels",
          "/as/:address/revenue",
          "/auditors/:address",
          "/graphql",
          ...(args.sql ? ["/sql/*"] : []),
          "/status",
          "/ready",
        ],
      };
      // An indexer that cannot advance is not left serving as if healthy: the task ends with one line and
      // exit code 1, for a supervisor to restart it.
      const failed = session.failed.then(
        (reason) =>
          `the indexer cannot advance: ${reason}; it stopped (exit code 1), for a supervisor or you to restart it`,
      );
      return { summary, stop: () => session.stop(), failed };
    },
    (s) =>
      `Indexer caught up with block ${s.indexedBlock} of network "${s.network}" (chain ${s.chainId}), ${s.database}${s.resumed ? " (resumed from its data)" : ""}${s.prunedSyncRows > 0 ? ` (removed ${s.prunedSyncRows} rows of another chain with id ${s.chainId} from ponder_sync)` : ""}; serving ${s.url} (${s.routes.join(", ")}); Ctrl-C stops it${
        s.inProcess
          ? "\n(in-process network: the chain and the indexer's data are throwaway and end with this task; use --network localhost to keep them)"
          : ""
      }`,
  );
