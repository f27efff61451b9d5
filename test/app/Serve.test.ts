import { execFileSync, spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";

import { expect } from "chai";
import { JsonRpcProvider, formatEther, parseUnits } from "ethers";
import type { Browser, Page } from "playwright-core";
import { chromium } from "playwright-core";

import { DeviceRegistry__factory, ThingToken__factory } from "../../src/chain/factories";
import { ROOT, errorLines, freePort, hardhat } from "../shared/cli";
import { stopAppStack } from "../shared/app";
import { coverageRunning } from "../shared/gas";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
];
const STATUS = ["Unknown", "Registered", "Active", "Revoked"] as const;

interface Summary {
  network: string;
  chainId: string;
  url: string;
  indexerUrl: string;
  rpcUrl: string;
  inProcess: boolean;
  demo?: { steps: number };
}

/** Every process under `pid` (its children, theirs, …), from `ps`. */
function descendants(pid: number): number[] {
  const rows = execFileSync("ps", ["-eo", "pid=,ppid="], { encoding: "utf8" })
    .trim()
    .split("\n")
    .map((l) => l.trim().split(/\s+/).map(Number));
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const [child, ppid] of rows)
      if (ppid === parent) {
        found.push(child);
        queue.push(child);
      }
  }
  return found;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * `npx hardhat app` with no --network: it deploys in process, runs the demo, and serves the built app next to
 * the indexer. A real Chromium loads the fleet page through the served port and sees the demo's devices as
 * the chain counts them; Ctrl-C (SIGINT to its process group) stops everything it started.
 */
