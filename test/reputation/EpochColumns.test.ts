import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import Database from "better-sqlite3";

import { expect } from "chai";

import { MerkleTree } from "../../src/merkle/tree";
import { leafOrder } from "../../src/reputation/columns";
import { buildEpoch, buildEpochColumns } from "../../src/reputation/epoch";
import { leafBuffer } from "../../src/reputation/leaf";
import { aggregate, defaultModel } from "../../src/reputation/model";
import type { ModelParams, RatedReport, SubjectScore } from "../../src/reputation/model";
import { ReportStore } from "../../src/reputation/store";
import type { StoredReport } from "../../src/reputation/store";

const DAY = 86_400;
const MODEL = defaultModel(DAY);
const NOW = 20_000 * DAY;
const hex = (bytes: number) => `0x${crypto.randomBytes(bytes).toString("hex")}`;

/** The model as it was before reports were read as columns (string keys, one Map entry per pair). */
function previousAggregate(reports: RatedReport[], reference: number, params: ModelParams) {
  type Acc = { positive: number; negative: number; recentSum: number; recentCount: number };
  const pairs = new Map<string, Acc & { subjectId: string }>();
  const subjects = new Map<string, Acc & { reports: number; reporters: number }>();
  const lambda = Math.LN2 / params.halfLife;
  for (const r of reports) {
    const age = Math.max(0, reference - r.timestamp);
    if (age > params.horizon) continue;
    const weight = Math.exp(-lambda * age);
    const good = r.rating / 100;
    const key = r.reporterId + r.subjectId;
    const pair = pairs.get(key) ?? { subjectId: r.subjectId, positive: 0, negative: 0, recentSum: 0, recentCount: 0 };
    pairs.set(key, pair);
    pair.positive += weight * good;
    pair.negative += weight * (1 - good);
    if (age <= params.recent) {
      pair.recentSum += good;
      pair.recentCount += 1;
    }
    const s = subjects.get(r.subjectId) ?? {
      positive: 0,
      negative: 0,
      recentSum: 0,
      recentCount: 0,
      reports: 0,
      reporters: 0,
    };
    subjects.set(r.subjectId, s);
    s.reports += 1;
  }
  for (const pair of pairs.values()) {
    const s = subjects.get(pair.subjectId)!;
    const total = pair.positive + pair.negative;
    const scale = total > 1 ? 1 / total : 1;
    s.positive += pair.positive * scale;
    s.negative += pair.negative * scale;
    s.reporters += 1;
    if (pair.recentCount > 0) {
      s.recentSum += pair.recentSum / pair.recentCount;
      s.recentCount += 1;
    }
  }
  const scores = new Map<string, SubjectScore>();
  for (const [subjectId, s] of subjects) {
    const alpha = 1 + s.positive;
    const beta = 1 + s.negative;
    const score = Math.round((1000 * alpha) / (alpha + beta));
    let trend: -1 | 0 | 1 = 0;
    if (s.recentCount > 0) {
      const recent = (1000 * s.recentSum) / s.recentCount;
      if (recent >= score + params.trendThreshold) trend = 1;
      else if (recent <= score - params.trendThreshold) trend = -1;
    }
    scores.set(subjectId, { subjectId, score, trend, reports: s.reports, reporters: s.reporters });
  }
  return scores;
}

/** The epoch as it was built before: each leaf hashed, sorted with Buffer.compare, then scored. */
function previousEpoch(reports: StoredReport[], reference: number, params: ModelParams) {
  const keyed = reports.map((r) => ({ r, leaf: leafBuffer(r.digest) }));
  keyed.sort((a, b) => Buffer.compare(a.leaf, b.leaf));
  const ordered = keyed.map((k) => k.r);
  const tree = new MerkleTree(keyed.map((k) => k.leaf));
  return {
    root: tree.root,
    digests: ordered.map((r) => r.digest),
    scores: previousAggregate(ordered, reference, params),
  };
}

function randomReports(count: number, deviceCount: number): StoredReport[] {
  const devices = Array.from({ length: deviceCount }, () => hex(32));
  return Array.from({ length: count }, (_, i) => {
    const reporter = i % deviceCount;
    return {
      digest: hex(32),
      reporterId: devices[reporter],
      subjectId: devices[(reporter + 1 + crypto.randomInt(deviceCount - 1)) % deviceCount],
      interaction: hex(32),
      rating: crypto.randomInt(101),
      // Some beyond the horizon (left out), some in the recent window (the trend), a few in the future.
      timestamp: NOW - crypto.randomInt(-DAY, MODEL.horizon + 5 * DAY),
      signature: `0x${"00".repeat(65)}`,
      evidence: `0x${"00".repeat(65)}`,
    };
  });
}

/** Scores as plain entries, in the Map's order: the order is part of what must not change. */
const entries = (scores: Map<string, SubjectScore>) => [...scores.entries()];

