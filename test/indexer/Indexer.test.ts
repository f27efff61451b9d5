import fs from "node:fs";
import path from "node:path";

import { expect } from "chai";
import { JsonRpcProvider, MaxUint256, Wallet, keccak256, toUtf8Bytes } from "ethers";

import { DeviceRegistry__factory, ThingToken__factory } from "../../src/chain/factories";
import type { DeviceRegistry } from "../../typechain-types";

import { coverageRunning } from "../shared/gas";
import { freePort, hardhat, startNodeDeployment } from "../shared/cli";
import type { LocalNode } from "../shared/cli";
import { caughtUp as indexerCaughtUp, startIndexer as runIndexer } from "../shared/indexer";
import type { RunningIndexer } from "../shared/indexer";

const ADMIN = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
/** The demo's manufacturer (account 3) and an owner of two of its devices (account 4). */
const MANUFACTURER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";
const NEW_OWNER = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc";
const STATUS = ["Unknown", "Registered", "Active", "Revoked"] as const;

interface Row {
  id: string;
  manufacturerId: number;
  deviceKey: string;
  deviceType: string;
  status: string;
  owner: string | null;
  score: number | null;
  trend: number | null;
  whitelistRoot: string | null;
}
interface Page {
  items: Row[];
  nextCursor: string | null;
}
interface Detail {
  device: Row;
  statusHistory: { status: string; reason: number | null }[];
  ownerHistory: { from: string | null; to: string }[];
  reputationHistory: { score: number; trend: number; epoch: number }[];
}

const lower = (a: string | null): string | null => (a === null ? null : a.toLowerCase());

/**
 * The indexer end to end: a real `hardhat node`, the system deployed with Ignition, the demo's flows and a
 * few more (batch registration, transfer, revocation), then `npx hardhat indexer` (Ponder on PGlite in a
 * temp dir) until it has caught up; its REST answers are checked against the registry's getters and logs.
 */
