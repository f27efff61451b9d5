import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

import { expect } from "chai";
import { JsonRpcProvider } from "ethers";
import type { HDNodeWallet, Wallet } from "ethers";
import type { Browser, Locator, Page } from "playwright-core";

import type { SystemAddresses } from "../../src/chain/context";
import { CHROMIUM, launchChromium } from "./browser";
import { ROOT, freePort, hardhat, startNodeDeployment } from "./cli";
import type { LocalNode } from "./cli";
import { coverageRunning } from "./gas";
import { startIndexer } from "./indexer";
import type { RunningIndexer } from "./indexer";
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

interface Rpc {
  result?: unknown;
  error?: { code: number; message: string };
}

/** How the injected test wallet behaves: its chain (a wrong one to test the wrong network), and whether its user rejects. */
export interface TestWalletOptions {
  chainId?: number;
  /** The user rejects every signature and transaction request (EIP-1193 error 4001). */
  rejects?: boolean;
  /** Where to record every method the page asks the wallet (to show what it was, or was not, asked to sign). */
  requests?: string[];
}

/** What the wallet answers to every request its user rejects (EIP-1193 `4001`). */
export const USER_REJECTED = { code: 4001, message: "User rejected the request." } as const;

/** Every wallet request that asks its user to sign something, the ones a rejecting user refuses. */
const SIGNING = new Set(["eth_signTypedData_v4", "eth_sendTransaction", "personal_sign", "eth_sign"]);

/**
 * A test wallet's EIP-1193 answers: its account, its chain id, typed data and transactions signed by `wallet`
 * in Node (or refused with {@link USER_REJECTED} when its user `rejects`); everything else forwarded to the node.
 */
export async function walletRpc(
  wallet: Wallet | HDNodeWallet,
  options: TestWalletOptions,
  method: string,
  params: unknown[],
): Promise<Rpc> {
  const provider = wallet.provider as JsonRpcProvider;
  const chainId = options.chainId ?? 31337;
  options.requests?.push(method);
  if (options.rejects === true && SIGNING.has(method)) return { error: USER_REJECTED };
  switch (method) {
    case "eth_requestAccounts":
    case "eth_accounts":
      return { result: [wallet.address] };
    case "eth_chainId":
      return { result: `0x${chainId.toString(16)}` };
    case "net_version":
      return { result: String(chainId) };
    case "wallet_switchEthereumChain":
    case "wallet_addEthereumChain":
      return { error: { code: 4200, message: "this test wallet does not switch chains" } };
    case "eth_signTypedData_v4": {
      const [account, json] = params as [string, string];
      if (account.toLowerCase() !== wallet.address.toLowerCase())
        return { error: { code: 4100, message: `not this wallet's account: ${account}` } };
      const typed = JSON.parse(json) as {
        domain: Record<string, unknown>;
        types: Record<string, { name: string; type: string }[]>;
        message: Record<string, unknown>;
      };
      const types = { ...typed.types };
      delete types.EIP712Domain; // ethers derives the domain's type itself
      return { result: await wallet.signTypedData(typed.domain, types, typed.message) };
    }
    case "eth_sendTransaction": {
      const [tx] = params as [{ to: string; data?: string; value?: string; gas?: string }];
      const sent = await wallet.sendTransaction({
        to: tx.to,
        data: tx.data,
        value: tx.value === undefined ? undefined : BigInt(tx.value),
        gasLimit: tx.gas === undefined ? undefined : BigInt(tx.gas),
      });
      return { result: sent.hash };
    }
    default:
      try {
        return { result: await provider.send(method, params) };
      } catch (error) {
        return { error: { code: -32603, message: (error as Error).message } };
      }
  }
}

