import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { ZeroHash, id } from "ethers";

import { collectPaidFees, coveringAccounts, uncollectedFees } from "../../src/registry/collect";
import { submitScores } from "../../src/reputation/scores";
import { ONE, REGISTRATION_FEE, auditorFixture, testDevice } from "../shared/fixtures";
import type { AuditorFixture } from "../shared/fixtures";

const ROOT = id("reports-20d-fees");

async function setup() {
  const f = await auditorFixture();
  await time.increase(Number(await f.registry.epochLength()));
  const epoch = Number(await f.registry.currentEpoch());
  return { ...f, epoch };
}

/** Tokens held = the maker's credit + its uncollected paid fees + the pool + the auditors' reserve. */
async function expectConserved(f: AuditorFixture) {
  const held = await f.token.balanceOf(f.registry);
  const m = await f.registry.getManufacturer(f.maker.address);
  const uncollected = await f.registry.uncollectedPaidFees(f.maker.address);
  const pool = await f.registry.rewardPool();
  const reserved = await f.registry.rewardsReserved();
  expect(held).to.equal(m.credit + uncollected + pool + reserved);
}

describe("attack review 20d: fee credit without a global sum", function () {
  it("attack: a removed manufacturer's spent credit still funds the auditor in full; its credit leaves only to its own payout; re-admission cannot redirect it", async function () {
    const f = await loadFixture(setup);
    const spent = await f.registry.uncollectedPaidFees(f.maker.address);
    expect(spent).to.be.greaterThan(0n);
    expect(await f.registry.rewardPool()).to.equal(0n);
    await f.registry.connect(f.admin).removeManufacturer(f.maker.address);
    await expectConserved(f);
    // The auditor's service finds and collects the removed manufacturer's fees before it scores.
    const auditorRegistry = f.registry.connect(f.auditor);
    const entries = f.devices.map((d, i) => ({ deviceId: d.deviceId, score: 100 + i, trend: 1 }));
    const result = await submitScores(auditorRegistry, entries, f.epoch, ROOT, 10, 50);
    expect(result.failure).to.equal(undefined);
    expect([result.changed, result.rewarded]).to.deep.equal([4, 4]);
    expect(result.collection?.accounts).to.deep.equal([f.maker.address]);
    expect(result.collection?.collected).to.equal(spent);
    expect(await f.registry.uncollectedPaidFees(f.maker.address)).to.equal(0n);
    expect((await f.registry.auditorInfo(f.auditor.address)).earned).to.equal(4n * (await f.registry.auditReward()));
    await expectConserved(f);
    // The removed manufacturer withdraws what is left of its credit, to its own payout, once.
    const credit = (await f.registry.getManufacturer(f.maker.address)).credit;
    await expect(f.registry.connect(f.maker).withdrawFeeCredit()).to.changeTokenBalances(
      f.token,
      [f.makerPayout, f.registry],
      [credit, -credit],
    );
    await expect(f.registry.connect(f.maker).withdrawFeeCredit())
      .to.be.revertedWithCustomError(f.registry, "NothingToWithdraw")
      .withArgs(f.maker.address);
    await expectConserved(f);
    // A hostile admin re-admits it naming its own payout: the manufacturer's payout is kept.
    await expect(f.registry.connect(f.admin).addManufacturer(f.maker.address, f.admin.address, 0))
      .to.emit(f.registry, "ManufacturerAdded")
      .withArgs(1, f.maker.address, f.makerPayout.address, 0);
    await f.token.connect(f.mallory).approve(f.registry, 5n * ONE);
    await f.registry.connect(f.mallory).depositFeeCredit(f.maker.address, 5n * ONE);
    const d = testDevice(2090);
    await f.registry.connect(f.maker).registerDevice(REGISTRATION_FEE, d.deviceId, d.wallet.address, 1, ZeroHash);
    expect(await f.registry.uncollectedPaidFees(f.maker.address)).to.equal(REGISTRATION_FEE);
    await expectConserved(f);
    await expect(f.registry.connect(f.maker).withdrawFeeCredit()).to.changeTokenBalance(
      f.token,
      f.makerPayout,
      5n * ONE - REGISTRATION_FEE,
    );
    expect(await f.registry.uncollectedPaidFees(f.maker.address)).to.equal(0n);
    await expectConserved(f);
  });

  it("attack: a stranger collecting between the auditor's read and its send leaves the auditor's collection empty, never a revert or a second count", async function () {
    const f = await loadFixture(setup);
    const spent = await f.registry.uncollectedPaidFees(f.maker.address);
    const auditorRegistry = f.registry.connect(f.auditor);
    const accounts = coveringAccounts(await uncollectedFees(auditorRegistry), spent);
    expect(accounts).to.deep.equal([f.maker.address]);
    await expect(f.registry.connect(f.mallory).collectFeesPaidFromCredit(accounts))
      .to.emit(f.registry, "PaidFeesCollected")
      .withArgs(1, spent);
    const pool = await f.registry.rewardPool();
    expect(pool).to.equal(spent);
    const collection = await collectPaidFees(auditorRegistry, accounts);
    expect([collection.accounts, collection.collected, collection.txHash]).to.deep.equal([[], 0n, undefined]);
    // Sent anyway (a stale list): nothing is counted twice.
    await expect(f.registry.connect(f.auditor).collectFeesPaidFromCredit([...accounts, ...accounts])).not.to.emit(
      f.registry,
      "PaidFeesCollected",
    );
    expect(await f.registry.rewardPool()).to.equal(pool);
    const entries = f.devices.map((d, i) => ({ deviceId: d.deviceId, score: 300 + i, trend: 0 }));
    const result = await submitScores(auditorRegistry, entries, f.epoch, ROOT, 10, 50);
    expect([result.failure, result.rewarded, result.collection]).to.deep.equal([undefined, 4, undefined]);
    await expectConserved(f);
  });
});
