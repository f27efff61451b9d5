import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";

import { UserError } from "../errors";
import { MARKER_SCHEMA, claimPostgresChain } from "./postgres";
import type { PostgresClaim } from "./postgres";
import { ponderRpc } from "./rpc";
import { ponderCannotAdvance } from "./watchdog";

/** Where the indexer's Ponder project (config, schema, handlers, API) lives. */
export const INDEXER_ROOT = path.join(__dirname, "..", "..", "indexer");

/** How to run the indexer: the chain, the deployment folder (its address book), where its data goes, the port. */
export interface IndexerOptions {
  rpcUrl: string;
  chainId: bigint;
  deploymentDir: string;
  port: number;
  /** The interface the query API listens on: by default 127.0.0.1, this machine only. */
  host?: string;
  /** Serve Ponder's SQL over HTTP (`/sql/*`): off by default, since one query may join tables without bound
   * and hold the embedded database (and every route with it) for minutes. */
  sql?: boolean;
  /** PGlite's folder; ignored when `databaseUrl` is set. */
  dataDir: string;
  /** Postgres (`DATABASE_URL`); embedded PGlite when undefined. */
  databaseUrl?: string;
  /** The database schema Ponder writes its tables into. */
  schema: string;
  /** Ponder's log lines, as it prints them. */
  onLog?: (line: string) => void;
  /** The chain's genesis block hash: a PGlite folder that indexed another chain is refused
   * ({@link claimDataDirChain}). Unchecked when undefined (a throwaway folder). On Postgres the check is
   * always made ({@link claimPostgresChain}), with the node's genesis read from `rpcUrl` when undefined. */
  genesis?: string;
}

/** A running indexer: its HTTP address, and how to stop it. */
export interface RunningIndexer {
  url: string;
  process: ChildProcess;
  /** Resolves when Ponder exits, with its exit code. */
  exited: Promise<number | null>;
  /** Ponder said its port was in use (it then serves elsewhere): the indexer must not be trusted. */
  readonly portTaken: boolean;
  /**
   * Resolves with a one-line reason once Ponder cannot advance: its log says so (a reorg below its final
   * blocks, a block that links to no parent), or it exited without being stopped. Pending otherwise.
   */
  failed: Promise<string>;
  /** Rows of another chain with this id that were removed from Postgres's `ponder_sync`, by table. */
  prunedSync: Record<string, number>;
  /** From now on Ponder's `/ready` and `/health` answer 503 with `reason` (`indexer/parent-watch.cjs`). */
  markUnhealthy(reason: string): void;
  stop(): Promise<void>;
}

/** The environment Ponder's config (indexer/ponder.config.ts) reads. */
export function indexerEnv(options: IndexerOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    THINGLEDGER_RPC_URL: options.rpcUrl,
    THINGLEDGER_CHAIN_ID: options.chainId.toString(),
    THINGLEDGER_DEPLOYMENT_DIR: options.deploymentDir,
    THINGLEDGER_INDEXER_DATA: options.dataDir,
    // Offline by design: no telemetry leaves the machine.
    PONDER_TELEMETRY_DISABLED: "true",
    NO_COLOR: "1",
    FORCE_COLOR: "0",
  };
  if (options.sql === true) env.THINGLEDGER_INDEXER_SQL = "1";
  else delete env.THINGLEDGER_INDEXER_SQL;
  if (options.databaseUrl !== undefined) env.DATABASE_URL = options.databaseUrl;
  else delete env.DATABASE_URL;
  return env;
}

/** Refuses, in one line, a port something already listens on (Ponder would quietly take the next one). */
async function ensurePortFree(host: string, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        error.code === "EADDRINUSE"
          ? new UserError(`port ${port} on ${host} is taken (another indexer?); choose another with --port`)
          : new UserError(`cannot listen on ${host}:${port}: ${error.message}`),
      ),
    );
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}

/** The file beside a PGlite folder (`<folder>.lock`) that names the process using it: PGlite is not safe
 * across processes, and wants its folder to itself. */
export const lockFileOf = (dataDir: string): string => `${path.resolve(dataDir)}.lock`;

/** Whether a process with this pid is running. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Takes the PGlite folder for this process (its parent created if missing): refuses in one line a folder
 * another running indexer holds; a lock left by a process that is gone is taken over. Returns the lock's path.
 */
export function lockDataDir(dataDir: string): string {
  const lock = lockFileOf(dataDir);
  fs.mkdirSync(path.dirname(lock), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lock, `${process.pid}\n`, { flag: "wx" });
      return lock;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = Number(fs.readFileSync(lock, "utf8").trim());
      if (Number.isInteger(holder) && holder > 0 && alive(holder))
        throw new UserError(
          `${dataDir} is in use by another indexer (pid ${holder}); stop it, or choose another --dir`,
        );
      fs.rmSync(lock, { force: true }); // its holder is gone
    }
  }
  throw new UserError(`${dataDir}: another indexer is starting on it; try again`);
}

/** Where the genesis block hash of the chain a PGlite folder indexes is kept: beside the folder. */
export const chainFileOf = (dataDir: string): string => `${path.resolve(dataDir)}.chain`;

