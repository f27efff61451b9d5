import path from "node:path";

import { deploymentFolder, readDeploymentBook } from "./address-book";
import type { SystemAddresses } from "./context";
import { UserError } from "../errors";
import { DEFAULT_INDEXER_URL } from "./indexer-url";

export { DEFAULT_INDEXER_URL };

/**
 * What the browser app fetches at start (`thingledger.json`, written or served next to it by app/vite.config.ts):
 * the chain and the system's addresses, read from the Ignition address book, so the app holds no second copy.
 */
export interface AppConfig {
  kind: "thingledger/app-config";
  chainId: number;
  /** A name for the chain, shown in the app. */
  network: string;
  /** The JSON-RPC URL the app reads the chain through (the wallet signs and sends). */
  rpcUrl: string;
  addresses: SystemAddresses;
  /**
   * The indexer's REST base URL (issue 18). A built app's config names the indexer itself (Ponder answers any
   * origin); `vite` and `vite preview` serve `indexer`, a same-origin path they proxy to it. `?indexer=<url>`
   * in the app's address overrides both.
   */
  indexerUrl: string;
  /**
   * The relayer (`relay:serve`) the Activate page sends relay requests to, on the app's own origin: `vite` and
   * `vite preview` serve `relayer`, a path they proxy to THINGLEDGER_RELAYER_URL when it is set; `?relayer=<path>`
   * in the app's address overrides it. Absent: no "Send to relayer" (the JSON is handed over by hand).
   */
  relayerUrl?: string;
}

/**
 * The app's config from the environment, as the indexer reads it: THINGLEDGER_RPC_URL (default
 * http://127.0.0.1:8545), THINGLEDGER_CHAIN_ID (default 31337), THINGLEDGER_DEPLOYMENT_DIR or
 * THINGLEDGER_DEPLOYMENT_ID (default deploy/deployments/chain-<id>), THINGLEDGER_INDEXER_URL (default
 * http://127.0.0.1:42069). Fails in one line without a deployment.
 */
export function appConfigFromEnv(root: string, env: NodeJS.ProcessEnv = process.env): AppConfig {
  const chainId = Number(env.THINGLEDGER_CHAIN_ID ?? "31337");
  const rpcUrl = env.THINGLEDGER_RPC_URL ?? "http://127.0.0.1:8545";
  const { addresses } = readDeploymentBook(deploymentDirFromEnv(root, env));
  const network = env.THINGLEDGER_NETWORK ?? (chainId === 31337 ? "localhost" : `chain ${chainId}`);
  const indexerUrl = env.THINGLEDGER_INDEXER_URL ?? DEFAULT_INDEXER_URL;
  return { kind: "thingledger/app-config", chainId, network, rpcUrl, addresses, indexerUrl };
}

function deploymentDirFromEnv(root: string, env: NodeJS.ProcessEnv): string {
  const chainId = Number(env.THINGLEDGER_CHAIN_ID ?? "31337");
  return (
    env.THINGLEDGER_DEPLOYMENT_DIR ??
    deploymentFolder(path.join(root, "deploy", "deployments"), chainId, env.THINGLEDGER_DEPLOYMENT_ID)
  );
}

/**
 * What the app server's proposal queue reads the chain with: the app's RPC URL and addresses, the factory's
 * deployment block (from the deployment's journal; wallets' events are read from there on) and the most
 * blocks one `eth_getLogs` covers, THINGLEDGER_MAX_BLOCK_RANGE (default 10,000). Fails in one line on a
 * range that is not a whole number ≥ 1.
 */
export function queueReaderConfigFromEnv(root: string, env: NodeJS.ProcessEnv = process.env) {
  const { rpcUrl, addresses } = appConfigFromEnv(root, env);
  const { startBlocks } = readDeploymentBook(deploymentDirFromEnv(root, env));
  const range = env.THINGLEDGER_MAX_BLOCK_RANGE;
  if (range !== undefined && !/^[1-9]\d{0,8}$/.test(range)) {
    throw new UserError(`THINGLEDGER_MAX_BLOCK_RANGE must be a whole number of blocks ≥ 1, got "${range}"`);
  }
  return {
    rpcUrl,
    addresses,
    fromBlock: startBlocks.DeviceWalletFactory,
    maxBlockRange: range === undefined ? undefined : Number(range),
  };
}