/** Waits until `locator`'s text equals (or includes) `text`; fails with the last text seen. */
export async function waitText(locator: Locator, how: "equal" | "include", text: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  let seen: string | null = null;
  while (Date.now() < end) {
    seen = (await locator.count()) > 0 ? await locator.first().textContent() : null;
    if (seen !== null && (how === "equal" ? seen === text : seen.includes(text))) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(seen, `the page's text`).to[how](text);
}

/** Waits until the button `locator` is enabled (the page has read the chain and the wallet). */
export async function waitEnabled(locator: Locator, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if ((await locator.count()) > 0 && (await locator.isEnabled())) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  expect.fail(`${locator.toString()} stayed disabled`);
}

/** The page's `window.ethereum`: requests go to {@link walletRpc} through `window.__testWallet`. */
export const INJECTED = `
  window.ethereum = {
    isThingLedgerTest: true,
    async request({ method, params }) {
      const answer = JSON.parse(await window.__testWallet(method, JSON.stringify(params ?? [])));
      if (answer.error) throw Object.assign(new Error(answer.error.message), { code: answer.error.code });
      return answer.result;
    },
    on() {},
    removeListener() {},
  };
`;

/**
 * A fresh browser context (its own storage) of `browser` whose page has `wallet` injected as `window.ethereum`
 * ({@link walletRpc}), `width` pixels wide (a phone is 390). Closing the browser closes it.
 */
export async function walletPage(
  browser: Browser,
  wallet: Wallet | HDNodeWallet,
  options: TestWalletOptions & { width?: number; height?: number } = {},
): Promise<Page> {
  const context = await browser.newContext({
    viewport: { width: options.width ?? 1280, height: options.height ?? 900 },
  });
  const page = await context.newPage();
  await page.exposeFunction("__testWallet", async (method: string, params: string) =>
    JSON.stringify(await walletRpc(wallet, options, method, JSON.parse(params) as unknown[])),
  );
  await page.addInitScript(INJECTED);
  return page;
}

/** Clicks the page's "Connect wallet" and waits until it shows "Disconnect". */
export async function connectWallet(page: Page): Promise<void> {
  await page.getByRole("button", { name: "Connect wallet" }).click();
  await page.getByRole("button", { name: "Disconnect" }).waitFor();
}

/**
 * What an app test started, for {@link stopAppStack}; any of it may be missing (a `before` that failed
 * half-way started only part of it).
 */
export interface AppParts {
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
 * The app tests' `after`: stops what {@link AppParts} names, browser side first and the node last, then
 * removes the folders. Every step runs even when one before it failed; the first failure is thrown at the end.
 */
export async function stopAppStack(stack: AppParts): Promise<void> {
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

/**
 * A `hardhat node` with the system deployed and the demo run ({@link startDemoNode}), then, once a suite has
 * added what it needs ({@link serveIndexedApp}), the indexer, the built app proxying `/indexer` to it, and
 * Chromium. {@link stopStack} stops whatever was started.
 */
export interface AppStack {
  node: LocalNode;
  env: NodeJS.ProcessEnv;
  deploymentDir: string;
  scratch: string;
  provider: JsonRpcProvider;
  addresses: SystemAddresses;
  indexer?: RunningIndexer;
  app?: ServedApp;
  browser?: Browser;
}

/** Starts a `hardhat node`, deploys the system on it and runs `demo` (devices, channels, scores). */
export async function startDemoNode(scratchName: string): Promise<AppStack> {
  const { node, env, deploymentDir, scratch } = await startNodeDeployment(scratchName);
  const provider = new JsonRpcProvider(node.url, undefined, { staticNetwork: true, cacheTimeout: -1 });
  const stack = { node, env, deploymentDir, scratch, provider, addresses: {} as SystemAddresses };
  const demo = hardhat(["demo", "--network", "localhost", "--json"], env);
  if (demo.status !== 0) await stopStack(stack);
  expect(demo.status, demo.stderr).to.equal(0);
  stack.addresses = (JSON.parse(demo.stdout) as { addresses: SystemAddresses }).addresses;
  return stack;
}

/**
 * Starts the indexer as a user runs it (until it has caught up), the built app served by `vite preview` with
 * its config from this deployment and `/indexer` proxied to the indexer, and Chromium; returns the app's base.
 */
export async function serveIndexedApp(stack: AppStack): Promise<string> {
  const { env, scratch, provider, node } = stack;
  stack.indexer = await startIndexer({ env, dir: path.join(scratch, "db"), provider });
  stack.app = await buildAndServeApp({
    env: { ...env, THINGLEDGER_RPC_URL: node.url, THINGLEDGER_INDEXER_URL: stack.indexer.url },
    scratch,
    ready: ["indexer/stats/fleet"],
  });
  stack.browser = await launchChromium();
  return stack.app.base;
}

/** Stops what {@link startDemoNode} and {@link serveIndexedApp} started, and removes their folders. */
export async function stopStack(stack: Partial<AppStack> | undefined): Promise<void> {
  await stopAppStack({ ...stack });
}

/** The text of the element with `testId`, once it is on the page. */
export async function testIdText(page: Page, testId: string): Promise<string> {
  const locator = page.getByTestId(testId);
  await locator.waitFor({ timeout: 60_000 });
  return (await locator.textContent()) ?? "";
}

/** Saves a screenshot to THINGLEDGER_APP_SCREENSHOTS (a folder), when set: to look at the pages. */
export async function shot(page: Page, name: string): Promise<void> {
  const dir = process.env.THINGLEDGER_APP_SCREENSHOTS;
  if (dir === undefined) return;
  fs.mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, name), fullPage: true });
}

/** Hardhat's accounts the app suites use, unlocked on the node: the treasury (0) and the demo's manufacturer (3). */
export const TREASURY = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
export const MANUFACTURER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";
