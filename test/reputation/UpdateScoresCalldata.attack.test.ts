import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { concat, id, solidityPacked, toBeHex, zeroPadValue } from "ethers";

import { EPOCH_LENGTH, auditorFixture } from "../shared/fixtures";

/**
 * Outside attack review of issue 20's gas work, reputation side: `updateScores` now reads its entries with
 * raw calldataload. Every crafted calldata here is sent by the auditor itself (or through the token, the
 * trusted forwarder); the oracle for "what the auditor meant" is ethers' ABI decoder on the same bytes.
 */
const ROOT = id("reports");
const W = (v: bigint | number): string => zeroPadValue(toBeHex(BigInt.asUintN(256, BigInt(v))), 32);

describe("outside attack review (issue 20): updateScores reads its entries from raw calldata", function () {
  async function setup() {
    const f = await loadFixture(auditorFixture);
    const epoch = await f.registry.currentEpoch();
    const selector = f.registry.interface.getFunction("updateScores").selector;
    const registry = await f.registry.getAddress();
    const send = (words: string[], extra = "0x") =>
      f.auditor.sendTransaction({ to: registry, data: concat([selector, ...words, extra]) });
    return { f, epoch, selector, registry, send };
  }

  it("attack: dirty high bits in score, trend, epoch or count are refused, never masked into a different score", async function () {
    const { f, epoch, send } = await setup();
    const d = f.devices[0].deviceId;
    const head = (count = 10n, ep: bigint = epoch) => [W(0x80), W(ep), ROOT, W(count), W(1)];
    const cases: [bigint, bigint, string, bigint?][] = [
      [(1n << 16n) | 5n, 0n, "MalformedScoreUpdate", (1n << 16n) | 5n],
      [(1n << 255n) | 5n, 0n, "MalformedScoreUpdate", (1n << 255n) | 5n],
      [0xffffn, 0n, "ScoreOutOfRange", 0xffffn],
      [1001n, 0n, "ScoreOutOfRange", 1001n],
      [5n, 0xffn, "MalformedScoreUpdate", 0xffn], // -1 not sign-extended
      [5n, 0x101n, "MalformedScoreUpdate", 0x101n], // 1 with a dirty bit
      [5n, 1n << 255n, "MalformedScoreUpdate", 1n << 255n],
      [5n, (1n << 256n) - 0x100n, "MalformedScoreUpdate", (1n << 256n) - 0x100n], // 0 with dirty high bits
      [5n, (1n << 256n) - 2n, "InvalidTrend", -2n],
      [5n, 0x7fn, "InvalidTrend", 0x7fn],
    ];
    for (const [score, trend, error, arg] of cases) {
      const p = expect(send([...head(), d, W(score), W(trend)])).to.be.revertedWithCustomError(f.registry, error);
      if (error === "MalformedScoreUpdate") await p.withArgs(d, arg);
      else await p.withArgs(arg);
    }
    // Dirty epoch / count words: the ABI decoder refuses them (no score written).
    await expect(send([...head(10n, epoch | (1n << 32n)), d, W(5), W(0)])).to.be.reverted;
    await expect(send([...head((1n << 32n) | 10n), d, W(5), W(0)])).to.be.reverted;
    expect((await f.registry.reputationOf(d)).audited).to.equal(false);
    // The well-formed extremes pass: 1000 with -1 (all ones), 0 with +1.
    await send([...head(), d, W(1000), W((1n << 256n) - 1n)]);
    const rep = await f.registry.reputationOf(d);
    expect([rep.score, rep.trend]).to.deep.equal([1000n, -1n]);
  });

  it("attack: non-canonical offsets (gaps, an array overlapping the head) write exactly what an ABI decoder reads", async function () {
    const { f, epoch, send } = await setup();
    const [d0, d1, d2] = f.devices.map((d) => d.deviceId);
    const check = async (data: string[]) => {
      const full = concat([f.registry.interface.getFunction("updateScores").selector, ...data]);
      const decoded = f.registry.interface.decodeFunctionData("updateScores", full);
      await send(data);
      for (const u of decoded[0] as { deviceId: string; score: bigint; trend: bigint }[]) {
        const rep = await f.registry.reputationOf(u.deviceId);
        expect([rep.score, rep.trend, rep.audited]).to.deep.equal([u.score, u.trend, true]);
        expect((await f.registry.getDevice(u.deviceId)).owner).to.equal(f.alice.address);
      }
      return decoded;
    };
    // A gap of junk (a fake, valid-looking entry) between the head and the real array.
    const junk = [W(1), d2, W(999), W(1)];
    const decoded = await check([W(0x80 + 0x80), W(epoch), ROOT, W(10), ...junk, W(1), d0, W(321), W(1)]);
    expect(decoded[0].length).to.equal(1);
    expect((await f.registry.reputationOf(d2)).audited).to.equal(false); // the junk was not read
    // An array whose length word is the head's `reportCount` (1), its entry right after: valid but overlapping.
    await check([W(0x60), W(epoch), ROOT, W(1), d1, W(42), W((1n << 256n) - 1n)]);
    // Offsets or lengths pointing outside calldata revert without writing.
    await time.increase(EPOCH_LENGTH);
    const next = epoch + 1n;
    const before = await f.registry.reputationOf(d0);
    for (const words of [
      [W(1n << 64n), W(next), ROOT, W(10), W(1), d0, W(1), W(0)], // offset beyond 64 bits
      [W((1n << 256n) - 0x20n), W(next), ROOT, W(10), W(1), d0, W(1), W(0)], // offset that would wrap
      [W(0x20), W(next), ROOT, W(10), W(1), d0, W(1), W(0)], // length := epoch (thousands of entries)
      [W(0x80), W(next), ROOT, W(10), W(2), d0, W(1), W(0)], // one entry short
      [W(0x80), W(next), ROOT, W(10), W((1n << 64n) - 1n), d0, W(1), W(0)], // huge length
      [W(0x80), W(next), ROOT, W(10), W(1n << 64n), d0, W(1), W(0)],
      [W(0x80), W(next), ROOT, W(10), W(1n << 255n), d0, W(1), W(0)], // length * 0x60 would wrap
      [
        W(0x80),
        W(next),
        ROOT,
        W(10),
        W(0x0555555555555555555555555555555555555555555555555555555555555556n),
        d0,
        W(1),
        W(0),
      ],
    ]) {
      await expect(send(words)).to.be.reverted;
    }
    // Short calldata: the canonical call minus one byte.
    const good = f.registry.interface.encodeFunctionData("updateScores", [
      [{ deviceId: d0, score: 7, trend: 0 }],
      next,
      ROOT,
      10,
    ]);
    await expect(f.auditor.sendTransaction({ to: await f.registry.getAddress(), data: good.slice(0, -2) })).to.be
      .reverted;
    expect(await f.registry.reputationOf(d0)).to.deep.equal(before);
  });

  it("attack: a revoked device in a batch is skipped (never written or rewarded), before or after its first score", async function () {
    const { f, epoch } = await setup();
    const a = f.registry.connect(f.auditor);
    const [d0, d1] = f.devices.map((d) => d.deviceId);
    const revoked = f.revoked.deviceId;
    // The fixture's fees were all paid from credit: the pool holds them once collected (as the auditor does).
    await f.registry.collectFeesPaidFromCredit([f.maker.address]);
    await expect(
      a.updateScores(
        [
          { deviceId: revoked, score: 900, trend: 1 },
          { deviceId: d0, score: 900, trend: 1 },
          { deviceId: revoked, score: 1, trend: -1 },
        ],
        epoch,
        ROOT,
        1, // only one change may be counted, else ChangesExceedReports
      ),
    )
      .to.emit(f.registry, "RevokedDeviceSkipped")
      .withArgs(revoked, epoch)
      .and.to.emit(f.registry, "ScoresUpdated")
      .withArgs(f.auditor.address, epoch, ROOT, 1, 1n, 1n);
    expect((await f.registry.reputationOf(revoked)).audited).to.equal(false);
    // Scored first, then revoked: later scores are skipped and the revocation is not cleared by a write.
    await a.updateScores([{ deviceId: d1, score: 10, trend: 0 }], epoch, ROOT, 1);
    await f.registry.connect(f.maker).revokeDevice(d1, 1);
    await time.increase(EPOCH_LENGTH);
    const next = epoch + 1n;
    for (let i = 0; i < 2; i++) {
      await expect(a.updateScores([{ deviceId: d1, score: 20 + i, trend: 1 }], next, ROOT, 0))
        .to.emit(f.registry, "RevokedDeviceSkipped")
        .withArgs(d1, next);
    }
    const rep = await f.registry.reputationOf(d1);
    expect([rep.score, rep.trend, rep.epoch]).to.deep.equal([10n, 0n, epoch]);
  });

  it("attack: duplicates in a batch, unchanged scores and a second batch in the epoch are counted once; changes beyond reportCount revert", async function () {
    const { f, epoch } = await setup();
    const a = f.registry.connect(f.auditor);
    const [d0, d1] = f.devices.map((d) => d.deviceId);
    const reward = await f.registry.auditReward();
    await f.token.connect(f.mallory).transfer(await f.registry.getAddress(), 100n * 10n ** 18n);
    await expect(
      a.updateScores(
        [
          { deviceId: d0, score: 100, trend: 1 },
          { deviceId: d0, score: 200, trend: -1 },
          { deviceId: d0, score: 100, trend: 1 },
        ],
        epoch,
        ROOT,
        3,
      ),
    )
      .to.emit(f.registry, "ScoresUpdated")
      .withArgs(f.auditor.address, epoch, ROOT, 3, 1n, 1n);
    expect([(await f.registry.reputationOf(d0)).score]).to.deep.equal([100n]);
    expect((await f.registry.auditorInfo(f.auditor.address)).earned).to.equal(reward);
    await expect(
      a.updateScores(
        [
          { deviceId: d0, score: 300, trend: 0 },
          { deviceId: d1, score: 300, trend: 0 },
        ],
        epoch,
        ROOT,
        0,
      ),
    )
      .to.be.revertedWithCustomError(f.registry, "ChangesExceedReports")
      .withArgs(1, 0);
    // Next epoch: the same score and trend is skipped, the same score with another trend is a change.
    await time.increase(EPOCH_LENGTH);
    const next = epoch + 1n;
    await expect(
      a.updateScores(
        [
          { deviceId: d0, score: 100, trend: 1 },
          { deviceId: d1, score: 0, trend: 0 },
        ],
        next,
        ROOT,
        5,
      ),
    )
      .to.emit(f.registry, "ScoresUpdated")
      .withArgs(f.auditor.address, next, ROOT, 5, 1n, 1n);
    await expect(a.updateScores([{ deviceId: d0, score: 100, trend: 0 }], next + 0n, ROOT, 5))
      .to.emit(f.registry, "ScoresUpdated")
      .withArgs(f.auditor.address, next, ROOT, 5, 1n, 1n);
    const rep = await f.registry.reputationOf(d0);
    expect([rep.score, rep.trend, rep.epoch]).to.deep.equal([100n, 0n, next]);
    // A first audit to score 0, trend 0 is a change (scorePlusOne = 1), and is rewarded.
    expect((await f.registry.reputationOf(d1)).audited).to.equal(true);
    expect((await f.registry.reputationOf(d1)).score).to.equal(0n);
  });

  it("attack: through the token (trusted forwarder) the appended sender cannot complete a truncated entry or be spoofed", async function () {
    const { f, epoch, registry } = await setup();
    const d0 = f.devices[0].deviceId;
    const good = f.registry.interface.encodeFunctionData("updateScores", [
      [{ deviceId: d0, score: 7, trend: 0 }],
      epoch,
      ROOT,
      10,
    ]);
    // Truncate the last 20 bytes (of the trend word): the token's 20-byte suffix fills them with the sender.
    const truncated = good.slice(0, -40);
    await expect(f.token.connect(f.auditor).approveAndCall(registry, 0, truncated))
      .to.be.revertedWithCustomError(f.registry, "MalformedScoreUpdate")
      .withArgs(d0, BigInt(f.auditor.address));
    // A stranger appending the auditor's address, directly or through the token, is still itself.
    await expect(
      f.mallory.sendTransaction({
        to: registry,
        data: solidityPacked(["bytes", "address"], [good, f.auditor.address]),
      }),
    )
      .to.be.revertedWithCustomError(f.registry, "NotAuditor")
      .withArgs(f.mallory.address);
    await expect(
      f.token
        .connect(f.mallory)
        .approveAndCall(registry, 0, solidityPacked(["bytes", "address"], [good, f.auditor.address])),
    )
      .to.be.revertedWithCustomError(f.registry, "NotAuditor")
      .withArgs(f.mallory.address);
    // The genuine call through the token writes exactly the entry.
    await f.token.connect(f.auditor).approveAndCall(registry, 0, good);
    const rep = await f.registry.reputationOf(d0);
    expect([rep.score, rep.trend, rep.audited]).to.deep.equal([7n, 0n, true]);
  });

  it("attack: a score write leaves the owner and every other device's word intact (no cross-slot write)", async function () {
    const { f, epoch } = await setup();
    const [d0, d1, d2, d3] = f.devices.map((d) => d.deviceId);
    const before = await Promise.all([d1, d2, d3].map((d) => f.registry.getDevice(d)));
    await f.registry.connect(f.auditor).updateScores([{ deviceId: d0, score: 1000, trend: -1 }], epoch, ROOT, 1);
    const after = await Promise.all([d1, d2, d3].map((d) => f.registry.getDevice(d)));
    expect(after.map((v) => v.toString())).to.deep.equal(before.map((v) => v.toString()));
    const v0 = await f.registry.getDevice(d0);
    expect([v0.owner, v0.score, v0.trend]).to.deep.equal([f.alice.address, 1000n, -1n]);
    // Ownership moves keep the score (the owner write keeps the other fields and vice versa).
    await f.registry.connect(f.alice).transferDevice(d0, f.mallory.address);
    const moved = await f.registry.getDevice(d0);
    expect([moved.owner, moved.score, moved.trend]).to.deep.equal([f.mallory.address, 1000n, -1n]);
  });
});
