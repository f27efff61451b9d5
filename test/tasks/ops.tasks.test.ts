import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

import { takeSnapshot } from "@nomicfoundation/hardhat-network-helpers";
import type { SnapshotRestorer } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { MaxUint256, ZeroAddress, hexlify, parseUnits, randomBytes } from "ethers";
import type { TransactionReceipt } from "ethers";
import hre from "hardhat";

import { registryAt, tokenAt } from "../../src/chain/context";
import type { SystemContext } from "../../src/chain/context";
import type { CostPreview } from "../../src/cli/preview";
import { PASSWORD_ENV, saveDeviceKey } from "../../src/devices/keystore";
import { loadSystem } from "../../tasks/support/deployments";
import { hardhat, printedBy, runInProcess as run } from "../shared/cli";
import { coverageRunning } from "../shared/gas";
import { testDevice } from "../shared/fixtures";

/** What later test files on the shared in-process chain see of it: the head, and the registry's settings. */
async function chainState(system: SystemContext): Promise<Record<string, string>> {
  const registry = registryAt(system);
  const head = await hre.ethers.provider.getBlock("latest");
  return {
    head: `${head?.number} ${head?.hash}`,
    manufacturers: String(await registry.manufacturerCount()),
    fees: `${await registry.registrationFee()} ${await registry.activationFee()}`,
    admin: `${await registry.owner()} ${await registry.pendingOwner()}`,
  };
}

/** The chain as these tests found it, and the snapshot their `after` restores (they admit manufacturers, set
 * fees, close whitelists, hand the admin role over: later test files on the same chain must not see that). */
const shared: { found?: Record<string, string>; snapshot?: SnapshotRestorer; system?: SystemContext } = {};

