import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

import hre from "hardhat";

export const ROOT = path.join(__dirname, "..", "..");

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `npx hardhat ...args` in the project, as a user would, and captures its output. */
export function hardhat(args: readonly string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const run = spawnSync("npx", ["hardhat", ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env, FORCE_COLOR: "0", NO_COLOR: "1" },
    encoding: "utf8",
    timeout: 180_000,
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** The stderr lines a user sees, without npm's own configuration warnings. */
export function errorLines(result: CliResult): string[] {
  return result.stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("npm warn"));
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0));
    });
  });
}

export interface LocalNode {
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts a real `hardhat node` on a free localhost port (or on `port`, e.g. to restart one) and waits until
 * it serves JSON-RPC. `config` runs it with another Hardhat config (e.g. one whose chain id is Sepolia's).
 */
export async function startNode(config?: string, port?: number): Promise<LocalNode> {
  port ??= await freePort();
  const configArgs = config === undefined ? [] : ["--config", config];
  const child = spawn("npx", ["hardhat", ...configArgs, "node", "--hostname", "127.0.0.1", "--port", String(port)], {
    cwd: ROOT,
    env: { ...process.env, FORCE_COLOR: "0" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hardhat node did not start:\n${output}`)), 90_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes("Started HTTP and WebSocket JSON-RPC server")) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`hardhat node exited with ${code}:\n${output}`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    process: child,
    async stop() {
      if (child.exitCode !== null || child.pid === undefined) return;
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      process.kill(-child.pid, "SIGTERM");
      await exited;
    },
  };
}

/**
 * Runs a task in this process with `--json` (on the same in-process chain as the calling test), without
 * its console output, and returns what the task returned.
 */
export async function runInProcess<T>(name: string, args: Record<string, unknown>): Promise<T> {
  const log = console.log;
  const error = console.error;
  console.log = () => undefined;
  console.error = () => undefined;
  try {
    return (await hre.run(name, { json: true, ...args })) as T;
  } finally {
    console.log = log;
    console.error = error;
  }
}

/** What `action` (a task run in this process) prints for a person: its human summary, lines joined. */
export async function printedBy(action: () => Promise<unknown>): Promise<string> {
  const log = console.log;
  const lines: string[] = [];
  console.log = (...a: unknown[]) => void lines.push(a.join(" "));
  try {
    await action();
  } finally {
    console.log = log;
  }
  return lines.join("\n");
}

/** A serve task (`as:serve`, `auditor:serve`) running in this process: its JSON summary, and how to stop it. */
export interface ServedInProcess<T> {
  summary: T;
  stop(): Promise<void>;
}

/**
 * Runs a serve task with `hre.run`, as the command line would, until it prints its summary; `stop` sends it
 * the SIGTERM it waits for (calling only the listener the task added) and waits for the task to end.
 */
export async function serveInProcess<T>(name: string, args: Record<string, unknown>): Promise<ServedInProcess<T>> {
  const log = console.log;
  const before = new Set(process.listeners("SIGTERM"));
  let printed: (line: string) => void = () => undefined;
  const summary = new Promise<string>((resolve) => (printed = resolve));
  console.log = (line: unknown) => printed(String(line));
  const running = hre.run(name, { json: true, ...args }) as Promise<unknown>;
  try {
    const line = await Promise.race([summary, running.then(() => Promise.reject(new Error(`${name} ended`)))]);
    const added = process.listeners("SIGTERM").filter((l) => !before.has(l));
    return {
      summary: JSON.parse(line) as T,
      stop: async () => {
        for (const listener of added) (listener as () => void)();
        await running;
      },
    };
  } finally {
    console.log = log;
  }
}

/** A fresh local node, and a deployment of its own: tasks given `env` use that node and the address book in
 * `deploymentDir` (`deploy/deployments/test-*`, which git ignores); `scratch` is a temp folder for files. */
export interface NodeDeployment {
  node: LocalNode;
  env: NodeJS.ProcessEnv;
  deploymentDir: string;
  scratch: string;
}

export async function startNodeDeployment(scratchName: string): Promise<NodeDeployment> {
  const node = await startNode();
  const id = `test-${process.pid}-${Date.now()}`;
  return {
    node,
    env: { THINGLEDGER_LOCALHOST_URL: node.url, THINGLEDGER_DEPLOYMENT_ID: id },
    deploymentDir: path.join(ROOT, "deploy", "deployments", id),
    scratch: fs.mkdtempSync(path.join(os.tmpdir(), `thingledger-${scratchName}-`)),
  };
}

/**
 * Ends what `startNodeDeployment` started and what a test started on it: `stop` (an indexer, a server) first,
 * then the provider, the node, the deployment's address book and the scratch folder. Any part may be missing
 * (a `before` that failed half-way).
 */
export async function endNodeDeployment(
  started: Partial<NodeDeployment>,
  provider?: { destroy(): void },
  stop?: () => Promise<void>,
): Promise<void> {
  await stop?.();
  provider?.destroy();
  await started.node?.stop();
  if (started.deploymentDir !== undefined) fs.rmSync(started.deploymentDir, { recursive: true, force: true });
  if (started.scratch !== undefined) fs.rmSync(started.scratch, { recursive: true, force: true });
}
