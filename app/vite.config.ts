import path from "node:path";

import react from "@vitejs/plugin-react";
import type { Connect, Plugin } from "vite";
import { defineConfig } from "vite";

import { appConfigFromEnv } from "../src/chain/app-config";

const ROOT = path.join(__dirname, "..");
const CONFIG = "thingledger.json";

/**
 * Serves `thingledger.json` (the chain and the addresses from the Ignition address book, see
 * src/chain/app-config.ts) next to the app, fresh on each request, in `vite` and `vite preview`; a build
 * writes it too when a deployment exists. The app fetches it at start: no second copy of any address.
 */
function thingledgerConfig(): Plugin {
  const serve: Connect.NextHandleFunction = (req, res, next) => {
    if (req.url?.split("?")[0] !== `/${CONFIG}`) return next();
    try {
      const body = JSON.stringify(appConfigFromEnv(ROOT));
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

export default defineConfig({
  root: __dirname,
  base: "./",
  plugins: [react(), thingledgerConfig()],
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 2000 },
  server: { fs: { allow: [ROOT] } },
});
