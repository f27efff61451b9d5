import { expect } from "chai";
import fc from "fast-check";

import { buildEpoch, proveInclusion } from "../../src/reputation/epoch";
import { aggregate, defaultModel } from "../../src/reputation/model";
import type { RatedReport } from "../../src/reputation/model";
import type { StoredReport } from "../../src/reputation/store";

const DAY = 86_400;
const MODEL = defaultModel(DAY);
const NOW = 1_000 * DAY;
const id = (n: number) => `0x${n.toString(16).padStart(64, "0")}`;

function report(reporter: number, subject: number, rating: number, age = 0): RatedReport {
  return { reporterId: id(reporter), subjectId: id(subject), rating, timestamp: NOW - age };
}

function scoreOf(reports: RatedReport[], subject = 1) {
  const s = aggregate(reports, NOW, MODEL).get(id(subject));
  if (s === undefined) throw new Error("no score");
  return s;
}

const arbReport = fc.record({
  reporterId: fc.integer({ min: 2, max: 12 }).map(id),
  subjectId: fc.integer({ min: 1, max: 3 }).map(id),
  rating: fc.integer({ min: 0, max: 100 }),
  timestamp: fc.integer({ min: NOW - MODEL.horizon, max: NOW + 100 }),
});

/** Stored reports with distinct digests. */
const arbStored = fc
  .uniqueArray(fc.tuple(arbReport, fc.uint8Array({ minLength: 32, maxLength: 32 })), {
    minLength: 1,
    maxLength: 40,
    selector: ([, d]) => Buffer.from(d).toString("hex"),
  })
  .map((items) =>
    items.map(([r, d]): StoredReport => ({
      ...r,
      digest: `0x${Buffer.from(d).toString("hex")}`,
      interaction: id(0),
      signature: "0x",
      evidence: "0x",
    })),
  );

describe("Reputation model (beta reputation with time decay)", function () {
  it("starts at 500 and moves with the evidence: good reports up, bad reports down, more reporters further", function () {
    expect(scoreOf([report(2, 1, 50)]).score).to.equal(500);
    const one = scoreOf([report(2, 1, 100)]).score;
    const three = scoreOf([report(2, 1, 100), report(3, 1, 100), report(4, 1, 100)]).score;
    expect(one).to.equal(667);
    expect(three).to.equal(800);
    expect(scoreOf([report(2, 1, 0)]).score).to.equal(333);
  });

  it("counts one reporter at most once: a hundred reports by one device weigh what one does", function () {
    const spam = Array.from({ length: 100 }, () => report(2, 1, 100));
    expect(scoreOf(spam).score).to.equal(scoreOf([report(2, 1, 100)]).score);
    expect(scoreOf(spam).reports).to.equal(100);
    expect(scoreOf(spam).reporters).to.equal(1);
  });

  it("forgets: a report one half-life old counts half, and one past the horizon not at all", function () {
    // α = 1 + 0.5 → 1.5 / 2.5
    expect(scoreOf([report(2, 1, 100, MODEL.halfLife)]).score).to.equal(600);
    expect(aggregate([report(2, 1, 100, MODEL.horizon + 1)], NOW, MODEL).size).to.equal(0);
  });

  it("turns the trend with recent behaviour: rising after good news on a bad record, falling after bad news", function () {
    const bad = [2, 3, 4, 5].map((r) => report(r, 1, 0, 10 * DAY));
    expect(scoreOf([...bad, report(6, 1, 100)]).trend).to.equal(1);
    const good = [2, 3, 4, 5].map((r) => report(r, 1, 100, 10 * DAY));
    expect(scoreOf([...good, report(6, 1, 0)]).trend).to.equal(-1);
    expect(scoreOf(good).trend).to.equal(0); // nothing recent
  });

  it("property: every score is a whole number in 0..1000 and every trend is -1, 0 or +1", function () {
    fc.assert(
      fc.property(fc.array(arbReport, { minLength: 1, maxLength: 60 }), (reports) => {
        for (const s of aggregate(reports, NOW, MODEL).values()) {
          expect(Number.isInteger(s.score) && s.score >= 0 && s.score <= 1000).to.equal(true);
          expect([-1, 0, 1]).to.include(s.trend);
        }
      }),
    );
  });

  it("property: a better rating never lowers a score", function () {
    fc.assert(
      fc.property(fc.array(arbReport, { maxLength: 30 }), fc.integer({ min: 0, max: 99 }), (others, rating) => {
        const worse = scoreOf([...others, report(20, 1, rating)]).score;
        const better = scoreOf([...others, report(20, 1, rating + 1)]).score;
        expect(better).to.be.at.least(worse);
      }),
    );
  });

  it("property: an epoch's root and scores do not depend on the order the reports arrived in", function () {
    fc.assert(
      fc.property(arbStored, fc.infiniteStream(fc.nat()), (reports, shuffle) => {
        const shuffled = reports.slice();
        const it = shuffle[Symbol.iterator]();
        for (let i = shuffled.length - 1; i > 0; i--) {
          const j = (it.next().value as number) % (i + 1);
          [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
        }
        const a = buildEpoch(reports, NOW, MODEL);
        const b = buildEpoch(shuffled, NOW, MODEL);
        expect(b.root).to.equal(a.root);
        expect([...b.scores.entries()]).to.deep.equal([...a.scores.entries()]);
        // Every report is provably in the root; a proof for one report does not prove another.
        a.reports.forEach((r, i) => expect(proveInclusion(a.root, r.digest, a.tree.proof(i))).to.equal(true));
        if (a.reports.length > 1) expect(proveInclusion(a.root, a.reports[1].digest, a.tree.proof(0))).to.equal(false);
      }),
      { numRuns: 50 },
    );
  });
});
