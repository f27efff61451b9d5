import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import type { HardhatRuntimeEnvironment } from "hardhat/types";

import { ensurePortFree, serveApp } from "../../src/app/serve";
import type { DemoResult } from "../../src/demo";

/** The project's root (this file is tasks/support/app.ts). */
const ROOT = path.join(__dirname, "..", "..");

export interface AppSessionOptions {
  port: number;
  host: string;
  indexerPort: number;
  /** Build app/dist even when it is up to date. */
  rebuild: boolean;
  onProgress?: (line: string) => void;
}

/** What `npx hardhat app` serves: the app, the indexer behind it, and (in process) the demo it ran. */
export interface AppSession {
  network: string;
  chainId: string;
  url: string;
  indexerUrl: string;
  rpcUrl: string;
  /** Why app/dist was built first; undefined when it was up to date. */
  built?: string;
  indexedBlock: number;
  /** On the in-process network: the demo's steps ran first, and the chain, the indexer's data end with the task. */
  inProcess: boolean;
  demo?: { steps: number; gasUsed: string };
  stop(): Promise<void>;
}

/**
 * Serves the built app next to the indexer on `hre`'s network. On the in-process network it first deploys
 * the system and runs the demo's flows (so there is something to see); the indexer serves that chain over
 * JSON-RPC, and the app's wallet reads it there. Both ports are checked before anything happens.
 */
export async function startAppSession(hre: HardhatRuntimeEnvironment, options: AppSessionOptions): Promise<AppSession> {
  await ensurePortFree(options.host, options.port, "--port");
  await ensurePortFree("127.0.0.1", options.indexerPort, "--indexer-port");
  const inProcess = !("url" in hre.network.config);
  const { startIndexerSession } = await import("./indexer");
  let system;
  let demo: DemoResult | undefined;
  if (inProcess) {
    const { deployedOrDeploy } = await import("./deployments");
    const { runDemo } = await import("../../src/demo");
    system = await deployedOrDeploy(hre);
    options.onProgress?.("running the demo's flows on the in-process chain");
    demo = await runDemo(system, await hre.ethers.getSigners());
  }
  const session = await startIndexerSession(hre, {
    port: options.indexerPort,
    host: "127.0.0.1",
    sql: false,
    schema: inProcess ? "thingledger_app" : "thingledger",
    system,
    onProgress: (at, head) => options.onProgress?.(`indexer: block ${at} of ${head}`),
  });
  try {
    const rpcUrl = session.served ?? (hre.network.config as { url: string }).url;
    // The in-process chain's wallets vanish with it: so do the proposals the app's queue keeps for them.
    const proposals =
      inProcess && process.env.THINGLEDGER_PROPOSALS_DIR === undefined
        ? fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-proposals-"))
        : undefined;
    if (proposals !== undefined) process.env.THINGLEDGER_PROPOSALS_DIR = proposals;
    options.onProgress?.("building and serving the app");
    const app = await serveApp({
      root: ROOT,
      port: options.port,
      host: options.host,
      rebuild: options.rebuild,
      chain: {
        chainId: session.system.chainId,
        network: inProcess ? "in-process (throwaway)" : hre.network.name,
        rpcUrl,
        deploymentDir: session.deploymentDir,
        indexerUrl: session.indexer.url,
      },
    });
    return {
      network: hre.network.name,
      chainId: session.system.chainId.toString(),
      url: app.url,
      indexerUrl: session.indexer.url,
      rpcUrl,
      built: app.built,
      indexedBlock: session.indexedBlock,
      inProcess,
      demo: demo === undefined ? undefined : { steps: demo.steps.length, gasUsed: demo.totalGas.toString() },
      stop: async () => {
        await app.stop().catch(() => undefined);
        await session.stop();
        if (proposals !== undefined) fs.rmSync(proposals, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await session.stop();
    throw error;
  }
}
