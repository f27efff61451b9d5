import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { concat, id, toBeHex } from "ethers";
import fc from "fast-check";

import { PACKED_ENTRY_BYTES, deviceRef, packScores } from "../../src/reputation/packed";
import { AUDIT_REWARD, auditorFixture } from "../shared/fixtures";
import type { AuditorFixture } from "../shared/fixtures";

const ROOT = id("packed reports");
const REPORTS = 1_000;

/** Every score field of each device, as reputationOf shows them. */
async function reputations(f: AuditorFixture, ids: string[]) {
  return Promise.all(
    ids.map(async (d) => {
      const r = await f.registry.reputationOf(d);
      return [r.score, r.trend, r.epoch, r.audited];
    }),
  );
}

describe("DeviceReputation packed batches (updateScoresPacked)", function () {
  it("the encoder packs a 12-byte reference, a 2-byte score and a two's-complement trend byte per entry", function () {
    const deviceId = "0x00000007" + "11".repeat(20) + "0102030405060708";
    expect(deviceRef(deviceId)).to.equal(0x00000007_0102030405060708n);
    const packed = packScores([
      { deviceId, score: 1000, trend: -1 },
      { deviceId, score: 5, trend: 1 },
    ]);
    expect(packed).to.equal("0x000000070102030405060708" + "03e8" + "ff" + "000000070102030405060708" + "0005" + "01");
    expect((packed.length - 2) / 2).to.equal(2 * PACKED_ENTRY_BYTES);
    expect(() => packScores([])).to.throw("no scores to pack");
    expect(() => packScores([{ deviceId, score: 70_000, trend: 0 }])).to.throw("score 70000 is no uint16");
    expect(() => packScores([{ deviceId, score: 1, trend: 200 }])).to.throw("trend 200 is no int8");
  });

  it("writes each entry's score, pays the auditor and emits ScoresUpdated", async function () {
    const f = await loadFixture(auditorFixture);
    // Fees paid from credit reach the reward pool when collected (as the auditor's submission does).
    await f.registry.collectFeesPaidFromCredit([f.maker.address]);
    const epoch = await f.registry.currentEpoch();
    const ids = f.devices.map((d) => d.deviceId);
    const entries = ids.map((deviceId, i) => ({ deviceId, score: 100 * i, trend: i - 1 > 1 ? 1 : i - 1 }));
    await expect(f.registry.connect(f.auditor).updateScoresPacked(packScores(entries), epoch, ROOT, REPORTS))
      .to.emit(f.registry, "ScoresUpdated")
      .withArgs(f.auditor.address, epoch, ROOT, REPORTS, 4n, 4n);
    expect(await reputations(f, ids)).to.deep.equal(
      entries.map((e) => [BigInt(e.score), BigInt(e.trend), epoch, true]),
    );
    expect((await f.registry.getDevice(ids[3])).score).to.equal(300n);
    expect((await f.registry.auditorInfo(f.auditor.address)).earned).to.equal(4n * AUDIT_REWARD);
  });

  it("skips a revoked device naming its reference (RevokedRefSkipped) and writes the rest", async function () {
    const f = await loadFixture(auditorFixture);
    // Fees paid from credit reach the reward pool when collected (as the auditor's submission does).
    await f.registry.collectFeesPaidFromCredit([f.maker.address]);
    const epoch = await f.registry.currentEpoch();
    const before = await f.registry.reputationOf(f.revoked.deviceId);
    const entries = [
      { deviceId: f.revoked.deviceId, score: 900, trend: 1 },
      { deviceId: f.devices[0].deviceId, score: 700, trend: 0 },
    ];
    const tx = f.registry.connect(f.auditor).updateScoresPacked(packScores(entries), epoch, ROOT, REPORTS);
    await expect(tx).to.emit(f.registry, "RevokedRefSkipped").withArgs(deviceRef(f.revoked.deviceId), epoch);
    await expect(tx).to.emit(f.registry, "ScoresUpdated").withArgs(f.auditor.address, epoch, ROOT, REPORTS, 1n, 1n);
    expect(await f.registry.reputationOf(f.revoked.deviceId)).to.deep.equal(before);
    expect((await f.registry.reputationOf(f.devices[0].deviceId)).score).to.equal(700n);
  });

  it("refuses an empty batch, a length not a multiple of 15, a reference never activated and bad values, writing nothing", async function () {
    const f = await loadFixture(auditorFixture);
    const a = f.registry.connect(f.auditor);
    const epoch = await f.registry.currentEpoch();
    const good = packScores([{ deviceId: f.devices[0].deviceId, score: 600, trend: 1 }]);
    await expect(a.updateScoresPacked("0x", epoch, ROOT, REPORTS))
      .to.be.revertedWithCustomError(f.registry, "MalformedPackedScores")
      .withArgs(0);
    await expect(a.updateScoresPacked(concat([good, "0x00"]), epoch, ROOT, REPORTS))
      .to.be.revertedWithCustomError(f.registry, "MalformedPackedScores")
      .withArgs(16);
    await expect(a.updateScoresPacked(good.slice(0, -2), epoch, ROOT, REPORTS))
      .to.be.revertedWithCustomError(f.registry, "MalformedPackedScores")
      .withArgs(14);
    for (const never of [f.dormant, f.stranger]) {
      const batch = packScores([
        { deviceId: f.devices[0].deviceId, score: 600, trend: 1 },
        { deviceId: never.deviceId, score: 600, trend: 1 },
      ]);
      await expect(a.updateScoresPacked(batch, epoch, ROOT, REPORTS))
        .to.be.revertedWithCustomError(f.registry, "RefNotAuditable")
        .withArgs(deviceRef(never.deviceId));
    }
    const ref = toBeHex(deviceRef(f.devices[0].deviceId), 12);
    await expect(a.updateScoresPacked(concat([ref, "0x03e9", "0x00"]), epoch, ROOT, REPORTS))
      .to.be.revertedWithCustomError(f.registry, "ScoreOutOfRange")
      .withArgs(1001);
    await expect(a.updateScoresPacked(concat([ref, "0x0001", "0xfe"]), epoch, ROOT, REPORTS))
      .to.be.revertedWithCustomError(f.registry, "InvalidTrend")
      .withArgs(-2);
    await expect(a.updateScoresPacked(concat([ref, "0x0001", "0x02"]), epoch, ROOT, REPORTS))
      .to.be.revertedWithCustomError(f.registry, "InvalidTrend")
      .withArgs(2);
    await expect(f.registry.connect(f.mallory).updateScoresPacked(good, epoch, ROOT, REPORTS))
      .to.be.revertedWithCustomError(f.registry, "NotAuditor")
      .withArgs(f.mallory.address);
    expect((await f.registry.reputationOf(f.devices[0].deviceId)).audited).to.equal(false);
  });

  it("writes the same state and events as updateScores for random batches (property)", async function () {
    const entry = fc.record({
      device: fc.integer({ min: 0, max: 4 }),
      score: fc.integer({ min: 0, max: 1000 }),
      trend: fc.integer({ min: -1, max: 1 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 8 }), fc.boolean(), async (raw, twice) => {
        const outcomes = [];
        for (const packed of [false, true]) {
          const f = await loadFixture(auditorFixture);
          const all = [...f.devices, f.revoked].map((d) => d.deviceId);
          const epoch = await f.registry.currentEpoch();
          const entries = raw.map((e) => ({ deviceId: all[e.device], score: e.score, trend: e.trend }));
          const a = f.registry.connect(f.auditor);
          const logs = [];
          // `twice`: a second batch in the same epoch (its entries all skipped as already changed).
          for (let round = 0; round < (twice ? 2 : 1); round++) {
            const tx = packed
              ? await a.updateScoresPacked(packScores(entries), epoch, ROOT, REPORTS)
              : await a.updateScores(entries, epoch, ROOT, REPORTS);
            const receipt = await tx.wait();
            for (const log of receipt!.logs) {
              const parsed = f.registry.interface.parseLog(log)!;
              // The skip event names the device by id in one path, by reference in the other.
              if (parsed.name === "RevokedDeviceSkipped")
                logs.push(["skip", deviceRef(parsed.args[0]), parsed.args[1]]);
              else if (parsed.name === "RevokedRefSkipped") logs.push(["skip", parsed.args[0], parsed.args[1]]);
              else logs.push([parsed.name, ...parsed.args]);
            }
          }
          const info = await f.registry.auditorInfo(f.auditor.address);
          outcomes.push({ state: await reputations(f, all), logs, earned: info.earned, budget: info.budget });
        }
        expect(outcomes[1]).to.deep.equal(outcomes[0]);
      }),
      { numRuns: 12 },
    );
  });
});