/**
 * Binds a PGlite folder to one chain by its genesis block hash. A development node that restarts is a new chain
 * with the same chain id, and redeployed it has the same addresses and start blocks, so Ponder would take the
 * folder for its own and resume from the old chain's checkpoint: such a folder is refused in one line. A folder
 * that does not exist yet (or was deleted) takes this chain; one from before this check takes it too.
 */
export function claimDataDirChain(dataDir: string, genesis: string): void {
  const file = chainFileOf(dataDir);
  const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8").trim() : "";
  // Only a whole hash counts: anything else (a file cut short by hand) binds nothing.
  const recorded = /^0x[0-9a-fA-F]{64}$/.test(text) ? text.toLowerCase() : undefined;
  if (recorded === genesis.toLowerCase()) return;
  if (recorded !== undefined && fs.existsSync(dataDir))
    throw new UserError(
      `${dataDir} holds the index of another chain (genesis block ${recorded.slice(0, 10)}…; this node's is ` +
        `${genesis.slice(0, 10)}…: a development node that restarted?); delete the folder, or choose another --dir`,
    );
  // Written whole or not at all (a crash between the two steps leaves the old file, or none).
  fs.writeFileSync(`${file}.tmp`, `${genesis}\n`);
  fs.renameSync(`${file}.tmp`, file);
}

/** Takes the PGlite folder (its lock, then its chain), or nothing on Postgres; returns the lock's path. */
function takeDataDir(options: IndexerOptions): string | undefined {
  if (options.databaseUrl !== undefined) return undefined;
  const lock = lockDataDir(options.dataDir);
  try {
    if (options.genesis !== undefined) claimDataDirChain(options.dataDir, options.genesis);
  } catch (error) {
    fs.rmSync(lock, { force: true });
    throw error;
  }
  return lock;
}

/** The node's hash of block `number` at `rpcUrl` (undefined: no such block), or a one-line error that does not
 * show the URL (a provider's URL may hold its API key). */
export async function rpcBlockHash(rpcUrl: string, number: bigint): Promise<string | undefined> {
  try {
    const response = await fetch(rpcUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "eth_getBlockByNumber",
        params: [`0x${number.toString(16)}`, false],
      }),
      signal: AbortSignal.timeout(15_000),
    });
    const body = (await response.json()) as { result?: { hash?: unknown } | null; error?: { message?: string } };
    if (body.error !== undefined) throw new Error(body.error.message ?? "an RPC error");
    const hash = body.result?.hash;
    return typeof hash === "string" ? hash : undefined;
  } catch (error) {
    throw new UserError(`the node did not give block ${number} (${(error as Error).message.split("\n")[0]})`);
  }
}

/** On Postgres, the database's claim for this chain ({@link claimPostgresChain}); nothing on PGlite. */
async function claimDatabase(options: IndexerOptions): Promise<PostgresClaim | undefined> {
  if (options.databaseUrl === undefined) return undefined;
  const genesis = options.genesis ?? (await rpcBlockHash(options.rpcUrl, 0n));
  if (genesis === undefined) throw new UserError("the node has no genesis block");
  return claimPostgresChain({
    databaseUrl: options.databaseUrl,
    schema: options.schema,
    chainId: options.chainId,
    genesis,
    blockHash: (number) => rpcBlockHash(options.rpcUrl, number),
  });
}

/** Schemas an indexer may not take: Postgres's own, Ponder's sync cache, this project's chain records. */
const RESERVED_SCHEMA = new RegExp(`^(pg_.*|information_schema|ponder_sync|${MARKER_SCHEMA})$`, "i");

/** Refuses in one line, before anything starts, a schema name or RPC lanes setting Ponder would choke on. */
function refuseBadOptions(options: IndexerOptions): void {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,44}$/.test(options.schema))
    throw new UserError(`schema "${options.schema}" is not a database schema name: letters, digits and "_", 1-45`);
  if (RESERVED_SCHEMA.test(options.schema))
    throw new UserError(
      `schema "${options.schema}" is reserved (Postgres's, Ponder's or the indexer's own); choose another`,
    );
  // Checked here, where a refusal is one line: Ponder would print the config's error on a line of its own.
  try {
    ponderRpc(Number(options.chainId), options.rpcUrl, process.env.THINGLEDGER_INDEXER_RPC_LANES);
  } catch (error) {
    throw new UserError((error as Error).message);
  }
}

/** `ponder start` on the indexer's project, in its own process group, its output piped. */
function spawnPonder(options: IndexerOptions, host: string): ChildProcess {
  const bin = path.join(INDEXER_ROOT, "..", "node_modules", "ponder", "dist", "esm", "bin", "ponder.js");
  // parent-watch.cjs ends Ponder when this process is gone, however it ends (Ponder has its own group).
  const args = ["--require", path.join(INDEXER_ROOT, "parent-watch.cjs"), bin, "start", "--root", INDEXER_ROOT];
  args.push("--hostname", host, "--port", String(options.port), "--schema", options.schema, "--log-format", "pretty");
  return spawn(process.execPath, args, {
    cwd: INDEXER_ROOT, // Ponder writes generated/ (its GraphQL schema) and .ponder/ here
    env: indexerEnv(options),
    stdio: ["pipe", "pipe", "pipe"],
    detached: true,
  });
}

