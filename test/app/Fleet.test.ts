import path from "node:path";

import { expect } from "chai";
import { JsonRpcProvider, MaxUint256, Wallet, keccak256, toUtf8Bytes } from "ethers";
import type { Browser, Page } from "playwright-core";

import { DeviceRegistry__factory, ThingToken__factory } from "../../src/chain/factories";
import { readDomain } from "../../src/eip712/domain";
import { compact, signActivation } from "../../src/eip712/device";
import type { DeviceRegistry } from "../../typechain-types";
import { buildAndServeApp, launchChromium, skipUnlessBrowser, stopAppSuite, MANUFACTURER } from "../shared/app";
import type { ServedApp } from "../shared/app";
import { freePort, hardhat, startNodeDeployment } from "../shared/cli";
import type { LocalNode } from "../shared/cli";
import { startIndexer } from "../shared/indexer";
import type { RunningIndexer } from "../shared/indexer";
import { until } from "../shared/process";

/*
 * The fleet dashboard and the device page (app/) in a real Chromium against a real `hardhat node` and a real
 * `npx hardhat indexer`: the built app served by `vite preview`, which proxies `/indexer` to the indexer.
 * Every number and id the pages show is checked against the registry (its getters and logs).
 */

const ADMIN = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
/** The demo's manufacturer (account 3), an owner of the demo's devices (account 4), and a new owner (account 5). */
const HOLDER = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65";
const NEW_OWNER = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc";
const STATUS = ["Unknown", "Registered", "Active", "Revoked"] as const;

