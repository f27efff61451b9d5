import fs from "node:fs";
import path from "node:path";

import { expect } from "chai";
import {
  JsonRpcProvider,
  MaxUint256,
  Wallet,
  ZeroAddress,
  getAddress,
  keccak256,
  parseEther,
  toUtf8Bytes,
} from "ethers";
import type { HDNodeWallet } from "ethers";
import type { Browser, BrowserContext, Page } from "playwright-core";

import { contextFor, walletFactoryAt } from "../../src/chain/context";
import type { SystemAddresses, SystemContext } from "../../src/chain/context";
import { DeviceRegistry__factory, DeviceWallet__factory, ThingToken__factory } from "../../src/chain/factories";
import { readDomain } from "../../src/eip712/domain";
import { signExecute } from "../../src/eip712/wallet";
import {
  addSignature,
  createWallet,
  executeProposal,
  propose as cliPropose,
  proposalMessage,
  readProposal,
  walletViewReader,
  writeProposal,
} from "../../src/wallets";
import type { Proposal } from "../../src/wallets";
import type { DeviceWallet } from "../../typechain-types";
import {
  buildAndServeApp,
  launchChromium,
  shot,
  skipUnlessBrowser,
  waitEnabled,
  waitText,
  walletPage,
  stopAppStack,
  MANUFACTURER,
  TREASURY,
} from "../shared/app";
import type { ServedApp } from "../shared/app";
import { hardhat, startNodeDeployment } from "../shared/cli";
import type { LocalNode } from "../shared/cli";
import { startIndexer } from "../shared/indexer";
import type { RunningIndexer } from "../shared/indexer";
import { until } from "../shared/process";

/*
 * The device wallet page (app/, issue 19) in Chromium against a real `hardhat node`, the indexer, and the
 * app server's proposal queue (`vite preview`): a 2-of-3 wallet whose owners each sign in a browser context
 * of their own (separate storage), with test keys injected as EIP-1193 wallets. Every "it happened" is
 * asserted on the chain first, then on the page; the queue's refusals are asserted on its files too.
 */

type Key = Wallet | HDNodeWallet;

