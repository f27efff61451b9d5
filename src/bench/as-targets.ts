/**
 * The targets of `npm run bench:as` (issue 15), and a plain report of which were met and which were
 * missed, and by how much. A benchmark prints; it never fails a test on a time.
 */

/** One run of the benchmark: `clients` concurrent clients against one AS process for `seconds`. */
export interface AsRun {
  clients: number;
  seconds: number;
  /** Answers with an OTP (HTTP 200). */
  exchanges: number;
  /** Answers 429 or 503: the AS shed the request before doing any work; the client retries later. */
  busy: number;
  /** Anything else: another status, a socket error, a 200 without an OTP. */
  failures: number;
  /** The failures by kind (`HTTP 409`, `ECONNRESET`, …), when there were any. */
  failureKinds?: Record<string, number>;
  exchangesPerSecond: number;
  /** Latency of every answer (OTPs and busy answers alike), in ms. */
  p50ms: number;
  p99ms: number;
  /** Latency of the OTP answers only. */
  okP99ms: number;
  /** Latency of the busy answers only (0 when there were none). */
  busyP99ms: number;
  /** Receipts in the AS's database after the run (the warm-up's too). */
  receiptsOnDisk: number;
  /** The warm-up before the clock (absent or 0 seconds: a cold AS met the load): its answers count in the
   * durability and no-failure targets, not in the latencies. */
  warmup?: {
    seconds: number;
    exchanges: number;
    busy: number;
    failures: number;
    failureKinds?: Record<string, number>;
  };
  /** CPU time of the AS process per answer (OTP or busy), in ms: steadier than throughput on a shared machine. */
  asCpuMsPerExchange: number;
  /** CPU time of the AS's signature-recovery process per answer, in ms (0 or absent when the AS recovers on
   * its event loop), and the share of receipts it recovered (the rest: on the event loop). */
  recoveryCpuMsPerExchange?: number;
  recoveredByProcess?: number;
  /** Times the recovery process failed and was started again during the run (its CPU then counts the first only). */
  recoveryRestarts?: number;
  /** p99 event-loop delay of the clients' process, in ms: when it is large, the clients (starved of CPU
   * on a shared machine) add it to every latency they measure. */
  clientLoopDelayP99ms: number;
  /** CPU time of the clients' process per answer, in ms (signing, HTTP): the clients share the machine. */
  clientCpuMsPerExchange: number;
  /** Receipts the clients had to sign during the timed phase (all are signed before it, unless a client ran out). */
  signedDuringRun?: number;
}

export interface AsBenchResult {
  /** Native libsecp256k1 recoveries per second on one core, measured in the same run. */
  recoverOnlyPerSecond: number;
  /** The same per second of CPU time: with {@link AsRun.asCpuMsPerExchange}, a comparison that the other
   * processes of a shared machine disturb less than wall-clock throughput. */
  recoverOnlyPerCpuSecond?: number;
  /** The runs: 64 clients (throughput, latency, durability) and 2,048 (graceful overload) by default. */
  runs: AsRun[];
}

export interface AsTargetResult {
  target: string;
  /** What was measured, in the target's unit. */
  measured: string;
  /** null when met; otherwise how far from the target, in its unit. */
  missedBy: string | null;
}

/** The issue's targets. */
export const AS_TARGETS = {
  /** A run with at least this many clients is judged as an overload run; one with fewer, on throughput. */
  overloadClients: 1_024,
  /** At 64 clients, throughput ≥ this share of the recover-only ceiling. */
  ceilingShare: 0.5,
  /** At 64 clients, p99 ≤ this. */
  p99ms: 50,
  /** At 2,048 clients, p99 over every answer ≤ this: the AS sheds load instead of queueing it. */
  overloadP99ms: 1_000,
  /** At 2,048 clients, a busy answer (429/503) comes back within this. */
  busyP99ms: 250,
};

const n = (x: number): string => Math.round(x).toLocaleString("en-US");
const ms = (x: number): string => `${x.toLocaleString("en-US", { maximumFractionDigits: 1 })} ms`;

function atMost(target: string, measured: number, limit: number, unit: (x: number) => string): AsTargetResult {
  return { target, measured: unit(measured), missedBy: measured <= limit ? null : unit(measured - limit) };
}

/** The run's name in its targets: its clients, and whether the AS was cold when the load met it. */
function who(run: AsRun): string {
  return `${n(run.clients)} clients${run.warmup !== undefined && run.warmup.seconds > 0 ? "" : ", cold AS"}`;
}

function durable(run: AsRun): AsTargetResult {
  const answered = run.exchanges + (run.warmup?.exchanges ?? 0);
  const lost = answered - run.receiptsOnDisk;
  return {
    target: `${who(run)}: every receipt answered with an OTP is on disk`,
    measured: `${n(run.receiptsOnDisk)} of ${n(answered)}${run.warmup?.exchanges ? ` (${n(run.warmup.exchanges)} of them in the warm-up)` : ""}`,
    missedBy: lost === 0 ? null : `${n(Math.abs(lost))} receipts ${lost > 0 ? "missing" : "stored without an OTP"}`,
  };
}

function noFailures(run: AsRun): AsTargetResult {
  const failures = run.failures + (run.warmup?.failures ?? 0);
  return {
    target: `${who(run)}: every answer is an OTP or a busy answer (429/503), nothing else`,
    measured: `${n(failures)} other answers or errors${run.warmup?.failures ? ` (${n(run.warmup.failures)} in the warm-up)` : ""}`,
    missedBy: failures === 0 ? null : `${n(failures)} answers`,
  };
}

