import path from "node:path";

import { UserError } from "../src/errors";
import { defineTask } from "./lib";

interface IndexerSummary {
  network: string;
  chainId: string;
  url: string;
  database: string;
  indexedBlock: number;
  routes: string[];
}

defineTask(
  "indexer",
  "Indexes the system's events (Ponder, embedded PGlite or Postgres via DATABASE_URL) and serves the query API",
)
  .addOptionalParam("port", "HTTP port of the query API (REST, /graphql, and /sql with --sql)", "42069")
  .addOptionalParam("host", "Interface the query API listens on (0.0.0.0: every interface)", "127.0.0.1")
  .addFlag("sql", "Also serve Ponder's SQL over HTTP (/sql/*): any read-only query, so only for trusted clients")
  .addOptionalParam("dir", "PGlite data folder (unused with DATABASE_URL)", "data/indexer")
  .addOptionalParam("schema", "Database schema the indexer's tables go into", "thingledger")
  .serve(
    async (args: { port: string; host: string; sql: boolean; dir: string; schema: string; json: boolean }, hre) => {
      if (!("url" in hre.network.config))
        throw new UserError(
          "the indexer follows a chain over JSON-RPC: run it with --network localhost (npx hardhat node) or a live network",
        );
      const port = Number(args.port);
      if (!Number.isInteger(port) || port < 1 || port > 65535)
        throw new UserError(`--port "${args.port}" is not a port (1-65535)`);
      // Loaded here, as every task does: the deployments module loads the TypeChain factories, which a fresh
      // clone has only after its first compile (and `hardhat compile` loads this file first).
      const { deploymentDir, loadSystem } = await import("./support/deployments");
      const system = await loadSystem(hre);
      const { startIndexer, waitCaughtUp } = await import("../src/indexer");
      const indexer = await startIndexer({
        rpcUrl: hre.network.config.url,
        chainId: system.chainId,
        deploymentDir: deploymentDir(hre, system.chainId),
        port,
        host: args.host,
        sql: args.sql,
        dataDir: path.resolve(args.dir),
        databaseUrl: process.env.DATABASE_URL,
        schema: args.schema,
        // Ponder logs every live block; its warnings and errors are what a user needs to see.
        onLog: (line) => {
          if (/\b(WARN|ERROR)\b/.test(line)) process.stderr.write(`${line}\n`);
        },
      });
      let indexedBlock: number;
      try {
        indexedBlock = await waitCaughtUp(indexer, () => system.provider.getBlockNumber(), {
          timeoutMs: 30 * 60_000,
          progress: (at, head) => process.stderr.write(`indexer: block ${at} of ${head}\n`),
        });
      } catch (error) {
        await indexer.stop();
        throw error;
      }
      const summary: IndexerSummary = {
        network: hre.network.name,
        chainId: system.chainId.toString(),
        url: indexer.url,
        database: process.env.DATABASE_URL !== undefined ? "postgres (DATABASE_URL)" : `pglite ${args.dir}`,
        indexedBlock,
        routes: [
          "/devices/:id",
          "/devices",
          "/stats/fleet",
          "/graphql",
          ...(args.sql ? ["/sql/*"] : []),
          "/status",
          "/ready",
        ],
      };
      return { summary, stop: () => indexer.stop() };
    },
    (s) =>
      `Indexer caught up with block ${s.indexedBlock} of network "${s.network}" (chain ${s.chainId}), ${s.database}; serving ${s.url} (${s.routes.join(", ")}); Ctrl-C stops it`,
  );
