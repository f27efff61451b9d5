import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { ZeroHash, id } from "ethers";
import { ethers } from "hardhat";

import type { ChainCall } from "../../src/chain/mined";
import { UserError } from "../../src/errors";
import { ChainUnavailable, timeBounded } from "../../src/http/rpc";
import { collectPaidFees, coveringAccounts, uncollectedFees } from "../../src/registry";
import { NotMined, scoresToSubmit, submitScores } from "../../src/reputation/scores";
import {
  ACTIVATION_FEE,
  AUDIT_REWARD,
  DEFAULT_SCORE,
  ONE,
  REGISTRATION_FEE,
  registryFixture,
  testDevice,
} from "../shared/fixtures";

const ROOT = id("reports");

/**
 * Fees paid from credit sit outside the reward pool until collected (issue 20's fee change): the auditor's
 * submission collects them first when the pool would fall short of the rewards its scores earn.
 */
describe("auditor submission: fees paid from credit are collected before rewards are claimed", function () {
  /** The registry fixture, a second manufacturer, an auditor, and devices registered from credit only. */
  async function starved() {
    const f = await registryFixture();
    const [auditor, other] = (await ethers.getSigners()).slice(8, 10);
    await f.registry.connect(f.admin).addAuditor(auditor.address);
    await f.registry.connect(f.admin).addManufacturer(other.address, other.address, DEFAULT_SCORE);
    await f.token.transfer(other.address, 10n * ONE);
    await f.token.connect(other).approve(await f.registry.getAddress(), ethers.MaxUint256);
    await f.registry.connect(other).depositFeeCredit(other.address, 10n * ONE);
    // The first manufacturer spends 9 THING of credit (3 x (1 + 2)), the second 1 THING.
    const devices = [0, 1, 2].map((i) => testDevice(4000 + i));
    for (const d of devices) {
      await f.registry
        .connect(f.maker)
        .registerAndActivate(REGISTRATION_FEE + ACTIVATION_FEE, d.deviceId, d.wallet.address, 1, ZeroHash, f.alice);
    }
    const small = testDevice(4100, 1, 2);
    await f.registry.connect(other).registerDevice(REGISTRATION_FEE, small.deviceId, small.wallet.address, 1, ZeroHash);
    return { f, auditor, other, devices, epoch: Number(await f.registry.currentEpoch()) };
  }

  it("the starvation scenario of the attack review: the auditor is paid in full, from the largest uncollected fees", async function () {
    const { f, auditor, other, devices, epoch } = await loadFixture(starved);
    expect(await f.registry.rewardPool()).to.equal(0n);
    expect(await uncollectedFees(f.registry)).to.deep.equal([
      { id: 1, account: f.maker.address, amount: 9n * ONE },
      { id: 2, account: other.address, amount: ONE },
    ]);
    const entries = devices.map((d) => ({ deviceId: d.deviceId, score: 700, trend: 1 }));
    const r = await submitScores(f.registry.connect(auditor), entries, epoch, ROOT, 3, 200);
    expect(r.failure).to.equal(undefined);
    expect(r).to.include({ submitted: 3, changed: 3, rewarded: 3 });
    // 9 THING covers the 0.3 THING earned plus the refill's 64 rewards ahead: the second manufacturer's
    // fee is left for later.
    expect(r.collection).to.include({ collected: 9n * ONE, poolBefore: 0n });
    expect(r.collection?.accounts).to.deep.equal([f.maker.address]);
    expect((await f.registry.auditorInfo(auditor.address)).earned).to.equal(3n * AUDIT_REWARD);
    expect(await f.registry.uncollectedPaidFees(f.maker.address)).to.equal(0n);
    expect(await f.registry.uncollectedPaidFees(other.address)).to.equal(ONE);
    // Credit is untouched: 100 - 9 THING.
    expect((await f.registry.getManufacturer(f.maker.address)).credit).to.equal(91n * ONE);
  });

  it("a score transaction not mined in time stops the submission with one line naming it; the next run submits only what is missing", async function () {
    const { f, auditor, devices, epoch } = await loadFixture(starved);
    await f.registry.collectFeesPaidFromCredit([f.maker.address]);
    const registry = f.registry.connect(auditor);
    const entries = devices.map((d) => ({ deviceId: d.deviceId, score: 700, trend: 1 }));
    await ethers.provider.send("evm_setAutomine", [false]);
    let r: Awaited<ReturnType<typeof submitScores>>;
    try {
      r = await submitScores(registry, entries.slice(0, 2), epoch, ROOT, 3, 200, 300);
    } finally {
      await ethers.provider.send("evm_setAutomine", [true]);
    }
    expect(r.failure).to.be.instanceOf(NotMined);
    const failure = r.failure as NotMined;
    expect(failure.message).to.equal(
      `transaction ${failure.hash} was sent but not mined within 0.3 s; the epoch resumes on the next run (scores it lands by then are skipped)`,
    );
    expect(r).to.include({ submitted: 0, changed: 0 });
    expect(r.txHashes).to.deep.equal([]);
    // It lands later: the next run reads the chain and submits only the third device's score.
    await ethers.provider.send("evm_mine", []);
    expect((await ethers.provider.getTransactionReceipt(failure.hash))?.status).to.equal(1);
    const subjects = devices.map((d) => ({
      subjectId: d.deviceId,
      score: 700,
      trend: 1 as const,
      reports: 1,
      reporters: 1,
    }));
    const read = <T>(_call: string, fn: () => Promise<T>) => fn();
    const missing = await scoresToSubmit(registry, subjects, epoch, read);
    expect(missing.map((e) => e.deviceId)).to.deep.equal([devices[2].deviceId]);
    const again = await submitScores(registry, missing, epoch, ROOT, 3, 200, 300);
    expect(again.failure).to.equal(undefined);
    expect(again).to.include({ submitted: 1, changed: 1 });
  });

  it("a fee collection not mined in time stops the submission with one line naming it (it waited forever before); the next run submits every score", async function () {
    const { f, auditor, devices, epoch } = await loadFixture(starved);
    const registry = f.registry.connect(auditor);
    const entries = devices.map((d) => ({ deviceId: d.deviceId, score: 700, trend: 1 }));
    await ethers.provider.send("evm_setAutomine", [false]);
    let r: Awaited<ReturnType<typeof submitScores>>;
    try {
      r = await submitScores(registry, entries, epoch, ROOT, 3, 200, 300);
    } finally {
      await ethers.provider.send("evm_setAutomine", [true]);
    }
    expect(r.failure).to.be.instanceOf(NotMined);
    const failure = r.failure as NotMined;
    expect(failure.message).to.equal(
      `transaction ${failure.hash} was sent but not mined within 0.3 s; the epoch resumes on the next run, which collects only the fees still uncollected`,
    );
    expect(r).to.include({ submitted: 0, changed: 0 });
    expect(r.collection).to.equal(undefined);
    // The stuck transaction is the collection: no score was sent behind it.
    const pending = await ethers.provider.getTransaction(failure.hash);
    expect(pending?.to).to.equal(await f.registry.getAddress());
    expect(f.registry.interface.parseTransaction({ data: pending!.data })?.name).to.equal("collectFeesPaidFromCredit");
    await ethers.provider.send("evm_mine", []);
    expect(await f.registry.uncollectedPaidFees(f.maker.address)).to.equal(0n);
    const again = await submitScores(registry, entries, epoch, ROOT, 3, 200, 300);
    expect(again.failure).to.equal(undefined);
    expect(again).to.include({ submitted: 3, changed: 3, rewarded: 3, collection: undefined });
  });

  it("registry:collect-fees' collection not mined in time is one line saying it is collected once (a UserError, printed as the task's line)", async function () {
    const { f } = await loadFixture(starved);
    await ethers.provider.send("evm_setAutomine", [false]);
    let error: unknown;
    try {
      await collectPaidFees(f.registry, [f.maker.address], 300);
    } catch (e) {
      error = e;
    } finally {
      await ethers.provider.send("evm_setAutomine", [true]);
    }
    expect(error).to.be.instanceOf(UserError);
    const failure = error as NotMined;
    expect(failure.message).to.equal(
      `transaction ${failure.hash} was sent but not mined within 0.3 s; fees are collected once: if it lands, a later collection finds nothing left of them`,
    );
    await ethers.provider.send("evm_mine", []);
    expect(await f.registry.uncollectedPaidFees(f.maker.address)).to.equal(0n);
    expect((await collectPaidFees(f.registry, [f.maker.address])).txHash).to.equal(undefined);
  });

  it("a pool that already covers the rewards collects nothing and sends no collection", async function () {
    const { f, auditor, other, devices, epoch } = await loadFixture(starved);
    await f.registry.collectFeesPaidFromCredit([f.maker.address]);
    const entries = devices.map((d) => ({ deviceId: d.deviceId, score: 700, trend: 1 }));
    const r = await submitScores(f.registry.connect(auditor), entries, epoch, ROOT, 3, 200);
    expect(r).to.include({ rewarded: 3, collection: undefined });
    expect(await f.registry.uncollectedPaidFees(other.address)).to.equal(ONE);
  });

  it("the accounts chosen cover the amount with the fewest, largest first, and never more than 100", function () {
    const found = [5n, 3n, 1n].map((amount, i) => ({ id: i + 1, account: `0x${i}`, amount }));
    expect(coveringAccounts(found, 0n)).to.deep.equal([]);
    expect(coveringAccounts(found, 5n)).to.deep.equal(["0x0"]);
    expect(coveringAccounts(found, 6n)).to.deep.equal(["0x0", "0x1"]);
    expect(coveringAccounts(found, 100n)).to.deep.equal(["0x0", "0x1", "0x2"]);
    const many = Array.from({ length: 150 }, (_, i) => ({ id: i + 1, account: `0x${i}`, amount: 1n }));
    expect(coveringAccounts(many, 1000n)).to.have.length(100);
  });

  it("the auditor's bound (timeBounded): a hung read before the collection fails the run within it, nothing sent; a revert keeps its own reason", async function () {
    const { f, auditor, devices, epoch } = await loadFixture(starved);
    const entries = devices.map((d) => ({ deviceId: d.deviceId, score: 700, trend: 1 }));
    const timed: ChainCall = (call, run) => timeBounded(call, run, 300);
    // A registry whose rewardPool read never answers (a hung RPC), everything else real.
    const real = f.registry.connect(auditor);
    const hung = new Proxy(real, {
      get: (target, key, receiver) =>
        key === "rewardPool" ? () => new Promise(() => undefined) : Reflect.get(target, key, receiver),
    });
    const nonce = await ethers.provider.getTransactionCount(auditor.address);
    const started = Date.now();
    const r = await submitScores(hung, entries, epoch, ROOT, 3, 200, 180_000, timed);
    expect(Date.now() - started).to.be.below(10_000);
    expect(r.failure).to.be.instanceOf(ChainUnavailable);
    expect((r.failure as Error).message).to.equal("chain unavailable: rewardPool got no answer within 300 ms");
    expect(r).to.include({ submitted: 0 });
    expect(await ethers.provider.getTransactionCount(auditor.address)).to.equal(nonce);
    // A send the chain refuses: its own error, not a "chain unavailable" (the auditor's line names the revert).
    const stranger = f.registry.connect(f.alice);
    // A bound far above any real call's time (an instrumented coverage network takes seconds per send).
    const roomy: ChainCall = (call, run) => timeBounded(call, run, 120_000);
    const refused = await submitScores(stranger, entries, epoch, ROOT, 3, 200, 180_000, roomy);
    expect(refused.failure).to.not.be.instanceOf(ChainUnavailable);
    expect(String((refused.failure as Error).message)).to.match(/NotAuditor|reverted/);
    // With a bound that is not reached, the same submission then succeeds in full.
    const ok = await submitScores(real, entries, epoch, ROOT, 3, 200, 180_000, roomy);
    expect(ok.failure).to.equal(undefined);
    expect(ok).to.include({ submitted: 3, changed: 3, rewarded: 3 });
  });
});
