import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import type { HardhatRuntimeEnvironment } from "hardhat/types";

import { SYSTEM_CONTRACTS } from "../../src/chain/context";
import type { SystemContract } from "../../src/chain/context";
import { chainRecord } from "../../src/chain/reset";
import { UserError } from "../../src/errors";
import type { RunningIndexer } from "../../src/indexer";
import { loadSystem } from "./deployments";
import type { System } from "./deployments";

/** An indexer that follows the chain `hre` names, up and caught up; `stop` ends it and whatever it needed. */
export interface IndexerSession {
  system: System;
  indexer: RunningIndexer;
  indexedBlock: number;
  /** Ponder resumed from its database (its crash recovery) instead of indexing from scratch. */
  resumed: boolean;
  /** The in-process chain's JSON-RPC URL served for Ponder; undefined on a network with a URL. */
  served?: string;
  /** The Ignition address book the indexer reads: the network's, or the in-process run's throwaway copy. */
  deploymentDir: string;
  /** The database: "postgres (DATABASE_URL)", "pglite <dir>", or the in-process run's throwaway folder. */
  database: string;
  /**
   * With `stallMs`: resolves with a one-line reason once the indexer cannot advance (Ponder's own signal, its
   * exit, or a stall), `/ready` and `/health` answering 503 with it from then on; pending otherwise.
   */
  failed: Promise<string>;
  stop(): Promise<void>;
}

export interface IndexerSessionOptions {
  port: number;
  host: string;
  sql: boolean;
  /** PGlite's folder on a network with a URL; undefined (and always on the in-process network): a throwaway one. */
  dir?: string;
  schema: string;
  /** The system to index (the demo's own deployment); by default the network's, as `loadSystem` gives it. */
  system?: System;
  onProgress?: (indexed: number, head: number) => void;
  /**
   * Watch the indexer once caught up ({@link watchIndexer}): the longest its indexed block may stay behind the
   * chain's head without moving, in ms (0: only Ponder's own signal and its exit). Unwatched when undefined.
   */
  stallMs?: number;
}

/** How long a failed indexer keeps answering 503 on `/ready` and `/health` before it stops: probes see why. */
export const UNHEALTHY_LINGER_MS = 5000;

/** Hardhat's JSON-RPC server (as `hardhat node` runs it), over the in-process network's provider. */
interface RpcServer {
  listen(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
}

/**
 * Starts the indexer on `hre`'s network and waits until it has caught up. On a network with a URL it follows
 * that URL. On the in-process network (no URL) it loads the dev system (deployed if needed), serves the
 * in-process chain over JSON-RPC on a free port of 127.0.0.1 for Ponder, writes its address book to a
 * throwaway folder, and indexes into a throwaway PGlite folder (the chain ends with the task, and its data too).
 */
export async function startIndexerSession(
  hre: HardhatRuntimeEnvironment,
  options: IndexerSessionOptions,
): Promise<IndexerSession> {
  const system = options.system ?? (await loadSystem(hre));
  const { indexedBlock: statusBlock, startIndexer, waitCaughtUp, watchIndexer } = await import("../../src/indexer");
  const { deploymentDir } = await import("./deployments");
  const cleanup: (() => Promise<void>)[] = [];
  let stopping = false;
  const stopAll = async () => {
    stopping = true;
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
    cleanup.length = 0;
  };
  try {
    let rpcUrl: string;
    let bookDir: string;
    const throwaway = options.dir === undefined || !("url" in hre.network.config);
    // A temp folder only when something is throwaway (the in-process address book, its database).
    const scratch = throwaway ? fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-indexer-")) : "";
    if (throwaway) cleanup.push(async () => fs.rmSync(scratch, { recursive: true, force: true }));
    const dataDir = throwaway ? path.join(scratch, "pglite") : path.resolve(options.dir!);
    const database =
      process.env.DATABASE_URL !== undefined
        ? "postgres (DATABASE_URL)"
        : throwaway
          ? "pglite (throwaway)"
          : `pglite ${options.dir}`;
    let served: string | undefined;
    if ("url" in hre.network.config) {
      rpcUrl = hre.network.config.url;
      bookDir = deploymentDir(hre, system.chainId);
    } else {
      // Loaded only here: Hardhat's internals, for the in-process network.
      const { JsonRpcServer } = (await import("hardhat/internal/hardhat-network/jsonrpc/server")) as unknown as {
        JsonRpcServer: new (config: { hostname: string; port: number; provider: unknown }) => RpcServer;
      };
      const server = new JsonRpcServer({ hostname: "127.0.0.1", port: 0, provider: hre.network.provider });
      const { port } = await server.listen();
      cleanup.push(() => server.close());
      rpcUrl = served = `http://127.0.0.1:${port}`;
      bookDir = path.join(scratch, "deployment");
      fs.mkdirSync(bookDir);
      const book: Record<string, string> = {};
      for (const [name, future] of Object.entries(SYSTEM_CONTRACTS) as [SystemContract, string][])
        book[future] = system.addresses[name];
      fs.writeFileSync(path.join(bookDir, "deployed_addresses.json"), JSON.stringify(book, null, 2));
    }
    let resumed = false;
    const indexer = await startIndexer({
      rpcUrl,
      chainId: system.chainId,
      deploymentDir: bookDir,
      port: options.port,
      host: options.host,
      sql: options.sql,
      dataDir,
      databaseUrl: process.env.DATABASE_URL,
      schema: options.schema,
      // A kept folder is bound to this chain: a restarted development node is refused, not resumed.
      genesis: throwaway ? undefined : (await chainRecord(system.provider)).genesisHash || undefined,
      // Ponder logs every live block; its warnings and errors are what a user needs to see.
      onLog: (line) => {
        if (/Detected crash recovery/.test(line)) resumed = true;
        // Its shutdown warnings ("Received SIGTERM") are ours: not worth showing.
        if (/\b(WARN|ERROR)\b/.test(line) && !stopping) process.stderr.write(`${line}\n`);
      },
    });
    cleanup.push(() => indexer.stop());
    const indexedBlock = await waitCaughtUp(indexer, () => system.provider.getBlockNumber(), {
      timeoutMs: 30 * 60_000,
      progress: options.onProgress,
    });
    let failed = new Promise<string>(() => undefined);
    if (options.stallMs !== undefined) {
      const watch = watchIndexer(
        {
          indexed: () => statusBlock(indexer.url),
          head: () => system.provider.getBlockNumber(),
          failed: indexer.failed,
        },
        { stallMs: options.stallMs },
      );
      cleanup.push(async () => watch.stop());
      failed = watch.failed.then(async (reason) => {
        indexer.markUnhealthy(reason);
        // Said now; stopped a little later, so that a probe of /ready or /health sees the reason.
        if (indexer.process.exitCode === null && indexer.process.signalCode === null)
          cleanup.push(() => new Promise((r) => setTimeout(r, UNHEALTHY_LINGER_MS)));
        return reason;
      });
    }
    return { system, indexer, indexedBlock, resumed, served, deploymentDir: bookDir, database, failed, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error instanceof Error ? error : new UserError(String(error));
  }
}
