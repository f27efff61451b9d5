import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

import { JsonRpcProvider } from "ethers";

/*
 * A `hardhat node` and the ports it needs, free of Hardhat itself: the tests (through ./cli) and the
 * benchmarks (scripts/bench-*.ts, which must not load Hardhat in their own process) start it the same way.
 */

/** The project's root (this file is test/shared/node.ts). */
export const ROOT = path.join(__dirname, "..", "..");

/** A port the kernel hands out as free on 127.0.0.1 (whoever asked binds it right after). */
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
 * Starts a real `hardhat node` (its own process group) on a free localhost port (or on `port`, e.g. to
 * restart one) and waits until it serves JSON-RPC. `config` runs it with another Hardhat config (e.g. one
 * whose chain id is Sepolia's). Its per-request log is drained, not kept (a benchmark sends it millions).
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
  const onData = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-8000);
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hardhat node did not start:\n${output}`)), 90_000);
    const started = (): void => {
      if (!output.includes("Started HTTP and WebSocket JSON-RPC server")) return;
      clearTimeout(timer);
      resolve();
    };
    child.stdout?.on("data", started);
    child.stderr?.on("data", started);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`hardhat node exited with ${code}:\n${output}`));
    });
  });
  for (const stream of [child.stdout, child.stderr]) {
    stream?.removeAllListeners("data");
    stream?.resume();
  }
  return {
    url: `http://127.0.0.1:${port}`,
    process: child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      process.kill(-child.pid, "SIGTERM");
      await exited;
    },
  };
}

/** Runs `npx hardhat <args>` in the project to its end (asynchronously); its output, or an error with it. */
export function runHardhat(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("npx", ["hardhat", ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env, FORCE_COLOR: "0", NO_COLOR: "1" },
    });
    let out = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (out += c.toString()));
    child.once("exit", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`hardhat ${args[0]} failed (${code}):\n${out}`)),
    );
  });
}

/** The registry's and the token's addresses, as the demo's `--json` names them. */
export interface DemoAddresses {
  DeviceRegistry: string;
  ThingToken: string;
}

/**
 * Deploys the system to the node at `url` under the address book `deploymentId` (deploy/deployments/<id>)
 * and runs the demo on it (`npx hardhat demo --network localhost --json`); its addresses.
 */
export async function runDemo(url: string, deploymentId: string): Promise<DemoAddresses> {
  const env = { THINGLEDGER_LOCALHOST_URL: url, THINGLEDGER_DEPLOYMENT_ID: deploymentId };
  const out = await runHardhat(["demo", "--network", "localhost", "--json"], env);
  return (JSON.parse(out.slice(out.indexOf("{"))) as { addresses: DemoAddresses }).addresses;
}

/** A node of its own with the system deployed and the demo run (for a benchmark), and how to end it all. */
export interface DemoNode {
  node: LocalNode;
  provider: JsonRpcProvider;
  addresses: DemoAddresses;
  /** Its address book (deploy/deployments/test-<name>-<pid>, which git ignores). */
  deploymentDir: string;
  /** A temp folder for files. */
  scratch: string;
  /** Destroys the provider, stops the node and removes the address book and the temp folder. */
  stop(): Promise<void>;
}

/** Starts a `hardhat node`, deploys the system and runs the demo on it ({@link runDemo}). */
export async function startDemoNode(name: string): Promise<DemoNode> {
  const deploymentId = `test-${name}-${process.pid}`;
  const deploymentDir = path.join(ROOT, "deploy", "deployments", deploymentId);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), `thingledger-${name}-`));
  const node = await startNode();
  const provider = new JsonRpcProvider(node.url, undefined, { staticNetwork: true, cacheTimeout: -1 });
  const stop = async (): Promise<void> => {
    provider.destroy();
    await node.stop();
    for (const dir of [deploymentDir, scratch]) fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const addresses = await runDemo(node.url, deploymentId);
    return { node, provider, addresses, deploymentDir, scratch, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