describe("Device wallet page and proposal queue in Chromium (app/, indexer)", function () {
  this.timeout(900_000);

  let node: LocalNode;
  let env: NodeJS.ProcessEnv;
  let deploymentDir: string;
  let scratch: string;
  let proposalsDir: string;
  let provider: JsonRpcProvider;
  let indexer: RunningIndexer | undefined;
  let app: ServedApp | undefined;
  let base: string;
  let browser: Browser | undefined;
  let wallet: DeviceWallet;
  let walletAddress: string;
  let token: string;
  let ctx: SystemContext;
  const contexts: BrowserContext[] = [];
  const owners: Key[] = [];
  let stranger: Key;

  /** A fresh key with 1 ETH for gas. */
  async function funded(): Promise<Key> {
    const key = Wallet.createRandom().connect(provider);
    const treasury = await provider.getSigner(TREASURY);
    await (await treasury.sendTransaction({ to: key.address, value: parseEther("1") })).wait();
    return key;
  }

  before(async function () {
    skipUnlessBrowser(this);
    ({ node, env, deploymentDir, scratch } = await startNodeDeployment("wallets"));
    proposalsDir = path.join(scratch, "proposals");
    provider = new JsonRpcProvider(node.url, undefined, { staticNetwork: true, cacheTimeout: -1 });
    const demo = hardhat(["demo", "--network", "localhost", "--json"], env);
    expect(demo.status, demo.stderr).to.equal(0);
    const { addresses } = JSON.parse(demo.stdout) as { addresses: SystemAddresses };
    token = addresses.ThingToken;

    // A device of the demo's manufacturer, and a 2-of-3 wallet for it holding 1 ETH and 100 THING.
    const manufacturer = await provider.getSigner(MANUFACTURER);
    const registry = DeviceRegistry__factory.connect(addresses.DeviceRegistry, manufacturer);
    await (await ThingToken__factory.connect(token, manufacturer).approve(registry, MaxUint256)).wait();
    const deviceId = `0x00000001${keccak256(toUtf8Bytes("wallet-page-test")).slice(10)}`;
    await (await registry.registerDevices(MaxUint256, [deviceId], [Wallet.createRandom().address], [3])).wait();
    for (let n = 0; n < 3; n++) owners.push(await funded());
    stranger = await funded();
    ctx = await contextFor(provider, addresses);
    const created = await createWallet(ctx, await provider.getSigner(TREASURY), {
      owners: owners.map((o) => o.address),
      threshold: 2,
      deviceId,
      period: 86_400,
      limits: [{ asset: { address: ZeroAddress, symbol: "ETH", decimals: 18 }, limit: parseEther("0.1") }],
    });
    walletAddress = created.wallet;
    wallet = DeviceWallet__factory.connect(walletAddress, provider);
    const treasury = await provider.getSigner(TREASURY);
    await (await treasury.sendTransaction({ to: walletAddress, value: parseEther("1") })).wait();
    await (await ThingToken__factory.connect(token, manufacturer).transfer(walletAddress, parseEther("100"))).wait();

    indexer = await startIndexer({ env, dir: path.join(scratch, "db"), provider });
    app = await buildAndServeApp({
      env: {
        ...env,
        THINGLEDGER_RPC_URL: node.url,
        THINGLEDGER_INDEXER_URL: indexer.url,
        THINGLEDGER_PROPOSALS_DIR: proposalsDir,
      },
      scratch,
      ready: ["thingledger.json", `proposals/${walletAddress}`],
    });
    base = app.base;
    browser = await launchChromium();
  });

  after(() => stopAppStack({ opened: contexts, browser, app, indexer, provider, node, deploymentDir, scratch }));

  /** The wallet page in a browser context of its own, `key` connected. */
  async function walletPageOf(key: Key, width = 1280): Promise<Page> {
    const page = await walletPage(browser!, key, { width });
    contexts.push(page.context());
    await page.goto(`${base}#/wallets/${walletAddress}`);
    await page.getByRole("button", { name: "Connect wallet" }).click();
    await page.getByRole("button", { name: "Disconnect" }).waitFor();
    await page.getByTestId("wallet-threshold").waitFor();
    return page;
  }

  /** The card of the proposal whose description includes `text`. */
  const card = (page: Page, text: string) => page.getByTestId("proposal").filter({ hasText: text });

  /** Every proposal file of the wallet with its content: what a refused post must leave untouched. */
  function queueFiles(): Record<string, string> {
    const folder = path.join(proposalsDir, walletAddress);
    if (!fs.existsSync(folder)) return {};
    return Object.fromEntries(fs.readdirSync(folder).map((f) => [f, fs.readFileSync(path.join(folder, f), "utf8")]));
  }

  async function propose(page: Page, kind: string, amount?: string, to?: string): Promise<void> {
    await page.getByLabel("Proposal kind").selectOption(kind);
    if (to !== undefined) await page.getByLabel("Recipient").fill(to);
    if (amount !== undefined) await page.getByLabel(/^(Amount|New limit per period)$/).fill(amount);
    await page.getByRole("button", { name: "Propose and sign" }).click();
  }

  it("shows the wallet from the chain: balances, owners, threshold, limits, state, empty history", async function () {
    const page = await walletPageOf(stranger);
    await waitText(page.getByTestId("balance-eth"), "equal", "1 ETH");
    await waitText(page.getByTestId("balance-thing"), "equal", "100 THING");
    await waitText(page.getByTestId("wallet-threshold"), "equal", "2 of 3 owners sign an execution");
    await waitText(page.getByTestId("wallet-frozen"), "equal", "Active");
    for (const o of owners) await waitText(page.getByTestId("wallet-owners"), "include", o.address);
    await waitText(page.getByTestId("limit-eth"), "include", "0.1 ETH");
    await waitText(page.getByTestId("limit-thing"), "include", "none (the device cannot spend it)");
    await waitText(page.getByTestId("executions-empty"), "equal", "No execution yet.");
    await waitText(page.getByTestId("proposals-empty"), "equal", "No proposal queued for this wallet.");
    // A stranger sees the wallet but may not freeze it nor propose.
    expect(await page.getByRole("button", { name: "Freeze the device key" }).isDisabled()).to.equal(true);
    expect(await page.getByRole("button", { name: "Propose and sign" }).count()).to.equal(0);
    await shot(page, "wallet-desktop.png");
  });

  it("journey 5: two owners approve a proposal in two browser contexts, and anyone executes it", async function () {
    const recipient = Wallet.createRandom().address;
    const a = await walletPageOf(owners[0]);
    await propose(a, "send-eth", "0.25", recipient);
    const proposalA = card(a, recipient);
    await waitText(proposalA.getByTestId("proposal-progress"), "equal", "1 of 2 signatures");
    // Below the threshold nobody can execute.
    expect(await proposalA.getByRole("button", { name: "Execute" }).isDisabled()).to.equal(true);

    // The queue stored it as a CLI proposal file carrying owner 0's signature.
    const files = Object.keys(queueFiles());
    expect(files).to.have.length(1);
    const stored = readProposal(path.join(proposalsDir, walletAddress, files[0]));
    expect(stored.value).to.equal(parseEther("0.25").toString());
    expect(Object.keys(stored.signatures)).to.deep.equal([owners[0].address]);

    // Owner 1, in another browser context (its own storage), sees the same proposal and signs it.
    const b = await walletPageOf(owners[1], 390);
    const proposalB = card(b, recipient);
    await waitText(proposalB.getByTestId("proposal-progress"), "equal", "1 of 2 signatures");
    await proposalB.getByRole("button", { name: "Sign" }).click();
    await waitText(proposalB.getByTestId("proposal-progress"), "equal", "2 of 2 signatures");
    await waitText(proposalA.getByTestId("proposal-progress"), "equal", "2 of 2 signatures");
    await shot(b, "wallet-phone.png");
    const overflow = await b.evaluate("document.documentElement.scrollWidth - window.innerWidth");
    expect(overflow, "the page scrolls sideways at phone width").to.be.at.most(0);

    // A non-owner executes it.
    const relayer = await walletPageOf(stranger);
    const execute = card(relayer, recipient).getByRole("button", { name: "Execute" });
    await waitEnabled(execute);
    await execute.click();
    await until("the execution", 120_000, async () => ((await wallet.nonce()) === 1n ? true : undefined));
    expect(await provider.getBalance(recipient)).to.equal(parseEther("0.25"));
    expect(await provider.getBalance(walletAddress)).to.equal(parseEther("0.75"));
    await waitText(card(relayer, recipient).getByTestId("proposal-status"), "include", "Nonce spent");
    // The executed proposal cannot be queued again: its nonce is spent.
    const again = await fetch(`${base}proposals`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(stored),
    });
    expect(again.status).to.equal(400);
    expect(((await again.json()) as { error: string }).error).to.match(/nonce 0 is already spent/);
    await waitText(a.getByTestId("balance-eth"), "equal", "0.75 ETH");
    await a.reload();
    await waitText(a.getByTestId("executions"), "include", recipient, 120_000);
  });

  it("sets the device's THING limit through a proposal, and the page shows the new limit", async function () {
    const a = await walletPageOf(owners[0]);
    await propose(a, "limit-thing", "42");
    await waitText(card(a, "THING limit to 42").getByTestId("proposal-progress"), "equal", "1 of 2 signatures");
    const c = await walletPageOf(owners[2]);
    const proposal = card(c, "THING limit to 42");
    await proposal.getByRole("button", { name: "Sign" }).click();
    await waitText(proposal.getByTestId("proposal-progress"), "equal", "2 of 2 signatures");
    await waitEnabled(proposal.getByRole("button", { name: "Execute" }));
    await proposal.getByRole("button", { name: "Execute" }).click();
    await until("the new limit", 120_000, async () =>
      (await wallet.allowance(token)).limit === parseEther("42") ? true : undefined,
    );
    await waitText(c.getByTestId("limit-thing"), "include", "42 THING");
  });

  it("freezes the device key at one owner's click, and unfreezes it by a proposal", async function () {
    const b = await walletPageOf(owners[1]);
    await b.getByRole("button", { name: "Freeze the device key" }).click();
    await until("the freeze", 120_000, async () => ((await wallet.deviceConfig()).frozen ? true : undefined));
    await waitText(b.getByTestId("wallet-frozen"), "include", "Frozen");

    await propose(b, "unfreeze");
    const a = await walletPageOf(owners[0]);
    const proposal = card(a, "unfreeze the device key");
    await proposal.getByRole("button", { name: "Sign" }).click();
    await waitEnabled(proposal.getByRole("button", { name: "Execute" }));
    await proposal.getByRole("button", { name: "Execute" }).click();
    await until("the unfreeze", 120_000, async () => (!(await wallet.deviceConfig()).frozen ? true : undefined));
    await waitText(a.getByTestId("wallet-frozen"), "equal", "Active");
  });

  it("imports a CLI proposal file, signs it in the browser, and the CLI executes the queue's file", async function () {
    // wallet:propose and wallet:sign's functions, in Node: a proposal paying 5 THING, signed by owner 2.
    const recipient = Wallet.createRandom().address;
    const transfer = ThingToken__factory.createInterface().encodeFunctionData("transfer", [recipient, parseEther("5")]);
    const p = await cliPropose(ctx, {
      wallet: walletAddress,
      to: token,
      value: 0n,
      data: transfer,
      description: "cli pays 5",
    });
    await addSignature(ctx, p, owners[2]);
    const file = path.join(scratch, "cli-proposal.json");
    writeProposal(file, p);

    const a = await walletPageOf(owners[0]);
    // A file for another wallet is refused in one line; an unsigned file is shown decoded and not signed yet.
    const elsewhere = path.join(scratch, "elsewhere.json");
    writeProposal(elsewhere, { ...p, wallet: Wallet.createRandom().address, signatures: {} });
    await a.getByTestId("import-proposal").setInputFiles(elsewhere);
    await waitText(a.getByTestId("proposal-problem"), "include", "elsewhere.json is a proposal for wallet 0x");
    expect(await a.getByTestId("proposal-problem").textContent()).to.include(`not for this wallet (${walletAddress}`);
    expect(await a.getByTestId("imported-proposal").count()).to.equal(0);
    const unsigned = path.join(scratch, "unsigned.json");
    writeProposal(unsigned, { ...p, signatures: {} });
    const queuedBefore = queueFiles();
    await a.getByTestId("import-proposal").setInputFiles(unsigned);
    const imported = a.getByTestId("imported-proposal");
    await waitText(imported.getByTestId("proposal-call"), "equal", `Transfer 5.0 THING to ${recipient}`);
    expect(queueFiles()).to.deep.equal(queuedBefore);
    await imported.getByRole("button", { name: "Cancel" }).click();

    await a.getByTestId("import-proposal").setInputFiles(file);
    await a.getByRole("button", { name: "Add to the queue unsigned by me" }).click();
    const proposal = card(a, "cli pays 5");
    await waitText(proposal.getByTestId("proposal-progress"), "equal", "1 of 2 signatures");
    await proposal.getByRole("button", { name: "Sign" }).click();
    await waitText(proposal.getByTestId("proposal-progress"), "equal", "2 of 2 signatures");

    // The page's download is the queue's file, which wallet:exec's function executes as it is.
    const [download] = await Promise.all([
      a.waitForEvent("download"),
      proposal.getByRole("button", { name: "Download file" }).click(),
    ]);
    const downloaded = path.join(scratch, "downloaded.json");
    await download.saveAs(downloaded);
    const queued = Object.keys(queueFiles()).find(
      (f) => readProposal(path.join(proposalsDir, walletAddress, f)).description === "cli pays 5",
    );
    expect(queued).to.not.equal(undefined);
    const queueFile = path.join(proposalsDir, walletAddress, queued!);
    expect(readProposal(downloaded)).to.deep.equal(readProposal(queueFile));
    const result = await executeProposal(ctx, queueFile, stranger);
    expect(result.success).to.equal(true);
    expect(await ThingToken__factory.connect(token, provider).balanceOf(recipient)).to.equal(parseEther("5"));
    await waitText(proposal.getByTestId("proposal-status"), "include", "Nonce spent");
  });

  it("shows a proposal whose call reverted as executed, but the call failed", async function () {
    const data = ThingToken__factory.createInterface().encodeFunctionData("transfer", [
      stranger.address,
      parseEther("1000000"),
    ]);
    const p: Proposal = {
      kind: "thingledger.wallet-proposal",
      version: 1,
      chainId: "31337",
      wallet: walletAddress,
      nonce: (await wallet.nonce()).toString(),
      to: token,
      value: "0",
      data,
      gasLimit: "100000",
      description: "more THING than it holds",
      signatures: {},
    };
    const domain = await readDomain(wallet);
    for (const key of [owners[0], owners[1]])
      p.signatures[key.address] = await signExecute(key, domain, proposalMessage(p));
    const posted = await fetch(`${base}proposals`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(p),
    });
    expect(posted.status).to.equal(200);
    // The page executes it with an explicit gas (Hardhat's estimateGas fails when the inner call reverts).
    const page = await walletPageOf(owners[2]);
    const before = await wallet.nonce();
    const execute = card(page, "more THING than it holds").getByRole("button", { name: "Execute" });
    await waitEnabled(execute);
    await execute.click();
    await until("the execution", 60_000, async () => ((await wallet.nonce()) > before ? true : undefined));
    const [executed] = await wallet.queryFilter(wallet.filters.Executed(before), 0);
    expect(executed!.args.success).to.equal(false);
    expect(await page.getByTestId("proposal-problem").count()).to.equal(0);
    await waitText(
      card(page, "more THING than it holds").getByTestId("proposal-status"),
      "include",
      "executed, but the call failed",
    );
  });

  it("the device page links to its wallet, and the link opens the wallet page", async function () {
    // The demo's first wallet: its device (handed over to it and linked) lists it on the device page.
    const factory = walletFactoryAt(ctx);
    const [created] = await factory.queryFilter(factory.filters.WalletCreated());
    const page = await walletPage(browser!, stranger);
    contexts.push(page.context());
    await page.goto(`${base}#/devices/${created!.args.deviceId}`);
    await page.getByTestId("device-wallets").getByRole("link", { name: created!.args.wallet }).click();
    await waitText(page.getByTestId("wallet-threshold"), "equal", "2 of 3 owners sign an execution");
    // The link carries the indexer's lower-case address; the page shows the wallet all the same.
    expect(new URL(page.url()).hash).to.equal(`#/wallets/${created!.args.wallet.toLowerCase()}`);
    for (const o of created!.args.owners) await waitText(page.getByTestId("wallet-owners"), "include", o);
  });

  it("a page that still throws shows one line under the nav (RouteError), and the nav still works", async function () {
    // An indexer answer whose execution names a recipient that is no address: the history table's
    // getAddress throws while rendering, which only the router's errorElement catches.
    const page = await walletPage(browser!, stranger);
    contexts.push(page.context());
    const row = { id: "x", nonce: "0", to: "not-an-address", value: "0", success: true, block: "1", timestamp: "1" };
    await page.route("**/indexer/wallets/**", (route) =>
      route.fulfill({
        json: {
          wallet: { address: walletAddress.toLowerCase() },
          executions: { items: [row], nextCursor: null },
          spends: { items: [], nextCursor: null },
        },
      }),
    );
    await page.goto(`${base}#/wallets/${walletAddress}`);
    const line = page.getByTestId("route-error");
    await waitText(line, "include", "This page failed");
    expect(await line.textContent()).to.equal(
      'This page failed: Address "not-an-address" is invalid.. Reload it, or open another page.',
    );
    expect(await page.getByRole("heading", { name: "Device wallet" }).count()).to.equal(0);
    await page.getByRole("navigation").getByRole("link", { name: "Fleet" }).click();
    await page.getByRole("heading", { level: 1 }).filter({ hasText: /fleet/i }).waitFor();
    expect(new URL(page.url()).hash).to.equal("#/fleet");
    expect(await line.count()).to.equal(0);
  });

  it("the queue's wallet reader rereads the owners only when the wallet's nonce moved", async function () {
    const calls: string[] = [];
    class Counting extends JsonRpcProvider {
      override send(method: string, params: unknown[] | Record<string, unknown>): Promise<unknown> {
        calls.push(method);
        return super.send(method, params);
      }
    }
    const counting = new Counting(node.url, undefined, { staticNetwork: true, cacheTimeout: -1 });
    try {
      const read = walletViewReader(await contextFor(counting, ctx.addresses));
      const first = await read(walletAddress);
      const firstCalls = calls.length;
      const again = await Promise.all([read(walletAddress), read(walletAddress), read(walletAddress)]);
      expect(again.map((v) => v.owners)).to.deep.equal([first.owners, first.owners, first.owners]);
      expect(calls.slice(firstCalls)).to.deep.equal(["eth_call"]);
      expect(calls.filter((m) => m === "eth_getLogs").length).to.be.greaterThan(0);
      expect(calls.slice(firstCalls).filter((m) => m === "eth_getLogs")).to.deep.equal([]);
    } finally {
      counting.destroy();
    }
  });

  describe("attack: the app server's queue refuses and stores nothing", function () {
    let pending: Proposal;
    let before: Record<string, string>;

    const post = (body: string) =>
      fetch(`${base}proposals`, { method: "POST", headers: { "content-type": "application/json" }, body });

    async function signedBy(key: Key, p: Proposal): Promise<Proposal> {
      const signature = await signExecute(key, await readDomain(wallet), proposalMessage(p));
      return { ...p, signatures: { ...p.signatures, [key.address]: signature } };
    }

    async function expectRefused(response: Response, status: number, message: RegExp): Promise<void> {
      expect(response.status).to.equal(status);
      const { error } = (await response.json()) as { error: string };
      expect(error).to.match(message);
      expect(error).not.to.include("\n");
      expect(queueFiles()).to.deep.equal(before);
    }

    beforeEach(async function () {
      // A waiting proposal at the wallet's next nonce, signed by owner 0 through the queue.
      const nonce = (await wallet.nonce()).toString();
      pending = {
        kind: "thingledger.wallet-proposal",
        version: 1,
        chainId: "31337",
        wallet: walletAddress,
        nonce,
        to: stranger.address,
        value: "1",
        data: "0x",
        gasLimit: "0",
        description: "attack target",
        signatures: {},
      };
      expect((await post(JSON.stringify(await signedBy(owners[0], pending)))).status).to.equal(200);
      before = queueFiles();
    });

    it("attack: a non-owner's signature", async function () {
      await expectRefused(await post(JSON.stringify(await signedBy(stranger, pending))), 400, /is not an owner/);
    });

    it("attack: an owner's signature over other content", async function () {
      const other = await signedBy(owners[1], { ...pending, value: "1000000" });
      await expectRefused(
        await post(JSON.stringify({ ...pending, signatures: other.signatures })),
        400,
        /or over other content/,
      );
    });

    it("attack: an oversize or malformed body", async function () {
      await expectRefused(await post(`{"data":"0x${"00".repeat(70_000)}"}`), 413, /^the body is over 65536 bytes$/);
      await expectRefused(await post("not json"), 400, /^the body is not JSON$/);
      await expectRefused(await post(JSON.stringify({ ...pending, wallet: "0x1" })), 400, /"wallet" is not an address/);
      await expectRefused(
        await post(JSON.stringify({ ...pending, value: "2" })),
        400,
        /a new proposal needs an owner's signature/,
      );
    });

    it("attack: an owner change described as a limit change shows decoded and flagged; undecodable data shows raw", async function () {
      const takeover = await signedBy(owners[0], {
        ...pending,
        to: walletAddress,
        value: "0",
        data: DeviceWallet__factory.createInterface().encodeFunctionData("setOwners", [[owners[0].address], 1]),
        gasLimit: "200000",
        description: "Set the device's ETH limit to 0.05 ETH",
      });
      expect((await post(JSON.stringify(takeover))).status).to.equal(200);
      const odd = await signedBy(owners[0], { ...pending, data: "0xdeadbeef", description: "odd call" });
      expect((await post(JSON.stringify(odd))).status).to.equal(200);
      const page = await walletPageOf(owners[1]);
      const proposal = card(page, "Set the device's ETH limit to 0.05 ETH");
      await waitText(
        proposal.getByTestId("proposal-call"),
        "include",
        `Dangerous: Replace the owners with [${owners[0].address}] and threshold 1`,
      );
      expect(await proposal.textContent()).to.include("The proposer's description (their own words, not checked)");
      const raw = card(page, "odd call").getByTestId("proposal-raw");
      expect(await raw.textContent()).to.equal("Raw data (not decoded): 0xdeadbeef");
      expect(await card(page, "odd call").getByTestId("proposal-call").textContent()).to.include("Unknown call to");
    });

    it("attack: a contract carrying the implementation's address, and the factory, are not device wallets", async function () {
      // The real wallet's code with bytes appended (a fake may hold the implementation's address anywhere).
      const fake = Wallet.createRandom().address;
      await provider.send("hardhat_setCode", [fake, (await provider.getCode(walletAddress)) + "00"]);
      for (const address of [fake, getAddress(ctx.addresses.DeviceWalletFactory)]) {
        const response = await fetch(`${base}proposals/${address}`);
        expect(response.status, address).to.equal(400);
        const { error } = (await response.json()) as { error: string };
        expect(error).to.equal(`${address} is not a device wallet of this network's factory`);
      }
      await expectRefused(
        await post(JSON.stringify(await signedBy(owners[1], { ...pending, wallet: fake }))),
        400,
        /is not a device wallet of this network's factory$/,
      );
    });

    it("refuses Sign and Freeze on the wrong network with the portal's line, asking the wallet nothing", async function () {
      const requests: string[] = [];
      const page = await walletPage(browser!, owners[1], { chainId: 1, requests });
      contexts.push(page.context());
      await page.goto(`${base}#/wallets/${walletAddress}`);
      await page.getByRole("button", { name: "Connect wallet" }).click();
      await page.getByRole("button", { name: "Disconnect" }).waitFor();
      const line = "Wrong network: your wallet is on chain 1, the device wallet is on chain 31337. Switch network.";
      const sign = card(page, "attack target").getByRole("button", { name: "Sign" });
      await waitEnabled(sign);
      await sign.click();
      await waitText(page.getByTestId("proposal-problem"), "equal", line);
      await page.getByRole("button", { name: "Freeze the device key" }).click();
      await waitText(page.getByTestId("freeze-problem"), "include", line);
      expect(requests.filter((m) => m.startsWith("eth_sign") || m === "eth_sendTransaction")).to.deep.equal([]);
      expect((await wallet.deviceConfig()).frozen).to.equal(false);
      expect(queueFiles()).to.deep.equal(before);
    });

    it("lines a proposal up behind the next nonce: listed after it, its nonce named, Execute only for the next", async function () {
      const ahead = { ...pending, nonce: String(BigInt(pending.nonce) + 1n), description: "lined up" };
      const both = await signedBy(owners[1], await signedBy(owners[0], ahead));
      expect((await post(JSON.stringify(both))).status).to.equal(200);
      const tooFar = { ...pending, nonce: String(BigInt(pending.nonce) + 6n), description: "too far" };
      before = queueFiles();
      await expectRefused(await post(JSON.stringify(await signedBy(owners[0], tooFar))), 400, /is too far ahead/);
      const page = await walletPageOf(owners[2]);
      const lined = card(page, "lined up");
      await waitText(lined.getByTestId("proposal-progress"), "equal", "2 of 2 signatures");
      expect(await lined.getByTestId("proposal-nonce").textContent()).to.equal(
        `Nonce ${ahead.nonce}: waits for nonce ${pending.nonce} to execute first.`,
      );
      expect(await card(page, "attack target").getByTestId("proposal-nonce").textContent()).to.equal(
        `Nonce ${pending.nonce}: the wallet's next execution.`,
      );
      expect(await lined.getByRole("button", { name: "Execute" }).isDisabled()).to.equal(true);
      const order = await page.getByTestId("proposals-waiting").getByTestId("proposal-nonce").allTextContents();
      expect(order.map((t) => BigInt(/^Nonce (\d+)/.exec(t)![1]!))).to.deep.equal(
        [...order.map((t) => BigInt(/^Nonce (\d+)/.exec(t)![1]!))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
      );
      expect(order.at(-1)).to.include(`Nonce ${ahead.nonce}:`);
    });

    it("shows the refused proposal still at 1 of 2, Execute disabled", async function () {
      const page = await walletPageOf(owners[2]);
      const proposal = card(page, "attack target");
      await waitText(proposal.getByTestId("proposal-progress"), "equal", "1 of 2 signatures");
      expect(await proposal.getByRole("button", { name: "Execute" }).isDisabled()).to.equal(true);
    });
  });
});
