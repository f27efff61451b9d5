import { vars } from "hardhat/config";
import type { HttpNetworkUserConfig } from "hardhat/types";

/** A public testnet ThingLedger knows how to reach, given an RPC URL and a deployer key. */
export interface LiveNetwork {
  /** Hardhat network name, used as `--network NAME`. */
  readonly name: string;
  readonly chainId: number;
  /** Prefix of the variables that configure it: `<PREFIX>_RPC_URL`. */
  readonly prefix: string;
}

export const LIVE_NETWORKS: readonly LiveNetwork[] = [
  { name: "sepolia", chainId: 11155111, prefix: "SEPOLIA" },
  { name: "baseSepolia", chainId: 84532, prefix: "BASE_SEPOLIA" },
  { name: "optimismSepolia", chainId: 11155420, prefix: "OPTIMISM_SEPOLIA" },
  { name: "arbitrumSepolia", chainId: 421614, prefix: "ARBITRUM_SEPOLIA" },
];

/**
 * Reads a setting from the environment first, then from Hardhat's encrypted-at-rest `vars` store
 * (`npx hardhat vars set NAME`). Nothing here is ever committed or printed.
 */
export function setting(name: string): string | undefined {
  const fromEnv = process.env[name];
  if (fromEnv !== undefined && fromEnv !== "") {
    return fromEnv;
  }
  return vars.has(name) ? vars.get(name) : undefined;
}

/** The live network called `name`, if ThingLedger knows one. */
export function liveNetwork(name: string): LiveNetwork | undefined {
  return LIVE_NETWORKS.find((n) => n.name === name);
}

/**
 * Why a known live network cannot be used yet (no RPC URL), as one line naming the variable to set; or
 * undefined when it is configured or not a live network.
 */
export function missingRpcUrl(name: string): string | undefined {
  const net = liveNetwork(name);
  if (net === undefined || setting(`${net.prefix}_RPC_URL`) !== undefined) return undefined;
  return `network "${name}" has no RPC URL: set ${net.prefix}_RPC_URL (environment, or \`npx hardhat vars set ${net.prefix}_RPC_URL\`)`;
}

/**
 * Hardhat network entries for every live network. One without an RPC URL still exists (so that
 * `--network sepolia` reaches ThingLedger's tasks, which say which variable to set) but points at an
 * `.invalid` host that never resolves, so nothing can be sent by mistake.
 */
export function liveNetworks(): Record<string, HttpNetworkUserConfig> {
  const key = setting("DEPLOYER_PRIVATE_KEY");
  const out: Record<string, HttpNetworkUserConfig> = {};
  for (const net of LIVE_NETWORKS) {
    const url = setting(`${net.prefix}_RPC_URL`) ?? `http://${net.name.toLowerCase()}-rpc-url-not-set.invalid`;
    out[net.name] = { url, chainId: net.chainId, accounts: key === undefined ? [] : [key] };
  }
  return out;
}

/** Explorer API key for `hardhat verify` (Etherscan v2 serves every chain with one key). */
export function verifyApiKey(): string {
  return setting("ETHERSCAN_API_KEY") ?? "";
}
