import { expect } from "chai";

import type { DemoResult } from "../../src/demo";
import { runInProcess as run } from "../shared/cli";

/** `npx hardhat demo` on the in-process network: the whole network, in the order the README gives. */
describe("demo (in-process network)", function () {
  this.timeout(240_000);

  it("runs every part of the network in order, with the gas of every on-chain step, in under two minutes", async function () {
    const result = await run<DemoResult>("demo", {});
    const titles = result.steps.map((s) => s.title);
    const order = [
      /^Deploy the system$/,
      /admits a manufacturer/,
      /Register a fleet of 1,000 devices by Merkle root/,
      /^Owner activates/,
      /wallets of their own/,
      /open group channels/,
      /buy access slots; the device checks HOTP codes/,
      /report on each other/,
      /auditor scores the epoch/,
      /Validation shows the audited reputation/,
      /closes both channels in one batch/,
      /auditor withdraws its reward/,
    ];
    let at = -1;
    for (const pattern of order) {
      const index = titles.findIndex((t, i) => i > at && pattern.test(t));
      expect(index, `${pattern} after step ${at + 1} in:\n${titles.join("\n")}`).to.be.greaterThan(at);
      at = index;
    }
    const gasOf = (pattern: RegExp) => result.steps.find((s) => pattern.test(s.title))?.gasUsed ?? 0n;
    expect(gasOf(/closes both channels in one batch/)).to.be.greaterThan(0n);
    expect(gasOf(/auditor scores the epoch/)).to.be.greaterThan(0n);
    expect(result.steps.find((s) => /Validation shows/.test(s.title))?.detail).to.match(/\d+\/1000 rising/);
    expect(result.steps.find((s) => /report on each other/.test(s.title))?.detail).to.match(/refused \(409/);
    expect(result.totalGas).to.equal(result.steps.reduce((sum, s) => sum + s.gasUsed, 0n));
    expect(result.seconds).to.be.lessThan(120);
  });
});
