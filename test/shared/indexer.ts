import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";

import type { JsonRpcProvider } from "ethers";

import { ROOT, freePort } from "./cli";
import { Exited, outputOf, stopGroup, until } from "./process";

/** An asset's allowance as GET /wallets/:address answers it (amounts as decimal strings). */
export interface AllowanceAnswer {
  asset: string;
  limit: string;
  spentThisPeriod: string;
  spentPreviousPeriod: string;
  available: string;
  totalSpent: string;
}

/** A running `npx hardhat indexer`: its REST base url, what it printed so far, and how to stop it. */
export interface RunningIndexer {
  url: string;
  port: number;
  process: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** The block the indexer at `url` has indexed up to (from Ponder's `/status`), if it says. */
export async function indexedBlock(url: string): Promise<number | undefined> {
  const status = (await (await fetch(`${url}/status`)).json()) as Record<string, { block: { number: number } }>;
  return Object.values(status)[0]?.block.number;
}

/** Waits until the indexer at `url` has indexed the chain's head; returns the block it is at. */
export async function caughtUp(url: string, provider: JsonRpcProvider, ms: number): Promise<number> {
  return until(
    "the indexer to catch up",
    ms,
    async () => {
      const [at, head] = await Promise.all([indexedBlock(url), provider.getBlockNumber()]);
      return at !== undefined && at >= head ? at : undefined;
    },
    500,
  );
}

/**
 * Starts `npx hardhat indexer --network localhost` as a user runs it (its own process group, on PGlite in
 * `dir`, with `env` naming the node and the deployment) on `port` (a free one if not given), and waits until
 * it says it caught up and its `/status` has reached the chain's head. A process that exits fails at once,
 * with what it printed.
 */
export async function startIndexer(options: {
  env: NodeJS.ProcessEnv;
  dir: string;
  provider: JsonRpcProvider;
  port?: number;
  /** The database schema (`--schema`); the task's default when undefined. */
  schema?: string;
}): Promise<RunningIndexer> {
  const port = options.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const schema = options.schema === undefined ? [] : ["--schema", options.schema];
  const child = spawn(
    "npx",
    ["hardhat", "indexer", "--network", "localhost", "--port", String(port), "--dir", options.dir, ...schema],
    {
      cwd: ROOT,
      env: { ...process.env, ...options.env, FORCE_COLOR: "0" },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    },
  );
  const output = outputOf(child);
  const indexer = { url, port, process: child, output, stop: () => stopGroup(child) };
  try {
    await until(
      "the indexer's summary",
      600_000,
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) throw new Exited("the indexer exited");
        return output().includes("Indexer caught up") ? true : undefined;
      },
      500,
    );
    await caughtUp(url, options.provider, 300_000);
  } catch (e) {
    await stopGroup(child);
    throw new Error(`${(e as Error).message}\n${output()}`, { cause: e });
  }
  return indexer;
}