function normalTargets(normal: AsRun, recoverOnlyPerSecond: number): AsTargetResult[] {
  const floor = recoverOnlyPerSecond * AS_TARGETS.ceilingShare;
  return [
    {
      target: `${who(normal)}: throughput ≥ ${AS_TARGETS.ceilingShare * 100}% of the recover-only ceiling (${n(recoverOnlyPerSecond)}/s), i.e. ≥ ${n(floor)}/s`,
      measured: `${n(normal.exchangesPerSecond)}/s`,
      missedBy: normal.exchangesPerSecond >= floor ? null : `${n(floor - normal.exchangesPerSecond)}/s`,
    },
    atMost(`${who(normal)}: p99 ≤ ${ms(AS_TARGETS.p99ms)}`, normal.p99ms, AS_TARGETS.p99ms, ms),
    durable(normal),
    noFailures(normal),
  ];
}

function overloadTargets(overload: AsRun): AsTargetResult[] {
  return [
    atMost(
      `${who(overload)}: p99 of every answer ≤ ${ms(AS_TARGETS.overloadP99ms)} (load shed, not queued)`,
      overload.p99ms,
      AS_TARGETS.overloadP99ms,
      ms,
    ),
    atMost(
      `${who(overload)}: busy answers (429/503) within ${ms(AS_TARGETS.busyP99ms)} (p99)`,
      overload.busyP99ms,
      AS_TARGETS.busyP99ms,
      ms,
    ),
    durable(overload),
    noFailures(overload),
  ];
}

/** Every target of every run, measured, and met or missed by how much. */
export function evaluateAsTargets(result: AsBenchResult): AsTargetResult[] {
  return result.runs.flatMap((run) =>
    run.clients >= AS_TARGETS.overloadClients ? overloadTargets(run) : normalTargets(run, result.recoverOnlyPerSecond),
  );
}

const kinds = (run: { failureKinds?: Record<string, number> }): string =>
  run.failureKinds === undefined
    ? ""
    : `: ${Object.entries(run.failureKinds)
        .map(([kind, count]) => `${n(count)} ${kind}`)
        .join(", ")}`;

const warmupLine = (run: AsRun): string =>
  run.warmup === undefined || run.warmup.seconds === 0
    ? ""
    : ` after a ${run.warmup.seconds} s warm-up (${n(run.warmup.exchanges)} OTPs, ${n(run.warmup.busy)} busy answers, ` +
      `${n(run.warmup.failures)} failures${kinds(run.warmup)})`;

function runLine(run: AsRun, result: AsBenchResult): string {
  const perCore = 1000 / (run.asCpuMsPerExchange + (run.recoveryCpuMsPerExchange ?? 0));
  const recovery =
    run.recoveryCpuMsPerExchange === undefined
      ? " (signatures recovered on its event loop)"
      : ` + its recovery process ${run.recoveryCpuMsPerExchange.toFixed(3)} ms (${Math.round(100 * (run.recoveredByProcess ?? 0))}% of the signatures` +
        (run.recoveryRestarts
          ? `; restarted ${run.recoveryRestarts} times, only the first process's CPU counted)`
          : ")");
  const share =
    result.recoverOnlyPerCpuSecond === undefined
      ? ""
      : ` (${Math.round((100 * perCore) / result.recoverOnlyPerCpuSecond)}% of ${n(result.recoverOnlyPerCpuSecond)} recoveries per CPU-second)`;
  return (
    `${who(run)}, ${run.seconds.toFixed(1)} s${warmupLine(run)}: ${n(run.exchangesPerSecond)} exchanges/s ` +
    `(${n(run.exchanges)} OTPs, ${n(run.busy)} busy answers, ${n(run.failures)} failures${kinds(run)}), ` +
    `p50 ${ms(run.p50ms)}, p99 ${ms(run.p99ms)} (OTPs ${ms(run.okP99ms)}, busy ${ms(run.busyP99ms)}), ` +
    `${n(run.receiptsOnDisk)} receipts on disk, CPU per answer: AS ${run.asCpuMsPerExchange.toFixed(3)} ms${recovery}, clients ${run.clientCpuMsPerExchange.toFixed(3)} ms; ` +
    `the AS answers ${n(perCore)} per CPU-second${share}; the clients' event loop lagged up to ${ms(run.clientLoopDelayP99ms)} (p99)` +
    (run.signedDuringRun ? `; ${n(run.signedDuringRun)} receipts signed during the run` : "")
  );
}

/** The runs, then one line per target: "met", or "MISSED: <target> by <how much>". */
export function renderAsReport(result: AsBenchResult): string {
  const rows = evaluateAsTargets(result);
  const missed = rows.filter((r) => r.missedBy !== null);
  return [
    `recover-only ceiling (native libsecp256k1, one core): ${n(result.recoverOnlyPerSecond)}/s`,
    ...result.runs.map((run) => runLine(run, result)),
    "",
    "Targets:",
    ...rows.map((r) =>
      r.missedBy === null
        ? `  met: ${r.target} (${r.measured})`
        : `  MISSED: ${r.target} by ${r.missedBy} (${r.measured})`,
    ),
    "",
    missed.length === 0 ? "Every target met." : `${missed.length} of ${rows.length} targets MISSED.`,
  ].join("\n");
}
