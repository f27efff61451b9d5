import path from "node:path";

import { expect } from "chai";
import { getIntrospectionQuery } from "graphql";
import { JsonRpcProvider, MaxUint256, Wallet, keccak256, parseEther, toUtf8Bytes } from "ethers";
import type { Signer } from "ethers";

import { contextFor, registryAt, tokenAt } from "../../src/chain/context";
import type { SystemAddresses, SystemContext } from "../../src/chain/context";
import { DeviceWallet__factory } from "../../src/chain/factories";
import { readDomain } from "../../src/eip712/domain";
import { compact, signActivation } from "../../src/eip712/device";
import { buildWhitelist } from "../../src/merkle/whitelist";
import type { Whitelist } from "../../src/merkle/whitelist";
import { activate } from "../../src/registry/activate";
import { addSignature, createWallet, deviceSpend, execute, fundWallet, propose, resolveAsset } from "../../src/wallets";
import { GasProbe__factory } from "../../typechain-types/factories/contracts/mocks/GasProbe__factory";

import { coverageRunning } from "../shared/gas";
import { endNodeDeployment, hardhat, startNodeDeployment } from "../shared/cli";
import type { NodeDeployment } from "../shared/cli";
import { startIndexer } from "../shared/indexer";
import type { AllowanceAnswer as Allowance, RunningIndexer } from "../shared/indexer";

/** The demo's manufacturer (account 3, id 1). */
const MANUFACTURER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";
const HOUR = 3600;
const DAY = 86_400;

interface Period {
  asset: string;
  period: number;
  periodIndex: string;
  spent: string;
}

/**
 * Issue 18, what the outside review of the indexer left open: whitelist claims made through other contracts
 * and closed whitelists, hostile GraphQL documents, the money routes' bad input, activations per day by the
 * chain's clock, and a wallet read at a past time and after a period change. A real `hardhat node` with the
 * demo and these flows, then `npx hardhat indexer` once. Each `attack:` case failed before its fix.
 */