describe("npx hardhat app (the web app served next to the indexer)", function () {
  this.timeout(900_000);

  let task: ChildProcess | undefined;
  let browser: Browser | undefined;
  let summary: Summary;
  let stdout = "";
  let stderr = "";

  before(async function () {
    // Child processes recompile the contracts, which would overwrite coverage's instrumented build.
    if (coverageRunning()) this.skip();
    const [port, indexerPort] = [await freePort(), await freePort()];
    task = spawn("npx", ["hardhat", "app", "--port", String(port), "--indexer-port", String(indexerPort), "--json"], {
      cwd: ROOT,
      env: { ...process.env, FORCE_COLOR: "0", NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    task.stdout?.on("data", (c: Buffer) => (stdout += c.toString()));
    task.stderr?.on("data", (c: Buffer) => (stderr += c.toString()));
    const deadline = Date.now() + 600_000;
    for (;;) {
      try {
        summary = JSON.parse(stdout) as Summary;
        break;
      } catch {
        if (task.exitCode !== null) throw new Error(`the app task exited:\n${stdout}\n${stderr}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for the app task:\n${stdout}\n${stderr}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    expect(summary).to.include({ network: "hardhat", inProcess: true, url: `http://127.0.0.1:${port}/` });
    expect(summary.indexerUrl).to.equal(`http://127.0.0.1:${indexerPort}`);
    expect(summary.demo?.steps).to.be.greaterThan(0);
  });

  after(() => stopAppStack({ browser, groups: [task] }));

  /** The demo's devices and their statuses, read from the registry over the in-process chain's JSON-RPC. */
  async function chainCounts(): Promise<Record<string, number>> {
    const provider = new JsonRpcProvider(summary.rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1 });
    try {
      const config = (await (await fetch(`${summary.url}thingledger.json`)).json()) as {
        addresses: { DeviceRegistry: string };
      };
      const registry = DeviceRegistry__factory.connect(config.addresses.DeviceRegistry, provider);
      const ids = new Set<string>();
      for (const e of await registry.queryFilter(registry.filters.DeviceRegistered())) ids.add(e.args.deviceId);
      for (const e of await registry.queryFilter(registry.filters.DevicesRegistered()))
        for (const id of e.args.deviceIds) ids.add(id);
      for (const e of await registry.queryFilter(registry.filters.DeviceActivated())) ids.add(e.args.deviceId);
      const statuses = await registry.getStatuses([...ids]);
      const counts: Record<string, number> = { total: ids.size, Registered: 0, Active: 0, Revoked: 0 };
      for (const s of statuses) counts[STATUS[Number(s)]] += 1;
      return counts;
    } finally {
      provider.destroy();
    }
  }

  async function text(page: Page, testId: string): Promise<string> {
    const locator = page.getByTestId(testId);
    await locator.waitFor({ timeout: 60_000 });
    return (await locator.textContent()) ?? "";
  }

  it("serves the built app, its config and /indexer; the fleet page in Chromium counts the demo's devices as the chain does", async function () {
    const counts = await chainCounts();
    expect(counts.total, "the demo registered devices").to.be.greaterThan(0);
    expect(counts.Active, "the demo activated devices").to.be.greaterThan(0);
    // Through the served port: the indexer's answer, proxied.
    const fleet = (await (await fetch(`${summary.url}indexer/stats/fleet`)).json()) as {
      total: number;
      byStatus: Record<string, number>;
    };
    expect(fleet).to.deep.equal({
      total: counts.total,
      byStatus: { Registered: counts.Registered, Active: counts.Active, Revoked: counts.Revoked },
    });
    if (!fs.existsSync(CHROMIUM)) {
      console.log(`    (browser part skipped: no ${CHROMIUM})`);
      return;
    }
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${summary.url}#/fleet`);
    expect(await text(page, "count-total")).to.equal(String(counts.total));
    for (const status of ["Registered", "Active", "Revoked"])
      expect(await text(page, `count-${status}`), status).to.equal(String(counts[status]));
    expect(await page.getByTestId("device-row").count()).to.equal(Math.min(counts.total, 25));
    await page.close();
  });

  it("the manufacturer page shows its whitelists' capacity and used, and its fee credit, as the registry does", async function () {
    const provider = new JsonRpcProvider(summary.rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1 });
    try {
      const config = (await (await fetch(`${summary.url}thingledger.json`)).json()) as {
        addresses: { DeviceRegistry: string; ThingToken: string };
      };
      const registry = DeviceRegistry__factory.connect(config.addresses.DeviceRegistry, provider);
      const committed = await registry.queryFilter(registry.filters.WhitelistCommitted());
      expect(committed.length, "the demo commits a whitelist").to.be.greaterThan(0);
      const id = Number(committed[0].args.manufacturerId);
      const roots = committed
        .filter((e) => Number(e.args.manufacturerId) === id)
        .map((e) => e.args.root.toLowerCase())
        .sort();
      const expected = [];
      for (const root of roots) {
        const w = await registry.getWhitelist(id, root);
        expected.push({ root, capacity: String(w.capacity), used: String(w.used) });
      }
      expect(
        expected.some((w) => w.used !== "0"),
        "the demo registers from its whitelist",
      ).to.equal(true);
      // The demo spends the credit it deposits: account 0 (the treasury, unlocked in process) deposits some more.
      const account = await registry.manufacturerAccount(id);
      const treasury = await provider.getSigner(0);
      const token = ThingToken__factory.connect(config.addresses.ThingToken, treasury);
      await (await token.approve(registry, parseUnits("1.5", 18))).wait();
      await (await registry.connect(treasury).depositFeeCredit(account, parseUnits("1.5", 18))).wait();
      const credit = (await registry.getManufacturer(account)).credit;
      expect(credit).to.be.at.least(parseUnits("1.5", 18));

      // The route behind it, through the served port: a bad id and an unknown one in one line each.
      const bad = await fetch(`${summary.url}indexer/manufacturers/abc`);
      expect(bad.status).to.equal(400);
      expect(await bad.json()).to.deep.equal({
        error: 'manufacturer id "abc" is not a manufacturer id (a decimal from 1 to 4294967295)',
      });
      for (const unknownId of [999, 4000000000]) {
        const unknown = await fetch(`${summary.url}indexer/manufacturers/${unknownId}`);
        expect(unknown.status).to.equal(404);
        expect(await unknown.json()).to.deep.equal({ error: `no manufacturer ${unknownId} is indexed` });
      }

      if (!fs.existsSync(CHROMIUM)) return;
      browser ??= await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
      const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
      await page.goto(`${summary.url}#/fleet`);
      await page.getByRole("link", { name: "Manufacturer" }).click();
      await page.getByLabel("Manufacturer id").fill(String(id));
      await page.getByRole("button", { name: "Show" }).click();
      expect(page.url()).to.match(new RegExp(`#/manufacturer/${id}$`));
      await page.getByTestId("whitelist-row").first().waitFor({ timeout: 60_000 });
      const rows = [];
      for (const row of await page.getByTestId("whitelist-row").all())
        rows.push({
          root: await row.getAttribute("data-root"),
          capacity: await row.getByTestId("whitelist-capacity").textContent(),
          used: await row.getByTestId("whitelist-used").textContent(),
        });
      expect(rows).to.deep.equal(expected);
      await page.getByText(/ THING$/).waitFor({ timeout: 60_000 });
      expect(await page.getByTestId("fee-credit").textContent()).to.equal(`${formatEther(credit)} THING`);

      await page.goto(`${summary.url}#/manufacturer/abc`);
      expect(await page.getByTestId("manufacturer-error").textContent()).to.equal(
        '"abc" is not a manufacturer id (a number from 1).',
      );
      await page.close();
    } finally {
      provider.destroy();
    }
  });

  it("refuses a taken port in one line, before deploying anything", async function () {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    const port = (holder.address() as net.AddressInfo).port;
    try {
      const run = hardhat(["app", "--port", String(port)]);
      expect(run.status).to.equal(1);
      expect(errorLines(run)).to.deep.equal([`Error: port ${port} on 127.0.0.1 is taken; choose another with --port`]);
      expect(run.stdout).to.not.match(/demo|Web app/);
      const json = hardhat(["app", "--indexer-port", String(port), "--json"]);
      expect(json.status).to.equal(1);
      expect(JSON.parse(json.stdout)).to.deep.equal({
        error: `port ${port} on 127.0.0.1 is taken; choose another with --indexer-port`,
      });
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  it("stops the app, the indexer and the in-process chain on SIGINT, leaving no process behind", async function () {
    const child = task!;
    const started = descendants(child.pid!);
    expect(started.length, "the task runs Ponder as a child").to.be.greaterThan(1);
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    process.kill(-child.pid!, "SIGINT");
    await exited;
    // Its children may take a moment to be reaped after the task itself exits.
    const deadline = Date.now() + 30_000;
    while (started.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 300));
    expect(started.filter(alive), "processes left behind").to.deep.equal([]);
    for (const url of [summary.url, `${summary.indexerUrl}/status`, summary.rpcUrl]) {
      const answered = await fetch(url, { signal: AbortSignal.timeout(2000) }).then(
        () => true,
        () => false,
      );
      expect(answered, `${url} still answers`).to.equal(false);
    }
  });
});
