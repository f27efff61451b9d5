import { expect } from "chai";
import { MaxUint256, Wallet, keccak256, toUtf8Bytes } from "ethers";
import type { JsonRpcProvider } from "ethers";
import type { Page } from "playwright-core";

import { DeviceRegistry__factory, ThingToken__factory } from "../../src/chain/factories";
import { readDomain } from "../../src/eip712/domain";
import { compact, signActivation } from "../../src/eip712/device";
import type { DeviceRegistry } from "../../typechain-types";
import { serveIndexedApp, skipUnlessBrowser, startDemoNode, stopAppStack, testIdText, waitText } from "../shared/app";
import type { AppStack } from "../shared/app";
import { freePort } from "../shared/cli";
import { until } from "../shared/process";

/*
 * The fleet dashboard and the device page (app/) in a real Chromium against a real `hardhat node` and a real
 * `npx hardhat indexer`: the built app served by `vite preview`, which proxies `/indexer` to the indexer.
 * Every number and id the pages show is checked against the registry (its getters and logs).
 */

const ADMIN = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
/** The demo's manufacturer (account 3), an owner of the demo's devices (account 4), and a new owner (account 5). */
const MANUFACTURER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";
const HOLDER = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65";
const NEW_OWNER = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc";
const STATUS = ["Unknown", "Registered", "Active", "Revoked"] as const;