describe("issue 18 review: indexer", function () {
  this.timeout(900_000);

  let started: Partial<NodeDeployment> = {};
  let provider: JsonRpcProvider;
  let ctx: SystemContext;
  let indexer: RunningIndexer | undefined;
  let api: string;
  let whitelist: Whitelist;
  let wallet: string;
  /** The blocks of the wallet's three spends: an hour apart, then after the period became a day. */
  const spendBlocks: number[] = [];
  let lateActivationBlock: number;

  const get = async <T>(route: string): Promise<{ status: number; body: T }> => {
    const response = await fetch(`${api}${route}`);
    return { status: response.status, body: (await response.json()) as T };
  };
  const increaseTime = async (seconds: number) => {
    await provider.send("evm_increaseTime", [seconds]);
    await provider.send("evm_mine", []);
  };
  /** The owner alone (a 1-of-1 wallet) has the wallet make a call. */
  async function walletCall(owner: Signer, relayer: Signer, to: string, data: string): Promise<void> {
    const proposal = await propose(ctx, { wallet, to, value: 0n, data, description: "review18" });
    await addSignature(ctx, proposal, owner);
    const done = await execute(ctx, proposal, relayer);
    expect(done.success, "the wallet's call").to.equal(true);
  }
  /** The device of whitelist entry `i` signs its activation for `owner`; the call data of `activateFromWhitelist`. */
  async function claimAndActivate(i: number, key: Wallet, owner: string, fee: bigint): Promise<string> {
    const registry = registryAt(ctx);
    const entry = whitelist.entries[i];
    const deadline = BigInt((await provider.getBlock("latest"))!.timestamp) + 10n * BigInt(DAY);
    const message = { deviceId: entry.deviceId, owner, deadline };
    const signature = await signActivation(key, await readDomain(registry), message);
    return registry.interface.encodeFunctionData("activateFromWhitelist", [
      fee,
      whitelist.root,
      entry.deviceId,
      entry.deviceType,
      entry.proof,
      owner,
      deadline,
      ...compact(signature),
    ]);
  }

  before(async function () {
    if (coverageRunning()) this.skip();
    const deployment = await startNodeDeployment("review18");
    started = deployment;
    const { env } = deployment;
    provider = new JsonRpcProvider(deployment.node.url, undefined, { staticNetwork: true, cacheTimeout: -1 });
    const demo = hardhat(["demo", "--network", "localhost", "--json"], env);
    expect(demo.status, demo.stderr).to.equal(0);
    const { addresses } = JSON.parse(demo.stdout) as { addresses: SystemAddresses };
    ctx = await contextFor(provider, addresses);
    const [admin, owner, payer] = await Promise.all([0, 7, 10].map((i) => provider.getSigner(i)));
    const ownerAddress = await owner.getAddress();
    const manufacturer = await provider.getSigner(MANUFACTURER);
    const registry = registryAt(ctx, manufacturer);
    await (await tokenAt(ctx, manufacturer).approve(ctx.addresses.DeviceRegistry, MaxUint256)).wait();
    await (await tokenAt(ctx, admin).transfer(ownerAddress, parseEther("1000"))).wait();

    // A whitelist of three devices, capacity five.
    const keys = [0, 1, 2].map(() => new Wallet(Wallet.createRandom().privateKey));
    whitelist = buildWhitelist(
      keys.map((k, i) => ({
        deviceId: `0x00000001${keccak256(toUtf8Bytes(`review18-wl-${i}-${Date.now()}`)).slice(10)}`,
        deviceKey: k.address,
        deviceType: 5,
      })),
      1,
    );
    await (await registry.commitWhitelist(MaxUint256, MaxUint256, whitelist.root, 5)).wait();
    const { activationFee } = await registry.getWhitelist(1, whitelist.root);

    // Device 0 is claimed through a forwarder contract (any relayer may submit a proof).
    const probe = await new GasProbe__factory(admin).deploy();
    const e0 = whitelist.entries[0];
    const claim0 = registry.interface.encodeFunctionData("registerFromWhitelist", [
      whitelist.root,
      e0.deviceId,
      e0.deviceKey,
      e0.deviceType,
      e0.proof,
    ]);
    await (await probe.probe(ctx.addresses.DeviceRegistry, claim0, 1_000_000, { gasLimit: 3_000_000 })).wait();
    expect((await registry.getDevice(e0.deviceId)).deviceKey).to.equal(e0.deviceKey);

    // A fresh device with a 1-of-1 wallet (period: an hour) that the device spends from, relayed.
    const device = new Wallet(Wallet.createRandom().privateKey, provider);
    const deviceId = `0x00000001${keccak256(toUtf8Bytes(`review18-wallet-${Date.now()}`)).slice(10)}`;
    await (await registry.registerDevices(MaxUint256, [deviceId], [device.address], [3])).wait();
    await activate(ctx, owner, device, deviceId);
    const eth = await resolveAsset(ctx, "eth");
    wallet = (
      await createWallet(ctx, owner, {
        owners: [ownerAddress],
        threshold: 1,
        deviceId,
        period: HOUR,
        limits: [{ asset: eth, limit: parseEther("1") }],
      })
    ).wallet;
    await fundWallet(ctx, admin, wallet, [
      { asset: eth, amount: parseEther("5") },
      { asset: await resolveAsset(ctx, "thing"), amount: parseEther("100") },
    ]);
    const spend = async (amount: string) => {
      const { txHash } = await deviceSpend(ctx, {
        wallet,
        device,
        asset: eth,
        to: ownerAddress,
        amount: parseEther(amount),
        relayer: payer,
      });
      spendBlocks.push((await provider.getTransactionReceipt(txHash))!.blockNumber);
    };
    await spend("0.1");
    await increaseTime(HOUR);
    await spend("0.2");

    // The wallet (a contract) claims and activates device 1 for its owner, paying the root's fee.
    await walletCall(
      owner,
      payer,
      ctx.addresses.ThingToken,
      tokenAt(ctx).interface.encodeFunctionData("approve", [ctx.addresses.DeviceRegistry, activationFee]),
    );
    await walletCall(
      owner,
      payer,
      ctx.addresses.DeviceRegistry,
      await claimAndActivate(1, keys[1], ownerAddress, activationFee),
    );
    expect((await registryAt(ctx).getDevice(whitelist.entries[1].deviceId)).owner).to.equal(ownerAddress);

    // The period becomes a day; another spend.
    const setPeriod = DeviceWallet__factory.createInterface().encodeFunctionData("setPeriod", [DAY]);
    await walletCall(owner, payer, wallet, setPeriod);
    await spend("0.05");

    // Three days later by the chain's clock (not this machine's), device 2 is activated through approveAndCall.
    await increaseTime(3 * DAY);
    const data = await claimAndActivate(2, keys[2], ownerAddress, activationFee);
    const activated = await (
      await tokenAt(ctx, owner).approveAndCall(ctx.addresses.DeviceRegistry, activationFee, data)
    ).wait();
    lateActivationBlock = activated!.blockNumber;

    // The manufacturer closes the whitelist: its capacity becomes what was used (3 of 5).
    await (await registry.closeWhitelist(1, whitelist.root)).wait();

    indexer = await startIndexer({ env, dir: path.join(deployment.scratch, "db"), provider });
    api = indexer.url;
  });

  after(async function () {
    await endNodeDeployment(started, provider, indexer?.stop);
  });

  // Was MEDIUM: a claim sent through another contract (a forwarder, a wallet's execution) was not counted
  // against its whitelist nor named on the device, and a closed whitelist kept its paid capacity.
  it("attack: whitelist claims through other contracts count, and a closed whitelist's capacity is what was used", async function () {
    const onChain = await registryAt(ctx).getWhitelist(1, whitelist.root);
    expect(onChain.used).to.equal(3n);
    expect(onChain.capacity).to.equal(3n);
    const { status, body } = await get<{
      whitelists: { root: string; capacity: number; used: number; closed: boolean }[];
    }>("/manufacturers/1");
    expect(status).to.equal(200);
    const row = body.whitelists.find((w) => w.root === whitelist.root.toLowerCase());
    expect(row).to.deep.equal({
      root: whitelist.root.toLowerCase(),
      capacity: Number(onChain.capacity),
      used: Number(onChain.used),
      closed: true,
    });
    const listed = await get<{ items: { id: string; deviceKey: string; status: string }[] }>(
      `/devices?whitelist=${whitelist.root}&limit=10`,
    );
    expect(listed.body.items.map((d) => d.id).sort()).to.deep.equal(
      whitelist.entries.map((e) => e.deviceId.toLowerCase()).sort(),
    );
    for (const d of listed.body.items) {
      const entry = whitelist.entries.find((e) => e.deviceId.toLowerCase() === d.id)!;
      expect(d.deviceKey.toLowerCase(), d.id).to.equal(entry.deviceKey.toLowerCase());
    }
    expect(listed.body.items.map((d) => d.status).sort()).to.deep.equal(["Active", "Active", "Registered"]);
  });

  // Was LOW: the range of `days=N` ended at this machine's day, so activations on a chain whose clock is ahead
  // (or behind) fell outside it.
  it("attack: /stats/activations?days=1 is the chain's latest day, bucketed by block time", async function () {
    const registry = registryAt(ctx);
    const latest = (await provider.getBlock("latest"))!;
    const day = new Date(latest.timestamp * 1000).toISOString().slice(0, 10);
    let expected = 0;
    for (const e of await registry.queryFilter(registry.filters.DeviceActivated())) {
      const block = await provider.getBlock(e.blockNumber);
      if (new Date(block!.timestamp * 1000).toISOString().slice(0, 10) === day) expected++;
    }
    expect(expected, "the late activation is on the chain's latest day").to.be.at.least(1);
    expect((await provider.getBlock(lateActivationBlock))!.timestamp).to.be.at.most(latest.timestamp);
    const { status, body } = await get<{ day: string; activations: number }[]>("/stats/activations?days=1");
    expect(status).to.equal(200);
    expect(body).to.deep.equal([{ day, activations: expected }]);
  });

  // Was LOW: `?at=` in an earlier period read the latest spend window against that period's index.
  it("attack: /wallets/:address?at=<past time> answers the spend window the contract held then", async function () {
    const walletContract = DeviceWallet__factory.connect(wallet, provider);
    for (const blockNumber of spendBlocks) {
      const { timestamp } = (await provider.getBlock(blockNumber))!;
      const then = await walletContract.allowance("0x0000000000000000000000000000000000000000", {
        blockTag: blockNumber,
      });
      const { status, body } = await get<{ allowances: Allowance[]; wallet: { period: number } }>(
        `/wallets/${wallet}?at=${timestamp}`,
      );
      expect(status).to.equal(200);
      const eth = body.allowances.find((a) => a.asset === "0x0000000000000000000000000000000000000000")!;
      expect(
        [eth.limit, eth.spentThisPeriod, eth.spentPreviousPeriod, eth.available],
        `block ${blockNumber}`,
      ).to.deep.equal([then.limit, then.spentCurrentPeriod, then.spentPreviousPeriod, then.available].map(String));
    }
  });

  // Was LOW: periods were ordered by their index, which is not comparable across a period change (an hour's
  // index is 24 times a day's), so the day period used last came after the older hours.
  it("attack: wallet periods are newest first across a period change, and the cursor pages them", async function () {
    const { body } = await get<{ items: Period[]; nextCursor: string | null }>(`/wallets/${wallet}/periods`);
    expect(body.items.map((p) => [p.period, p.spent])).to.deep.equal([
      [DAY, parseEther("0.05").toString()],
      [HOUR, parseEther("0.2").toString()],
      [HOUR, parseEther("0.1").toString()],
    ]);
    const paged: Period[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: { items: Period[]; nextCursor: string | null } } = await get(
        `/wallets/${wallet}/periods?limit=1${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`,
      );
      expect(page.status).to.equal(200);
      paged.push(...page.body.items);
      cursor = page.body.nextCursor;
    } while (cursor !== null && paged.length < 10);
    expect(paged).to.deep.equal(body.items);
  });

  // Was LOW: the money routes took a repeated parameter's first value and echoed a bad value whole.
  it("attack: the money routes refuse a repeated parameter and quote a bad value escaped and cut short", async function () {
    const repeated = [
      `/wallets/${wallet}?at=1&at=2`,
      `/wallets/${wallet}/spends?limit=1&limit=100`,
      `/channels?as=${wallet}&as=${MANUFACTURER}`,
      `/auditors/${MANUFACTURER}?limit=1&limit=2`,
    ];
    for (const route of repeated) {
      const { status, body } = await get<{ error: string }>(route);
      expect(status, route).to.equal(400);
      expect(body.error, route).to.match(/more than once/);
    }
    const long = "x".repeat(10_000);
    for (const route of [
      `/wallets/${long}`,
      `/wallets/0x%0A${long}`,
      `/channels/${long}`,
      `/as/${long}/revenue`,
      `/auditors/${long}`,
      `/wallets/${wallet}?at=${long}`,
      `/wallets/${wallet}?at=1%0AX-Injected:%201`,
      `/wallets/${wallet}/spends?cursor=${long}`,
      `/wallets/${wallet}/periods?cursor=%0A${long}`,
      `/wallets/${wallet}?${long}=1`,
      `/channels?as=${wallet}&status=${long}`,
      `/channels?owner=${long}`,
    ]) {
      const { status, body } = await get<{ error: string }>(route);
      expect(status, route.slice(0, 60)).to.equal(400);
      expect(body.error, route.slice(0, 60)).to.not.match(/[\n\r]/);
      expect(body.error.length, route.slice(0, 60)).to.be.below(200);
    }
  });

  /** POSTs a GraphQL document; its status and body. */
  async function graphql(query: string, variables?: Record<string, unknown>) {
    const response = await fetch(`${api}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query, variables }),
    });
    return {
      status: response.status,
      body: (await response.json()) as { data?: unknown; errors?: { message: string }[] },
    };
  }

  // Was MEDIUM: Ponder allows 30 aliases of a 1000-row page, depth 100 and any offset, so one document could
  // read 30,000 rows or nest introspection lists without end; a bad cursor reached its SQL.
  it("attack: GraphQL bounds page size, offset, fields, aliases, depth and nested lists with a one-line 400", async function () {
    const cursor = (json: unknown) => Buffer.from(JSON.stringify({ json })).toString("base64");
    const aliases = Array.from({ length: 11 }, (_, i) => `a${i}: devices(limit: 1) { items { id } }`).join(" ");
    const wide = `{ devices(limit: 1) { items { ${"id ".repeat(400)} } } }`;
    const deep = `{ __type(name: "device") { ${"ofType { ".repeat(20)}name${" }".repeat(20)} } }`;
    const lists = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }";
    const cases: [string, RegExp, Record<string, unknown>?][] = [
      ["{ devices(limit: 5000) { items { id } } }", /limit/],
      ["query ($n: Int = 5000) { devices(limit: $n) { items { id } } }", /limit/],
      [
        "{ a: devices(limit: 1000) { items { id } } b: devices(limit: 1000) { items { id } } c: devices { totalCount } }",
        /rows/,
      ],
      ["query ($n: Int = -5) { devices(limit: $n) { items { id } } }", /limit/],
      ["{ devices(offset: 1000000) { items { id } } }", /offset/],
      [`{ ${aliases} }`, /tables/],
      [wide, /fields/],
      [deep, /deep/],
      [lists, /lists/],
      ['query ($c: String = "garbage!!") { devices(after: $c) { items { id } } }', /cursor/],
      [`{ devices(after: "${cursor({ nope: 1 })}") { items { id } } }`, /cursor/],
      [`{ devices(before: "${cursor({ id: { x: 1 } })}") { items { id } } }`, /cursor/],
      [`{ devices(after: "${cursor({ id: 5 })}") { items { id } } }`, /cursor/],
      [`{ devices(after: "${cursor([])}") { items { id } } }`, /cursor/],
      [
        "query ($c: String) { walletPeriodUses(after: $c) { items { spent } } }",
        /cursor/,
        { c: cursor({ wallet: "0x" }) },
      ],
    ];
    for (const [query, message, variables] of cases) {
      const { status, body } = await graphql(query, variables);
      expect(status, query.slice(0, 80)).to.equal(400);
      expect(body.errors?.[0].message, query.slice(0, 80))
        .to.match(message)
        .and.not.match(/[\n\r]/);
    }
    // What a client needs still answers: GraphiQL's introspection, a page and the page after its cursor.
    const introspection = await graphql(getIntrospectionQuery());
    expect(introspection.status).to.equal(200);
    expect(introspection.body.errors).to.equal(undefined);
    const first = await graphql(
      '{ devices(limit: 2, orderBy: "registeredBlock") { items { id } pageInfo { endCursor } } }',
    );
    expect(first.status).to.equal(200);
    const endCursor = (first.body.data as { devices: { pageInfo: { endCursor: string } } }).devices.pageInfo.endCursor;
    const next = await graphql(
      'query ($c: String) { devices(limit: 2, orderBy: "registeredBlock", after: $c) { items { id } } }',
      { c: endCursor },
    );
    expect(next.status).to.equal(200);
    expect(next.body.errors).to.equal(undefined);
    const periods = await graphql("{ walletPeriodUses(limit: 1) { items { spent } pageInfo { endCursor } } }");
    const periodCursor = (periods.body.data as { walletPeriodUses: { pageInfo: { endCursor: string } } })
      .walletPeriodUses.pageInfo.endCursor;
    const after = await graphql("query ($c: String) { walletPeriodUses(after: $c) { items { spent } } }", {
      c: periodCursor,
    });
    expect(after.status).to.equal(200);
    expect(after.body.errors).to.equal(undefined);
  });
});
