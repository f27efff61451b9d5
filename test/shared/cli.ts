import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import hre from "hardhat";

import { ROOT, startNode } from "./node";
import type { LocalNode } from "./node";

export { ROOT, freePort, startNode } from "./node";
export type { LocalNode } from "./node";

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
