import fs from "node:fs";
import path from "node:path";

import { expect } from "chai";
import { JsonRpcProvider, MaxUint256, Wallet, ZeroAddress, keccak256, parseEther, toUtf8Bytes } from "ethers";
import type { Signer } from "ethers";

import { channelsAt, contextFor, registryAt, tokenAt, walletFactoryAt } from "../../src/chain/context";
import type { SystemAddresses, SystemContext } from "../../src/chain/context";
import { DeviceWallet__factory } from "../../src/chain/factories";
import { EthRefuser__factory } from "../../typechain-types/factories/contracts/mocks/EthRefuser__factory";
import { closeChannels } from "../../src/channels/close";
import { reclaimChannel, topUpChannel } from "../../src/channels/manage";
import { openChannel } from "../../src/channels/open";
import { readDomain } from "../../src/eip712/domain";
import { signReceipt } from "../../src/eip712/receipt";
import { clientLeaf } from "../../src/merkle/group";
import { activate } from "../../src/registry/activate";
import {
  addSignature,
  createWallet,
  deviceSpend,
  execute,
  freezeDevice,
  fundWallet,
  propose,
  proposeLimit,
  resolveAsset,
  walletOwners,
} from "../../src/wallets";

import { coverageRunning } from "../shared/gas";
import { hardhat, startNodeDeployment } from "../shared/cli";
import type { LocalNode } from "../shared/cli";
import { startIndexer } from "../shared/indexer";
import type { AllowanceAnswer as Allowance, RunningIndexer } from "../shared/indexer";
import { until } from "../shared/process";

const MANUFACTURER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";
/** The demo's auditor (account 6). */
const AUDITOR = "0x976EA74026E726554dB657fA54763abd0C3a0aa9";
const HOUR = 3600;

type Json = Record<string, unknown>;
interface WalletPage {
  wallet: {
    address: string;
    owners: string[];
    threshold: number;
    period: number;
    frozen: boolean;
    linked: boolean;
    deviceKey: string;
    executions: number;
    deviceId: string;
  };
  at: string;
  periodIndex: string;
  allowances: Allowance[];
  changes: { kind: string; detail: Json }[];
  executions: {
    items: { id: string; nonce: string; to: string; value: string; success: boolean }[];
    nextCursor: string | null;
  };
  spends: {
    items: { id: string; asset: string; to: string; amount: string; relayed: boolean; periodIndex: string }[];
    nextCursor: string | null;
  };
  periods: {
    items: { asset: string; periodIndex: string; spent: string; spends: number; limit: string }[];
    nextCursor: string | null;
  };
}
interface ChannelRow {
  id: string;
  owner: string;
  payee: string;
  token: boolean;
  status: string;
  deposit: string;
  expiry: string;
  topUps: number;
  paid: string | null;
  refunded: string | null;
  endedBy: string | null;
}

const lower = (a: string): string => a.toLowerCase();

/**
 * The indexer's money side end to end: a real `hardhat node`, the system deployed, the demo (two wallets, a
 * relayed device spend, a 2-of-3 execution, two group channels closed in one batch, an auditor's epoch and
 * withdrawal), then more wallet flows (a wallet of a fresh device: direct and relayed spends across two
 * periods, a limit change, an execution that opens a channel, a freeze) and channel flows (open, top-up,
 * close, closeBatch, reclaim); then `npx hardhat indexer` once, and every new table and route is checked
 * against the contracts' getters and logs.
 */
