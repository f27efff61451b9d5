import { expect } from "chai";
import fs from "node:fs";
import path from "node:path";

import { GAS_ANCHORS } from "../../src/bench/anchors";
import { UNAVOIDABLE } from "../../src/bench/bound";
import { L2_TARGETS, l2Miss } from "../../src/bench/l2";
import { buildGasReport, renderMarkdown } from "../../src/bench/report";
import type { GasReport } from "../../src/bench/report";

const COMMITTED = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "gas-report.json"), "utf8")) as GasReport;

describe("gas report", function () {
  it("gives every anchor its ratio, a further peer its own row, and names each missed target", function () {
    const report = buildGasReport({
      "wallet.execute 2-of-3 (ETH transfer)": 53_595,
      "reputation.updateScore (existing score)": 38_564,
      "an operation without an anchor": 1_000,
    });
    const byName = new Map(report.rows.map((r) => [r.operation, r]));
    expect(byName.get("wallet.execute 2-of-3 (ETH transfer)")).to.include({
      anchor: 65_163,
      target: 55_000,
      ratio: 0.822,
      missesBy: null,
    });
    expect(byName.get("wallet.execute 2-of-3 (ETH transfer) vs SimpleMultiSig")).to.include({
      gas: 53_595,
      anchor: 59_968,
      target: null,
      ratio: 0.894,
    });
    expect(byName.get("an operation without an anchor")).to.include({ anchor: null, ratio: null, target: null });
    expect(report.misses).to.deep.equal([
      "reputation.updateScore (existing score): 38,564 gas misses its target of 35,000 by 3,564",
    ]);
  });

  it("every anchor names its source, and every target is positive", function () {
    for (const [operation, a] of Object.entries(GAS_ANCHORS)) {
      if (a.anchor !== undefined) expect(a.source, operation).to.be.a("string").and.not.equal("");
      if (a.target !== undefined) expect(a.target, operation).to.be.greaterThan(0);
      for (const peer of a.also ?? []) expect(peer.source, `${operation} vs ${peer.peer}`).to.not.equal("");
    }
  });

  it("gives a row measured from a transaction its lower bound, gas/bound, a plain miss above 1.10×, and its L2 size", function () {
    // updateScore's bound: 21,000 + calldata + two rewritten words (10,000) + its log. The calldata is 4
    // non-zero bytes and 64 zero bytes: 16 + 64 tokens, 320 gas.
    const data = "0x12345678" + "00".repeat(64);
    const transactions = {
      "reputation.updateScore (existing score)": {
        to: "0x000000000000000000000000000000000000dEaD",
        data,
        value: "0",
        gasLimit: "50000",
        logs: [{ topics: 2, dataBytes: 96 }],
      },
    };
    const bound = 21_000 + 320 + 10_000 + (375 + 750 + 768);
    const within = buildGasReport({ "reputation.updateScore (existing score)": bound + 100 }, "t", transactions);
    const row = within.rows[0];
    expect(row).to.include({ bound, boundRatio: Math.round(((bound + 100) / bound) * 1000) / 1000 });
    expect(row.boundMissPercent).to.equal(null);
    expect(row.l2!.rlpBytes).to.be.greaterThan(68);
    expect(row.l2!.fjordBytes).to.equal(100);
    expect(within.boundMisses).to.deep.equal([]);

    const missed = buildGasReport({ "reputation.updateScore (existing score)": 38_000 }, "t", transactions);
    // 38,000 / (1.10 × 33,213) − 1 = 4.01…%, rounded up to a tenth.
    expect(missed.rows[0].boundMissPercent).to.equal(4.1);
    expect(missed.boundMisses).to.deep.equal([
      `reputation.updateScore (existing score): 38,000 gas is 1.144× its lower bound of 33,213, missing 1.10× by 4.1%: ${UNAVOIDABLE["reputation.updateScore (existing score)"].excess ?? "no reason recorded"}`,
    ]);
    expect(renderMarkdown(missed)).to.contain("| misses by 4.1% |");
    // A figure computed from others has no transaction: no bound, no L2 size.
    const computed = buildGasReport({ "reputation.updateScores per device (100, existing)": 7_417 }, "t", transactions);
    expect(computed.rows[0]).to.include({ bound: null, boundRatio: null, l2: null });
  });

  it("names an L2 target's miss plainly, with its reason, and says nothing of a row within it", function () {
    const op = "channels.closeBatch (20 ETH channels, distinct groups of 1,024, total)";
    const t = L2_TARGETS[op];
    const size = (fastlzBytes: number) => ({ rlpBytes: fastlzBytes + 100, fastlzBytes, fjordBytes: 0 });
    expect(l2Miss(op, size(t.fastlzBytes))).to.equal(null);
    expect(l2Miss(op, null)).to.equal(null);
    expect(l2Miss("token.transfer (existing holder)", size(1_000_000))).to.equal(null);
    expect(l2Miss(op, size(t.fastlzBytes + 1_234))).to.equal(
      `${op}: ${(t.fastlzBytes + 1_234).toLocaleString("en-US")} FastLZ bytes miss the L2 target of ${t.fastlzBytes.toLocaleString("en-US")} (${t.source}) by 1,234: ${t.excess}`,
    );
  });

  it("the committed report (gas-report.json) gives every row above 1.10× its bound, and every L2 miss, its reason", function () {
    const unexplained = [...COMMITTED.boundMisses, ...(COMMITTED.l2Misses ?? [])].filter((m) =>
      m.endsWith("no reason recorded"),
    );
    expect(unexplained).to.deep.equal([]);
    // Every L2 target names a row the report measures, with its L2 size.
    for (const op of Object.keys(L2_TARGETS)) {
      const row = COMMITTED.rows.find((r) => r.operation === op);
      expect(row?.l2, op).to.not.equal(null);
      expect(row?.l2, op).to.not.equal(undefined);
    }
  });
});