describe("Epoch from columns (the auditor's fast path) against the previous algorithm", function () {
  it("orders packed leaves exactly as Buffer.compare, also when many share their first 4 bytes", function () {
    const count = 5_000;
    const leaves = crypto.randomBytes(count * 32);
    // A third of the leaves share one of three 4-byte prefixes, so runs of equal keys must be sorted whole.
    for (let i = 0; i < count; i += 3) leaves.writeUInt32BE([0, 0xdeadbeef, 0xffffffff][i % 3], i * 32);
    leaves.copy(leaves, 7 * 32, 4 * 32, 5 * 32); // and one leaf twice: equal leaves keep their input order
    const expected = Array.from({ length: count }, (_, i) => i).sort(
      (a, b) => Buffer.compare(leaves.subarray(a * 32, a * 32 + 32), leaves.subarray(b * 32, b * 32 + 32)) || a - b,
    );
    expect([...leafOrder(leaves, count)]).to.deep.equal(expected);
  });

  it("gives the same root, leaf order and scores (values and order) as before, on random epochs", function () {
    for (const [count, devices] of [
      [1, 2],
      [7, 2],
      [3_000, 40],
      [4_000, 400],
    ]) {
      const reports = randomReports(count, devices);
      const before = previousEpoch(reports, NOW, MODEL);
      const built = buildEpoch(reports, NOW, MODEL);
      expect(built.root).to.equal(before.root);
      expect(built.reports.map((r) => r.digest)).to.deep.equal(before.digests);
      expect(entries(built.scores)).to.deep.equal(entries(before.scores));
      expect(entries(aggregate(reports, NOW, MODEL))).to.deep.equal(entries(previousAggregate(reports, NOW, MODEL)));
    }
  });

  it("reads the same epoch back from the store (epochInput, then buildEpochColumns) as before", function () {
    const store = new ReportStore(":memory:");
    try {
      const reports = randomReports(5_000, 60);
      store.addMany(reports);
      const from = NOW - MODEL.horizon;
      const window = reports.filter((r) => r.timestamp >= from && r.timestamp <= NOW);
      const before = previousEpoch(window, NOW, MODEL);
      const columns = store.epochInput(from, NOW);
      const built = buildEpochColumns(columns, NOW, MODEL);
      expect(built.order.length).to.equal(window.length);
      expect(built.root).to.equal(before.root);
      expect(entries(built.scores)).to.deep.equal(entries(before.scores));
      // The digests the auditor records for the epoch (epoch_reports), read back by rowid in leaf order.
      expect(store.digestsAt(Array.from(built.order, (i) => columns.rows[i]))).to.deep.equal(before.digests);
      expect(() => store.digestsAt([10 ** 9])).to.throw("report row 1000000000 is no longer stored");
    } finally {
      store.close();
    }
  });

  it("reads every report of the window once, whatever the chunk size, with many reports in one second", function () {
    const store = new ReportStore(":memory:");
    try {
      // Timestamps from a few seconds only (some outside the window), so chunks end inside a second.
      const reports = randomReports(600, 20).map((r, i) => ({ ...r, timestamp: NOW - [0, 1, 1, 2, 5, -1][i % 6] }));
      store.addMany(reports);
      const window = reports.filter((r) => r.timestamp >= NOW - 2 && r.timestamp <= NOW);
      const before = previousEpoch(window, NOW, MODEL);
      for (const chunk of [1, 7, 100, 150, 1_000]) {
        const columns = store.epochInput(NOW - 2, NOW, chunk);
        const built = buildEpochColumns(columns, NOW, MODEL);
        expect(store.digestsAt(Array.from(built.order, (i) => columns.rows[i]))).to.deep.equal(before.digests);
        expect(built.root).to.equal(before.root);
        expect(entries(built.scores)).to.deep.equal(entries(before.scores));
      }
    } finally {
      store.close();
    }
  });

  it("migrates a database made with the previous schema on open, and gets the same epoch from it", function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-epoch-migrate-"));
    const file = path.join(dir, "auditor.sqlite");
    try {
      const reports = randomReports(2_000, 30);
      const old = new Database(file);
      old.exec(`
        CREATE TABLE reports (
          digest TEXT PRIMARY KEY, reporter TEXT NOT NULL, subject TEXT NOT NULL, interaction TEXT NOT NULL,
          rating INTEGER NOT NULL, timestamp INTEGER NOT NULL, signature TEXT NOT NULL, evidence TEXT NOT NULL,
          leaf BLOB NOT NULL, UNIQUE (reporter, subject, interaction));
        CREATE INDEX reports_by_time ON reports (timestamp);`);
      const insert = old.prepare("INSERT INTO reports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
      old.transaction(() => {
        for (const r of reports) {
          const fields = [r.digest, r.reporterId, r.subjectId, r.interaction, r.rating, r.timestamp];
          insert.run(...fields, r.signature, r.evidence, leafBuffer(r.digest));
        }
      })();
      old.close();
      const from = NOW - MODEL.horizon;
      const before = previousEpoch(
        reports.filter((r) => r.timestamp >= from && r.timestamp <= NOW),
        NOW,
        MODEL,
      );
      const store = new ReportStore(file);
      try {
        const built = buildEpochColumns(store.epochInput(from, NOW), NOW, MODEL);
        expect(built.root).to.equal(before.root);
        expect(entries(built.scores)).to.deep.equal(entries(before.scores));
        expect(store.count()).to.equal(reports.length);
      } finally {
        store.close();
      }
      const db = new Database(file, { readonly: true });
      const indexes = db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'reports'").all();
      db.close();
      expect(indexes.map((i) => (i as { name: string }).name))
        .to.include("reports_for_epochs")
        .and.not.include("reports_by_time");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