describe("indexer: device wallets, channels and auditor rewards against a local hardhat node", function () {
  this.timeout(900_000);

  let node: LocalNode;
  let env: NodeJS.ProcessEnv;
  let deploymentDir: string;
  let scratch: string;
  let provider: JsonRpcProvider;
  let ctx: SystemContext;
  let indexer: RunningIndexer | undefined;
  let api: string;
  let deviceId: string;
  let myWallet: string;
  let as: string;
  let refuser: string;
  const mine: Record<"single" | "batchA" | "batchB" | "refused" | "reclaimed" | "walletOpened", string> = {
    single: "",
    refused: "",
    batchA: "",
    batchB: "",
    reclaimed: "",
    walletOpened: "",
  };

  const get = async <T>(route: string): Promise<{ status: number; body: T }> => {
    const response = await fetch(`${api}${route}`);
    return { status: response.status, body: (await response.json()) as T };
  };
  const signer = (i: number): Promise<Signer> => provider.getSigner(i);
  const increaseTime = async (seconds: number) => {
    await provider.send("evm_increaseTime", [seconds]);
    await provider.send("evm_mine", []);
  };

  /** A proposal the wallet executes with two owners' signatures. */
  async function ownersExecute(p: Awaited<ReturnType<typeof propose>>, a: Signer, b: Signer, relayer: Signer) {
    await addSignature(ctx, p, a);
    await addSignature(ctx, p, b);
    return execute(ctx, p, relayer);
  }

  before(async function () {
    // Child processes recompile the contracts, which would overwrite coverage's instrumented build.
    if (coverageRunning()) this.skip();
    ({ node, env, deploymentDir, scratch } = await startNodeDeployment("indexer-money"));
    provider = new JsonRpcProvider(node.url, undefined, { staticNetwork: true, cacheTimeout: -1 });
    const demo = hardhat(["demo", "--network", "localhost", "--json"], env);
    expect(demo.status, demo.stderr).to.equal(0);
    const { addresses } = JSON.parse(demo.stdout) as { addresses: SystemAddresses };
    ctx = await contextFor(provider, addresses);
    const eth = await resolveAsset(ctx, "eth");
    const thing = await resolveAsset(ctx, "thing");
    const [admin, owner, coOwner, thirdOwner, payer, asSigner] = await Promise.all(
      [0, 7, 8, 9, 10, 11].map((i) => signer(i)),
    );
    as = await asSigner.getAddress();

    // A fresh device, registered directly and activated by account 7, gets a 2-of-3 wallet (period: an hour).
    const manufacturer = await provider.getSigner(MANUFACTURER);
    const registry = registryAt(ctx, manufacturer);
    await (await tokenAt(ctx, manufacturer).approve(ctx.addresses.DeviceRegistry, MaxUint256)).wait();
    const device = new Wallet(Wallet.createRandom().privateKey, provider);
    deviceId = `0x00000001${keccak256(toUtf8Bytes(`money-test-${Date.now()}`)).slice(10)}`;
    await (await registry.registerDevices(MaxUint256, [deviceId], [device.address], [3])).wait();
    await (await tokenAt(ctx, admin).transfer(await owner.getAddress(), parseEther("1000"))).wait();
    await activate(ctx, owner, device, deviceId);
    const owners = await Promise.all([owner, coOwner, thirdOwner].map((s) => s.getAddress()));
    const created = await createWallet(ctx, owner, {
      owners,
      threshold: 2,
      deviceId,
      period: HOUR,
      limits: [
        { asset: eth, limit: parseEther("0.3") },
        { asset: thing, limit: parseEther("100") },
      ],
    });
    myWallet = created.wallet;
    await fundWallet(ctx, admin, myWallet, [
      { asset: eth, amount: parseEther("5") },
      { asset: thing, amount: parseEther("250") },
    ]);
    await (await admin.sendTransaction({ to: device.address, value: parseEther("1") })).wait();
    // Spends: one sent by the device, one relayed; then a higher limit, an hour later another spend.
    const spend = (amount: string, relayer?: Signer) =>
      deviceSpend(ctx, { wallet: myWallet, device, asset: eth, to: as, amount: parseEther(amount), relayer });
    await spend("0.1");
    await spend("0.05", payer);
    await ownersExecute(await proposeLimit(ctx, myWallet, eth, parseEther("0.5")), owner, coOwner, payer);
    await increaseTime(HOUR);
    await spend("0.2");
    // The owners pay from the wallet (2 of 3), and open a channel from it: the device's channel.
    await ownersExecute(
      await propose(ctx, { wallet: myWallet, to: as, value: parseEther("0.4"), data: "0x", description: "pay" }),
      coOwner,
      thirdOwner,
      payer,
    );
    const now = BigInt((await provider.getBlock("latest"))!.timestamp);
    const client = Wallet.createRandom();
    const openData = channelsAt(ctx).interface.encodeFunctionData("openEth", [
      as,
      now + 30n * 86_400n,
      clientLeaf(client.address),
      7n,
    ]);
    const opened = await ownersExecute(
      await propose(ctx, {
        wallet: myWallet,
        to: ctx.addresses.PaymentChannels,
        value: parseEther("0.25"),
        data: openData,
        description: "open a channel",
      }),
      owner,
      thirdOwner,
      payer,
    );
    expect(opened.success).to.equal(true);
    const walletChannels = await channelsAt(ctx).queryFilter(
      channelsAt(ctx).filters.ChannelOpened(undefined, myWallet),
    );
    mine.walletOpened = walletChannels[0].args.channelId;
    await freezeDevice(ctx, myWallet, thirdOwner);

    // Channels from account 10 to the AS (account 11): one topped up and closed alone, two closed in one
    // batch, one left to expire and reclaimed.
    const channelOf = async (expiry: bigint, salt: bigint) =>
      openChannel(ctx, {
        owner: payer,
        payee: as,
        clients: [client.address],
        deposit: parseEther("1"),
        expiry,
        asset: "eth",
        salt,
      });
    const later = now + 30n * 86_400n;
    const single = await channelOf(later, 1n);
    const batchA = await channelOf(later, 2n);
    const batchB = await channelOf(later, 3n);
    const reclaimed = await channelOf(now + 600n, 4n);
    // A contract owner that refuses ETH: its refund at the batch close is owed, then withdrawn.
    const refusing = await new EthRefuser__factory(payer).deploy();
    refuser = await refusing.getAddress();
    const refusedTx = await (
      await refusing.open(ctx.addresses.PaymentChannels, as, later, clientLeaf(client.address), 5n, {
        value: parseEther("1"),
      })
    ).wait();
    const refusedOpen = channelsAt(ctx).interface.parseLog(
      refusedTx!.logs.find((l) => lower(l.address) === lower(ctx.addresses.PaymentChannels))!,
    );
    mine.refused = refusedOpen!.args.channelId as string;
    Object.assign(mine, {
      single: single.channelId,
      batchA: batchA.channelId,
      batchB: batchB.channelId,
      reclaimed: reclaimed.channelId,
    });
    await topUpChannel(ctx, { owner: payer, channelId: single.channelId, amount: parseEther("0.5") });
    const domain = await readDomain(channelsAt(ctx));
    const receipt = async (channelId: string, amount: string) => ({
      channelId,
      amount: parseEther(amount),
      signature: await signReceipt(client, domain, { channelId, cumulativeAmount: parseEther(amount) }),
      proof: [],
    });
    await closeChannels(ctx, { payee: asSigner, receipts: [await receipt(single.channelId, "1.2")] });
    await closeChannels(ctx, {
      payee: asSigner,
      receipts: [
        await receipt(batchA.channelId, "0.3"),
        await receipt(batchB.channelId, "0.7"),
        await receipt(mine.refused, "0.4"),
      ],
    });
    await (await refusing.withdraw(ctx.addresses.PaymentChannels)).wait();
    await increaseTime(700);
    await reclaimChannel(ctx, { owner: payer, channelId: reclaimed.channelId });

    // `npx hardhat indexer` as a user runs it, on PGlite in the scratch folder, until it has caught up.
    indexer = await startIndexer({ env, dir: path.join(scratch, "db"), provider });
    api = indexer.url;
  });

  after(async function () {
    await indexer?.stop();
    provider?.destroy();
    await node?.stop();
    if (deploymentDir !== undefined) fs.rmSync(deploymentDir, { recursive: true, force: true });
    if (scratch !== undefined) fs.rmSync(scratch, { recursive: true, force: true });
  });

  it("indexes every wallet the factory created, as the wallet's getters and logs describe it", async function () {
    const factory = walletFactoryAt(ctx);
    const createdLogs = await factory.queryFilter(factory.filters.WalletCreated());
    expect(createdLogs).to.have.length(3);
    const head = await provider.getBlock("latest");
    for (const log of createdLogs) {
      const address = log.args.wallet;
      const wallet = DeviceWallet__factory.connect(address, provider);
      const { status, body } = await get<WalletPage>(`/wallets/${address}?at=${head!.timestamp}`);
      expect(status, address).to.equal(200);
      const config = await wallet.deviceConfig({ blockTag: head!.number });
      expect(body.wallet.deviceId).to.equal(lower(log.args.deviceId));
      expect(body.wallet.owners).to.deep.equal((await walletOwners(ctx, wallet)).map(lower));
      expect(body.wallet.threshold).to.equal(Number(await wallet.threshold()));
      expect(body.wallet.executions).to.equal(Number(await wallet.nonce()));
      expect(body.wallet).to.include({
        period: Number(config.period),
        frozen: config.frozen,
        linked: config.linked,
        deviceKey: lower(config.deviceKey),
      });
      // This period's use at the head block, as the contract's own view computes it at that block.
      const assets =
        lower(address) === lower(myWallet) ? [ZeroAddress, ctx.addresses.ThingToken].map(lower).sort() : [ZeroAddress];
      expect(body.allowances.map((a) => a.asset)).to.deep.equal(assets);
      for (const allowance of body.allowances) {
        const onChain = await wallet.allowance(allowance.asset, { blockTag: head!.number });
        expect(allowance).to.include({
          limit: onChain.limit.toString(),
          spentThisPeriod: onChain.spentCurrentPeriod.toString(),
          spentPreviousPeriod: onChain.spentPreviousPeriod.toString(),
          available: onChain.available.toString(),
        });
      }

      // Executions and spends, newest first, each as its log says.
      const executed = await wallet.queryFilter(wallet.filters.Executed());
      expect(body.executions.items.map((e) => [e.nonce, lower(e.to), e.value, e.success])).to.deep.equal(
        executed
          .reverse()
          .map((e) => [e.args.nonce.toString(), lower(e.args.to), e.args.value.toString(), e.args.success]),
      );
      const spent = await wallet.queryFilter(wallet.filters.DeviceSpent());
      expect(body.spends.items.map((s) => [lower(s.to), s.amount])).to.deep.equal(
        [...spent].reverse().map((e) => [lower(e.args.to), e.args.amount.toString()]),
      );
      expect(body.allowances.find((a) => a.asset === ZeroAddress)!.totalSpent).to.equal(
        spent.reduce((sum, e) => sum + e.args.amount, 0n).toString(),
      );
      // Limit use per period: the spends' amounts summed by aligned period (timestamp / period).
      const byPeriod = new Map<string, bigint>();
      for (const e of spent) {
        const index = BigInt((await e.getBlock()).timestamp) / config.period;
        byPeriod.set(index.toString(), (byPeriod.get(index.toString()) ?? 0n) + e.args.amount);
      }
      expect(body.periods.items.map((p) => [p.periodIndex, p.spent])).to.deep.equal(
        [...byPeriod.entries()].sort(([a], [b]) => Number(BigInt(b) - BigInt(a))).map(([i, s]) => [i, s.toString()]),
      );
      expect(body.changes[0].kind).to.equal("Created");
    }
  });

  it("answers the test wallet's spends, periods, limit change, executions and freeze", async function () {
    const { body } = await get<WalletPage>(`/wallets/${myWallet}`);
    expect(body.spends.items.map((s) => s.relayed)).to.deep.equal([false, true, false]);
    expect(body.periods.items).to.have.length(2);
    expect(body.periods.items.map((p) => [p.spent, p.spends, p.limit])).to.deep.equal([
      [parseEther("0.2").toString(), 1, parseEther("0.5").toString()],
      [parseEther("0.15").toString(), 2, parseEther("0.3").toString()],
    ]);
    expect(body.wallet.frozen).to.equal(true);
    expect(body.wallet.executions).to.equal(3);
    expect(body.changes.map((c) => c.kind)).to.deep.equal([
      "Created",
      "DeviceLinked",
      "AllowanceChanged",
      "DeviceFrozen",
    ]);
    expect(body.changes[2].detail).to.deep.equal({ asset: ZeroAddress, limit: parseEther("0.5").toString() });

    // Page by page (one row a page), the cursors give every row once.
    for (const kind of ["executions", "spends", "periods"] as const) {
      const seen: unknown[] = [];
      let cursor: string | null = null;
      do {
        const page: { status: number; body: { items: unknown[]; nextCursor: string | null } } = await get(
          `/wallets/${myWallet}/${kind}?limit=1${cursor === null ? "" : `&cursor=${cursor}`}`,
        );
        expect(page.status, kind).to.equal(200);
        expect(page.body.items.length).to.be.at.most(1);
        seen.push(...page.body.items);
        cursor = page.body.nextCursor;
      } while (cursor !== null);
      expect(seen, kind).to.deep.equal(body[kind].items);
    }
  });

  it("records the ThingToken transfers that fund a device wallet", async function () {
    const token = tokenAt(ctx);
    const funded = await token.queryFilter(token.filters.Transfer(undefined, myWallet));
    expect(funded).to.have.length(1);
    const response = await fetch(`${api}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        query: `{ tokenTransfers(where: { to: "${lower(myWallet)}" }) { items { from value } } }`,
      }),
    });
    const { data } = (await response.json()) as {
      data: { tokenTransfers: { items: { from: string; value: string }[] } };
    };
    expect(data.tokenTransfers.items).to.deep.equal([
      { from: lower(funded[0].args.from), value: funded[0].args.value.toString() },
    ]);
  });

  it("reaches a device's wallet and channels from the device page, not a wallet anyone else made for it", async function () {
    // Anyone may create a wallet naming any device (outside review): account 12 makes one for this device.
    const stranger = await provider.getSigner(12);
    const spoof = await createWallet(ctx, stranger, {
      owners: [await stranger.getAddress()],
      threshold: 1,
      deviceId,
      period: HOUR,
      limits: [],
    });
    const head = await provider.getBlockNumber();
    await until("the indexer to index the stranger's wallet", 120_000, async () => {
      const { status } = await get(`/wallets/${spoof.wallet}`);
      const { body } = await get<Record<string, { block: { number: number } }>>("/status");
      return status === 200 && (Object.values(body)[0]?.block.number ?? 0) >= head ? true : undefined;
    });
    const { status, body } = await get<{ wallets: { address: string }[]; channels: ChannelRow[] }>(
      `/devices/${deviceId}`,
    );
    expect(status).to.equal(200);
    expect(body.wallets.map((w) => w.address)).to.deep.equal([lower(myWallet)]);
    expect(body.channels.map((c) => c.id)).to.deep.equal([mine.walletOpened]);
    expect(body.channels[0]).to.include({ owner: lower(myWallet), status: "Open" });
  });

  it("indexes every channel's life as the contract's logs and state give it", async function () {
    const channels = channelsAt(ctx);
    const opened = await channels.queryFilter(channels.filters.ChannelOpened());
    expect(opened).to.have.length(8); // the demo's two, the wallet's, four of account 10 and the refuser's
    const closed = new Map(
      (await channels.queryFilter(channels.filters.ChannelClosed())).map((e) => [e.args.channelId, e]),
    );
    const reclaimed = new Set(
      (await channels.queryFilter(channels.filters.ChannelReclaimed())).map((e) => e.args.channelId),
    );
    for (const log of opened) {
      const id = log.args.channelId;
      const { status, body } = await get<{ channel: ChannelRow; events: { kind: string }[] }>(`/channels/${id}`);
      expect(status, id).to.equal(200);
      expect(body.channel).to.include({
        owner: lower(log.args.owner),
        payee: lower(log.args.payee),
        token: log.args.token,
      });
      const state = await channels.getChannel(id);
      if (closed.has(id)) {
        const e = closed.get(id)!;
        expect(body.channel).to.include({
          status: "Closed",
          paid: e.args.paid.toString(),
          refunded: e.args.refunded.toString(),
        });
        expect(Number(state.status)).to.equal(0);
      } else if (reclaimed.has(id)) {
        expect(body.channel).to.include({ status: "Reclaimed", endedBy: "reclaim", refunded: body.channel.deposit });
      } else {
        expect(body.channel).to.include({
          status: "Open",
          deposit: state.deposit.toString(),
          expiry: state.expiry.toString(),
        });
      }
      expect(body.events[0].kind).to.equal("Opened");
    }
    const single = await get<{ channel: ChannelRow; events: { kind: string }[] }>(`/channels/${mine.single}`);
    expect(single.body.events.map((e) => e.kind)).to.deep.equal(["Opened", "ToppedUp", "Closed"]);
    expect(single.body.channel).to.include({
      endedBy: "close",
      topUps: 1,
      deposit: parseEther("1.5").toString(),
      paid: parseEther("1.2").toString(),
      refunded: parseEther("0.3").toString(),
    });
    for (const id of [mine.batchA, mine.batchB])
      expect((await get<{ channel: ChannelRow }>(`/channels/${id}`)).body.channel.endedBy).to.equal("closeBatch");
    expect((await get<{ channel: ChannelRow }>(`/channels/${mine.refused}`)).body.channel.endedBy).to.equal(
      "closeBatch",
    );
    const back = await get<{ events: { kind: string }[] }>(`/channels/${mine.reclaimed}`);
    expect(back.body.events.map((e) => e.kind)).to.deep.equal(["Opened", "Reclaimed"]);
  });

  it("records an ETH refund the owner refused, on its channel, and its withdrawal", async function () {
    const channels = channelsAt(ctx);
    const [owed] = await channels.queryFilter(channels.filters.RefundOwed(refuser));
    const [withdrawn] = await channels.queryFilter(channels.filters.RefundWithdrawn(refuser));
    expect(owed.args.amount).to.equal(parseEther("0.6"));
    const { body } = await get<{ channel: { refundOwed: string }; refunds: { kind: string; amount: string }[] }>(
      `/channels/${mine.refused}`,
    );
    expect(body.channel.refundOwed).to.equal(owed.args.amount.toString());
    expect(body.refunds.map((r) => [r.kind, r.amount])).to.deep.equal([["Owed", owed.args.amount.toString()]]);
    // Every refund row, through Ponder's GraphQL.
    const response = await fetch(`${api}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        query: `{ channelRefunds(where: { owner: "${lower(refuser)}" }, orderBy: "id") { items { kind amount channelId } } }`,
      }),
    });
    const { data } = (await response.json()) as {
      data: { channelRefunds: { items: { kind: string; amount: string; channelId: string | null }[] } };
    };
    expect(data.channelRefunds.items).to.deep.equal([
      { kind: "Owed", amount: owed.args.amount.toString(), channelId: lower(mine.refused) },
      { kind: "Withdrawn", amount: withdrawn.args.amount.toString(), channelId: null },
    ]);
    expect(await channels.refundOwed(refuser)).to.equal(0n);
  });

  it("lists channels by AS and owner page by page, and sums an AS's revenue", async function () {
    const channels = channelsAt(ctx);
    const list = async (query: string): Promise<ChannelRow[]> => {
      const rows: ChannelRow[] = [];
      let cursor: string | null = null;
      do {
        const page: { status: number; body: { items: ChannelRow[]; nextCursor: string | null } } = await get(
          `/channels?${query}&limit=2${cursor === null ? "" : `&cursor=${cursor}`}`,
        );
        expect(page.status).to.equal(200);
        rows.push(...page.body.items);
        cursor = page.body.nextCursor;
      } while (cursor !== null);
      return rows;
    };
    const paidTo = await channels.queryFilter(channels.filters.ChannelOpened(undefined, undefined, as));
    expect((await list(`as=${as}`)).map((c) => c.id)).to.deep.equal(paidTo.map((e) => lower(e.args.channelId)).sort());
    const payer = await (await signer(10)).getAddress();
    const byOwner = await list(`owner=${payer}&status=closed`);
    expect(byOwner.map((c) => c.id).sort()).to.deep.equal([mine.single, mine.batchA, mine.batchB].map(lower).sort());

    for (const payee of [as, (await channels.queryFilter(channels.filters.ChannelOpened()))[0].args.payee]) {
      const ids = new Set(
        (await channels.queryFilter(channels.filters.ChannelOpened(undefined, undefined, payee))).map(
          (e) => e.args.channelId,
        ),
      );
      const closes = (await channels.queryFilter(channels.filters.ChannelClosed())).filter((e) =>
        ids.has(e.args.channelId),
      );
      const { status, body } = await get<{ eth: { paid: string; closed: number; refunded: string } }>(
        `/as/${payee}/revenue`,
      );
      expect(status).to.equal(200);
      expect(body.eth).to.include({
        paid: closes.reduce((s, e) => s + e.args.paid, 0n).toString(),
        refunded: closes.reduce((s, e) => s + e.args.refunded, 0n).toString(),
        closed: closes.length,
      });
      expect(closes.length).to.be.greaterThan(0);
    }
  });

  it("answers an auditor's epochs, rewards and withdrawals as the registry holds them", async function () {
    const registry = registryAt(ctx);
    const { status, body } = await get<{
      earned: string;
      withdrawn: string;
      unwithdrawn: string;
      epochs: { items: { epoch: number; rewarded: string; reward: string; submissions: number }[] };
      withdrawals: { amount: string }[];
    }>(`/auditors/${AUDITOR}`);
    expect(status).to.equal(200);
    const submissions = await registry.queryFilter(registry.filters.ScoresUpdated(AUDITOR));
    const withdrawals = await registry.queryFilter(registry.filters.AuditorRewardWithdrawn(AUDITOR));
    const perScore = await registry.auditReward();
    expect(body.epochs.items.map((e) => [e.epoch, e.rewarded, e.reward])).to.deep.equal(
      submissions.map((e) => [
        Number(e.args.epoch),
        e.args.rewarded.toString(),
        (e.args.rewarded * perScore).toString(),
      ]),
    );
    const withdrawn = withdrawals.reduce((s, e) => s + e.args.amount, 0n);
    expect(withdrawn).to.be.greaterThan(0n);
    expect(body.withdrawn).to.equal(withdrawn.toString());
    expect(body.withdrawals.map((w) => w.amount)).to.deep.equal(
      withdrawals.map((e) => e.args.amount.toString()).reverse(),
    );
    expect(body.unwithdrawn).to.equal((await registry.auditorInfo(AUDITOR)).earned.toString());
    expect(BigInt(body.earned)).to.equal(withdrawn + BigInt(body.unwithdrawn));
  });

  it("refuses bad input with a 400 and one line, and unknown records with a 404", async function () {
    const bad = [
      "/wallets/0x12",
      `/wallets/${myWallet}?at=yesterday`,
      `/wallets/${myWallet}?x=1`,
      `/wallets/${myWallet}/spends?cursor=${encodeURIComponent("1' OR 1=1 --")}`,
      `/wallets/${myWallet}/executions?limit=101`,
      `/wallets/${myWallet}/periods?cursor=5:0x12`,
      "/channels",
      `/channels?as=0x1`,
      `/channels?as=${as}&status=lost`,
      `/channels?as=${as}&limit=0`,
      `/channels?as=${as}&cursor=0x12`,
      "/channels/0x1234",
      "/as/0xzz/revenue",
      `/as/${as}/revenue?since=1`,
      `/auditors/${AUDITOR}?cursor=99999999999`,
      "/auditors/auditor",
    ];
    for (const route of bad) {
      const { status, body } = await get<{ error: string }>(route);
      expect(status, route).to.equal(400);
      expect(body.error, route).to.be.a("string").and.not.contain("\n");
    }
    const unknown = `0x${"ab".repeat(20)}`;
    for (const route of [`/wallets/${unknown}`, `/channels/0x${"cd".repeat(32)}`, `/auditors/${unknown}`])
      expect((await get(route)).status, route).to.equal(404);
    const nobody = await get<{ eth: { paid: string; closed: number } }>(`/as/${unknown}/revenue`);
    expect(nobody.body.eth).to.include({ paid: "0", closed: 0 });
  });
});
