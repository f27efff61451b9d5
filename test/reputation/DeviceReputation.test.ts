import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { ZeroHash, id } from "ethers";
import { ethers } from "hardhat";

import {
  ACTIVATION_FEE,
  AUDIT_REWARD,
  DEFAULT_SCORE,
  EPOCH_LENGTH,
  ONE,
  REGISTRATION_FEE,
  reputationFixture,
  testDevice,
} from "../shared/fixtures";

const ROOT = id("reports");

describe("DeviceReputation", function () {
  it("the admin admits and removes auditors; only auditors write scores", async function () {
    const f = await loadFixture(reputationFixture);
    await expect(f.registry.connect(f.mallory).addAuditor(f.mallory.address)).to.be.revertedWithCustomError(
      f.registry,
      "OwnableUnauthorizedAccount",
    );
    await expect(f.registry.connect(f.admin).addAuditor(f.auditor.address))
      .to.be.revertedWithCustomError(f.registry, "AuditorAlreadyActive")
      .withArgs(f.auditor.address);
    await expect(f.registry.connect(f.admin).addAuditor(ethers.ZeroAddress)).to.be.revertedWithCustomError(
      f.registry,
      "ZeroAddress",
    );
    await expect(f.registry.connect(f.mallory).updateScore(f.devices[0], 700, 1, f.epoch, ROOT))
      .to.be.revertedWithCustomError(f.registry, "NotAuditor")
      .withArgs(f.mallory.address);
    await expect(f.registry.connect(f.admin).removeAuditor(f.mallory.address))
      .to.be.revertedWithCustomError(f.registry, "NotAuditor")
      .withArgs(f.mallory.address);
  });

  it("a device carries its manufacturer's default until its first audit; validation shows the score and trend", async function () {
    const f = await loadFixture(reputationFixture);
    expect((await f.registry.getDevice(f.devices[0])).score).to.equal(DEFAULT_SCORE);
    expect((await f.registry.reputationOf(f.devices[0])).audited).to.equal(false);
    await expect(f.registry.connect(f.auditor).updateScore(f.devices[0], 0, -1, f.epoch, ROOT))
      .to.emit(f.registry, "ScoresUpdated")
      .withArgs(f.auditor.address, f.epoch, ROOT, 1n, 1n);
    const view = await f.registry.getDevice(f.devices[0]);
    expect([view.score, view.trend]).to.deep.equal([0n, -1n]);
    const rep = await f.registry.reputationOf(f.devices[0]);
    expect([rep.score, rep.trend, rep.epoch, rep.audited]).to.deep.equal([0n, -1n, f.epoch, true]);
    expect((await f.registry.auditorInfo(f.auditor.address)).earned).to.equal(AUDIT_REWARD);
  });

  it("refuses bad entries, unknown devices and a wrong epoch", async function () {
    const f = await loadFixture(reputationFixture);
    const a = f.registry.connect(f.auditor);
    await expect(a.updateScore(f.devices[0], 1001, 0, f.epoch, ROOT))
      .to.be.revertedWithCustomError(f.registry, "ScoreOutOfRange")
      .withArgs(1001);
    await expect(a.updateScore(f.devices[0], 10, 2, f.epoch, ROOT))
      .to.be.revertedWithCustomError(f.registry, "InvalidTrend")
      .withArgs(2);
    await expect(a.updateScore(f.devices[0], 10, -2, f.epoch, ROOT)).to.be.revertedWithCustomError(
      f.registry,
      "InvalidTrend",
    );
    const unknown = testDevice(77).deviceId;
    await expect(a.updateScore(unknown, 10, 0, f.epoch, ROOT))
      .to.be.revertedWithCustomError(f.registry, "DeviceNotAuditable")
      .withArgs(unknown);
    // Registered but never activated: no owner, not auditable.
    const registered = testDevice(78);
    await f.registry
      .connect(f.maker)
      .registerDevice(REGISTRATION_FEE, registered.deviceId, registered.wallet.address, 1, ZeroHash);
    await expect(a.updateScore(registered.deviceId, 10, 0, f.epoch, ROOT)).to.be.revertedWithCustomError(
      f.registry,
      "DeviceNotAuditable",
    );
    await expect(a.updateScore(f.devices[0], 10, 0, f.epoch + 1n, ROOT))
      .to.be.revertedWithCustomError(f.registry, "WrongEpoch")
      .withArgs(f.epoch + 1n, f.epoch);
    await expect(a.updateScores([], f.epoch, ROOT)).to.be.revertedWithCustomError(f.registry, "EmptyBatch");
  });

  it("attack: a rewrite in the same epoch, or an unchanged score, earns nothing and changes nothing", async function () {
    const f = await loadFixture(reputationFixture);
    const a = f.registry.connect(f.auditor);
    await a.updateScore(f.devices[0], 600, 1, f.epoch, ROOT);
    // The same auditor rewrites in the same epoch: skipped.
    await expect(a.updateScore(f.devices[0], 900, 1, f.epoch, ROOT))
      .to.emit(f.registry, "ScoresUpdated")
      .withArgs(f.auditor.address, f.epoch, ROOT, 0n, 0n);
    // A second auditor address in the same epoch: skipped too.
    await f.registry.connect(f.admin).addAuditor(f.bob.address);
    await expect(f.registry.connect(f.bob).updateScore(f.devices[0], 100, -1, f.epoch, ROOT))
      .to.emit(f.registry, "ScoresUpdated")
      .withArgs(f.bob.address, f.epoch, ROOT, 0n, 0n);
    expect((await f.registry.reputationOf(f.devices[0])).score).to.equal(600);
    // Next epoch, the same score and trend: unchanged, no reward.
    await time.increase(EPOCH_LENGTH);
    const next = await f.registry.currentEpoch();
    await expect(a.updateScore(f.devices[0], 600, 1, next, ROOT))
      .to.emit(f.registry, "ScoresUpdated")
      .withArgs(f.auditor.address, next, ROOT, 0n, 0n);
    expect((await f.registry.auditorInfo(f.auditor.address)).earned).to.equal(AUDIT_REWARD);
    expect((await f.registry.auditorInfo(f.bob.address)).earned).to.equal(0n);
    // A batch with the same device twice counts it once.
    await expect(
      a.updateScores(
        [
          { deviceId: f.devices[1], score: 10, trend: 0 },
          { deviceId: f.devices[1], score: 20, trend: 0 },
        ],
        next,
        ROOT,
      ),
    )
      .to.emit(f.registry, "ScoresUpdated")
      .withArgs(f.auditor.address, next, ROOT, 1n, 1n);
  });

  it("attack: many auditor addresses cannot drain more than the pool holds", async function () {
    const f = await loadFixture(reputationFixture);
    const registry = await f.registry.getAddress();
    // Empty the pool down to 1 THING (10 rewards): the admin cannot, so build a fresh registry instead.
    const [admin] = await ethers.getSigners();
    const small = await ethers.deployContract("DeviceRegistry", [
      admin.address,
      await f.token.getAddress(),
      0,
      0,
      EPOCH_LENGTH,
      AUDIT_REWARD,
    ]);
    await small.addManufacturer(admin.address, admin.address, 500);
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const d = testDevice(5000 + i);
      await small.registerAndActivate(
        REGISTRATION_FEE + ACTIVATION_FEE,
        d.deviceId,
        d.wallet.address,
        1,
        ZeroHash,
        admin.address,
      );
      ids.push(d.deviceId);
    }
    await f.token.connect(f.alice).transfer(await small.getAddress(), ONE);
    expect(await small.rewardPool()).to.equal(ONE);
    const auditors = (await ethers.getSigners()).slice(10, 15);
    const epoch = await small.currentEpoch();
    for (const [i, auditor] of auditors.entries()) {
      await small.addAuditor(auditor.address);
      await small.connect(auditor).updateScores(
        ids.slice(i * 6, i * 6 + 6).map((deviceId) => ({ deviceId, score: 700, trend: 1 })),
        epoch,
        ROOT,
      );
    }
    let earned = 0n;
    let budgets = 0n;
    for (const auditor of auditors) {
      const info = await small.auditorInfo(auditor.address);
      earned += info.earned;
      budgets += info.budget;
    }
    // 30 score changes, but the pool held 10 rewards: the first auditor reserved all of it.
    expect(earned).to.equal(6n * AUDIT_REWARD);
    expect(earned + budgets).to.equal(ONE);
    expect(await small.rewardsReserved()).to.equal(ONE);
    expect(await small.rewardPool()).to.equal(0n);
    for (const auditor of auditors) {
      if ((await small.auditorInfo(auditor.address)).earned > 0n) await small.connect(auditor).withdrawAuditorReward();
      await small.removeAuditor(auditor.address);
    }
    expect(await small.rewardPool()).to.equal(4n * AUDIT_REWARD);
    await f.token.connect(f.alice).transfer(await small.getAddress(), 0n);
    expect(await f.token.balanceOf(await small.getAddress())).to.equal(4n * AUDIT_REWARD);
    expect(await small.rewardsReserved()).to.equal(0n);
    expect(registry).to.not.equal(await small.getAddress());
  });

  it("rewards are pulled; a removed auditor's budget returns to the pool and its earnings stay withdrawable", async function () {
    const f = await loadFixture(reputationFixture);
    const poolBefore = await f.registry.rewardPool();
    await f.registry.connect(f.auditor).updateScores(
      f.devices.slice(0, 10).map((deviceId) => ({ deviceId, score: 400, trend: 1 })),
      f.epoch,
      ROOT,
    );
    const info = await f.registry.auditorInfo(f.auditor.address);
    expect(info.earned).to.equal(10n * AUDIT_REWARD);
    expect(info.budget).to.equal(64n * AUDIT_REWARD);
    expect(await f.registry.rewardsReserved()).to.equal(74n * AUDIT_REWARD);
    expect(await f.registry.rewardPool()).to.equal(poolBefore - 74n * AUDIT_REWARD);
    await expect(f.registry.connect(f.admin).removeAuditor(f.auditor.address))
      .to.emit(f.registry, "AuditorRemoved")
      .withArgs(f.auditor.address, 64n * AUDIT_REWARD);
    expect(await f.registry.rewardPool()).to.equal(poolBefore - 10n * AUDIT_REWARD);
    await expect(f.registry.connect(f.auditor).withdrawAuditorReward()).to.changeTokenBalance(
      f.token,
      f.auditor,
      10n * AUDIT_REWARD,
    );
    await expect(f.registry.connect(f.auditor).withdrawAuditorReward())
      .to.be.revertedWithCustomError(f.registry, "NothingToWithdraw")
      .withArgs(f.auditor.address);
    expect(await f.registry.rewardsReserved()).to.equal(0n);
  });
});