/**
 * Starts `ponder start` on the indexer's project as a child process (its own process group, so that
 * stopping it stops its workers too), once `port` is known to be free. Ponder serves the REST routes and
 * GraphQL (and SQL, when `sql` is set) on `host:port`.
 */
export async function startIndexer(options: IndexerOptions): Promise<RunningIndexer> {
  refuseBadOptions(options);
  const host = options.host ?? "127.0.0.1";
  await ensurePortFree(host, options.port);
  const lock = takeDataDir(options);
  const claim = await claimDatabase(options);
  const child = spawnPonder(options, host);
  // The lock names Ponder, the process that holds the database, until it exits.
  if (lock !== undefined && child.pid !== undefined) fs.writeFileSync(lock, `${child.pid}\n`);
  const onLog = options.onLog ?? (() => undefined);
  let pending = "";
  let portTaken = false;
  let stopping = false;
  let fail: (reason: string) => void = () => undefined;
  const failed = new Promise<string>((resolve) => (fail = resolve));
  const lines = (chunk: Buffer): void => {
    pending += chunk.toString();
    const parts = pending.split("\n");
    pending = parts.pop() ?? "";
    for (const line of parts) {
      if (line.trim() === "") continue;
      // Taken between our check and Ponder's start: Ponder moves to another port, where nobody looks.
      if (/Port \d+ (is )?in use/i.test(line)) portTaken = true;
      const cannot = ponderCannotAdvance(line);
      if (cannot !== undefined) fail(cannot);
      onLog(line);
    }
  };
  child.stdin?.on("error", () => undefined); // Ponder gone: its exit says so
  // Without its lock another chain's indexer could delete the rows Ponder reads: it cannot go on.
  void claim?.lost.then((reason) => {
    if (!stopping) fail(reason);
  });
  child.stdout?.on("data", lines);
  child.stderr?.on("data", lines);
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => {
      if (lock !== undefined) fs.rmSync(lock, { force: true });
      void claim?.release();
      if (!stopping) fail(`Ponder exited on its own (code ${code ?? "none"}); see its log above`);
      resolve(code);
    }),
  );
  const shown = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shown}:${options.port}`,
    process: child,
    exited,
    prunedSync: claim?.pruned ?? {},
    get portTaken() {
      return portTaken;
    },
    failed,
    markUnhealthy(reason) {
      // One line on the pipe parent-watch.cjs reads; a newline in the reason would start another message.
      if (child.stdin?.writable === true) child.stdin.write(`unhealthy ${reason.replace(/\s+/g, " ")}\n`);
    },
    async stop() {
      stopping = true;
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        return; // already gone
      }
      const timer = setTimeout(() => {
        if (child.exitCode === null && child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      }, 20_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The block Ponder has indexed up to, from its `/status`, or undefined while it is not serving yet. */
export async function indexedBlock(url: string): Promise<number | undefined> {
  try {
    const response = await fetch(`${url}/status`);
    if (!response.ok) return undefined;
    const status = (await response.json()) as Record<string, { block?: { number?: number } }>;
    const blocks = Object.values(status).map((c) => c.block?.number ?? -1);
    return blocks.length === 0 ? undefined : Math.min(...blocks);
  } catch {
    return undefined;
  }
}

/** Whether a GET of `url` answers 200. */
async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(url)).status === 200;
  } catch {
    return false;
  }
}

/**
 * Waits until the indexer has indexed `head` (polling its `/status`), calling `progress` on each new block;
 * fails with one line when Ponder exits first, or after `timeoutMs`.
 */
export async function waitCaughtUp(
  indexer: RunningIndexer,
  head: () => Promise<number>,
  options: { timeoutMs: number; pollMs?: number; progress?: (indexed: number, head: number) => void },
): Promise<number> {
  const deadline = Date.now() + options.timeoutMs;
  let gone = false;
  void indexer.exited.then(() => (gone = true));
  let last = -1;
  for (;;) {
    if (gone) throw new UserError(`the indexer exited (code ${indexer.process.exitCode}) before catching up`);
    if (indexer.portTaken) {
      await indexer.stop();
      throw new UserError(`the indexer's port (${indexer.url}) was taken as it started; choose another with --port`);
    }
    const [indexed, target] = await Promise.all([indexedBlock(indexer.url), head()]);
    if (indexed !== undefined && indexed !== last) {
      last = indexed;
      options.progress?.(indexed, target);
    }
    // Caught up, and ready: Ponder's /ready answers 200 only once its backfill is done.
    if (indexed !== undefined && indexed >= target && (await answers(`${indexer.url}/ready`))) return indexed;
    if (Date.now() > deadline)
      throw new UserError(`the indexer did not catch up with block ${target} in ${options.timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, options.pollMs ?? 500));
  }
}
