import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { concat, getBytes, hexlify, id, toBeHex, zeroPadBytes, zeroPadValue } from "ethers";

import { deviceRef, packScores } from "../../src/reputation/packed";
import { auditorFixture } from "../shared/fixtures";

const ROOT = id("reports-20d-packed");
const SELECTOR = "updateScoresPacked";

async function setup() {
  const f = await auditorFixture();
  // Fund the pool, so that rewards are paid and counted.
  await f.registry.collectFeesPaidFromCredit([f.maker.address]);
  await time.increase(Number(await f.registry.epochLength()));
  const epoch = Number(await f.registry.currentEpoch());
  return { f, epoch, registry: await f.registry.getAddress() };
}

const word = (v: bigint | number) => zeroPadValue(toBeHex(v), 32);

/** Raw calldata of updateScoresPacked with the given head offset and tail. */
function raw(f: Awaited<ReturnType<typeof setup>>["f"], offset: number, epoch: number, count: number, tail: string) {
  const selector = f.registry.interface.getFunction(SELECTOR).selector;
  return concat([selector, word(offset), word(epoch), ROOT, word(count), tail]);
}

describe("attack review 20d: updateScoresPacked calldata", function () {
  it("attack: a reference with a zero or unknown manufacturer but a live device's low 64 bits is refused (RefNotAuditable), writing nothing", async function () {
    const { f, epoch } = await loadFixture(setup);
    const victim = f.devices[0].deviceId;
    const low = deviceRef(victim) & 0xffff_ffff_ffff_ffffn;
    for (const manufacturer of [0n, 2n, 0xffff_ffffn]) {
      const ref = (manufacturer << 64n) | low;
      const entry = concat([toBeHex(ref, 12), toBeHex(5, 2), toBeHex(0, 1)]);
      await expect(f.registry.connect(f.auditor).updateScoresPacked(entry, epoch, ROOT, 10))
        .to.be.revertedWithCustomError(f.registry, "RefNotAuditable")
        .withArgs(ref);
    }
    expect((await f.registry.reputationOf(victim)).audited).to.equal(false);
  });

  it("attack: a non-canonical offset (a gap holding another entry) writes exactly the bytes the ABI decoder names", async function () {
    const { f, epoch } = await loadFixture(setup);
    const [a, b] = f.devices;
    const decoy = packScores([{ deviceId: b.deviceId, score: 11, trend: 1 }]);
    const real = packScores([{ deviceId: a.deviceId, score: 22, trend: -1 }]);
    // Head says the bytes start at 0xa0: the word at 0x80 (a decoy entry) lies in a gap.
    const data = raw(f, 0xa0, epoch, 10, concat([zeroPadBytes(decoy, 32), word(15), zeroPadBytes(real, 32)]));
    const decoded = f.registry.interface.decodeFunctionData(SELECTOR, data);
    expect(decoded[0]).to.equal(real);
    await expect(f.auditor.sendTransaction({ to: f.registry, data }))
      .to.emit(f.registry, "ScoresUpdated")
      .withArgs(f.auditor.address, epoch, ROOT, 10, 1, 1);
    const ra = await f.registry.reputationOf(a.deviceId);
    expect([ra.score, ra.trend, ra.audited]).to.deep.equal([22n, -1n, true]);
    expect((await f.registry.reputationOf(b.deviceId)).audited).to.equal(false);
  });

  it("attack: an offset or length beyond calldata, or a length that wraps, reverts in decoding and writes nothing", async function () {
    const { f, epoch } = await loadFixture(setup);
    const a = f.devices[0];
    const real = packScores([{ deviceId: a.deviceId, score: 22, trend: 0 }]);
    const cases = [
      raw(f, 0x1000, epoch, 10, concat([word(15), zeroPadBytes(real, 32)])),
      raw(f, 0x80, epoch, 10, concat([word(15 * 3), zeroPadBytes(real, 32)])),
      raw(f, 0x80, epoch, 10, concat([word((1n << 256n) - 15n), zeroPadBytes(real, 32)])),
      raw(f, 0x80, epoch, 10, concat([word(1n << 64n), zeroPadBytes(real, 32)])),
    ];
    for (const data of cases) {
      await expect(f.auditor.sendTransaction({ to: f.registry, data })).to.be.revertedWithoutReason();
    }
    expect((await f.registry.reputationOf(a.deviceId)).audited).to.equal(false);
  });

  it("attack: through the token, bytes declared into the appended sender read the auditor's own address, never another's, and write nothing", async function () {
    const { f, epoch, registry } = await loadFixture(setup);
    // Declared length 15, no entry bytes: the token's 20-byte suffix (the caller) supplies them.
    const data = raw(f, 0x80, epoch, 10, word(15));
    await expect(f.auditor.sendTransaction({ to: registry, data })).to.be.revertedWithoutReason();
    const sender = getBytes(f.auditor.address);
    const ref = BigInt(hexlify(sender.slice(0, 12)));
    const score = (sender[12] << 8) | sender[13];
    const trend = sender[14] >= 128 ? sender[14] - 256 : sender[14];
    const call = f.token.connect(f.auditor).approveAndCall(registry, 0, data);
    if (score > 1000) await expect(call).to.be.revertedWithCustomError(f.registry, "ScoreOutOfRange").withArgs(score);
    else if (trend < -1 || trend > 1)
      await expect(call).to.be.revertedWithCustomError(f.registry, "InvalidTrend").withArgs(trend);
    else await expect(call).to.be.revertedWithCustomError(f.registry, "RefNotAuditable").withArgs(ref);
    // A stranger doing the same is refused as itself before any entry is read.
    await expect(f.token.connect(f.mallory).approveAndCall(registry, 0, data))
      .to.be.revertedWithCustomError(f.registry, "NotAuditor")
      .withArgs(f.mallory.address);
    for (const d of f.devices) expect((await f.registry.reputationOf(d.deviceId)).audited).to.equal(false);
  });

  it("attack: duplicates of one reference change and reward it once; more changes than reportCount revert", async function () {
    const { f, epoch } = await loadFixture(setup);
    const [a, b, c] = f.devices;
    const dupes = packScores([
      { deviceId: a.deviceId, score: 10, trend: 1 },
      { deviceId: a.deviceId, score: 20, trend: -1 },
      { deviceId: b.deviceId, score: 30, trend: 0 },
      { deviceId: a.deviceId, score: 40, trend: 0 },
    ]);
    const before = await f.registry.auditorInfo(f.auditor.address);
    await expect(f.registry.connect(f.auditor).updateScoresPacked(dupes, epoch, ROOT, 2))
      .to.emit(f.registry, "ScoresUpdated")
      .withArgs(f.auditor.address, epoch, ROOT, 2, 2, 2);
    const after = await f.registry.auditorInfo(f.auditor.address);
    expect(after.earned - before.earned).to.equal(2n * (await f.registry.auditReward()));
    expect((await f.registry.reputationOf(a.deviceId)).score).to.equal(10n);
    // A second batch the same epoch: a and b are skipped, c is new but the epoch's rewards are used up.
    const three = packScores([
      { deviceId: a.deviceId, score: 50, trend: 0 },
      { deviceId: b.deviceId, score: 50, trend: 0 },
      { deviceId: c.deviceId, score: 50, trend: 0 },
    ]);
    await expect(f.registry.connect(f.auditor).updateScoresPacked(three, epoch, ROOT, 2))
      .to.emit(f.registry, "ScoresUpdated")
      .withArgs(f.auditor.address, epoch, ROOT, 2, 1, 0);
    expect((await f.registry.auditorInfo(f.auditor.address)).earned).to.equal(after.earned);
    // Next epoch: three changes against two reports revert, writing nothing.
    await time.increase(Number(await f.registry.epochLength()));
    const next = Number(await f.registry.currentEpoch());
    const again = packScores([
      { deviceId: a.deviceId, score: 60, trend: 0 },
      { deviceId: b.deviceId, score: 60, trend: 0 },
      { deviceId: c.deviceId, score: 60, trend: 0 },
    ]);
    await expect(f.registry.connect(f.auditor).updateScoresPacked(again, next, ROOT, 2))
      .to.be.revertedWithCustomError(f.registry, "ChangesExceedReports")
      .withArgs(3, 2);
    expect((await f.registry.reputationOf(a.deviceId)).score).to.equal(10n);
  });
});