describe("Fleet dashboard and device page in Chromium (app/, indexer)", function () {
  this.timeout(900_000);

  let node: LocalNode;
  let env: NodeJS.ProcessEnv;
  let deploymentDir: string;
  let scratch: string;
  let provider: JsonRpcProvider;
  let registry: DeviceRegistry;
  let indexer: RunningIndexer | undefined;
  let api: string;
  let app: ServedApp | undefined;
  let base: string;
  let browser: Browser | undefined;
  let transferred: string;
  const pages: Page[] = [];

  before(async function () {
    skipUnlessBrowser(this);
    ({ node, env, deploymentDir, scratch } = await startNodeDeployment("fleet"));
    provider = new JsonRpcProvider(node.url, undefined, { staticNetwork: true, cacheTimeout: -1 });

    // The demo: whitelisted devices, some activated for account 4, two scored by its auditor.
    const demo = hardhat(["demo", "--network", "localhost", "--json"], env);
    expect(demo.status, demo.stderr).to.equal(0);
    const { addresses } = JSON.parse(demo.stdout) as { addresses: { DeviceRegistry: string; ThingToken: string } };
    registry = DeviceRegistry__factory.connect(addresses.DeviceRegistry, provider);

    // Three more, registered directly: one activated by its key's signature, one revoked, one left registered.
    const manufacturer = await provider.getSigner(MANUFACTURER);
    await (await ThingToken__factory.connect(addresses.ThingToken, manufacturer).approve(registry, MaxUint256)).wait();
    const batch = [1, 2, 3].map((n) => ({
      id: `0x00000001${keccak256(toUtf8Bytes(`fleet-test-${n}`)).slice(10)}`,
      key: Wallet.createRandom(),
    }));
    await (
      await registry.connect(manufacturer).registerDevices(
        MaxUint256,
        batch.map((d) => d.id),
        batch.map((d) => d.key.address),
        [5, 5, 6],
      )
    ).wait();
    const now = BigInt((await provider.getBlock("latest"))!.timestamp);
    const payload = { deviceId: batch[0].id, owner: NEW_OWNER, deadline: now + 3600n };
    const [r, vs] = compact(await signActivation(batch[0].key, await readDomain(registry), payload));
    await (
      await registry
        .connect(manufacturer)
        .activateDevice(MaxUint256, payload.deviceId, NEW_OWNER, payload.deadline, r, vs)
    ).wait();
    await (await registry.connect(await provider.getSigner(ADMIN)).revokeDevice(batch[1].id, 2)).wait();

    // A scored demo device of account 4 changes hands: two owners in its history.
    const activated = await registry.queryFilter(registry.filters.DeviceActivated());
    const held = [];
    for (const e of activated)
      if (e.args.owner === HOLDER)
        held.push({ id: e.args.deviceId, rep: await registry.reputationOf(e.args.deviceId) });
    const scored = held.find((h) => h.rep.audited);
    if (scored === undefined) throw new Error("the demo scored no device of account 4");
    transferred = scored.id;
    await (await registry.connect(await provider.getSigner(HOLDER)).transferDevice(transferred, NEW_OWNER)).wait();

    // The indexer, as a user runs it, until it has caught up with the chain.
    indexer = await startIndexer({ env, dir: path.join(scratch, "db"), provider });
    api = indexer.url;

    // The built app, served by `vite preview`: its config from this deployment, `/indexer` proxied to the indexer.
    app = await buildAndServeApp({
      env: { ...env, THINGLEDGER_RPC_URL: node.url, THINGLEDGER_INDEXER_URL: api },
      scratch,
      ready: ["indexer/stats/fleet"],
    });
    base = app.base;
    browser = await launchChromium();
  });

  after(async function () {
    await stopAppSuite({
      closables: pages,
      browser,
      app,
      indexer,
      provider,
      node,
      dirs: [deploymentDir, scratch],
    });
  });

  async function open(url: string): Promise<Page> {
    const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
    pages.push(page);
    await page.goto(url);
    return page;
  }

  /** Every device the registry's logs name, lower-cased and sorted (the indexer's order), with its status. */
  async function chainDevices(): Promise<{ id: string; status: string }[]> {
    const ids = new Set<string>();
    for (const e of await registry.queryFilter(registry.filters.DeviceRegistered())) ids.add(e.args.deviceId);
    for (const e of await registry.queryFilter(registry.filters.DevicesRegistered()))
      for (const id of e.args.deviceIds) ids.add(id);
    for (const e of await registry.queryFilter(registry.filters.DeviceActivated())) ids.add(e.args.deviceId);
    const sorted = [...ids].map((id) => id.toLowerCase()).sort();
    const statuses = await registry.getStatuses(sorted);
    return sorted.map((id, n) => ({ id, status: STATUS[Number(statuses[n])] }));
  }

  async function rowIds(page: Page): Promise<(string | null)[]> {
    const rows = await page.getByTestId("device-row").all();
    return Promise.all(rows.map((r) => r.getAttribute("data-device-id")));
  }

  async function text(page: Page, testId: string): Promise<string> {
    const locator = page.getByTestId(testId);
    await locator.waitFor({ timeout: 60_000 });
    return (await locator.textContent()) ?? "";
  }

  it("counts the fleet by status as the registry does, and charts activations per day (or says it cannot)", async function () {
    const devices = await chainDevices();
    expect(devices.length).to.be.at.least(7);
    const page = await open(`${base}#/fleet`);
    expect(await text(page, "count-total")).to.equal(String(devices.length));
    for (const status of ["Registered", "Active", "Revoked"])
      expect(await text(page, `count-${status}`), status).to.equal(
        String(devices.filter((d) => d.status === status).length),
      );

    // All activations happened today (chain time is the wall clock's here): the last 30 days hold them all.
    const activations = (await registry.queryFilter(registry.filters.DeviceActivated())).length;
    expect(activations).to.be.at.least(2);
    const route = await fetch(`${api}/stats/activations?days=30`);
    if (route.status === 404) {
      expect(await text(page, "activations-unavailable")).to.equal(
        "Activations per day are not available from this indexer (it has no /stats/activations route).",
      );
    } else {
      expect(route.status).to.equal(200);
      const chart = page.getByTestId("activations-chart");
      expect(await text(page, "activations-chart-summary")).to.equal(
        `${activations} activations in the last 30 days (UTC days).`,
      );
      expect(await chart.locator("canvas").count()).to.equal(1);
    }
  });

  it("lists devices by id in pages (Next and Previous follow the cursor), and filters them by status", async function () {
    const ids = (await chainDevices()).map((d) => d.id);
    const limit = Math.ceil(ids.length / 2);
    const page = await open(`${base}#/fleet?limit=${limit}`);
    const next = page.getByRole("button", { name: "Next" });
    const previous = page.getByRole("button", { name: "Previous" });

    expect(await text(page, "page-number")).to.equal("Page 1");
    expect(await rowIds(page)).to.deep.equal(ids.slice(0, limit));
    expect(await previous.isDisabled()).to.equal(true);
    await next.click();
    await page.getByText("Page 2").waitFor();
    expect(await rowIds(page)).to.deep.equal(ids.slice(limit));
    expect(await next.isDisabled()).to.equal(true);
    await previous.click();
    await page.getByText("Page 1").waitFor();
    expect(await rowIds(page)).to.deep.equal(ids.slice(0, limit));

    // The status filter: only the registered devices, the pager back on page 1.
    await next.click();
    await page.getByText("Page 2").waitFor();
    await page.getByRole("combobox").selectOption("Registered");
    await page.getByRole("button", { name: "Filter" }).click();
    await page.waitForURL(/status=Registered/);
    expect(await text(page, "page-number")).to.equal("Page 1");
    const registered = (await chainDevices()).filter((d) => d.status === "Registered").map((d) => d.id);
    expect(registered.length).to.be.greaterThan(0);
    expect(await rowIds(page)).to.deep.equal(registered.slice(0, limit));

    // The owner filter, from the address.
    const owned = await open(`${base}#/fleet?owner=${NEW_OWNER}`);
    await owned.getByTestId("page-number").waitFor();
    const ownedOnChain = [];
    for (const id of ids) if ((await registry.getDevice(id)).owner === NEW_OWNER) ownedOnChain.push(id);
    expect(ownedOnChain).to.have.length(2);
    expect(await rowIds(owned)).to.deep.equal(ownedOnChain);
  });

  it("shows a device's identity, status and owner histories, and its reputation over time", async function () {
    const page = await open(`${base}#/fleet?owner=${NEW_OWNER}`);
    await page.locator(`[data-device-id="${transferred.toLowerCase()}"] a`).click();
    expect(await text(page, "device-id")).to.equal(transferred.toLowerCase());
    const view = await registry.getDevice(transferred);
    expect(await text(page, "device-status")).to.equal(STATUS[Number(view.status)]);
    expect(await text(page, "device-owner")).to.equal(NEW_OWNER.toLowerCase());

    const statuses = await page.getByTestId("status-history").locator("tbody tr td:first-child").allTextContents();
    expect(statuses).to.deep.equal(["Registered", "Active"]);
    const owners = [];
    for (const row of await page.getByTestId("owner-history").locator("tbody tr").all())
      owners.push((await row.locator("td").allTextContents()).slice(0, 2));
    expect(owners).to.deep.equal([
      ["— (activation)", HOLDER.toLowerCase()],
      [HOLDER.toLowerCase(), NEW_OWNER.toLowerCase()],
    ]);

    const rep = await registry.reputationOf(transferred);
    expect(await text(page, "reputation-chart-summary")).to.equal(
      `1 score change; latest ${rep.score} / 1000 (epoch ${rep.epoch}).`,
    );
    expect(await page.getByTestId("reputation-chart").locator("canvas").count()).to.equal(1);

    // The owner is an account: no wallet, whether or not this indexer indexes device wallets.
    const wallet = page.getByTestId("device-wallet").locator("p");
    await until("the wallet lookup", 60_000, async () =>
      (await wallet.textContent())?.startsWith("Reading") === false ? true : undefined,
    );
    expect(await wallet.textContent()).to.be.oneOf([
      "Device wallets are not available from this indexer.",
      "The owner is an account, not a device wallet.",
    ]);
  });

  it("says plainly when a device id is malformed, unknown, or the indexer is unreachable", async function () {
    const bad = await open(`${base}#/devices/0x1234`);
    expect(await text(bad, "device-error")).to.equal(
      '"0x1234" is not a device id: a device id is 0x and 64 hex digits (32 bytes).',
    );
    const unknown = `0x${"ab".repeat(32)}`;
    const missing = await open(`${base}#/devices/${unknown}`);
    expect(await text(missing, "device-error")).to.equal(`The indexer says: no device ${unknown} is indexed.`);

    const nowhere = `http://127.0.0.1:${await freePort()}`;
    const down = await open(`${base}?indexer=${encodeURIComponent(nowhere)}#/fleet`);
    expect(await text(down, "indexer-error")).to.match(new RegExp(`^The indexer at ${nowhere}/ is unreachable \\(`));
    expect(await text(down, "list-error")).to.match(/is unreachable/);
  });
});