describe("Fleet dashboard and device page in Chromium (app/, indexer)", function () {
  this.timeout(900_000);

  let stack: AppStack | undefined;
  let provider: JsonRpcProvider;
  let registry: DeviceRegistry;
  let api: string;
  let base: string;
  let transferred: string;
  let revoked: string;
  const pages: Page[] = [];

  before(async function () {
    skipUnlessBrowser(this);
    // The demo: whitelisted devices, some activated for account 4, two scored by its auditor.
    stack = await startDemoNode("fleet");
    const { addresses } = stack;
    provider = stack.provider;
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
    revoked = batch[1].id.toLowerCase();

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

    // The indexer, as a user runs it (caught up), and the built app proxying `/indexer` to it.
    base = await serveIndexedApp(stack);
    api = stack.indexer!.url;
  });

  after(() => stopAppStack({ opened: pages, ...stack }));

  async function open(url: string): Promise<Page> {
    const page = await stack!.browser!.newPage({ viewport: { width: 1280, height: 900 } });
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

  it("counts the fleet by status as the registry does, and charts activations per day (or says it cannot)", async function () {
    const devices = await chainDevices();
    expect(devices.length).to.be.at.least(7);
    const page = await open(`${base}#/fleet`);
    expect(await testIdText(page, "count-total")).to.equal(String(devices.length));
    for (const status of ["Registered", "Active", "Revoked"])
      expect(await testIdText(page, `count-${status}`), status).to.equal(
        String(devices.filter((d) => d.status === status).length),
      );

    // All activations happened today (chain time is the wall clock's here): the last 30 days hold them all.
    const activations = (await registry.queryFilter(registry.filters.DeviceActivated())).length;
    expect(activations).to.be.at.least(2);
    const route = await fetch(`${api}/stats/activations?days=30`);
    if (route.status === 404) {
      expect(await testIdText(page, "activations-unavailable")).to.equal(
        "Activations per day are not available from this indexer (it has no /stats/activations route).",
      );
    } else {
      expect(route.status).to.equal(200);
      const chart = page.getByTestId("activations-chart");
      expect(await testIdText(page, "activations-chart-summary")).to.equal(
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

    expect(await testIdText(page, "page-number")).to.equal("Page 1");
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
    expect(await testIdText(page, "page-number")).to.equal("Page 1");
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
    expect(await testIdText(page, "device-id")).to.equal(transferred.toLowerCase());
    const view = await registry.getDevice(transferred);
    expect(await testIdText(page, "device-status")).to.equal(STATUS[Number(view.status)]);
    expect(await testIdText(page, "device-owner")).to.equal(NEW_OWNER.toLowerCase());

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
    expect(await testIdText(page, "reputation-chart-summary")).to.equal(
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
    expect(await testIdText(bad, "device-error")).to.equal(
      '"0x1234" is not a device id: a device id is 0x and 64 hex digits (32 bytes).',
    );
    const unknown = `0x${"ab".repeat(32)}`;
    const missing = await open(`${base}#/devices/${unknown}`);
    expect(await testIdText(missing, "device-error")).to.equal(`The indexer says: no device ${unknown} is indexed.`);

    // An indexer on the app's own origin (a proxy path) that does not answer.
    const down = await stack!.browser!.newPage({ viewport: { width: 1280, height: 900 } });
    pages.push(down);
    await down.route(
      (url) => url.pathname.startsWith("/down/"),
      (route) => route.abort("connectionrefused"),
    );
    await down.goto(`${base}?indexer=/down/#/fleet`);
    expect(await testIdText(down, "indexer-error")).to.match(
      new RegExp(`^The indexer at ${base}down/ is unreachable \\(`),
    );
    expect(await testIdText(down, "list-error")).to.match(/is unreachable/);
  });

  it("fits a device page in a phone's 390 px (wide tables scroll in their box), and names the RPC when it is down", async function () {
    const phone = await stack!.browser!.newPage({ viewport: { width: 390, height: 844 } });
    pages.push(phone);
    await phone.goto(`${base}#/devices/${transferred}`);
    await phone.getByTestId("status-history").waitFor({ timeout: 60_000 });
    await phone.getByTestId("owner-history").waitFor();
    await phone.getByTestId("reputation-chart").locator("canvas").waitFor();
    await waitText(phone.getByTestId("device-wallet").locator("p"), "include", "wallet");
    // Every element that passes the screen or overflows its own box (a long id in a list item), outside the
    // tables' scrolling boxes: what would widen the page.
    const wider = (await phone.evaluate(`[...document.querySelectorAll("body *")]
      .filter((e) => !e.closest(".table-scroll") && (e.getBoundingClientRect().right > 391 || e.scrollWidth > e.clientWidth + 1))
      .map((e) => e.tagName + "." + e.className + " " + e.scrollWidth + " px")`)) as string[];
    const width = Number(await phone.evaluate("document.documentElement.scrollWidth"));
    expect({ width, wider }, "the page at 390 px").to.deep.equal({ width: 390, wider: [] });
    // The owner history (two addresses a row) is wider than the phone: it scrolls inside its box.
    const scrolls = await phone.evaluate(`(() => {
      const box = document.querySelector('[data-testid="owner-history"]').parentElement;
      return [box.scrollWidth > box.clientWidth, getComputedStyle(box).overflowX];
    })()`);
    expect(scrolls).to.deep.equal([true, "auto"]);

    // The chain's RPC down (every JSON-RPC request refused): the page says which service, where.
    const down = await stack!.browser!.newPage({ viewport: { width: 1280, height: 900 } });
    pages.push(down);
    await down.route("**/*", (route) =>
      route.request().method() === "POST" && (route.request().postData() ?? "").includes('"jsonrpc"')
        ? route.abort("connectionrefused")
        : route.fallback(),
    );
    await down.goto(`${base}#/devices/${transferred}`);
    expect(await testIdText(down, "device-unchecked")).to.match(
      /^The status and owner shown are the indexer's, unchecked: the chain could not be read \(The chain's RPC at http:\/\/127\.0\.0\.1:\d+\/? did not answer: check that the node is running\.\)\.$/,
    );
  });

  it("shows one Manufacturer form, and none once another page is open", async function () {
    const page = await open(`${base}#/manufacturer/1`);
    const forms = page.getByRole("form", { name: "Manufacturer" });
    await page.getByRole("heading", { name: "Manufacturer", exact: true }).waitFor();
    expect(await forms.count()).to.equal(1);
    await page.getByLabel("Manufacturer id").fill("2");
    await page.getByRole("button", { name: "Show" }).click();
    await page.waitForURL(/#\/manufacturer\/2$/);
    await page
      .getByTestId("manufacturer-error")
      .or(page.getByRole("region", { name: "Identity" }))
      .first()
      .waitFor();
    expect(await forms.count()).to.equal(1);
    expect(await page.getByLabel("Manufacturer id").inputValue()).to.equal("2");
    for (const link of ["Fleet", "Activate"]) {
      await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: link }).click();
      await page.waitForURL(new RegExp(`#/${link.toLowerCase()}`));
      expect(await forms.count(), link).to.equal(0);
    }
  });

  it("attack: an indexer that calls a revoked device active is contradicted by the chain; a link cannot name another indexer", async function () {
    // The indexer lies (or lags): the revoked device is Active, owned by a stranger.
    const stranger = Wallet.createRandom().address.toLowerCase();
    const page = await stack!.browser!.newPage({ viewport: { width: 1280, height: 900 } });
    pages.push(page);
    await page.route(`**/devices/${revoked}`, async (route) => {
      const real = (await (await route.fetch()).json()) as { device: { status: string; owner: string | null } };
      real.device.status = "Active";
      real.device.owner = stranger;
      await route.fulfill({ json: real });
    });
    await page.goto(`${base}#/devices/${revoked}`);
    expect(STATUS[Number((await registry.getDevice(revoked)).status)]).to.equal("Revoked");
    expect(await testIdText(page, "device-status")).to.equal("Revoked");
    expect(await testIdText(page, "device-owner")).to.equal("—");
    expect(await testIdText(page, "device-disagrees")).to.equal(
      `The indexer disagrees with the chain (it lags or is wrong): it says status Active where the chain says Revoked, and owner ${stranger} where the chain says none. The chain's values are shown; the histories below are the indexer's.`,
    );
    expect(await page.getByText("Active", { exact: true }).count()).to.equal(0);

    // An honest indexer: no flag.
    const honest = await open(`${base}#/devices/${revoked}`);
    expect(await testIdText(honest, "device-status")).to.equal("Revoked");
    expect(await honest.getByTestId("device-disagrees").count()).to.equal(0);

    // An indexer answering garbage times, or an error body with HTTP 200 for the owner's wallet: one line each.
    const garbled = await stack!.browser!.newPage({ viewport: { width: 1280, height: 900 } });
    pages.push(garbled);
    await garbled.route(`**/devices/${transferred.toLowerCase()}`, async (route) => {
      const real = (await (await route.fetch()).json()) as { device: { registeredAt: string } };
      real.device.registeredAt = "soon";
      await route.fulfill({ json: real });
    });
    await garbled.goto(`${base}#/devices/${transferred}`);
    expect(await testIdText(garbled, "device-error")).to.equal(
      `The indexer answered something unexpected for devices/${transferred.toLowerCase()}: the device's registeredAt is "soon", not a time.`,
    );
    await garbled.unrouteAll();
    await garbled.route("**/wallets/**", (route) => route.fulfill({ json: { error: "database is locked" } }));
    await garbled.reload();
    expect(await testIdText(garbled, "device-status")).to.equal(
      STATUS[Number((await registry.getDevice(transferred)).status)],
    );
    await waitText(
      garbled.getByTestId("device-wallet").locator("p"),
      "equal",
      `The indexer answered something unexpected for wallets/${NEW_OWNER.toLowerCase()}: the wallet is not an object: undefined.`,
    );

    // A link naming an indexer on another host is refused before anything is shown.
    const hostile = await open(
      `${base}?indexer=${encodeURIComponent(`http://127.0.0.1:${await freePort()}`)}#/devices/${revoked}`,
    );
    await hostile.getByText("No deployment to talk to: ?indexer= must name a path on this app's own origin").waitFor();
    expect(await hostile.getByTestId("device-status").count()).to.equal(0);
  });
});
