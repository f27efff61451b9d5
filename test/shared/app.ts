import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

import { expect } from "chai";
import type { Browser } from "playwright-core";

import { CHROMIUM } from "./browser";
import { ROOT, freePort } from "./cli";
import type { LocalNode } from "./cli";
import { coverageRunning } from "./gas";
import { Exited, outputOf, stopGroup, until } from "./process";

export { CHROMIUM, launchChromium } from "./browser";

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

/**
 * What an app test started, for {@link stopAppStack}; any of it may be missing (a `before` that failed
 * half-way started only part of it).
 */
export interface AppStack {
  /** Pages or browser contexts the test opened (closed first; one already closed is fine). */
  opened?: readonly { close(): Promise<void> }[];
  browser?: Browser;
  app?: ServedApp;
  /** Processes the test spawned in a group of their own (`detached`), e.g. `npx hardhat as:serve`. */
  groups?: readonly (ChildProcess | undefined)[];
  indexer?: { stop(): Promise<void> };
  provider?: { destroy(): void };
  node?: LocalNode;
  /** The test deployment's address book and the scratch folder, removed last. */
  deploymentDir?: string;
  scratch?: string;
}

/**
 * The app tests' `after`: stops what {@link AppStack} names, browser side first and the node last, then
 * removes the folders. Every step runs even when one before it failed; the first failure is thrown at the end.
 */
export async function stopAppStack(stack: AppStack): Promise<void> {
  const steps: (() => unknown)[] = [
    ...(stack.opened ?? []).map((o) => () => o.close().catch(() => undefined)),
    () => stack.browser?.close(),
    () => stack.app?.stop(),
    ...(stack.groups ?? []).map((child) => () => stopGroup(child)),
    () => stack.indexer?.stop(),
    () => stack.provider?.destroy(),
    () => stack.node?.stop(),
    ...[stack.deploymentDir, stack.scratch].map(
      (dir) => () => dir !== undefined && fs.rmSync(dir, { recursive: true, force: true }),
    ),
  ];
  let failure: unknown;
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      failure ??= error;
    }
  }
  if (failure !== undefined) throw failure;
}
