import fs from "node:fs";
import path from "node:path";

import { expect } from "chai";
import { MaxUint256, Wallet, keccak256, parseEther, toUtf8Bytes } from "ethers";
import type { HDNodeWallet, JsonRpcProvider } from "ethers";
import type { Page } from "playwright-core";

import { PAGE_PATHS } from "../../app/src/routes";
import { contextFor, walletFactoryAt } from "../../src/chain/context";
import type { SystemContext } from "../../src/chain/context";
import { DeviceRegistry__factory, ThingToken__factory } from "../../src/chain/factories";
import { deviceIdOf } from "../../src/devices/id";
import { compact, signActivation } from "../../src/eip712/device";
import { readDomain } from "../../src/eip712/domain";
import type { Whitelist } from "../../src/merkle/whitelist";
import { registerFleet } from "../../src/registry/register";
import { activationLink } from "../../src/registry/activation-link";
import { claimInteraction, makeReport, openAuditor, submitReports } from "../../src/reputation";
import type { DeviceRegistry, ThingToken } from "../../typechain-types";
import {
  connectWallet,
  serveIndexedApp,
  skipUnlessBrowser,
  startDemoNode,
  stopStack,
  testIdText,
  waitText,
  walletPage,
} from "../shared/app";
import type { AppStack } from "../shared/app";
import { ROOT } from "../shared/cli";
import { caughtUp } from "../shared/indexer";
import { until } from "../shared/process";

/*
 * The journeys end to end, in a real Chromium against a real `hardhat node` and a real `npx hardhat
 * indexer` (the built app served by `vite preview`, proxying `/indexer`): a fleet registered by Merkle root
 * shows on the Manufacturer page and one of its devices activates from the portal on a phone; the dashboard's
 * counts grow by it; an auditor's epoch moves the device's reputation chart. Then every routed page is
 * photographed at desktop and phone widths (test-artifacts/screenshots/, gitignored).
 */

/** Hardhat's accounts: the admin (0), the demo's manufacturer (3), and an auditor this test admits (7). */
const ADMIN = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const MANUFACTURER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";
const AUDITOR = "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955";
const ACTIVE = 2n;
/** Where the screenshots go: a test artifact, never committed. */
const SCREENSHOTS = path.join(ROOT, "test-artifacts", "screenshots");
/** In the page: is it still reading (a busy marker, or a "Reading the…" / "reading the chain…" text)? */
const READING = `document.querySelector('main [aria-busy="true"]') !== null ||
  /(R|r)eading the/.test(document.querySelector("main")?.innerText ?? "")`;
const WIDTHS = [
  { name: "desktop", width: 1280, height: 800 },
  { name: "phone", width: 390, height: 844 },
] as const;

