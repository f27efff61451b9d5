import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

import { expect } from "chai";
import { JsonRpcProvider, Wallet, verifyTypedData } from "ethers";
import type { Browser, Page } from "playwright-core";

import { SimulatedDevice } from "../../src/channels/device";
import type { ChannelFile } from "../../src/channels/open";
import { readDomain } from "../../src/eip712/domain";
import { RECEIPT_TYPES } from "../../src/eip712/receipt";
import { PaymentChannels__factory } from "../../src/chain/factories";
import { buildAndServeApp, launchChromium, skipUnlessBrowser, stopAppStack, waitText } from "../shared/app";
import type { ServedApp } from "../shared/app";
import { ROOT, freePort, hardhat, startNodeDeployment } from "../shared/cli";
import type { LocalNode } from "../shared/cli";
import { startIndexer } from "../shared/indexer";
import type { RunningIndexer } from "../shared/indexer";
import { Exited, outputOf, until } from "../shared/process";

/*
 * The client page (#/access) in a real Chromium against a real `hardhat node` and a real `as:serve`: the
 * channel is opened and the device provisioned with the tasks a user runs, the built app is served by
 * `vite preview` (which proxies `/as` to the AS), and the page signs the receipt with a client key pasted
 * into it. The code it shows must open the simulated lock (the device's own HOTP check under its secret),
 * and the AS must show the client's receipt as the channel's best. The channels page needs the indexer,
 * whose catch-up costs minutes: it is not driven here.
 */

/** Hardhat's account 1: the AS (`as:serve --signer 1`), the channel's payee. */
const AS_ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const PRICE = 10n ** 15n; // 0.001 ETH

