import type { ChildProcess } from "node:child_process";

import { expect } from "chai";
import { JsonRpcProvider, MaxUint256, Wallet, keccak256, parseEther, toUtf8Bytes } from "ethers";
import type { HDNodeWallet } from "ethers";
import type { Browser, BrowserContext, Page } from "playwright-core";

import { readDomain } from "../../src/eip712/domain";
import { compact, signActivation, signIdentityClaim } from "../../src/eip712/device";
import { buildWhitelist } from "../../src/merkle/whitelist";
import { activationLink } from "../../src/registry/activation-link";
import { formatThing } from "../../src/units";
import type { ActivationPayload } from "../../src/registry/activation-link";
import type { DeviceRegistry, ThingToken } from "../../typechain-types";
import {
  buildAndServeApp,
  connectWallet,
  launchChromium,
  shot,
  skipUnlessBrowser,
  stopAppStack,
  waitEnabled,
  waitText,
  walletPage,
} from "../shared/app";
import type { ServedApp } from "../shared/app";
import { startNodeDeployment } from "../shared/cli";
import type { LocalNode } from "../shared/cli";
import { demoWithDevices, startRelayer } from "../shared/relay";
import type { TestDevice } from "../shared/relay";

/*
 * The web app (app/) in a real Chromium (Debian's `chromium`, driven by playwright-core) against a real
 * `hardhat node`: the built app served by `vite preview`, its config from the test deployment's address
 * book, and an EIP-1193 wallet injected into the page that signs in Node with a test key (test code only).
 * Every assertion that something happened is on chain state, then on the page.
 */

/** Hardhat's accounts: the treasury (0) and the demo's manufacturer (3), unlocked on the node. */
const TREASURY = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const MANUFACTURER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";
/** Hardhat's account 7: the key of the app's relayer (`relay:serve --signer 7`). */
const RELAYER = "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955";
const ACTIVE = 2n;
const REGISTERED = 1n;

