import path from "node:path";

import react from "@vitejs/plugin-react";
import type { Connect, Plugin, ProxyOptions } from "vite";
import { defineConfig } from "vite";

import { DEFAULT_INDEXER_URL, appConfigFromEnv, queueReaderConfigFromEnv } from "../src/chain/app-config";
import { ProposalQueue } from "../src/wallets/queue";
import { proposalQueueMiddleware, rpcWalletReader } from "../src/wallets/queue-http";

const ROOT = path.join(__dirname, "..");
const CONFIG = "thingledger.json";
/** The same-origin path `vite` and `vite preview` proxy to the indexer (THINGLEDGER_INDEXER_URL). */
const INDEXER_PATH = "/indexer";
/** The same-origin path proxied to the AS (a pattern: a prefix `/as` would take `/assets` too); its default URL, `as:serve`'s. */
const AS_PATH = "^/as/";
const DEFAULT_AS_URL = "http://127.0.0.1:8088";
/** The same-origin path proxied to the relayer (`relay:serve`) when THINGLEDGER_RELAYER_URL names one. */
const RELAYER_PATH = "^/relayer/";

/**
 * Serves `thingledger.json` (the chain and the addresses from the Ignition address book, see
 * src/chain/app-config.ts) next to the app, fresh on each request, in `vite` and `vite preview`; a build
 * writes it too when a deployment exists. The app fetches it at start: no second copy of any address.
 */
function thingledgerConfig(): Plugin {
  const serve: Connect.NextHandleFunction = (req, res, next) => {
    if (req.url?.split("?")[0] !== `/${CONFIG}`) return next();
    try {
      // Served by Vite, the app reaches the indexer through the proxy below: same origin, nothing to allow.
      // The relayer likewise, when there is one: the Activate page then offers "Send to relayer".
      const relayer = process.env.THINGLEDGER_RELAYER_URL === undefined ? {} : { relayerUrl: "relayer/" };
      const body = JSON.stringify({ ...appConfigFromEnv(ROOT), indexerUrl: INDEXER_PATH.slice(1), ...relayer });
      res.setHeader("content-type", "application/json");
      res.setHeader("cache-control", "no-store");
      res.end(body);
    } catch (error) {
      res.statusCode = 503;
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ error: (error as Error).message }));
    }
  };
  return {
    name: "thingledger-config",
    configureServer: (server) => void server.middlewares.use(serve),
    configurePreviewServer: (server) => void server.middlewares.use(serve),
    generateBundle() {
      try {
        this.emitFile({ type: "asset", fileName: CONFIG, source: JSON.stringify(appConfigFromEnv(ROOT), null, 2) });
      } catch (error) {
        this.warn(`${CONFIG} not written (${(error as Error).message}); vite preview serves it from the deployment`);
      }
    },
  };
}

/**
 * The device wallets' proposal queue (src/wallets/queue.ts) at `/proposals`, in `vite` and `vite preview`:
 * owners in different browsers sign the same proposal. Files in THINGLEDGER_PROPOSALS_DIR (default
 * data/proposals/chain-<id>), in the CLI's format; signatures are checked against the chain the config names.
 */
function proposalQueue(): Plugin {
  let queue: ProposalQueue | undefined;
  const middleware = proposalQueueMiddleware(() => {
    const chain = process.env.THINGLEDGER_CHAIN_ID ?? "31337";
    queue ??= new ProposalQueue(
      process.env.THINGLEDGER_PROPOSALS_DIR ?? path.join(ROOT, "data", "proposals", `chain-${chain}`),
      rpcWalletReader(() => queueReaderConfigFromEnv(ROOT)),
    );
    return queue;
  });
  return {
    name: "thingledger-proposals",
    configureServer: (server) => void server.middlewares.use(middleware),
    configurePreviewServer: (server) => void server.middlewares.use(middleware),
  };
}

/** `/indexer/…` → the indexer's `/…`, in `vite` and `vite preview` alike. */
function indexerProxy(): Record<string, ProxyOptions> {
  const target = process.env.THINGLEDGER_INDEXER_URL ?? DEFAULT_INDEXER_URL;
  const prefix = new RegExp(`^${INDEXER_PATH}`);
  return { [INDEXER_PATH]: { target, changeOrigin: true, rewrite: (p) => p.replace(prefix, "") } };
}

/** `/as/…` → the Authorization Server's `/…` (THINGLEDGER_AS_URL): the AS sends no CORS headers, so the
 * client page reaches it same-origin through this proxy, as the app reaches the indexer. */
function asProxy(): Record<string, ProxyOptions> {
  const target = process.env.THINGLEDGER_AS_URL ?? DEFAULT_AS_URL;
  return { [AS_PATH]: { target, changeOrigin: true, rewrite: (p) => p.replace(/^\/as/, "") } };
}

/** `/relayer/…` → the relayer's `/…` (THINGLEDGER_RELAYER_URL), which sends no CORS headers either; none without it. */
function relayerProxy(): Record<string, ProxyOptions> {
  const target = process.env.THINGLEDGER_RELAYER_URL;
  if (target === undefined) return {};
  return { [RELAYER_PATH]: { target, changeOrigin: true, rewrite: (p) => p.replace(/^\/relayer/, "") } };
}

export default defineConfig({
  root: __dirname,
  base: "./",
  plugins: [react(), thingledgerConfig(), proposalQueue()],
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 2000 },
  server: { fs: { allow: [ROOT] }, proxy: { ...indexerProxy(), ...asProxy(), ...relayerProxy() } },
  preview: { proxy: { ...indexerProxy(), ...asProxy(), ...relayerProxy() } },
});
