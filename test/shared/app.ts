import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

import { expect } from "chai";
import type { JsonRpcProvider, Wallet, HDNodeWallet } from "ethers";
import type { Browser, BrowserContext, Locator, Page } from "playwright-core";
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

export interface Rpc {
  result?: unknown;
  error?: { code: number; message: string };
}

/**
 * A test wallet's EIP-1193 answers: its account, `chainId` (a wrong one to test the wrong network), typed
 * data and transactions signed by `wallet` in Node; everything else forwarded to the node.
 */
export async function walletRpc(
  wallet: Wallet | HDNodeWallet,
  chainId: number,
  method: string,
  params: unknown[],
): Promise<Rpc> {
  const provider = wallet.provider as JsonRpcProvider;
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

/** Saves a screenshot to THINGLEDGER_APP_SCREENSHOTS (a folder), when set: to look at the pages. */
export async function shot(page: Page, name: string): Promise<void> {
  const dir = process.env.THINGLEDGER_APP_SCREENSHOTS;
  if (dir === undefined) return;
  fs.mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, name), fullPage: true });
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

/** A fresh browser context (its own storage) whose page has `wallet` injected as `window.ethereum`, on `chainId`. */
export async function walletPage(
  browser: Browser,
  wallet: Wallet | HDNodeWallet,
  chainId = 31337,
  width = 1280,
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width, height: 900 } });
  const page = await context.newPage();
  await page.exposeFunction("__testWallet", async (method: string, params: string) =>
    JSON.stringify(await walletRpc(wallet, chainId, method, JSON.parse(params) as unknown[])),
  );
  await page.addInitScript(INJECTED);
  return { context, page };
}

/** Hardhat's accounts the app suites use, unlocked on the node: the treasury (0) and the demo's manufacturer (3). */
export const TREASURY = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
export const MANUFACTURER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";

/** What an app suite started, any of it possibly not started: {@link stopAppSuite} stops it in order. */
export interface AppSuite {
  closables?: readonly { close(): Promise<unknown> }[];
  browser?: Browser;
  app?: ServedApp;
  indexer?: { stop(): Promise<void> };
  provider?: JsonRpcProvider;
  node?: { stop(): Promise<void> };
  /** Folders to remove (the deployment's address book, the scratch folder). */
  dirs: (string | undefined)[];
}

/** An app suite's `after`: pages or contexts, the browser, the app, the indexer, the provider, the node, its folders. */
export async function stopAppSuite(s: AppSuite): Promise<void> {
  for (const c of s.closables ?? []) await c.close().catch(() => undefined);
  await s.browser?.close();
  s.app?.stop();
  await s.indexer?.stop();
  s.provider?.destroy();
  await s.node?.stop();
  for (const dir of s.dirs) if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
}