/** The operations tasks (credit withdrawal, whitelist closing, fees, admin handover, dry runs), in process. */
describe("operations tasks (in-process network)", function () {
  this.timeout(300_000);
  let system: SystemContext;
  let scratch: string;
  const savedEnv = { password: process.env[PASSWORD_ENV], n: process.env.THINGLEDGER_KEYSTORE_SCRYPT_N };

  before(async function () {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-ops-"));
    process.env[PASSWORD_ENV] = "test-password";
    process.env.THINGLEDGER_KEYSTORE_SCRYPT_N = "1024";
    system = await loadSystem(hre, ["ThingToken", "DeviceRegistry"]);
    shared.system = system;
    shared.found = await chainState(system);
    shared.snapshot = await takeSnapshot();
  });
  after(async function () {
    await shared.snapshot?.restore();
    if (savedEnv.password === undefined) delete process.env[PASSWORD_ENV];
    else process.env[PASSWORD_ENV] = savedEnv.password;
    if (savedEnv.n === undefined) delete process.env.THINGLEDGER_KEYSTORE_SCRYPT_N;
    else process.env.THINGLEDGER_KEYSTORE_SCRYPT_N = savedEnv.n;
    if (scratch !== undefined) fs.rmSync(scratch, { recursive: true, force: true });
  });

  /** The registry's events in a task's transaction, by name. */
  async function eventsOf(txHash: string): Promise<{ name: string; args: unknown[] }[]> {
    const receipt = (await hre.ethers.provider.getTransactionReceipt(txHash)) as TransactionReceipt;
    const registry = registryAt(system);
    return receipt.logs
      .filter((l) => l.address === system.addresses.DeviceRegistry)
      .map((l) => registry.interface.parseLog(l))
      .filter((e) => e !== null)
      .map((e) => ({ name: e.name, args: [...e.args] }));
  }

  it("the new tasks have --help with examples and --json, and fail in one line (as a user runs them)", function () {
    if (coverageRunning()) this.skip();
    for (const name of [
      "manufacturer:withdraw",
      "registry:collect-fees",
      "whitelist:close",
      "fees:set",
      "admin:transfer",
      "admin:accept",
    ]) {
      expect(hre.tasks[name].paramDefinitions.json?.isFlag, name).to.equal(true);
    }
    const help = hardhat(["whitelist:close", "--help"]);
    expect(help.status, help.stderr).to.equal(0);
    expect(help.stdout).to.match(/--root\s+The whitelist root .* \(e\.g\. 0x8f4c/);
    const refused = hardhat(["fees:set", "--json"]);
    expect(refused.status).to.equal(1);
    expect(JSON.parse(refused.stdout)).to.deep.equal({
      error: "pass --registration and/or --activation (the new fee in THING)",
    });
  });

  it("manufacturer:withdraw pays the whole fee credit to the payout address, once", async function () {
    const [admin, maker, payout] = await hre.ethers.getSigners();
    const registry = registryAt(system, admin);
    const token = tokenAt(system, admin);
    await run("manufacturer:add", { account: maker.address, payout: payout.address });
    const credit = parseUnits("7.5", 18);
    await (await token.approve(system.addresses.DeviceRegistry, credit)).wait();
    await (await registry.depositFeeCredit(maker.address, credit)).wait();
    // A removed manufacturer keeps its credit, shown in THING (not base units), and can still withdraw it.
    const said = await printedBy(() => hre.run("manufacturer:remove", { account: maker.address }));
    expect(said).to.contain("its credit (7.5 THING) stays withdrawable with manufacturer:withdraw");
    const before = await token.balanceOf(payout.address);
    const r = await run<{ id: number; amount: bigint; payout: string; txHash: string }>("manufacturer:withdraw", {
      signer: "1",
    });
    expect(r).to.include({ amount: credit, payout: payout.address });
    expect(await token.balanceOf(payout.address)).to.equal(before + credit);
    expect((await registry.getManufacturer(maker.address)).credit).to.equal(0n);
    expect(await eventsOf(r.txHash)).to.deep.include({
      name: "FeeCreditWithdrawn",
      args: [BigInt(r.id), payout.address, credit],
    });
    await expect(run("manufacturer:withdraw", { signer: "1" })).to.be.rejectedWith(/has no fee credit to withdraw/);
    await expect(run("manufacturer:withdraw", { signer: "4" })).to.be.rejectedWith(
      /is not a manufacturer; nothing was sent/,
    );
  });

  it("registry:collect-fees moves fees paid from credit into the reward pool (JSON), once; bad input changes nothing", async function () {
    const signers = await hre.ethers.getSigners();
    const [admin, maker, stranger] = [signers[0], signers[6], signers[7]];
    const registry = registryAt(system, admin);
    const token = tokenAt(system, admin);
    await run("manufacturer:add", { account: maker.address });
    const { id } = await registry.getManufacturer(maker.address);
    await (await token.transfer(maker.address, parseUnits("50", 18))).wait();
    await (await token.connect(maker).approve(system.addresses.DeviceRegistry, MaxUint256)).wait();
    await (await registry.connect(maker).depositFeeCredit(maker.address, parseUnits("50", 18))).wait();
    const fee = await registry.registrationFee();
    const d = testDevice(9100, 1, Number(id));
    await (
      await registry.connect(maker).registerDevice(fee, d.deviceId, d.wallet.address, 1, hexlify(randomBytes(32)))
    ).wait();
    expect(await registry.uncollectedPaidFees(maker.address)).to.equal(fee);
    const pool = await registry.rewardPool();
    // Refused before anything is sent: a malformed address, an account that is no manufacturer.
    await expect(run("registry:collect-fees", { manufacturers: "0x1234" })).to.be.rejectedWith(
      '--manufacturers: "0x1234" is not an Ethereum address (0x followed by 40 hex digits)',
    );
    await expect(
      run("registry:collect-fees", { manufacturers: `${maker.address},${stranger.address}` }),
    ).to.be.rejectedWith(
      `${stranger.address} is not a manufacturer account of this registry (manufacturer:list shows them); nothing was sent`,
    );
    expect(await registry.uncollectedPaidFees(maker.address)).to.equal(fee);
    expect(await registry.rewardPool()).to.equal(pool);
    // Named (twice: counted once), by a sender that is not the manufacturer.
    const printed = await printedBy(() =>
      hre.run("registry:collect-fees", { json: true, manufacturers: `${maker.address},${maker.address}`, signer: "7" }),
    );
    const r = JSON.parse(printed) as {
      accounts: string[];
      collected: string;
      poolBefore: string;
      poolAfter: string;
      txHash: string;
    };
    expect(r).to.include({
      collected: fee.toString(),
      poolBefore: pool.toString(),
      poolAfter: (pool + fee).toString(),
    });
    expect(r.accounts).to.deep.equal([maker.address]);
    expect(await eventsOf(r.txHash)).to.deep.equal([{ name: "PaidFeesCollected", args: [id, fee] }]);
    expect(await registry.uncollectedPaidFees(maker.address)).to.equal(0n);
    expect(await registry.rewardPool()).to.equal(pool + fee);
    expect((await registry.getManufacturer(maker.address)).credit).to.equal(parseUnits("50", 18) - fee);
    // Without --manufacturers: every manufacturer with fees to collect; then nothing is left and nothing is sent.
    await run("registry:collect-fees", {});
    const again = await printedBy(() => hre.run("registry:collect-fees", {}));
    expect(again).to.match(
      /^No fees paid from credit await collection; nothing was sent \(reward pool [0-9.]+ THING\)$/,
    );
  });

  it("amounts in messages are in ETH or THING, not wei: an ETH deposit above the balance", async function () {
    const [, client] = await hre.ethers.getSigners();
    await expect(
      run("channel:open", {
        as: client.address,
        clients: client.address,
        deposit: "1000000",
        expiry: "1d",
        out: path.join(scratch, "channel.json"),
        signer: "6",
      }),
    ).to.be.rejectedWith(/ holds \d+\.\d+ ETH, not enough for the deposit of 1000000\.0 ETH and gas$/);
  });

  it("as:serve and auditor:serve on an occupied port leave no database (nor its folder) behind", async function () {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = String((blocker.address() as net.AddressInfo).port);
    try {
      const asDir = path.join(scratch, "as-new");
      await expect(
        run("as:serve", { db: path.join(asDir, "as.sqlite"), init: true, port, rateLimit: "0", logLevel: "silent" }),
      ).to.be.rejectedWith(new RegExp(`cannot listen on 127.0.0.1:${port}`));
      expect(fs.existsSync(asDir), "the AS's new folder is removed").to.equal(false);
      const kept = path.join(scratch, "kept");
      fs.mkdirSync(kept);
      const auditorDb = path.join(kept, "auditor.sqlite");
      await expect(run("auditor:serve", { db: auditorDb, port, logLevel: "silent" })).to.be.rejectedWith(
        /cannot listen on/,
      );
      expect(fs.readdirSync(kept), "no empty database, WAL or shm file").to.deep.equal([]);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it("whitelist:close releases a root's unused places; a stranger and a second close are refused", async function () {
    const [admin] = await hre.ethers.getSigners();
    const registry = registryAt(system, admin);
    await (await tokenAt(system, admin).approve(system.addresses.DeviceRegistry, MaxUint256)).wait();
    const root = hexlify(randomBytes(32));
    await (await registry.commitWhitelist(MaxUint256, MaxUint256, root, 3)).wait();
    await expect(run("whitelist:close", { root, manufacturer: "1", signer: "5" })).to.be.rejectedWith(
      /NotWhitelistManufacturerOrAdmin/,
    );
    expect((await registry.getWhitelist(1, root)).capacity).to.equal(3n);
    await expect(run("whitelist:close", { root: "0x1234" })).to.be.rejectedWith(
      /--root: "0x1234" is not 32 bytes of hex/,
    );
    const r = await run<{ unused: number; txHash: string }>("whitelist:close", { root });
    expect(r.unused).to.equal(3);
    expect((await registry.getWhitelist(1, root)).capacity).to.equal(0n);
    expect(await eventsOf(r.txHash)).to.deep.include({ name: "WhitelistClosed", args: [root, 1n, 3n] });
    await expect(run("whitelist:close", { root })).to.be.rejectedWith(
      /is not open on "hardhat" \(never committed, or closed before any device used it\)/,
    );
  });

  it("fees:set changes one or both fees within the caps; others are refused and change nothing", async function () {
    const registry = registryAt(system);
    const activation = await registry.activationFee();
    const r = await run<{ txHash: string }>("fees:set", { registration: "2.5" });
    expect(await registry.registrationFee()).to.equal(parseUnits("2.5", 18));
    expect(await registry.activationFee()).to.equal(activation);
    expect(await eventsOf(r.txHash)).to.deep.include({
      name: "FeesChanged",
      args: [parseUnits("2.5", 18), activation],
    });
    await run("fees:set", { registration: "1", activation: "0" });
    expect(await registry.activationFee()).to.equal(0n);
    await expect(run("fees:set", { registration: "101" })).to.be.rejectedWith(
      /a registration fee of 101.0 THING is above the cap of 100.0 THING; nothing was sent/,
    );
    await expect(run("fees:set", { activation: "3", signer: "1" })).to.be.rejectedWith(/is not the network admin/);
    await expect(run("fees:set", {})).to.be.rejectedWith(/pass --registration and\/or --activation/);
    expect(await registry.registrationFee()).to.equal(parseUnits("1", 18));
    expect(await registry.activationFee()).to.equal(0n);
    // The fees already in force: said so, and nothing is sent (the admin's nonce stays).
    const [admin] = await hre.ethers.getSigners();
    const nonce = await hre.ethers.provider.getTransactionCount(admin.address);
    for (const same of [{ registration: "1", activation: "0" }, { registration: "1.0" }, { activation: "0" }]) {
      await expect(run("fees:set", same)).to.be.rejectedWith(
        /^the fees are already in force \(registration 1\.0 THING, activation 0\.0 THING\): nothing sent$/,
      );
    }
    expect(await hre.ethers.provider.getTransactionCount(admin.address)).to.equal(nonce);
    expect(await registry.registrationFee()).to.equal(parseUnits("1", 18));
    expect(await registry.activationFee()).to.equal(0n);
    await run("fees:set", { activation: "2" });
  });

  it("--dry-run prints fees and estimated gas for device:register and device:activate, and sends nothing", async function () {
    const [admin] = await hre.ethers.getSigners();
    const registry = registryAt(system);
    const devices = [0, 1, 2].map((i) => testDevice(9100 + i));
    const fleet = path.join(scratch, "fleet.json");
    fs.writeFileSync(
      fleet,
      JSON.stringify(devices.map((d) => ({ uid: d.uid, publicKey: d.wallet.signingKey.publicKey, type: 1 }))),
    );
    const keystore = path.join(scratch, "keys");
    for (const d of devices) saveDeviceKey(keystore, { uid: d.uid, deviceId: d.deviceId }, d.wallet, "test-password");
    const fee = await registry.registrationFee();
    const block = await hre.ethers.provider.getBlockNumber();
    const credit = (await registry.getManufacturer(admin.address)).credit;
    const balance = await tokenAt(system).balanceOf(admin.address);
    const batch = await run<CostPreview & { registering: number }>("device:register", {
      file: fleet,
      batchSize: "2",
      dryRun: true,
    });
    expect(batch).to.include({ dryRun: true, fees: 3n * fee, registering: 3 });
    expect(batch.transactions.map((t) => t.action)).to.deep.equal(
      credit >= 3n * fee
        ? ["register 2 device(s)", "register 1 device(s)"]
        : ["fee credit top-up", "register 2 device(s)", "register 1 device(s)"],
    );
    for (const t of batch.transactions) expect(t.gas > 21_000n, t.action).to.equal(true);
    expect(batch.gasCost).to.equal(batch.gas * batch.gasPrice);
    const human = await printedBy(() => hre.run("device:register", { file: fleet, batchSize: "2", dryRun: true }));
    expect(human).to.match(
      /^3 of 3 device\(s\) to register \(batch\)\. Dry run: nothing was sent\. Fees 3\.0 THING; \d transaction\(s\), estimated gas [\d,]+\n/,
    );
    expect(human).to.match(/\n {2}at [\d.]+ ETH per gas: up to [\d.]+ ETH$/);
    const whitelistOut = path.join(scratch, "wl.json");
    const merkle = await run<CostPreview>("device:register", { file: fleet, merkle: true, whitelistOut, dryRun: true });
    expect(merkle.fees).to.equal(3n * fee);
    expect(merkle.transactions.at(-1)?.action).to.match(/^commit whitelist root 0x[0-9a-f]{64}$/);
    expect(fs.existsSync(whitelistOut), "a dry run writes no whitelist").to.equal(false);
    expect(await hre.ethers.provider.getBlockNumber()).to.equal(block);
    expect((await registry.getStatuses(devices.map((d) => d.deviceId))).map(Number)).to.deep.equal([0, 0, 0]);
    expect((await registry.getManufacturer(admin.address)).credit).to.equal(credit);
    expect(await tokenAt(system).balanceOf(admin.address)).to.equal(balance);

    await run("device:register", { file: fleet });
    const [, , owner] = await hre.ethers.getSigners();
    await (await tokenAt(system, admin).transfer(owner.address, parseUnits("10", 18))).wait();
    const activationFee = await registry.activationFeeOf(devices[0].deviceId);
    const before = await hre.ethers.provider.getBlockNumber();
    const preview = await run<CostPreview & { deviceId: string }>("device:activate", {
      device: devices[0].deviceId,
      keystore,
      signer: "2",
      dryRun: true,
    });
    expect(preview).to.include({ dryRun: true, fees: activationFee, deviceId: devices[0].deviceId });
    expect(preview.transactions).to.have.length(1);
    expect(preview.gas > 21_000n).to.equal(true);
    expect(await hre.ethers.provider.getBlockNumber()).to.equal(before);
    expect((await registry.getDevice(devices[0].deviceId)).owner).to.equal(ZeroAddress);
    const activated = await run<{ feePaid: bigint; gasUsed: bigint }>("device:activate", {
      device: devices[0].deviceId,
      keystore,
      signer: "2",
    });
    expect(activated.feePaid).to.equal(preview.fees);
    expect((await registry.getDevice(devices[0].deviceId)).owner).to.equal(owner.address);
  });

  it("admin:transfer then admin:accept hands the admin role over in two steps; --cancel withdraws a proposal", async function () {
    const [admin, , , successor] = await hre.ethers.getSigners();
    const registry = registryAt(system);
    await expect(run("admin:transfer", { signer: "1", to: successor.address })).to.be.rejectedWith(
      /is not the network admin/,
    );
    await expect(run("admin:transfer", {})).to.be.rejectedWith(/pass either --to ADDR \(the new admin\) or --cancel/);
    await expect(run("admin:accept", { signer: "3" })).to.be.rejectedWith(/no admin handover is pending/);
    const proposed = await run<{ pendingAdmin: string; txHash: string }>("admin:transfer", { to: successor.address });
    expect(proposed.pendingAdmin).to.equal(successor.address);
    expect(await registry.pendingOwner()).to.equal(successor.address);
    expect(await registry.owner(), "the old admin keeps its powers until acceptance").to.equal(admin.address);
    expect(await eventsOf(proposed.txHash)).to.deep.include({
      name: "OwnershipTransferStarted",
      args: [admin.address, successor.address],
    });
    await run("admin:transfer", { cancel: true });
    expect(await registry.pendingOwner()).to.equal(ZeroAddress);
    await expect(run("admin:accept", { signer: "3" })).to.be.rejectedWith(/no admin handover is pending/);
    await run("admin:transfer", { to: successor.address });
    await expect(run("admin:accept", { signer: "4" })).to.be.rejectedWith(/is not the proposed admin/);
    const accepted = await run<{ admin: string; txHash: string }>("admin:accept", { signer: "3" });
    expect(accepted.admin).to.equal(successor.address);
    expect(await registry.owner()).to.equal(successor.address);
    expect(await eventsOf(accepted.txHash)).to.deep.include({
      name: "OwnershipTransferred",
      args: [admin.address, successor.address],
    });
    await expect(run("fees:set", { registration: "1" })).to.be.rejectedWith(/is not the network admin/);
    // Hand it back, so the chain is as the other tests of this process expect.
    await run("admin:transfer", { to: admin.address, signer: "3" });
    await run("admin:accept", { signer: "0" });
    expect(await registry.owner()).to.equal(admin.address);
  });

  it("admin:transfer refuses --to the zero address (cancelling takes --cancel), sending nothing", async function () {
    const [admin, , , successor] = await hre.ethers.getSigners();
    const registry = registryAt(system);
    await run("admin:transfer", { to: successor.address });
    const nonce = await hre.ethers.provider.getTransactionCount(admin.address);
    await expect(run("admin:transfer", { to: ZeroAddress })).to.be.rejectedWith(
      /^--to: the zero address cannot be the admin; to cancel a pending handover, pass --cancel instead; nothing was sent$/,
    );
    expect(await registry.pendingOwner(), "the proposal stands").to.equal(successor.address);
    expect(await hre.ethers.provider.getTransactionCount(admin.address)).to.equal(nonce);
    await run("admin:transfer", { cancel: true });
    expect(await registry.pendingOwner()).to.equal(ZeroAddress);
  });

  it("whitelist:close without --manufacturer: an admin that is no manufacturer is told to name --manufacturer <id>; a manufacturer closes its own root", async function () {
    const [admin, , , successor, , stranger] = await hre.ethers.getSigners();
    const registry = registryAt(system, admin);
    await (await tokenAt(system, admin).approve(system.addresses.DeviceRegistry, MaxUint256)).wait();
    const [first, second] = [hexlify(randomBytes(32)), hexlify(randomBytes(32))];
    await (await registry.commitWhitelist(MaxUint256, MaxUint256, first, 2)).wait();
    await (await registry.commitWhitelist(MaxUint256, MaxUint256, second, 2)).wait();
    // Account #3 becomes the admin: it is no manufacturer; account #0 stays manufacturer #1.
    await run("admin:transfer", { to: successor.address });
    await run("admin:accept", { signer: "3" });
    try {
      await expect(run("whitelist:close", { root: first, signer: "3" })).to.be.rejectedWith(
        new RegExp(
          `^${successor.address} is the network admin, not a manufacturer: name the root's manufacturer with --manufacturer <id> \\(manufacturer:list shows the ids\\); nothing was sent$`,
        ),
      );
      await expect(run("whitelist:close", { root: first, signer: "5" })).to.be.rejectedWith(
        new RegExp(
          `^${stranger.address} is neither an active manufacturer nor the network admin: only the root's manufacturer or the admin closes a whitelist; nothing was sent$`,
        ),
      );
      expect((await registry.getWhitelist(1, first)).capacity).to.equal(2n);
      const byAdmin = await run<{ manufacturerId: number; unused: number }>("whitelist:close", {
        root: first,
        manufacturer: "1",
        signer: "3",
      });
      expect(byAdmin).to.include({ manufacturerId: 1, unused: 2 });
      expect((await registry.getWhitelist(1, first)).capacity).to.equal(0n);
      const own = await run<{ manufacturerId: number; unused: number }>("whitelist:close", { root: second });
      expect(own).to.include({ manufacturerId: 1, unused: 2 });
      expect((await registry.getWhitelist(1, second)).capacity).to.equal(0n);
    } finally {
      await run("admin:transfer", { to: admin.address, signer: "3" });
      await run("admin:accept", { signer: "0" });
    }
    expect(await registry.owner()).to.equal(admin.address);
  });
});

describe("operations tasks, afterwards", function () {
  it("leave the shared in-process chain as they found it (head, manufacturers, fees, admin)", async function () {
    if (shared.system === undefined || shared.found === undefined) this.skip();
    expect(await chainState(shared.system)).to.deep.equal(shared.found);
  });
});
