import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

import { expect } from "chai";
import type { Browser } from "playwright-core";
import { chromium } from "playwright-core";

import { ROOT, freePort } from "./cli";
import { coverageRunning } from "./gas";
import { Exited, outputOf, until } from "./process";

/** Debian's `chromium`, which the app tests drive with playwright-core. */
export const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * Skips the suite (call it first in `before`) under coverage (child processes recompile the contracts,
 * which would overwrite coverage's instrumented build) or without {@link CHROMIUM}, saying how to install it.
 */
export function skipUnlessBrowser(context: Mocha.Context): void {
  if (coverageRunning()) context.skip();
  if (!fs.existsSync(CHROMIUM)) {
    console.log(`    (skipped: no ${CHROMIUM}; install it with: apt-get install -y --no-install-recommends chromium)`);
    context.skip();
  }
}

/** Launches headless {@link CHROMIUM}. */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
}

/** The built app served by `vite preview`: its base url (ends in `/`), and how to stop it. */
export interface ServedApp {
  base: string;
  process: ChildProcess;
  stop(): void;
}

/**
 * Builds the app (app/) with `vite build` into `scratch/dist` (the worktree's app/dist is left alone) and
 * serves it with `vite preview` on a free port, both with `env` (the deployment's, plus e.g.
 * THINGLEDGER_INDEXER_URL for its proxies); waits until every path in `ready` (relative to the base, e.g.
 * `thingledger.json` or a proxied route) answers OK. A preview that exits fails at once, with its output.
 */
export async function buildAndServeApp(options: {
  env: NodeJS.ProcessEnv;
  scratch: string;
  ready: readonly string[];
}): Promise<ServedApp> {
  const appEnv = { ...process.env, ...options.env, VITE_CONFIG_NATIVE_IGNORE_WARNING: "true" };
  const vite = path.join(ROOT, "node_modules", "vite", "bin", "vite.js");
  const dist = path.join(options.scratch, "dist");
  const build = spawnSync(process.execPath, [vite, "build", "app", "--outDir", dist, "--emptyOutDir"], {
    cwd: ROOT,
    env: appEnv,
    encoding: "utf8",
  });
  expect(build.status, build.stderr + build.stdout).to.equal(0);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}/`;
  const child = spawn(
    process.execPath,
    [vite, "preview", "app", "--outDir", dist, "--host", "127.0.0.1", "--port", String(port)],
    { cwd: ROOT, env: appEnv, stdio: ["ignore", "pipe", "pipe"] },
  );
  const output = outputOf(child);
  const served = { base, process: child, stop: () => void child.kill("SIGTERM") };
  try {
    await until("vite preview", 60_000, async () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Exited("vite preview exited");
      for (const route of options.ready) if (!(await fetch(`${base}${route}`)).ok) return undefined;
      return true;
    });
  } catch (e) {
    served.stop();
    throw new Error(`${(e as Error).message}\n${output()}`, { cause: e });
  }
  return served;
}
