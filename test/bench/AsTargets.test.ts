import { expect } from "chai";

import { evaluateAsTargets, renderAsReport } from "../../src/bench/as-targets";
import type { AsRun } from "../../src/bench/as-targets";

/** A run as `bench:as` measures it; the tests change only what they are about. No clock is read here. */
function run(overrides: Partial<AsRun>): AsRun {
  return {
    clients: 64,
    seconds: 10,
    exchanges: 30_000,
    busy: 0,
    failures: 0,
    exchangesPerSecond: 3_000,
    p50ms: 15,
    p99ms: 40,
    okP99ms: 40,
    busyP99ms: 0,
    receiptsOnDisk: 30_000,
    asCpuMsPerExchange: 0.25,
    clientCpuMsPerExchange: 0.2,
    clientLoopDelayP99ms: 12,
    warmup: { seconds: 1, exchanges: 0, busy: 0, failures: 0 },
    ...overrides,
  };
}

describe("bench:as targets", function () {
  it("names each missed target and by how much: throughput against half the ceiling, p99, durability", function () {
    const report = renderAsReport({
      recoverOnlyPerSecond: 8_000,
      runs: [run({ exchangesPerSecond: 987, p99ms: 158.98, receiptsOnDisk: 29_990 })],
    });
    expect(report).to.contain(
      "MISSED: 64 clients: throughput ≥ 50% of the recover-only ceiling (8,000/s), i.e. ≥ 4,000/s by 3,013/s (987/s)",
    );
    expect(report).to.contain("MISSED: 64 clients: p99 ≤ 50 ms by 109 ms (159 ms)");
    expect(report).to.contain(
      "MISSED: 64 clients: every receipt answered with an OTP is on disk by 10 receipts missing",
    );
    expect(report).to.contain("met: 64 clients: every answer is an OTP or a busy answer");
    expect(report).to.contain("3 of 4 targets MISSED.");
  });

  it("says met for every target a run meets, and judges a 2,048-client run on overload", function () {
    const rows = evaluateAsTargets({
      recoverOnlyPerSecond: 5_000,
      runs: [
        run({ exchangesPerSecond: 2_500, p99ms: 50 }),
        run({ clients: 2_048, exchangesPerSecond: 2_000, busy: 9_000, p99ms: 400, busyP99ms: 20 }),
      ],
    });
    expect(rows.map((r) => [r.target, r.missedBy])).to.deep.equal([
      ["64 clients: throughput ≥ 50% of the recover-only ceiling (5,000/s), i.e. ≥ 2,500/s", null],
      ["64 clients: p99 ≤ 50 ms", null],
      ["64 clients: every receipt answered with an OTP is on disk", null],
      ["64 clients: every answer is an OTP or a busy answer (429/503), nothing else", null],
      ["2,048 clients: p99 of every answer ≤ 1,000 ms (load shed, not queued)", null],
      ["2,048 clients: busy answers (429/503) within 250 ms (p99)", null],
      ["2,048 clients: every receipt answered with an OTP is on disk", null],
      ["2,048 clients: every answer is an OTP or a busy answer (429/503), nothing else", null],
    ]);
  });

  it("counts the warm-up's OTPs and failures in durability and failures, and names a cold AS", function () {
    const warmup = { seconds: 1, exchanges: 4_000, busy: 0, failures: 1, failureKinds: { ECONNRESET: 1 } };
    const report = renderAsReport({
      recoverOnlyPerSecond: 5_000,
      runs: [
        // 34,000 receipts answered (4,000 in the warm-up) and 33,990 on disk: 10 lost, though the timed run's
        // 30,000 alone would look whole.
        run({ clients: 2_048, busy: 9_000, p99ms: 400, busyP99ms: 20, receiptsOnDisk: 33_990, warmup }),
        run({ clients: 2_048, busy: 9_000, p99ms: 400, busyP99ms: 300, warmup: undefined }),
      ],
    });
    expect(report).to.contain("after a 1 s warm-up (4,000 OTPs, 0 busy answers, 1 failures: 1 ECONNRESET)");
    expect(report).to.contain(
      "MISSED: 2,048 clients: every receipt answered with an OTP is on disk by 10 receipts missing (33,990 of 34,000 (4,000 of them in the warm-up))",
    );
    expect(report).to.contain(
      "MISSED: 2,048 clients: every answer is an OTP or a busy answer (429/503), nothing else by 1 answers (1 other answers or errors (1 in the warm-up))",
    );
    expect(report).to.contain("MISSED: 2,048 clients, cold AS: busy answers (429/503) within 250 ms (p99) by 50 ms");
    expect(report).to.contain("met: 2,048 clients, cold AS: every receipt answered with an OTP is on disk");
  });

  it("reports an overload run that queues instead of shedding, and a receipt stored without its OTP", function () {
    const report = renderAsReport({
      recoverOnlyPerSecond: 5_000,
      runs: [run({ clients: 2_048, p99ms: 11_273.2, receiptsOnDisk: 30_002, failures: 2 })],
    });
    expect(report).to.contain(
      "MISSED: 2,048 clients: p99 of every answer ≤ 1,000 ms (load shed, not queued) by 10,273.2 ms (11,273.2 ms)",
    );
    expect(report).to.contain(
      "MISSED: 2,048 clients: every receipt answered with an OTP is on disk by 2 receipts stored without an OTP",
    );
    expect(report).to.contain(
      "MISSED: 2,048 clients: every answer is an OTP or a busy answer (429/503), nothing else by 2 answers",
    );
    expect(report).to.not.contain("throughput");
  });

  it("names the failures by kind and the receipts the clients had to sign during the run", function () {
    const failing = run({ failures: 3, failureKinds: { "HTTP 409": 2, ECONNRESET: 1 }, signedDuringRun: 1_600 });
    const report = renderAsReport({ recoverOnlyPerSecond: 8_000, runs: [failing, run({ clients: 32 })] });
    const [line, clean] = report.split("\n").slice(1, 3);
    expect(line).to.contain("(30,000 OTPs, 0 busy answers, 3 failures: 2 HTTP 409, 1 ECONNRESET)");
    expect(line).to.match(/; 1,600 receipts signed during the run$/);
    expect(clean).to.contain("0 failures)");
    expect(clean).not.to.contain("signed during the run");
    expect(report).to.contain(
      "MISSED: 64 clients: every answer is an OTP or a busy answer (429/503), nothing else by 3 answers",
    );
  });
});
