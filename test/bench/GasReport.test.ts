import { expect } from "chai";

import { GAS_ANCHORS } from "../../src/bench/anchors";
import { buildGasReport } from "../../src/bench/report";

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
});
