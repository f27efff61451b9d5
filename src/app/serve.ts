import fs from "node:fs";
import net from "node:net";
import path from "node:path";

import { UserError } from "../errors";

/** The web app's folder (app/) and its build (app/dist), from the project's root. */
export const appDir = (root: string): string => path.join(root, "app");
export const distDir = (root: string): string => path.join(root, "app", "dist");

/** The newest modification time (ms) of the files under `dir` (recursively), skipping the folders `skip`. */
function newestMtime(dir: string, skip: readonly string[]): number {
  let newest = 0;
  if (!fs.existsSync(dir)) return newest;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!skip.includes(full) && entry.name !== "node_modules") newest = Math.max(newest, newestMtime(full, skip));
    } else if (entry.isFile()) {
      newest = Math.max(newest, fs.statSync(full).mtimeMs);
    }
  }
  return newest;
}

/**
 * Why app/dist must be (re)built, or undefined when it is up to date: it is missing, or a file of the app
 * (app/, but not its build) or of the library it imports (src/) changed after its index.html was written.
 */
export function staleBuild(root: string): string | undefined {
  const index = path.join(distDir(root), "index.html");
  if (!fs.existsSync(index)) return "app/dist is missing";
  const built = fs.statSync(index).mtimeMs;
  const sources = Math.max(newestMtime(appDir(root), [distDir(root)]), newestMtime(path.join(root, "src"), []));
  return sources > built ? "app/ or src/ changed since app/dist was built" : undefined;
}

/** Refuses, in one line naming the option to change, a port something already listens on. */
export async function ensurePortFree(host: string, port: number, option: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        error.code === "EADDRINUSE"
          ? new UserError(`port ${port} on ${host} is taken; choose another with ${option}`)
          : new UserError(`cannot listen on ${host}:${port} (${option}): ${error.message}`),
      ),
    );
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}

/** A port number from a task's option, or a one-line refusal naming the option. */
export function portOption(value: string, option: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new UserError(`${option} "${value}" is not a port (1-65535)`);
  return port;
}

/** What app/vite.config.ts reads to serve the app's config (src/chain/app-config.ts) and proxy /indexer. */
export interface AppChain {
  chainId: bigint;
  /** The name the app shows for the chain. */
  network: string;
  /** The JSON-RPC URL the browser reads the chain through. */
  rpcUrl: string;
  /** The Ignition address book's folder (deployed_addresses.json). */
  deploymentDir: string;
  /** The indexer's URL that `/indexer` is proxied to. */
  indexerUrl: string;
}

/** The two functions of Vite's JavaScript API this module uses, as far as it uses them. */
interface Vite {
  build(config: Record<string, unknown>): Promise<unknown>;
  preview(config: Record<string, unknown>): Promise<{ close(): Promise<void> }>;
}

export interface ServeAppOptions {
  root: string;
  port: number;
  host: string;
  chain: AppChain;
  /** Build even if app/dist is up to date. */
  rebuild?: boolean;
}

export interface ServedApp {
  url: string;
  /** Why the app was built before serving, or undefined when app/dist was up to date. */
  built?: string;
  stop(): Promise<void>;
}

/**
 * Builds the app when app/dist is missing or stale (see {@link staleBuild}), then serves it with Vite's
 * `preview()` and app/vite.config.ts: `thingledger.json` from `chain`, `/indexer` proxied to the indexer.
 * The config module reads the environment, so `chain` is put there first (this process serves one app).
 */
export async function serveApp(options: ServeAppOptions): Promise<ServedApp> {
  const { chain } = options;
  Object.assign(process.env, {
    THINGLEDGER_CHAIN_ID: chain.chainId.toString(),
    THINGLEDGER_NETWORK: chain.network,
    THINGLEDGER_RPC_URL: chain.rpcUrl,
    THINGLEDGER_DEPLOYMENT_DIR: chain.deploymentDir,
    THINGLEDGER_INDEXER_URL: chain.indexerUrl,
    VITE_CONFIG_NATIVE_IGNORE_WARNING: "true",
  });
  const configFile = path.join(appDir(options.root), "vite.config.ts");
  // Loaded here: Vite is only needed by this command (its types need "bundler" resolution; require() loads its ESM).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { build, preview } = require("vite") as Vite;
  const built = options.rebuild === true ? "asked to (--build)" : staleBuild(options.root);
  if (built !== undefined) {
    await build({ configFile, root: appDir(options.root), logLevel: "warn" });
  }
  let server: { close(): Promise<void> };
  try {
    server = await preview({
      configFile,
      root: appDir(options.root),
      logLevel: "warn",
      preview: { port: options.port, host: options.host, strictPort: true, open: false },
    });
  } catch (error) {
    const message = (error as Error).message;
    if (/already in use/i.test(message))
      throw new UserError(`port ${options.port} on ${options.host} is taken; choose another with --port`);
    throw new UserError(`cannot serve the app: ${message.split("\n")[0]}`);
  }
  const shownHost = options.host === "0.0.0.0" || options.host === "::" ? "127.0.0.1" : options.host;
  return {
    url: `http://${shownHost}:${options.port}/`,
    built,
    stop: () => server.close(),
  };
}