describe("Web app: paid access in Chromium (app/, as:serve)", function () {
  this.timeout(600_000);

  let node: LocalNode;
  let env: NodeJS.ProcessEnv;
  let deploymentDir: string;
  let scratch: string;
  let provider: JsonRpcProvider;
  let as: ChildProcess | undefined;
  let asUrl: string;
  let indexer: RunningIndexer | undefined;
  let app: ServedApp | undefined;
  let base: string;
  let browser: Browser | undefined;
  const client = Wallet.createRandom();
  let channelText: string;
  let channel: ChannelFile;
  let deviceId: string;
  let lockFile: string;

  /** Runs a task; fails with its output unless it succeeded. */
  function task(args: string[]): string {
    const r = hardhat(args, env);
    expect(r.status, `${args[0]}: ${r.stderr}${r.stdout}`).to.equal(0);
    return r.stdout;
  }

  before(async function () {
    skipUnlessBrowser(this);
    ({ node, env, deploymentDir, scratch } = await startNodeDeployment("paid-app"));
    env = { ...env, FORCE_COLOR: "0", NO_COLOR: "1" };
    provider = new JsonRpcProvider(node.url, undefined, { staticNetwork: true, cacheTimeout: -1 });
    task(["deploy", "--network", "localhost"]);

    // The device's secret, on both sides; the client group of one browser client; the AS; then the channel.
    const file = (name: string) => path.join(scratch, name);
    lockFile = file("lock-1.json");
    task([
      "device:secret",
      "--device",
      "LOCK-1",
      "--price",
      "0.001",
      "--devices",
      file("devices.json"),
      "--lock",
      lockFile,
    ]);
    deviceId = (JSON.parse(fs.readFileSync(lockFile, "utf8")) as { deviceId: string }).deviceId;
    task(["channel:clients", "--addresses", client.address, "--out", file("clients.json")]);
    const port = await freePort();
    asUrl = `http://127.0.0.1:${port}`;
    as = spawn(
      "npx",
      [
        "hardhat",
        "as:serve",
        "--network",
        "localhost",
        "--signer",
        "1",
        "--port",
        String(port),
        "--db",
        file("as.sqlite"),
        "--devices",
        file("devices.json"),
        "--init",
        "--follow",
        "1",
      ],
      { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true },
    );
    const asLog = outputOf(as);
    await until("the AS", 300_000, async () => {
      if (as?.exitCode !== null) throw new Exited("as:serve exited");
      return asLog().includes("listening at") ? true : undefined;
    }).catch((e: Error) => {
      throw new Error(`${e.message}\n${asLog()}`);
    });
    // A deposit of one and a half slots: the second buy cannot be paid.
    task([
      "channel:open",
      "--network",
      "localhost",
      "--as",
      AS_ADDRESS,
      "--clients",
      file("clients.json"),
      "--deposit",
      "0.0015",
      "--expiry",
      "7d",
      "--out",
      file("channel.json"),
    ]);
    channelText = fs.readFileSync(file("channel.json"), "utf8");
    channel = JSON.parse(channelText) as ChannelFile;

    // The indexer, as a user runs it, until it has caught up with the chain (the channel's open included).
    indexer = await startIndexer({ env, dir: file("db"), provider });

    // The built app, served by `vite preview`: its config from this deployment, `/as` proxied to the AS,
    // `/indexer` to the indexer.
    app = await buildAndServeApp({
      env: { ...env, THINGLEDGER_RPC_URL: node.url, THINGLEDGER_AS_URL: asUrl, THINGLEDGER_INDEXER_URL: indexer.url },
      scratch,
      ready: ["as/devices", "indexer/status"],
    });
    base = app.base;
    browser = await launchChromium();
  });

  after(() => stopAppStack({ browser, app, groups: [as], indexer, provider, node, deploymentDir, scratch }));

  /** The client page with the client key pasted and the channel, device and AS filled in. */
  async function accessPage(key: string, as = "as"): Promise<Page> {
    const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${base}#/access`);
    await page.getByLabel("Client private key").fill(key);
    await page.getByRole("button", { name: "Use this key" }).click();
    await page.getByTestId("client-address").waitFor();
    await page.getByLabel("Channel file").fill(channelText);
    await page.getByLabel("Device id").fill(deviceId);
    await page.getByLabel("AS URL").fill(as);
    return page;
  }

  async function buy(page: Page): Promise<void> {
    await page.getByRole("button", { name: "Buy a code" }).click();
    await page.locator('[data-testid="otp"], [data-testid="problem"]').first().waitFor({ timeout: 120_000 });
  }

  it("buys a code with a receipt signed in the page: the lock opens with it, and the AS holds the receipt", async function () {
    const page = await accessPage(client.privateKey);
    expect(await page.getByTestId("client-address").textContent()).to.equal(client.address);
    await buy(page);
    expect(await page.getByTestId("problem").count(), "no problem shown").to.equal(0);
    const otp = (await page.getByTestId("otp").textContent())!;
    expect(otp).to.match(/^\d{8}$/);
    expect(await page.getByTestId("amount").textContent()).to.equal(PRICE.toString());

    // The AS's best receipt is the client's, for one slot, signed over the channels contract's domain.
    const shown = (await (await fetch(`${asUrl}/channels/${channel.channelId}/receipt`)).json()) as {
      amount: string;
      signer: string;
      signature: string;
    };
    expect(shown.amount).to.equal(PRICE.toString());
    expect(shown.signer).to.equal(client.address);
    const domain = await readDomain(PaymentChannels__factory.connect(channel.contract, provider));
    const message = { channelId: channel.channelId, cumulativeAmount: PRICE };
    expect(verifyTypedData(domain, RECEIPT_TYPES, message, shown.signature)).to.equal(client.address);

    // The device's own check (HOTP under its secret, sliding window) accepts the code, once.
    const lock = new SimulatedDevice(lockFile);
    expect(lock.present(otp).granted).to.equal(true);
    expect(lock.present(otp).granted).to.equal(false);

    // The deposit (1.5 slots) cannot pay a second slot: said plainly, nothing more stored.
    await buy(page);
    expect(await page.getByTestId("problem").textContent()).to.match(/^Not enough deposit left in the channel/);
    const after = (await (await fetch(`${asUrl}/channels/${channel.channelId}/receipt`)).json()) as { amount: string };
    expect(after.amount).to.equal(PRICE.toString());
  });

  it("says plainly when the key is not in the group, the AS is unreachable, or the key is malformed", async function () {
    const stranger = await accessPage(Wallet.createRandom().privateKey);
    await buy(stranger);
    expect(await stranger.getByTestId("problem").textContent()).to.match(/is not in the channel's client group/);

    const unreachable = await accessPage(client.privateKey, `http://127.0.0.1:${await freePort()}`);
    await buy(unreachable);
    expect(await unreachable.getByTestId("problem").textContent()).to.match(/^The AS at .* is unreachable/);

    const page = await browser!.newPage();
    await page.goto(`${base}#/access`);
    await page.getByLabel("Client private key").fill("0x1234");
    await page.getByRole("button", { name: "Use this key" }).click();
    expect(await page.getByTestId("key-problem").textContent()).to.equal(
      "A client key is 64 hex digits (a private key, 0x optional).",
    );
    expect(await page.getByRole("button", { name: "Buy a code" }).isDisabled()).to.equal(true);
  });

  it("attack: a broken or lying AS, or a malformed channel file, is refused in one line; no code is shown", async function () {
    const page = await accessPage(client.privateKey);
    /** Buys with each AS `route` answering its body (the others answer as the AS does): `problem` is shown, no code. */
    async function expectProblem(answers: Record<string, unknown>, problem: string): Promise<void> {
      await page.unrouteAll();
      for (const [route, body] of Object.entries(answers))
        await page.route(`${base}as/${route}`, (r) => r.fulfill({ json: body }));
      await page.getByRole("button", { name: "Buy a code" }).click();
      await waitText(page.getByTestId("problem"), "equal", problem);
      expect(await page.getByTestId("otp").count(), "no code shown").to.equal(0);
    }
    const devicesRoute = "devices";
    const receipt = `channels/${channel.channelId}/receipt`;
    // A fresh channel as the AS would show it (nothing paid yet), so that the page signs and asks for a code.
    const fresh = { [receipt]: { channelId: channel.channelId, amount: "0" } };
    const grant = { deviceId, otp: "12345678", counter: 0, amount: PRICE.toString(), expiresAt: 2_000_000_000 };

    await expectProblem(
      { [devicesRoute]: [1] },
      "The AS answered something unexpected for /devices (an entry without a device id: 1): nothing was signed or shown.",
    );
    await expectProblem(
      { [devicesRoute]: [{ deviceId, price: "abc" }] },
      `The AS answered something unexpected for /devices (device ${deviceId}'s price "abc" is not a whole number of wei): nothing was signed or shown.`,
    );
    await expectProblem(
      { ...fresh, access: { ...grant, expiresAt: "never" } },
      'The AS answered something unexpected for /access (an expiry "never" that is not a time in seconds): nothing was signed or shown.',
    );
    // The AS's answer must be what was asked: this device, the amount the client signed.
    await expectProblem(
      { ...fresh, access: { ...grant, amount: (2n * PRICE).toString() } },
      `The AS's answer does not match the request: it states the amount ${2n * PRICE}, not the ${PRICE} wei the receipt signed. No code is shown.`,
    );
    const other = `0x${"cd".repeat(32)}`;
    await expectProblem(
      { ...fresh, access: { ...grant, deviceId: other } },
      `The AS's answer does not match the request: it is for device ${other}, not ${deviceId}. No code is shown.`,
    );

    // A channel file whose client is not an address.
    await page.unrouteAll();
    const broken = { ...channel, clients: [{ ...channel.clients[0], address: "zz" }] };
    await page.getByLabel("Channel file").fill(JSON.stringify(broken));
    await expectProblem(
      {},
      'The channel file\'s client "zz" is not an address: paste the file channel:open --out wrote.',
    );
  });

  it("lists the channel by its AS with its deposit, expiry and status, and the AS's revenue", async function () {
    const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${base}#/channels?as=${AS_ADDRESS}`);
    const row = page.locator(`[data-testid="channel-row"][data-channel-id="${channel.channelId.toLowerCase()}"]`);
    await row.waitFor({ timeout: 60_000 });
    expect(await page.getByTestId("channel-row").count()).to.equal(1);
    const cells = await row.locator("td").allTextContents();
    expect(cells[1]).to.equal("Open");
    expect(await row.getByTestId("deposit").textContent()).to.equal("0.0015 ETH");
    const expiry = new Date(Number(channel.expiry) * 1000).toISOString().slice(0, 16).replace("T", " ");
    expect(cells[6]).to.equal(expiry);
    const revenue = await page.getByTestId("revenue").locator("tbody tr").first().locator("td").allTextContents();
    // ETH: nothing paid or refunded yet, one open channel holding its deposit.
    expect(revenue).to.deep.equal(["0 ETH", "0 ETH", "0", "0", "1", "0.0015 ETH"]);

    // Filtered by another owner: nothing.
    await page.goto(`${base}#/channels?owner=${Wallet.createRandom().address}`);
    await page.getByTestId("no-channels").waitFor({ timeout: 60_000 });
  });
});
