import { QueryClient } from "@tanstack/react-query";
import type { Chain } from "viem";
import { defineChain } from "viem";
import { createConfig, http, injected } from "wagmi";

import { configUrl, indexerUrlFromLink, relayerUrlOf } from "../../../src/chain/config-url";
import { DEFAULT_INDEXER_URL } from "../../../src/chain/indexer-url";
import type { AppConfig } from "../../../src/chain/app-config";

export type { AppConfig };

/**
 * The app's one link to a deployment: `thingledger.json`, served next to the app from the Ignition address
 * book (app/vite.config.ts). A `?config=<path>` query parameter points the app at another one on its own origin, and
 * `?indexer=<path>` at another indexer on its own origin (a proxy path); another host is refused. The relayer
 * (`?relayer=<path>`, or the config's `relayerUrl`) must be on the app's own origin too.
 */
export async function loadConfig(): Promise<AppConfig> {
  const search = new URLSearchParams(window.location.search);
  const url = configUrl(search.get("config"), window.location.href);
  const linkIndexer = indexerUrlFromLink(search.get("indexer"), window.location.href);
  const response = await fetch(url, { cache: "no-store" });
  const body = (await response.json().catch(() => ({}))) as Partial<AppConfig> & { error?: string };
  if (!response.ok || body.kind !== "thingledger/app-config")
    throw new Error(body.error ?? `${url} is not a ThingLedger app config (HTTP ${response.status})`);
  const config = body as AppConfig;
  const relayerUrl = relayerUrlOf(search.get("relayer"), config.relayerUrl, window.location.href) ?? undefined;
  return { ...config, indexerUrl: linkIndexer ?? config.indexerUrl ?? DEFAULT_INDEXER_URL, relayerUrl };
}

/** The deployment's chain, as viem and wagmi take it: reads go to its RPC URL, the wallet signs and sends. */
export function chainOf(config: AppConfig): Chain {
  return defineChain({
    id: config.chainId,
    name: config.network,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [config.rpcUrl] } },
  });
}

/**
 * wagmi for the deployment's one chain. Connectors: any injected EIP-1193 wallet (MetaMask, Rabby, a
 * mobile wallet's browser), announced through EIP-6963 too. WalletConnect slots in here: add
 * `walletConnect({ projectId })` from "wagmi/connectors" and its peer `@walletconnect/ethereum-provider`.
 */
export function wagmiConfigOf(config: AppConfig) {
  const chain = chainOf(config);
  return createConfig({
    chains: [chain],
    connectors: [injected()],
    transports: { [chain.id]: http(config.rpcUrl) },
  });
}

export const queryClient = new QueryClient({ defaultOptions: { queries: { retry: 1, refetchOnWindowFocus: false } } });
