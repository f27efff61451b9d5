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
/** The reports ROOT stands for: more than any submission here changes. */
const REPORTS = 1_000;

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
    await expect(f.registry.connect(f.mallory).updateScore(f.devices[0], 700, 1, f.epoch, ROOT, REPORTS))
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
    await expect(f.registry.connect(f.auditor).updateScore(f.devices[0], 0, -1, f.epoch, ROOT, REPORTS))
      .to.emit(f.registry, "ScoresUpdated")
      .withArgs(f.auditor.address, f.epoch, ROOT, REPORTS, 1n, 1n);
    const view = await f.registry.getDevice(f.devices[0]);
    expect([view.score, view.trend]).to.deep.equal([0n, -1n]);
    const rep = await f.registry.reputationOf(f.devices[0]);
    expect([rep.score, rep.trend, rep.epoch, rep.audited]).to.deep.equal([0n, -1n, f.epoch, true]);
    expect((await f.registry.auditorInfo(f.auditor.address)).earned).to.equal(AUDIT_REWARD);
  });

  it("refuses bad entries, unknown devices and a wrong epoch", async function () {
    const f = await loadFixture(reputationFixture);
    const a = f.registry.connect(f.auditor);
    await expect(a.updateScore(f.devices[0], 1001, 0, f.epoch, ROOT, REPORTS))
      .to.be.revertedWithCustomError(f.registry, "ScoreOutOfRange")
      .withArgs(1001);
    await expect(a.updateScore(f.devices[0], 10, 2, f.epoch, ROOT, REPORTS))
      .to.be.revertedWithCustomError(f.registry, "InvalidTrend")
      .withArgs(2);
    await expect(a.updateScore(f.devices[0], 10, -2, f.epoch, ROOT, REPORTS)).to.be.revertedWithCustomError(
      f.registry,
      "InvalidTrend",
    );
    const unknown = testDevice(77).deviceId;
    await expect(a.updateScore(unknown, 10, 0, f.epoch, ROOT, REPORTS))
      .to.be.revertedWithCustomError(f.registry, "DeviceNotAuditable")
      .withArgs(unknown);
    // Registered but never activated: no owner, not auditable.
    const registered = testDevice(78);
    await f.registry
      .connect(f.maker)
      .registerDevice(REGISTRATION_FEE, registered.deviceId, registered.wallet.address, 1, ZeroHash);
    await expect(a.updateScore(registered.deviceId, 10, 0, f.epoch, ROOT, REPORTS)).to.be.revertedWithCustomError(
      f.registry,
      "DeviceNotAuditable",
    );
    await expect(a.updateScore(f.devices[0], 10, 0, f.epoch + 1n, ROOT, REPORTS))
      .to.be.revertedWithCustomError(f.registry, "WrongEpoch")
      .withArgs(f.epoch + 1n, f.epoch);
    await expect(a.updateScores([], f.epoch, ROOT, REPORTS)).to.be.revertedWithCustomError(f.registry, "EmptyBatch");
  });

  it("a batch is read word by word: every field written and read back, bad words refused as the ABI decoder would", async function () {
    const f = await loadFixture(reputationFixture);
    const a = f.registry.connect(f.auditor);
    const entries = [
      { deviceId: f.devices[0], score: 0, trend: -1 },
      { deviceId: f.devices[1], score: 1000, trend: 1 },
      { deviceId: f.devices[2], score: 537, trend: 0 },
    ];
    await expect(a.updateScores(entries, f.epoch, ROOT, REPORTS))
      .to.emit(f.registry, "ScoresUpdated")
      .withArgs(f.auditor.address, f.epoch, ROOT, REPORTS, 3n, 3n);
    for (const e of entries) {
      const rep = await f.registry.reputationOf(e.deviceId);
      expect([rep.score, rep.trend, rep.epoch, rep.audited]).to.deep.equal([
        BigInt(e.score),
        BigInt(e.trend),
        f.epoch,
        true,
      ]);
      // The owner, in the same storage word, is kept.
      expect((await f.registry.getDevice(e.deviceId)).owner).to.equal(f.alice.address);
    }
    // A bad entry anywhere refuses the whole batch, naming the value.
    const next = f.epoch + 1n;
    await time.increase(EPOCH_LENGTH);
    const good = { deviceId: f.devices[0], score: 5, trend: 1 };
    await expect(a.updateScores([good, { deviceId: f.devices[1], score: 1001, trend: 0 }], next, ROOT, REPORTS))
      .to.be.revertedWithCustomError(f.registry, "ScoreOutOfRange")
      .withArgs(1001);
    await expect(a.updateScores([good, { deviceId: f.devices[1], score: 1, trend: -2 }], next, ROOT, REPORTS))
      .to.be.revertedWithCustomError(f.registry, "InvalidTrend")
      .withArgs(-2);
    expect((await f.registry.reputationOf(f.devices[0])).score).to.equal(0n);
    // Words that encode no uint16 score or int8 trend are refused, naming the word (the decoder refused them too).
    const data = f.registry.interface.encodeFunctionData("updateScores", [[good], next, ROOT, REPORTS]);
    const word = (index: number, value: bigint) => {
      const at = 2 + 8 + 64 * index; // "0x", the selector, then 32-byte words
      return data.slice(0, at) + value.toString(16).padStart(64, "0") + data.slice(at + 64);
    };
    // Words: offset, epoch, root, count, length, then the entry's deviceId (5), score (6), trend (7).
    const registry = await f.registry.getAddress();
    for (const [index, value] of [
      [6, 0x10000n],
      [7, 0x80n],
      [7, (1n << 256n) - 0x81n],
    ] as const) {
      await expect(f.auditor.sendTransaction({ to: registry, data: word(index, value) }))
        .to.be.revertedWithCustomError(f.registry, "MalformedScoreUpdate")
        .withArgs(good.deviceId, value);
    }
    await expect(f.auditor.sendTransaction({ to: registry, data: word(7, 2n) }))
      .to.be.revertedWithCustomError(f.registry, "InvalidTrend")
      .withArgs(2);
    await a.updateScores([good], next, ROOT, REPORTS);
    const rep = await f.registry.reputationOf(f.devices[0]);
    expect([rep.score, rep.trend, rep.epoch]).to.deep.equal([5n, 1n, next]);
  });

  it("attack: a rewrite in the same epoch, or an unchanged score, earns nothing and changes nothing", async function () {
    const f = await loadFixture(reputationFixture);
    const a = f.registry.connect(f.auditor);
    await a.updateScore(f.devices[0], 600, 1, f.epoch, ROOT, REPORTS);
    // The same auditor rewrites in the same epoch: skipped.
    await expect(a.updateScore(f.devices[0], 900, 1, f.epoch, ROOT, REPORTS))
      .to.emit(f.registry, "ScoresUpdated")
      .withArgs(f.auditor.address, f.epoch, ROOT, REPORTS, 0n, 0n);
    // A second auditor address in the same epoch: skipped too.
    await f.registry.connect(f.admin).addAuditor(f.bob.address);
    await expect(f.registry.connect(f.bob).updateScore(f.devices[0], 100, -1, f.epoch, ROOT, REPORTS))
      .to.emit(f.registry, "ScoresUpdated")
      .withArgs(f.bob.address, f.epoch, ROOT, REPORTS, 0n, 0n);
    expect((await f.registry.reputationOf(f.devices[0])).score).to.equal(600);
    // Next epoch, the same score and trend: unchanged, no reward.
    await time.increase(EPOCH_LENGTH);
    const next = await f.registry.currentEpoch();
    await expect(a.updateScore(f.devices[0], 600, 1, next, ROOT, REPORTS))
      .to.emit(f.registry, "ScoresUpdated")
      .withArgs(f.auditor.address, next, ROOT, REPORTS, 0n, 0n);
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
        REPORTS,
      ),
    )
      .to.emit(f.registry, "ScoresUpdated")
      .withArgs(f.auditor.address, next, ROOT, REPORTS, 1n, 1n);
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
        REPORTS,
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
      REPORTS,
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

  it("attack: an auditor scoring a revoked device, alone or inside a batch, earns nothing and its score stays", async function () {
    const f = await loadFixture(reputationFixture);
    const a = f.registry.connect(f.auditor);
    const [kept, scored, neverScored, byAdmin] = f.devices;
    await a.updateScores(
      [kept, scored, byAdmin].map((deviceId) => ({ deviceId, score: 600, trend: 1 })),
      f.epoch,
      ROOT,
      REPORTS,
    );
    // The manufacturer revokes two devices, the admin a third; alice owns all of them.
    await f.registry.connect(f.maker).revokeDevice(scored, 1);
    await f.registry.connect(f.maker).revokeDevice(neverScored, 2);
    await f.registry.connect(f.admin).revokeDevice(byAdmin, 3);
    await time.increase(EPOCH_LENGTH);
    const next = await f.registry.currentEpoch();
    const snapshot = async () => ({
      reputations: await Promise.all([scored, neverScored, byAdmin].map((d) => f.registry.reputationOf(d))),
      views: await Promise.all([scored, neverScored, byAdmin].map((d) => f.registry.getDevice(d))),
      auditor: await f.registry.auditorInfo(f.auditor.address),
      pool: await f.registry.rewardPool(),
      reserved: await f.registry.rewardsReserved(),
    });
    const before = await snapshot();
    expect(before.views[1].score).to.equal(DEFAULT_SCORE);
    // Alone: skipped, named in an event, nothing rewarded, nothing written.
    for (const deviceId of [scored, neverScored, byAdmin]) {
      await expect(a.updateScore(deviceId, 5, -1, next, ROOT, REPORTS))
        .to.emit(f.registry, "RevokedDeviceSkipped")
        .withArgs(deviceId, next)
        .and.to.emit(f.registry, "ScoresUpdated")
        .withArgs(f.auditor.address, next, ROOT, REPORTS, 0n, 0n);
    }
    expect(await snapshot()).to.deep.equal(before);
    // Inside a batch: the live device is scored and paid for, the revoked ones are skipped.
    const batch = [kept, scored, neverScored, byAdmin].map((deviceId) => ({ deviceId, score: 5, trend: -1 }));
    await expect(a.updateScores(batch, next, ROOT, REPORTS))
      .to.emit(f.registry, "ScoresUpdated")
      .withArgs(f.auditor.address, next, ROOT, REPORTS, 1n, 1n)
      .and.to.emit(f.registry, "RevokedDeviceSkipped")
      .withArgs(scored, next);
    const after = await snapshot();
    expect(after.reputations).to.deep.equal(before.reputations);
    expect(after.views).to.deep.equal(before.views);
    expect(after.auditor.earned).to.equal(before.auditor.earned + AUDIT_REWARD);
    expect((await f.registry.reputationOf(kept)).score).to.equal(5n);
    // The revoked devices keep their owner; one never activated stays unauditable.
    expect((await f.registry.ownerAndStatus(scored))[0]).to.equal(f.alice.address);
    const dormant = testDevice(79);
    await f.registry
      .connect(f.maker)
      .registerDevice(REGISTRATION_FEE, dormant.deviceId, dormant.wallet.address, 1, ZeroHash);
    await f.registry.connect(f.maker).revokeDevice(dormant.deviceId, 1);
    await expect(a.updateScore(dormant.deviceId, 5, 0, next, ROOT, REPORTS))
      .to.be.revertedWithCustomError(f.registry, "DeviceNotAuditable")
      .withArgs(dormant.deviceId);
  });

  it("attack: trend flips of many devices with a junk root earn at most the auditor's cap per epoch", async function () {
    const f = await loadFixture(reputationFixture);
    const JUNK = id("junk");
    const a = f.registry.connect(f.auditor);
    const cap = 20n;
    await expect(f.registry.connect(f.admin).setAuditorRewardCap(f.auditor.address, cap))
      .to.emit(f.registry, "AuditorRewardCapSet")
      .withArgs(f.auditor.address, cap);
    // An honest rival auditor with its own budget: the farmer must not touch it.
    await f.registry.connect(f.admin).addAuditor(f.bob.address);
    await f.registry.connect(f.bob).updateScore(f.devices[199], 450, 0, f.epoch, id("bob's reports"), 1);
    const rival = await f.registry.auditorInfo(f.bob.address);
    const poolBefore = (await f.registry.rewardPool()) + (await f.registry.rewardsReserved());
    const farmed = f.devices.slice(0, 199);
    for (let round = 0; round < 3; round++) {
      const epoch = await f.registry.currentEpoch();
      const trend = round % 2 === 0 ? 1 : -1;
      // A junk root that claims no reports cannot write a single score.
      await expect(
        a.updateScores(
          farmed.slice(0, 50).map((deviceId) => ({ deviceId, score: 500, trend })),
          epoch,
          JUNK,
          0,
        ),
      )
        .to.be.revertedWithCustomError(f.registry, "ChangesExceedReports")
        .withArgs(50n, 0n);
      // One that claims 2^32 - 1 reports writes, but four batches of flips earn the cap once.
      const earnedBefore = (await f.registry.auditorInfo(f.auditor.address)).earned;
      let rewarded = 0n;
      for (let i = 0; i < farmed.length; i += 50) {
        const receipt = await (
          await a.updateScores(
            farmed.slice(i, i + 50).map((deviceId) => ({ deviceId, score: 500, trend })),
            epoch,
            JUNK,
            2 ** 32 - 1,
          )
        ).wait();
        const event = receipt!.logs
          .map((l) => f.registry.interface.parseLog(l))
          .find((e) => e?.name === "ScoresUpdated");
        rewarded += event!.args.rewarded as bigint;
      }
      const info = await f.registry.auditorInfo(f.auditor.address);
      expect(rewarded).to.equal(cap);
      expect(info.earned - earnedBefore).to.equal(cap * AUDIT_REWARD);
      expect([info.rewardEpoch, info.rewardedInEpoch]).to.deep.equal([epoch, cap]);
      await time.increase(EPOCH_LENGTH);
    }
    const farmer = await f.registry.auditorInfo(f.auditor.address);
    expect(farmer.earned).to.equal(3n * cap * AUDIT_REWARD);
    // The rival's budget and earnings are untouched; the pool lost only what the farmer earned and holds.
    expect(await f.registry.auditorInfo(f.bob.address)).to.deep.equal(rival);
    expect((await f.registry.rewardPool()) + (await f.registry.rewardsReserved())).to.equal(poolBefore);
    expect(await f.registry.rewardsReserved()).to.equal(farmer.earned + farmer.budget + rival.earned + rival.budget);
  });

  it("attack: an auditor's rewards in an epoch are bounded by the reports it committed, across batches", async function () {
    const f = await loadFixture(reputationFixture);
    const a = f.registry.connect(f.auditor);
    const three = f.devices.slice(0, 3).map((deviceId) => ({ deviceId, score: 700, trend: 1 }));
    const before = await f.registry.auditorInfo(f.auditor.address);
    // Four changed scores from three reports: refused whole, nothing written.
    await expect(a.updateScores([...three, { deviceId: f.devices[3], score: 700, trend: 1 }], f.epoch, ROOT, 3))
      .to.be.revertedWithCustomError(f.registry, "ChangesExceedReports")
      .withArgs(4n, 3n);
    await expect(a.updateScore(f.devices[3], 700, 1, f.epoch, ROOT, 0))
      .to.be.revertedWithCustomError(f.registry, "ChangesExceedReports")
      .withArgs(1n, 0n);
    expect((await f.registry.reputationOf(f.devices[3])).audited).to.equal(false);
    expect(await f.registry.auditorInfo(f.auditor.address)).to.deep.equal(before);
    // Three reports, three changes: three rewards.
    await expect(a.updateScores(three, f.epoch, ROOT, 3))
      .to.emit(f.registry, "ScoresUpdated")
      .withArgs(f.auditor.address, f.epoch, ROOT, 3n, 3n, 3n);
    // Further batches of the epoch under the same three reports earn nothing more.
    const more = f.devices.slice(3, 6).map((deviceId) => ({ deviceId, score: 700, trend: 1 }));
    await expect(a.updateScores(more, f.epoch, ROOT, 3))
      .to.emit(f.registry, "ScoresUpdated")
      .withArgs(f.auditor.address, f.epoch, ROOT, 3n, 3n, 0n);
    // Removal and re-admission in the same epoch do not reset what the epoch already paid.
    await f.registry.connect(f.admin).removeAuditor(f.auditor.address);
    await f.registry.connect(f.admin).addAuditor(f.auditor.address);
    await expect(a.updateScore(f.devices[6], 700, 1, f.epoch, ROOT, 3))
      .to.emit(f.registry, "ScoresUpdated")
      .withArgs(f.auditor.address, f.epoch, ROOT, 3n, 1n, 0n);
    const info = await f.registry.auditorInfo(f.auditor.address);
    expect(info.earned).to.equal(3n * AUDIT_REWARD);
    expect([info.rewardEpoch, info.rewardedInEpoch]).to.deep.equal([f.epoch, 3n]);
    // The next epoch starts afresh.
    await time.increase(EPOCH_LENGTH);
    const next = await f.registry.currentEpoch();
    await expect(a.updateScore(f.devices[0], 100, -1, next, ROOT, 3))
      .to.emit(f.registry, "ScoresUpdated")
      .withArgs(f.auditor.address, next, ROOT, 3n, 1n, 1n);
  });

  it("the admin sets each auditor's per-epoch reward cap within the hard limit; a cap of 0 scores unpaid", async function () {
    const f = await loadFixture(reputationFixture);
    const max = await f.registry.MAX_EPOCH_REWARDS();
    const info = await f.registry.auditorInfo(f.auditor.address);
    expect(info.maxRewardsPerEpoch).to.equal(await f.registry.DEFAULT_EPOCH_REWARDS());
    await expect(f.registry.connect(f.admin).addAuditor(f.bob.address))
      .to.emit(f.registry, "AuditorRewardCapSet")
      .withArgs(f.bob.address, await f.registry.DEFAULT_EPOCH_REWARDS());
    await expect(f.registry.connect(f.auditor).setAuditorRewardCap(f.auditor.address, 5))
      .to.be.revertedWithCustomError(f.registry, "OwnableUnauthorizedAccount")
      .withArgs(f.auditor.address);
    await expect(f.registry.connect(f.admin).setAuditorRewardCap(f.auditor.address, max + 1n))
      .to.be.revertedWithCustomError(f.registry, "RewardCapAboveLimit")
      .withArgs(max + 1n, max);
    await expect(f.registry.connect(f.admin).setAuditorRewardCap(f.mallory.address, 5))
      .to.be.revertedWithCustomError(f.registry, "NotAuditor")
      .withArgs(f.mallory.address);
    await f.registry.connect(f.admin).setAuditorRewardCap(f.bob.address, max);
    expect((await f.registry.auditorInfo(f.bob.address)).maxRewardsPerEpoch).to.equal(max);
    await f.registry.connect(f.admin).setAuditorRewardCap(f.auditor.address, 0);
    const pool = await f.registry.rewardPool();
    await expect(f.registry.connect(f.auditor).updateScore(f.devices[0], 10, 0, f.epoch, ROOT, REPORTS))
      .to.emit(f.registry, "ScoresUpdated")
      .withArgs(f.auditor.address, f.epoch, ROOT, REPORTS, 1n, 0n);
    expect((await f.registry.reputationOf(f.devices[0])).score).to.equal(10n);
    expect([...(await f.registry.auditorInfo(f.auditor.address))]).to.deep.equal([
      info.active,
      info.budget,
      info.earned,
      0n,
      info.rewardEpoch,
      info.rewardedInEpoch,
    ]);
    expect(await f.registry.rewardPool()).to.equal(pool);
  });
});