describe("Journeys and screenshots in Chromium (app/, indexer)", function () {
  this.timeout(900_000);

  let stack: AppStack | undefined;
  let provider: JsonRpcProvider;
  let ctx: SystemContext;
  let registry: DeviceRegistry;
  let token: ThingToken;
  let api: string;
  let base: string;
  /** The fleet of journey 1: three devices with keys of their own, committed as one Merkle root. */
  const fleet = [1, 2, 3].map((n) => ({ uid: `journey-${n}`, key: Wallet.createRandom() }));
  let whitelist: Whitelist;
  /** The portal's owner in journey 1 (its device is fleet[0]). */
  let owner: Wallet | HDNodeWallet;

  before(async function () {
    skipUnlessBrowser(this);
    stack = await startDemoNode("journeys");
    provider = stack.provider;
    ctx = await contextFor(provider, stack.addresses);
    registry = DeviceRegistry__factory.connect(stack.addresses.DeviceRegistry, provider);
    token = ThingToken__factory.connect(stack.addresses.ThingToken, provider);
    base = await serveIndexedApp(stack);
    api = stack.indexer!.url;
  });

  after(async function () {
    await stopStack(stack);
  });

  /** A page without a wallet, `width` × `height`, at `url` (relative to the app). */
  async function open(url: string, width = 1280, height = 900): Promise<Page> {
    const page = await stack!.browser!.newPage({ viewport: { width, height } });
    await page.goto(base + url);
    return page;
  }

  /** The dashboard's figures: devices in total and active, and activations in its 30-day chart. */
  async function dashboard(): Promise<{ total: number; active: number; activations: number }> {
    const page = await open("#/fleet");
    const summary = await testIdText(page, "activations-chart-summary");
    const figures = {
      total: Number(await testIdText(page, "count-total")),
      active: Number(await testIdText(page, "count-Active")),
      activations: Number(/^(\d+) activations? in the last 30 days/.exec(summary)?.[1]),
    };
    await page.close();
    return figures;
  }

  /** The Manufacturer page's row for the journey's root: capacity, used. */
  async function whitelistRow(): Promise<{ capacity: string; used: string }> {
    const page = await open("#/manufacturer/1");
    const row = page.locator(`[data-testid="whitelist-row"][data-root="${whitelist.root.toLowerCase()}"]`);
    await row.waitFor({ timeout: 60_000 });
    const figures = {
      capacity: (await row.getByTestId("whitelist-capacity").textContent()) ?? "",
      used: (await row.getByTestId("whitelist-used").textContent()) ?? "",
    };
    await page.close();
    return figures;
  }

  const synced = () => caughtUp(api, provider, 120_000);

  it("journeys 1 and 3: a fleet registered by Merkle root shows its whitelist; a device of it activates from the portal on a phone, and the dashboard counts it", async function () {
    const manufacturer = await provider.getSigner(MANUFACTURER);
    const devices = fleet.map((d, n) => ({
      uid: d.uid,
      deviceId: deviceIdOf(1, d.uid),
      publicKey: d.key.signingKey.publicKey,
      deviceKey: d.key.address,
      deviceType: 5,
      line: n + 1,
    }));
    const out = path.join(stack!.scratch, "whitelist.json");
    const registered = await registerFleet(ctx, manufacturer, devices, {
      merkle: true,
      whitelistOut: out,
      proofs: "json",
    });
    whitelist = JSON.parse(fs.readFileSync(out, "utf8")) as Whitelist;
    expect(registered.root).to.equal(whitelist.root);
    const onChain = await registry.getWhitelist(1, whitelist.root);
    expect([onChain.capacity, onChain.used]).to.deep.equal([3n, 0n]);

    await synced();
    expect(await whitelistRow()).to.deep.equal({ capacity: "3", used: "0" });
    const before = await dashboard();

    // The owner opens the device's link on a phone and pays the activation with a permit.
    const device = whitelist.entries.find((e) => e.deviceKey.toLowerCase() === fleet[0].key.address.toLowerCase())!;
    const fee = onChain.activationFee;
    owner = Wallet.createRandom().connect(provider);
    await (
      await (await provider.getSigner(ADMIN)).sendTransaction({ to: owner.address, value: parseEther("1") })
    ).wait();
    await (await token.connect(manufacturer).transfer(owner.address, fee)).wait();
    const now = BigInt((await provider.getBlock("latest"))!.timestamp);
    const signed = { deviceId: device.deviceId, owner: owner.address, deadline: now + 3600n };
    const payload = {
      ...signed,
      signature: await signActivation(fleet[0].key, await readDomain(registry), signed),
      whitelist: { root: whitelist.root, deviceType: 5, deviceKey: device.deviceKey, proof: device.proof },
    };
    const page = await walletPage(stack!.browser!, owner, { width: 390, height: 844 });
    await page.goto(base + activationLink(payload));
    await waitText(page.getByTestId("status"), "equal", "unknown");
    await connectWallet(page);
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SCREENSHOTS, "journey-portal-phone.png"), fullPage: true });
    await page.getByRole("button", { name: "Activate and pay with a permit" }).click();
    await waitText(page.getByTestId("result"), "include", "Activated: the device is active", 120_000);

    const view = await registry.getDevice(device.deviceId);
    expect([view.status, view.owner]).to.deep.equal([ACTIVE, owner.address]);
    expect((await registry.getWhitelist(1, whitelist.root)).used).to.equal(1n);

    // The indexer has it: the whitelist is one used, and the dashboard counts one device and one activation more.
    await synced();
    expect(await whitelistRow()).to.deep.equal({ capacity: "3", used: "1" });
    expect(await dashboard()).to.deep.equal({
      total: before.total + 1,
      active: before.active + 1,
      activations: before.activations + 1,
    });
  });

  it("journey 7: an auditor's epoch over the devices' signed reports moves the device's reputation chart", async function () {
    const subject = { id: deviceIdOf(1, fleet[0].uid), key: fleet[0].key };
    const page = await open(`#/devices/${subject.id}`);
    expect(await testIdText(page, "reputation-empty")).to.equal("No score submitted for this device yet.");

    // Two more devices of the fleet register from their proofs and activate; each then reports on the subject.
    const manufacturer = await provider.getSigner(MANUFACTURER);
    await (await token.connect(manufacturer).approve(registry, MaxUint256)).wait();
    const reporters = [];
    for (const d of fleet.slice(1)) {
      const entry = whitelist.entries.find((e) => e.deviceKey.toLowerCase() === d.key.address.toLowerCase())!;
      const r = registry.connect(manufacturer);
      await (await r.registerFromWhitelist(whitelist.root, entry.deviceId, entry.deviceKey, 5, entry.proof)).wait();
      const now = BigInt((await provider.getBlock("latest"))!.timestamp);
      const signed = { deviceId: entry.deviceId, owner: MANUFACTURER, deadline: now + 3600n };
      const [sr, vs] = compact(await signActivation(d.key, await readDomain(registry), signed));
      await (await r.activateDevice(MaxUint256, entry.deviceId, MANUFACTURER, signed.deadline, sr, vs)).wait();
      reporters.push({ id: entry.deviceId, key: d.key });
    }

    await (await registry.connect(await provider.getSigner(ADMIN)).addAuditor(AUDITOR)).wait();
    const { service, store } = await openAuditor(
      ctx,
      await provider.getSigner(AUDITOR),
      path.join(stack!.scratch, "a.db"),
    );
    try {
      const url = await service.listen(0);
      const interaction = keccak256(toUtf8Bytes("journey 7: a paid session"));
      const reports = [];
      for (const [n, reporter] of reporters.entries()) {
        const ids = { subjectId: subject.id, reporterId: reporter.id, interaction };
        const claim = await claimInteraction(ctx, subject.key, ids);
        reports.push(await makeReport(ctx, reporter.key, { ...ids, rating: [100, 90][n], evidence: claim.evidence }));
      }
      const outcomes = await submitReports(url, reports);
      expect(outcomes.map((o) => o.accepted)).to.deep.equal([true, true]);
      const epoch = await service.runEpoch();
      expect([epoch.reports, epoch.submitted]).to.deep.equal([2, 1]);
    } finally {
      await service.stop();
      store.close();
    }
    const rep = await registry.reputationOf(subject.id);
    expect(rep.audited).to.equal(true);

    await synced();
    await page.reload();
    expect(await testIdText(page, "reputation-chart-summary")).to.equal(
      `1 score change; latest ${rep.score} / 1000 (epoch ${rep.epoch}).`,
    );
    expect(await page.getByTestId("reputation-chart").locator("canvas").count()).to.equal(1);
    await page.close();
  });

  it("photographs every routed page at desktop and phone widths, none wider than the screen", async function () {
    // Each route parameter, by name, from this test's data; a route with a parameter not here fails.
    // The device wallet the demo created (the first WalletCreated).
    const factory = walletFactoryAt(ctx);
    const [created] = await factory.queryFilter(factory.filters.WalletCreated());
    const samples: Record<string, string> = {
      deviceId: deviceIdOf(1, fleet[0].uid),
      id: "1",
      address: created.args.wallet,
    };
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    const overflowing: string[] = [];
    for (const route of PAGE_PATHS) {
      const url = route.replace(/:(\w+)/g, (_, name: string) => {
        expect(samples, `a sample for the route parameter ":${name}" of ${route}`).to.have.property(name);
        return samples[name];
      });
      for (const { name, width, height } of WIDTHS) {
        const page = await open(`#/${url}`, width, height);
        await page.locator("main h1").first().waitFor({ timeout: 60_000 });
        await until(`${route} to finish reading`, 60_000, async () =>
          (await page.evaluate(READING)) ? undefined : true,
        );
        const file = `${route.replace(/[/:]+/g, "-")}-${name}.png`;
        await page.screenshot({ path: path.join(SCREENSHOTS, file), fullPage: true });
        const wide = Number(await page.evaluate("document.documentElement.scrollWidth"));
        if (wide > width) overflowing.push(`${file}: ${wide} px`);
        await page.close();
      }
    }
    expect(overflowing, "pages wider than the screen").to.deep.equal([]);
    expect(fs.readdirSync(SCREENSHOTS).filter((f) => f.endsWith(".png")).length).to.be.at.least(PAGE_PATHS.length * 2);
  });
});