describe("Web app in Chromium (app/)", function () {
  this.timeout(600_000);

  let node: LocalNode;
  let env: NodeJS.ProcessEnv;
  let deploymentDir: string;
  let scratch: string;
  let provider: JsonRpcProvider;
  let registry: DeviceRegistry;
  let token: ThingToken;
  let app: ServedApp | undefined;
  let base: string;
  let browser: Browser | undefined;
  /** `relay:serve` (account 7 pays the gas), which `vite preview` proxies at /relayer/. */
  let relayer: ChildProcess | undefined;
  const contexts: BrowserContext[] = [];
  /** Device keys by device id: each signs its own activation. */
  let devices: TestDevice[] = [];

  before(async function () {
    skipUnlessBrowser(this);
    ({ node, env, deploymentDir, scratch } = await startNodeDeployment("app"));
    provider = new JsonRpcProvider(node.url, undefined, { staticNetwork: true, cacheTimeout: -1 });

    // The demo's manufacturer (id 1) registers eight devices, each with a key of its own.
    ({ registry, token, devices } = await demoWithDevices(env, provider, "app-test", 8));
    // A relayer for "Send to relayer" (account 7 pays the gas), proxied by the app at /relayer/.
    const started = await startRelayer(env, ["--signer", "7", "--max-fee", "100"]);
    relayer = started.child;
    const relayerUrl = started.summary.url;

    // The built app, served by `vite preview` with its config from this deployment's address book.
    app = await buildAndServeApp({
      env: { ...env, THINGLEDGER_RPC_URL: node.url, THINGLEDGER_RELAYER_URL: relayerUrl },
      scratch,
      ready: ["thingledger.json"],
    });
    base = app.base;
    browser = await launchChromium();
  });

  after(() =>
    stopAppStack({ opened: contexts, browser, app, groups: [relayer], provider, node, deploymentDir, scratch }),
  );

  /** A page with `wallet` injected, on chain `chainId`, `width` pixels wide. */
  async function pageWith(wallet: Wallet | HDNodeWallet, chainId = 31337, width = 1280): Promise<Page> {
    const page = await walletPage(browser!, wallet, { chainId, width });
    contexts.push(page.context());
    return page;
  }

  /** A funded owner: `eth` ETH for gas, and THING from the manufacturer. */
  async function owner(eth: string, thing: bigint): Promise<Wallet | HDNodeWallet> {
    const wallet = Wallet.createRandom().connect(provider);
    const treasury = await provider.getSigner(TREASURY);
    if (eth !== "0") await (await treasury.sendTransaction({ to: wallet.address, value: parseEther(eth) })).wait();
    await (await token.connect(await provider.getSigner(MANUFACTURER)).transfer(wallet.address, thing)).wait();
    return wallet;
  }

  /** The device's signed activation for `ownerAddress`, good for an hour of chain time. */
  async function signedBy(
    device: { id: string; key: Wallet | HDNodeWallet },
    ownerAddress: string,
    lifetime = 3600n,
  ): Promise<ActivationPayload> {
    const now = BigInt((await provider.getBlock("latest"))!.timestamp);
    const payload = { deviceId: device.id, owner: ownerAddress, deadline: now + lifetime };
    const signature = await signActivation(device.key, await readDomain(registry), payload);
    return { ...payload, signature };
  }

  it("activates a device from its link, paying with a permit (one signature, no approve transaction)", async function () {
    const device = devices[0];
    const fee = await registry.activationFeeOf(device.id);
    expect(fee).to.be.greaterThan(0n);
    const wallet = await owner("1", fee);
    const page = await pageWith(wallet);
    await page.goto(base + activationLink(await signedBy(device, wallet.address)));

    await waitText(page.getByTestId("status"), "equal", "registered");
    const card = await page.getByRole("definition").allTextContents();
    expect(card.join(" ")).to.include(MANUFACTURER).and.include("lock").and.include(formatThing(fee));
    await shot(page, "activate-desktop.png");

    await connectWallet(page);
    const supplyBefore = await token.balanceOf(registry);
    await page.getByRole("button", { name: "Activate and pay with a permit" }).click();
    const result = page.getByTestId("result");
    await result.waitFor({ timeout: 120_000 });

    // The chain first: active, owned by the wallet, the fee moved from the owner, in the owner's one transaction.
    const view = await registry.getDevice(device.id);
    expect(view.status).to.equal(ACTIVE);
    expect(view.owner).to.equal(wallet.address);
    expect(await token.balanceOf(wallet.address)).to.equal(0n);
    expect((await token.balanceOf(registry)) - supplyBefore).to.equal(fee);
    expect(await provider.getTransactionCount(wallet.address)).to.equal(1);
    expect(await token.allowance(wallet.address, registry)).to.equal(0n);
    expect(await result.textContent()).to.match(/^Activated: the device is active, owned by 0x/);

    // The same link again: the page says plainly that the device is already active, and offers nothing to send.
    await page.reload();
    await waitText(page.getByTestId("problem"), "include", "already active");
    expect(await page.getByRole("button", { name: "Activate and pay with a permit" }).isDisabled()).to.equal(true);
  });

  it("registers a whitelisted device from the link's proof, then activates it with a permit", async function () {
    const key = Wallet.createRandom();
    const deviceId = `0x00000001${keccak256(toUtf8Bytes("app-test-whitelisted")).slice(10)}`;
    const whitelist = buildWhitelist([{ deviceId, deviceKey: key.address, deviceType: 5 }], 1);
    const manufacturer = await provider.getSigner(MANUFACTURER);
    await (await registry.connect(manufacturer).commitWhitelist(MaxUint256, MaxUint256, whitelist.root, 1)).wait();
    const fee = (await registry.getWhitelist(1, whitelist.root)).activationFee;
    const wallet = await owner("1", fee);
    const [entry] = whitelist.entries;
    const payload = {
      ...(await signedBy({ id: deviceId, key }, wallet.address)),
      whitelist: { root: whitelist.root, deviceType: 5, deviceKey: key.address, proof: entry.proof },
    };
    expect((await registry.getDevice(deviceId)).status).to.equal(0n);

    const page = await pageWith(wallet);
    await page.goto(base + activationLink(payload));
    await waitText(page.getByTestId("status"), "equal", "unknown");
    await connectWallet(page);
    await page.getByRole("button", { name: "Activate and pay with a permit" }).click();
    await page.getByTestId("result").waitFor({ timeout: 120_000 });

    const view = await registry.getDevice(deviceId);
    expect(view.status).to.equal(ACTIVE);
    expect(view.owner).to.equal(wallet.address);
    expect(view.deviceKey).to.equal(key.address);
    expect(await token.balanceOf(wallet.address)).to.equal(0n);
    expect((await registry.getWhitelist(1, whitelist.root)).used).to.equal(1n);
    expect(await page.getByTestId("result").textContent()).to.match(/^Activated: the device is active/);
  });

  it("refuses on the wrong network: says which chains, sends nothing", async function () {
    const device = devices[1];
    const wallet = await owner("1", await registry.activationFeeOf(device.id));
    const page = await pageWith(wallet, 1, 390);
    await page.goto(base + activationLink(await signedBy(device, wallet.address)));
    await page.getByTestId("status").waitFor();
    await connectWallet(page);
    await waitText(
      page.getByTestId("problem"),
      "equal",
      "Wrong network: your wallet is on chain 1, the registry is on chain 31337. Switch network.",
    );
    expect(await page.getByRole("button", { name: "Activate and pay with a permit" }).isDisabled()).to.equal(true);
    expect(await page.getByRole("button", { name: "Switch to chain 31337" }).isVisible()).to.equal(true);
    await shot(page, "activate-phone-wrong-network.png");
    expect((await registry.getDevice(device.id)).status).to.equal(REGISTERED);
    expect(await provider.getTransactionCount(wallet.address)).to.equal(0);
  });

  it("says plainly when the owner rejects the signature in the wallet (EIP-1193 4001), and nothing changes", async function () {
    const device = devices[3];
    const fee = await registry.activationFeeOf(device.id);
    const wallet = await owner("1", fee);
    const page = await walletPage(browser!, wallet, { rejects: true });
    contexts.push(page.context());
    await page.goto(base + activationLink(await signedBy(device, wallet.address)));
    await waitText(page.getByTestId("status"), "equal", "registered");
    await connectWallet(page);
    const activateButton = page.getByRole("button", { name: "Activate and pay with a permit" });
    await waitEnabled(activateButton);
    await activateButton.click();
    await waitText(page.getByTestId("result"), "equal", "You rejected the request in your wallet: nothing was sent.");
    expect((await registry.getDevice(device.id)).status).to.equal(REGISTERED);
    expect(await provider.getTransactionCount(wallet.address)).to.equal(0);
    expect(await token.balanceOf(wallet.address)).to.equal(fee);
    expect(await token.allowance(wallet.address, registry)).to.equal(0n);
    expect(await activateButton.isEnabled()).to.equal(true);
  });

  it("says plainly when the device's signature expired or the fee is above the owner's maximum", async function () {
    const device = devices[4];
    const fee = await registry.activationFeeOf(device.id);
    const wallet = await owner("1", fee);
    const page = await pageWith(wallet);
    await page.goto(base + activationLink(await signedBy(device, wallet.address, -1n)));
    await page.getByTestId("status").waitFor();
    await connectWallet(page);
    await waitText(
      page.getByTestId("problem"),
      "equal",
      "The device's signature has expired: ask the device for a fresh activation link.",
    );

    await page.goto(base + activationLink(await signedBy(device, wallet.address)));
    await page.reload();
    await waitText(page.getByTestId("status"), "equal", "registered");
    const activateButton = page.getByRole("button", { name: "Activate and pay with a permit" });
    await waitEnabled(activateButton);
    await page.getByRole("textbox", { name: "Maximum fee (THING)" }).fill("0.5");
    await waitText(
      page.getByTestId("problem"),
      "equal",
      `The activation fee is ${formatThing(fee)}, above your maximum fee of 0.5 THING.`,
    );
    expect(await activateButton.isDisabled()).to.equal(true);

    // A deadline no date can show: one line naming the field, never React Router's stack page.
    const huge = (await signedBy(device, wallet.address)) as ActivationPayload;
    await page.goto(base + activationLink({ ...huge, deadline: 99999999999999999999n }));
    await page.reload();
    await page
      .getByText('the activation link\'s "deadline" 99999999999999999999 is not a time in seconds up to 8640000000000')
      .waitFor();
    await waitText(page.getByTestId("status"), "equal", "registered");
    expect(await page.getByText("Unexpected Application Error").count()).to.equal(0);
    expect((await registry.getDevice(device.id)).status).to.equal(REGISTERED);
    expect(await provider.getTransactionCount(wallet.address)).to.equal(0);
  });

  it("words the registry's refusal when the device was activated after the page read it, asking for no signature", async function () {
    const device = devices[5];
    const wallet = await owner("1", await registry.activationFeeOf(device.id));
    const payload = await signedBy(device, wallet.address);
    const requests: string[] = [];
    const page = await walletPage(browser!, wallet, { requests });
    contexts.push(page.context());
    await page.goto(base + activationLink(payload));
    await waitText(page.getByTestId("status"), "equal", "registered");
    await connectWallet(page);
    const activateButton = page.getByRole("button", { name: "Activate and pay with a permit" });
    await waitEnabled(activateButton);

    // Someone else submits the device's activation first (and pays its fee).
    const manufacturer = await provider.getSigner(MANUFACTURER);
    const [r, vs] = compact(payload.signature);
    await (
      await registry
        .connect(manufacturer)
        .activateDevice(MaxUint256, device.id, wallet.address, payload.deadline, r, vs)
    ).wait();

    await activateButton.click();
    await waitText(page.getByTestId("result"), "equal", "The device is already active: it cannot be activated.");
    // The activation is simulated before the permit is asked for: the doomed one never asked the owner to sign.
    expect(requests).to.include("eth_requestAccounts").and.not.include("eth_signTypedData_v4");
    expect(await provider.getTransactionCount(wallet.address)).to.equal(0);
    expect(await token.balanceOf(wallet.address)).to.equal(await registry.activationFeeOf(device.id));
  });

  it("lets an owner without ETH sign for a relayer, and a relayer submit it from the Relay page", async function () {
    const device = devices[2];
    const fee = await registry.activationFeeOf(device.id);
    const wallet = await owner("0", fee);
    expect(await provider.getBalance(wallet.address)).to.equal(0n);
    const page = await pageWith(wallet);
    await page.goto(base + activationLink(await signedBy(device, wallet.address)));
    await page.getByTestId("status").waitFor();
    await connectWallet(page);
    await page.getByRole("button", { name: "Sign for a relayer (no ETH needed)" }).click();
    const request = await page.getByRole("textbox", { name: "Relay request" }).inputValue({ timeout: 60_000 });
    expect(JSON.parse(request)).to.include({ kind: "thingledger/relay-activation", chainId: 31337 });
    expect((await registry.getDevice(device.id)).status).to.equal(REGISTERED);

    const relayer = await owner("1", 0n);
    const relayPage = await pageWith(relayer);
    await relayPage.goto(`${base}#/relay`);
    await connectWallet(relayPage);
    await relayPage.getByRole("textbox", { name: "Relay request" }).fill(request);
    // Before Submit, the page says which device, for whom, and the most the owner pays.
    const maxFee = BigInt((JSON.parse(request) as { maxFee: string }).maxFee);
    expect(maxFee).to.be.at.least(fee);
    expect(await relayPage.getByTestId("relay-preview").textContent()).to.equal(
      `Submit activates device ${device.id} for owner ${wallet.address}; the owner pays a fee of at most ${formatThing(maxFee)}, your account the gas.`,
    );
    await relayPage.getByRole("button", { name: "Submit" }).click();
    const result = relayPage.getByTestId("result");
    await result.waitFor({ timeout: 120_000 });

    const view = await registry.getDevice(device.id);
    expect(view.status).to.equal(ACTIVE);
    expect(view.owner).to.equal(wallet.address);
    expect(await token.balanceOf(wallet.address)).to.equal(0n);
    expect(await provider.getBalance(wallet.address)).to.equal(0n);
    expect(await token.balanceOf(relayer.address)).to.equal(0n);
    expect(await result.textContent()).to.match(/^Relayed: the device is active/);
  });

  /** An owner without ETH signs `device`'s activation for a relayer on the Activate page; the page. */
  async function signForRelayer(device: { id: string; key: Wallet | HDNodeWallet }) {
    const wallet = await owner("0", await registry.activationFeeOf(device.id));
    const payload = await signedBy(device, wallet.address);
    const page = await pageWith(wallet);
    await page.goto(base + activationLink(payload));
    await page.getByTestId("status").waitFor();
    await connectWallet(page);
    await page.getByRole("button", { name: "Sign for a relayer (no ETH needed)" }).click();
    // The manual path stays: the JSON is shown beside the button.
    const request = await page.getByRole("textbox", { name: "Relay request" }).inputValue({ timeout: 60_000 });
    expect(JSON.parse(request)).to.include({ chainId: 31337, registry: await registry.getAddress() });
    return { wallet, payload, page };
  }

  it("lets an owner without ETH Send to relayer: the app's relayer pays the gas, the owner the fee", async function () {
    const device = devices[6];
    const fee = await registry.activationFeeOf(device.id);
    const relayerNonce = await provider.getTransactionCount(RELAYER);
    const { wallet, page } = await signForRelayer(device);
    await page.getByRole("button", { name: "Send to relayer" }).click();
    const result = page.getByTestId("result");
    await waitText(result, "include", "Relayed: the device is active", 120_000);

    const view = await registry.getDevice(device.id);
    expect(view.status).to.equal(ACTIVE);
    expect(view.owner).to.equal(wallet.address);
    expect(await token.balanceOf(wallet.address)).to.equal(0n);
    expect(await provider.getBalance(wallet.address)).to.equal(0n);
    expect(await provider.getTransactionCount(RELAYER)).to.equal(relayerNonce + 1);
    const hash = /transaction (0x[0-9a-f]{64})/.exec((await result.textContent()) ?? "")?.[1];
    expect((await provider.getTransaction(hash!))?.from).to.equal(RELAYER);
    expect(await result.textContent()).to.include(`fee ${formatThing(fee)} taken from the owner`);
  });

  it("shows the relayer's one-line refusal when the device was activated after the owner signed, and nothing is sent", async function () {
    const device = devices[7];
    const relayerNonce = await provider.getTransactionCount(RELAYER);
    const { wallet, payload, page } = await signForRelayer(device);
    const [r, vs] = compact(payload.signature);
    const manufacturer = await provider.getSigner(MANUFACTURER);
    await (
      await registry
        .connect(manufacturer)
        .activateDevice(MaxUint256, device.id, wallet.address, payload.deadline, r, vs)
    ).wait();
    const balance = await token.balanceOf(wallet.address);
    await page.getByRole("button", { name: "Send to relayer" }).click();
    await waitText(
      page.getByTestId("result"),
      "equal",
      `The relayer refused: device ${device.id} is already active (owner ${wallet.address})`,
    );
    expect(await provider.getTransactionCount(RELAYER)).to.equal(relayerNonce);
    expect(await token.balanceOf(wallet.address)).to.equal(balance);
  });

  /** The device's signed answer to `challenge`, as the Validate page takes it (an identity claim). */
  async function claimOver(device: { id: string; key: Wallet | HDNodeWallet }, challenge: string): Promise<string> {
    const domain = await readDomain(registry);
    const signature = await signIdentityClaim(device.key, domain, { deviceId: device.id, challenge });
    return JSON.stringify({ deviceId: device.id, challenge, signature });
  }

  it("validates a device by id and by a signed challenge, and says why one is not valid", async function () {
    const page = await pageWith(Wallet.createRandom().connect(provider));
    const active = devices[0];
    await page.goto(`${base}#/validate/${active.id}`);
    const verdict = page.getByTestId("verdict");
    await waitText(verdict, "equal", "Valid: active in the registry.");
    await shot(page, "validate-valid-desktop.png");
    const view = await registry.getDevice(active.id);
    const card = (await page.getByRole("definition").allTextContents()).join(" ");
    expect(card).to.include(`${view.score} / 1000`).and.include(MANUFACTURER);

    // The device signs the page's own challenge: valid; a key that is not the device's: not valid.
    const challenge = await page.getByRole("textbox", { name: "Challenge for the device to sign" }).inputValue();
    expect(challenge).to.match(/^0x[0-9a-f]{64}$/);
    const field = page.getByRole("textbox", { name: "Or paste the device's signed answer to it" });
    await field.fill(await claimOver(active, challenge));
    await page.getByRole("button", { name: "Check the signature" }).click();
    await waitText(verdict, "equal", "Valid: active, and its registered key signed the challenge.");
    await field.fill(await claimOver({ id: active.id, key: Wallet.createRandom() }, challenge));
    await page.getByRole("button", { name: "Check the signature" }).click();
    await page.getByText("Not valid: the challenge was not signed by the device's registered key.").waitFor();

    await page.goto(`${base}#/validate/${devices[3].id}`);
    await page.getByText("Not valid: the device is registered.").waitFor();

    await page.getByRole("textbox", { name: "Device id" }).fill("0x1234");
    await page.getByRole("button", { name: "Validate" }).click();
    await page.getByText('"0x1234" is not a device id (2 bytes)').waitFor();
    await shot(page, "validate-desktop.png");
  });
  it("attack: a recorded answer to another challenge is refused as a possible replay, however genuine", async function () {
    const active = devices[0];
    const page = await pageWith(Wallet.createRandom().connect(provider));
    await page.goto(`${base}#/validate/${active.id}`);
    const verdict = page.getByTestId("verdict");
    await waitText(verdict, "equal", "Valid: active in the registry.");
    const challengeField = page.getByRole("textbox", { name: "Challenge for the device to sign" });
    const field = page.getByRole("textbox", { name: "Or paste the device's signed answer to it" });
    const check = page.getByRole("button", { name: "Check the signature" });
    const replayed = "Not valid: this answers a different challenge; a recorded answer can be replayed.";

    // The device's genuine answer, checked valid once on this page ...
    const first = await challengeField.inputValue();
    const recorded = await claimOver(active, first);
    await field.fill(recorded);
    await check.click();
    await waitText(verdict, "equal", "Valid: active, and its registered key signed the challenge.");

    // ... is refused on another visit (another challenge), and once the page issues a new challenge.
    const other = await pageWith(Wallet.createRandom().connect(provider));
    await other.goto(`${base}#/validate/${active.id}`);
    const second = await other.getByRole("textbox", { name: "Challenge for the device to sign" }).inputValue();
    expect(second).to.not.equal(first);
    await other.getByRole("textbox", { name: "Or paste the device's signed answer to it" }).fill(recorded);
    await other.getByRole("button", { name: "Check the signature" }).click();
    await waitText(other.getByTestId("verdict"), "equal", replayed);

    await page.getByRole("button", { name: "New challenge" }).click();
    expect(await challengeField.inputValue()).to.not.equal(first);
    await waitText(verdict, "equal", replayed);

    // A fixed, well-known challenge (what a device might answer anywhere) is refused the same way.
    await field.fill(await claimOver(active, keccak256(toUtf8Bytes("app-test challenge"))));
    await check.click();
    await waitText(verdict, "equal", replayed);
    expect((await page.getByRole("definition").allTextContents()).join(" ")).to.include(MANUFACTURER);

    // Every check reads the chain afresh: the same genuine answer, checked again after a revocation, is not valid.
    await field.fill(await claimOver(active, await challengeField.inputValue()));
    await check.click();
    await waitText(verdict, "equal", "Valid: active, and its registered key signed the challenge.");
    await (await registry.connect(await provider.getSigner(TREASURY)).revokeDevice(active.id, 2)).wait();
    await check.click();
    await waitText(verdict, "equal", "Not valid: the device is revoked.");
  });
});