describe("indexer against a local hardhat node", function () {
  this.timeout(900_000);

  let node: LocalNode;
  let env: NodeJS.ProcessEnv;
  let deploymentDir: string;
  let scratch: string;
  let provider: JsonRpcProvider;
  let registry: DeviceRegistry;
  let indexer: RunningIndexer | undefined;
  let api: string;
  let port: number;
  let batch: string[];
  let revoked: string;
  let transferred: string;

  const get = async <T>(route: string): Promise<{ status: number; body: T }> => {
    const response = await fetch(`${api}${route}`);
    return { status: response.status, body: (await response.json()) as T };
  };
  const caughtUp = (ms: number) => indexerCaughtUp(api, provider, ms);

  before(async function () {
    // Child processes recompile the contracts, which would overwrite coverage's instrumented build.
    if (coverageRunning()) this.skip();
    ({ node, env, deploymentDir, scratch } = await startNodeDeployment("indexer"));
    provider = new JsonRpcProvider(node.url, undefined, { staticNetwork: true, cacheTimeout: -1 });

    const demo = hardhat(["demo", "--network", "localhost", "--json"], env);
    expect(demo.status, demo.stderr).to.equal(0);
    const { addresses } = JSON.parse(demo.stdout) as { addresses: { DeviceRegistry: string; ThingToken: string } };
    registry = DeviceRegistry__factory.connect(addresses.DeviceRegistry, provider);

    // A batch registered directly (no whitelist): three devices that stay Registered, one then revoked.
    const manufacturer = await provider.getSigner(MANUFACTURER);
    await (await ThingToken__factory.connect(addresses.ThingToken, manufacturer).approve(registry, MaxUint256)).wait();
    batch = [1, 2, 3].map((n) => `0x00000001${keccak256(toUtf8Bytes(`indexer-test-${n}`)).slice(10)}`);
    const keys = batch.map(() => Wallet.createRandom().address);
    await (await registry.connect(manufacturer).registerDevices(MaxUint256, batch, keys, [7, 7, 8])).wait();
    revoked = batch[2];
    await (await registry.connect(await provider.getSigner(ADMIN)).revokeDevice(revoked, 2)).wait();

    // One of the demo's activated devices held by an account (not a wallet) changes hands.
    const activated = await registry.queryFilter(registry.filters.DeviceActivated());
    const held = activated.find((e) => e.args.owner === "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65");
    if (held === undefined) throw new Error("the demo activated no device for account 4");
    transferred = held.args.deviceId;
    const owner = await provider.getSigner(held.args.owner);
    await (await registry.connect(owner).transferDevice(transferred, NEW_OWNER)).wait();

    port = await freePort();
    api = `http://127.0.0.1:${port}`;
    await startIndexer();
    await caughtUp(300_000);
  });

  after(async function () {
    await indexer?.stop();
    provider?.destroy();
    await node?.stop();
    if (deploymentDir !== undefined) fs.rmSync(deploymentDir, { recursive: true, force: true });
    if (scratch !== undefined) fs.rmSync(scratch, { recursive: true, force: true });
  });

  /** `npx hardhat indexer` as a user runs it, on PGlite in the scratch folder, until it says it caught up;
   * returns what it printed. */
  async function startIndexer(): Promise<string> {
    indexer = await runIndexer({ env, dir: path.join(scratch, "db"), provider, port });
    return indexer.output();
  }

  /** Ponder's GraphQL. */
  async function graphql<T>(query: string): Promise<T> {
    const response = await fetch(`${api}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query }),
    });
    const body = (await response.json()) as { data?: T; errors?: unknown[] };
    if (body.data === undefined) throw new Error(JSON.stringify(body.errors));
    return body.data;
  }

  /**
   * Every device row equals the registry's getters, and every history table holds exactly one row per event the
   * chain's logs hold (so none survives from blocks no longer in the chain): status changes (a registration,
   * activation or revocation each), owner changes (an activation or transfer each), and activations per day.
   */
  async function expectTablesMatchChain(): Promise<void> {
    const rows = await allIndexed();
    const ids = await chainDeviceIds();
    expect(rows.map((r) => r.id)).to.deep.equal(ids);
    for (const row of rows) {
      const onChain = await registry.getDevice(row.id);
      expect(row.status, row.id).to.equal(STATUS[Number(onChain.status)]);
      expect(row.deviceKey, row.id).to.equal(onChain.deviceKey.toLowerCase());
      expect(row.deviceType, row.id).to.equal(onChain.deviceType.toString());
      const owner = onChain.owner === "0x0000000000000000000000000000000000000000" ? null : onChain.owner;
      expect(row.owner, row.id).to.equal(lower(owner));
    }
    const activations = (await registry.queryFilter(registry.filters.DeviceActivated())).length;
    const transfers = (await registry.queryFilter(registry.filters.DeviceTransferred())).length;
    const revocations = (await registry.queryFilter(registry.filters.DeviceRevoked())).length;
    const counts = await graphql<{
      deviceStatusChanges: { totalCount: number };
      deviceOwnerChanges: { totalCount: number };
      activationDays: { items: { activations: number }[] };
    }>(
      "{ deviceStatusChanges { totalCount } deviceOwnerChanges { totalCount } activationDays(limit: 1000) { items { activations } } }",
    );
    expect(counts.deviceStatusChanges.totalCount, "status changes").to.equal(ids.length + activations + revocations);
    expect(counts.deviceOwnerChanges.totalCount, "owner changes").to.equal(activations + transfers);
    const perDay = counts.activationDays.items.reduce((sum, d) => sum + d.activations, 0);
    expect(perDay, "activations per day").to.equal(activations);
  }

  /** Every device the registry's logs name: registered one by one, in batches, or claimed at activation. */
  async function chainDeviceIds(): Promise<string[]> {
    const ids = new Set<string>();
    for (const e of await registry.queryFilter(registry.filters.DeviceRegistered())) ids.add(e.args.deviceId);
    for (const e of await registry.queryFilter(registry.filters.DevicesRegistered()))
      for (const id of e.args.deviceIds) ids.add(id);
    for (const e of await registry.queryFilter(registry.filters.DeviceActivated())) ids.add(e.args.deviceId);
    return [...ids].map((id) => id.toLowerCase()).sort();
  }

  /** Every indexed device, page by page (a small page, so that the cursor is followed). */
  async function allIndexed(query = ""): Promise<Row[]> {
    const rows: Row[] = [];
    let cursor: string | null = null;
    do {
      const page: { status: number; body: Page } = await get<Page>(
        `/devices?limit=2${query}${cursor === null ? "" : `&cursor=${cursor}`}`,
      );
      expect(page.status).to.equal(200);
      expect(page.body.items.length).to.be.at.most(2);
      rows.push(...page.body.items);
      cursor = page.body.nextCursor;
    } while (cursor !== null);
    return rows;
  }

  it("indexes every device the chain has, each as the registry's getters describe it", async function () {
    const rows = await allIndexed();
    const ids = rows.map((r) => r.id);
    expect(ids).to.deep.equal([...ids].sort());
    expect(ids).to.deep.equal(await chainDeviceIds());
    expect(ids.length).to.equal(batch.length + 4);
    for (const row of rows) {
      const onChain = await registry.getDevice(row.id);
      expect(row.status, row.id).to.equal(STATUS[Number(onChain.status)]);
      expect(row.manufacturerId).to.equal(Number(onChain.manufacturerId));
      expect(row.deviceKey).to.equal(onChain.deviceKey.toLowerCase());
      expect(row.deviceType).to.equal(onChain.deviceType.toString());
      const owner = onChain.owner === "0x0000000000000000000000000000000000000000" ? null : onChain.owner;
      expect(row.owner, row.id).to.equal(lower(owner));
      const rep = await registry.reputationOf(row.id);
      expect(row.score, row.id).to.equal(rep.audited ? Number(rep.score) : null);
      if (rep.audited) expect(row.trend).to.equal(Number(rep.trend));
      // The demo's devices came from its whitelist; the batch did not.
      expect(row.whitelistRoot === null, row.id).to.equal(batch.includes(row.id));
    }
  });

  it("answers a device with its status, owner and reputation histories", async function () {
    const gone = await get<Detail>(`/devices/${revoked}`);
    expect(gone.status).to.equal(200);
    expect(gone.body.statusHistory.map((s) => s.status)).to.deep.equal(["Registered", "Revoked"]);
    expect(gone.body.statusHistory[1].reason).to.equal(2);

    const moved = await get<Detail>(`/devices/${transferred}`);
    expect(moved.body.statusHistory.map((s) => s.status)).to.deep.equal(["Registered", "Active"]);
    const owners = moved.body.ownerHistory.map((o) => [o.from, o.to]);
    const first = owners[0][1];
    expect(owners).to.deep.equal([
      [null, first],
      [first, NEW_OWNER.toLowerCase()],
    ]);
    expect(moved.body.device.owner).to.equal(lower((await registry.getDevice(transferred)).owner));

    // The demo's auditor scored two devices: each history ends with the score the registry holds.
    const scored = (await allIndexed()).filter((r) => r.score !== null);
    expect(scored).to.have.length(2);
    for (const row of scored) {
      const { body } = await get<Detail>(`/devices/${row.id}`);
      const rep = await registry.reputationOf(row.id);
      expect(body.reputationHistory).to.have.length(1);
      expect(body.reputationHistory[0]).to.include({
        score: Number(rep.score),
        trend: Number(rep.trend),
        epoch: Number(rep.epoch),
      });
    }
  });

  it("filters devices by manufacturer, owner and status, and counts the fleet by status", async function () {
    const registered = await allIndexed("&status=registered&manufacturer=1");
    expect(registered.map((r) => r.id)).to.deep.equal(batch.slice(0, 2).sort());
    expect((await allIndexed("&manufacturer=2")).length).to.equal(0);
    const owned = await allIndexed(`&owner=${NEW_OWNER}`);
    expect(owned.map((r) => r.id)).to.deep.equal([transferred.toLowerCase()]);

    const { body } = await get<{ total: number; byStatus: Record<string, number> }>("/stats/fleet");
    const counts: Record<string, number> = { Registered: 0, Active: 0, Revoked: 0 };
    const ids = await chainDeviceIds();
    const statuses = await registry.getStatuses(ids);
    for (const s of statuses) counts[STATUS[Number(s)]] += 1;
    expect(body).to.deep.equal({ total: ids.length, byStatus: counts });
  });

  it("filters devices by type and whitelist, as the registry's getters and whitelist logs say", async function () {
    const ids = await chainDeviceIds();
    const types = new Map<string, string>();
    for (const id of ids) types.set(id, (await registry.getDevice(id)).deviceType.toString());
    for (const type of new Set(types.values())) {
      const listed = await allIndexed(`&type=${type}`);
      expect(
        listed.map((r) => r.id),
        `type ${type}`,
      ).to.deep.equal(ids.filter((id) => types.get(id) === type));
    }
    expect(await allIndexed("&type=4294967295")).to.deep.equal([]);
    expect((await allIndexed("&type=8")).map((r) => r.id)).to.deep.equal([revoked]);

    const [committed] = await registry.queryFilter(registry.filters.WhitelistCommitted());
    const root = committed.args.root.toLowerCase();
    const claimed = ids.filter((id) => !batch.includes(id));
    expect(claimed).to.have.length(4);
    expect((await allIndexed(`&whitelist=${root}`)).map((r) => r.id)).to.deep.equal(claimed);
    expect((await allIndexed(`&whitelist=${root.toUpperCase().replace("0X", "0x")}&status=active`)).length).to.equal(
      (await registry.getStatuses(claimed)).filter((s) => Number(s) === 2).length,
    );
    expect(await allIndexed(`&whitelist=0x${"00".repeat(32)}`)).to.deep.equal([]);
  });

  it("counts activations per UTC day from the activating blocks' timestamps", async function () {
    const perDay = new Map<string, number>();
    for (const e of await registry.queryFilter(registry.filters.DeviceActivated())) {
      const block = await provider.getBlock(e.blockNumber);
      const day = new Date(block!.timestamp * 1000).toISOString().slice(0, 10);
      perDay.set(day, (perDay.get(day) ?? 0) + 1);
    }
    const days = [...perDay.keys()].sort();
    expect(days.length).to.be.greaterThan(0);
    const { status, body } = await get<{ day: string; activations: number }[]>(
      `/stats/activations?from=${days[0]}&to=${days[days.length - 1]}`,
    );
    expect(status).to.equal(200);
    expect(body[0].day).to.equal(days[0]);
    expect(body.filter((d) => d.activations > 0)).to.deep.equal(
      days.map((day) => ({ day, activations: perDay.get(day) })),
    );
    // days=N: the N days ending today (UTC), oldest first, each listed.
    const recent = await get<{ day: string; activations: number }[]>("/stats/activations?days=3");
    expect(recent.body.map((d) => d.day)).to.have.length(3);
    expect(recent.body[2].day).to.equal(new Date().toISOString().slice(0, 10));
  });

  it("refuses bad input with a 400 and one line, and an unknown device with a 404", async function () {
    for (const query of [
      "limit=0",
      "limit=101",
      "limit=1e3",
      "status=lost",
      "owner=0x12",
      "manufacturer=-1",
      "x=1",
      "type=x",
      "whitelist=0x1",
      "status=active&status=active",
    ]) {
      const { status, body } = await get<{ error: string }>(`/devices?${query}`);
      expect(status, query).to.equal(400);
      expect(body.error, query).to.be.a("string").and.not.contain("\n");
    }
    const injected = await get<{ error: string }>(`/devices?cursor=${encodeURIComponent("0x1' OR 1=1 --")}`);
    expect(injected.status).to.equal(400);
    expect((await get<{ error: string }>("/devices/0x1234")).status).to.equal(400);
    expect((await get<{ error: string }>(`/devices/0x${"ab".repeat(32)}`)).status).to.equal(404);
  });

  it("serves Ponder's GraphQL over the same tables", async function () {
    const response = await fetch(`${api}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ manufacturers { items { id account active } } }" }),
    });
    expect(response.status).to.equal(200);
    const { data } = (await response.json()) as { data: { manufacturers: { items: unknown[] } } };
    expect(data.manufacturers.items).to.deep.equal([{ id: 1, account: MANUFACTURER.toLowerCase(), active: true }]);
  });

  it("follows the chain live: a transfer after catch-up shows up", async function () {
    const signer = await provider.getSigner(NEW_OWNER);
    await (await registry.connect(signer).transferDevice(transferred, ADMIN)).wait();
    await caughtUp(120_000);
    const { body } = await get<Detail>(`/devices/${transferred}`);
    expect(body.device.owner).to.equal(ADMIN.toLowerCase());
    expect(body.ownerHistory.at(-1)).to.include({ from: NEW_OWNER.toLowerCase(), to: ADMIN.toLowerCase() });
  });

  // A batch's keys and types come from its registerDevices calldata: indexing it reads nothing from the chain
  // (it read each device with getDevice before, one RPC per device).
  it("indexes a batch registration from its calldata, without a contract read per device", async function () {
    const reads = async (): Promise<number> => {
      const metrics = await (await fetch(`${api}/metrics`)).text();
      const line = metrics
        .split("\n")
        .find((l) => l.startsWith('ponder_indexing_rpc_action_duration_count{action="readContract"}'));
      return line === undefined ? 0 : Number(line.split(" ").at(-1));
    };
    const before = await reads();
    const manufacturer = await provider.getSigner(MANUFACTURER);
    const ids = [1, 2, 3, 4].map((n) => `0x00000001${keccak256(toUtf8Bytes(`indexer-calldata-${n}`)).slice(10)}`);
    const keys = ids.map(() => Wallet.createRandom().address);
    await (await registry.connect(manufacturer).registerDevices(MaxUint256, ids, keys, [11, 11, 12, 11])).wait();
    await caughtUp(120_000);
    const rows = await allIndexed("&type=11");
    expect(rows.map((r) => r.id)).to.deep.equal(ids.filter((_, i) => i !== 2).sort());
    for (const row of rows) expect(row.deviceKey).to.equal(keys[ids.indexOf(row.id)].toLowerCase());
    expect(await reads(), "contract reads by the handlers").to.equal(before);
  });

  // Ponder treats blocks deeper than its finality count (30 on chain 31337) as final, and follows a reorg of
  // the blocks above them: it reverts their rows and indexes the new chain.
  it("follows a reorg (evm_snapshot, changes, evm_revert, other blocks): no orphaned rows", async function () {
    const manufacturer = await provider.getSigner(MANUFACTURER);
    const admin = await provider.getSigner(ADMIN);
    const ownerBefore = (await registry.getDevice(transferred)).owner;
    const snapshot = (await provider.send("evm_snapshot", [])) as string;
    // The abandoned branch: a batch registered, a device registered and activated, a transfer, a revocation.
    const orphans = [1, 2].map((n) => `0x00000001${keccak256(toUtf8Bytes(`indexer-reorg-${n}`)).slice(10)}`);
    const keys = orphans.map(() => Wallet.createRandom().address);
    await (await registry.connect(manufacturer).registerDevices(MaxUint256, orphans, keys, [9, 9])).wait();
    const activatedOrphan = `0x00000001${keccak256(toUtf8Bytes("indexer-reorg-3")).slice(10)}`;
    const key = Wallet.createRandom().address;
    await (
      await registry
        .connect(manufacturer)
        .registerAndActivate(MaxUint256, activatedOrphan, key, 9, keccak256("0x"), NEW_OWNER)
    ).wait();
    const signer = await provider.getSigner(ownerBefore);
    await (await registry.connect(signer).transferDevice(transferred, NEW_OWNER)).wait();
    await (await registry.connect(admin).revokeDevice(batch[1], 2)).wait();
    const abandonedHead = await provider.getBlockNumber();
    await caughtUp(120_000);
    // Indexed, so there is something to revert.
    expect((await allIndexed("&type=9")).length).to.equal(3);
    expect((await get<Detail>(`/devices/${transferred}`)).body.device.owner).to.equal(NEW_OWNER.toLowerCase());

    expect(await provider.send("evm_revert", [snapshot])).to.equal(true);
    // The new branch: another device, then empty blocks until it is longer than the abandoned one.
    const survivor = `0x00000001${keccak256(toUtf8Bytes("indexer-reorg-kept")).slice(10)}`;
    await (
      await registry
        .connect(manufacturer)
        .registerDevices(MaxUint256, [survivor], [Wallet.createRandom().address], [10])
    ).wait();
    const head = await provider.getBlockNumber();
    await provider.send("hardhat_mine", [`0x${(abandonedHead - head + 3).toString(16)}`]);
    expect(await provider.getBlockNumber()).to.be.greaterThan(abandonedHead);
    await caughtUp(120_000);

    for (const id of [...orphans, activatedOrphan]) expect((await get(`/devices/${id}`)).status, id).to.equal(404);
    expect(await allIndexed("&type=9")).to.deep.equal([]);
    expect((await allIndexed("&type=10")).map((r) => r.id)).to.deep.equal([survivor]);
    const moved = await get<Detail>(`/devices/${transferred}`);
    expect(moved.body.device.owner).to.equal(ownerBefore.toLowerCase());
    expect((await get<Detail>(`/devices/${batch[1]}`)).body.device.status).to.equal("Registered");
    await expectTablesMatchChain();
  });

  it("restarts on the same database and picks up what happened while it was down", async function () {
    const before = (await allIndexed()).length;
    await indexer?.stop();
    await (await registry.connect(await provider.getSigner(ADMIN)).revokeDevice(batch[0], 1)).wait();
    const output = await startIndexer();
    // Ponder's crash recovery: it resumed from its checkpoint (the task says so) instead of starting over.
    expect(output).to.contain("(resumed from its data)");
    const rows = await allIndexed();
    expect(rows.length).to.equal(before);
    expect(rows.find((r) => r.id === batch[0])?.status).to.equal("Revoked");
    const { body } = await get<Detail>(`/devices/${batch[0]}`);
    // Each event once: nothing indexed before the stop was indexed again.
    expect(body.statusHistory.map((s) => s.status)).to.deep.equal(["Registered", "Revoked"]);
    const moved = await get<Detail>(`/devices/${transferred}`);
    expect(moved.body.ownerHistory).to.have.length(3);
    await expectTablesMatchChain();
  });
});
