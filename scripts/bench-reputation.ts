/**
 * `npm run bench:reputation [reports] [devices]`: the auditor's epoch aggregation at scale.
 *
 * Stores `reports` (default 100,000) reports among `devices` (default 2,000) devices, spread over the
 * model's horizon, in a SQLite database on disk as the auditor keeps them (each with its leaf, hashed at
 * intake); then times one epoch: reading the window's reports back as columns (`epochInput`, from the
 * covering index `reports_for_epochs`), then sorting them by leaf, building the reports tree and scoring
 * every subject with the beta model (`buildEpochColumns`). (Signatures are checked at intake, one by one, not
 * here; digests are random 32-byte values, which hash exactly as real ones do.) Prints wall and CPU
 * time (user + system: less sensitive to other load on the machine) of each phase, and the target as met
 * or `MISSED ... by ...`: 5 s up to 100,000 reports, 10 s from 1,000,000 (issue 16); fails on a miss.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";

import { buildEpochColumns } from "../src/reputation/epoch";
import { defaultModel } from "../src/reputation/model";
import { ReportStore } from "../src/reputation/store";
import type { StoredReport } from "../src/reputation/store";

const count = Number(process.argv[2] ?? "100000");
const TARGET_SECONDS = count >= 1_000_000 ? 10 : 5;
const deviceCount = Number(process.argv[3] ?? "2000");
if (!Number.isInteger(count) || count < 1 || !Number.isInteger(deviceCount) || deviceCount < 2) {
  console.error("usage: npm run bench:reputation [reports ≥ 1] [devices ≥ 2]");
  process.exit(1);
}

const DAY = 86_400;
const model = defaultModel(DAY);
const epoch = 20_000;
const reference = epoch * DAY;
const cpuSeconds = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};
const hex = (bytes: number) => `0x${crypto.randomBytes(bytes).toString("hex")}`;
const devices = Array.from({ length: deviceCount }, () => hex(32));

/**
 * Stores the reports, 100,000 at a time, and returns the intake time per report. Each batch is dropped once
 * stored: the auditor takes reports over HTTP and holds none in memory, and a million report objects kept
 * alive would make every garbage collection of the timed epoch trace them.
 */
function fill(store: ReportStore): number {
  let spent = 0;
  for (let done = 0; done < count; done += 100_000) {
    const reports: StoredReport[] = [];
    for (let i = done; i < Math.min(count, done + 100_000); i++) {
      const reporter = i % deviceCount;
      const subject = (reporter + 1 + crypto.randomInt(deviceCount - 1)) % deviceCount;
      reports.push({
        digest: hex(32),
        reporterId: devices[reporter],
        subjectId: devices[subject],
        interaction: hex(32),
        rating: crypto.randomInt(101),
        timestamp: reference - crypto.randomInt(model.horizon),
        signature: `0x${"00".repeat(65)}`,
        evidence: `0x${"00".repeat(65)}`,
      });
    }
    const s0 = performance.now();
    store.addMany(reports);
    spent += performance.now() - s0;
  }
  return spent / count;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-bench-rep-"));
const store = new ReportStore(path.join(dir, "auditor.sqlite"));
try {
  const intake = fill(store);

  const c0 = cpuSeconds();
  const t0 = performance.now();
  const window = store.epochInput(reference - model.horizon, reference);
  const c1 = cpuSeconds();
  const t1 = performance.now();
  const built = buildEpochColumns(window, reference, model);
  const c2 = cpuSeconds();
  const t2 = performance.now();

  const seconds = (t2 - t0) / 1000;
  const scores = [...built.scores.values()];
  const mean = scores.reduce((sum, s) => sum + s.score, 0) / scores.length;
  const rows = [
    ["reports in the window", window.reporters.length.toLocaleString("en-US")],
    ["devices scored", scores.length.toLocaleString("en-US")],
    ["mean score", mean.toFixed(1)],
    ["reports root", built.root],
    ["read from SQLite (columns)", `${((t1 - t0) / 1000).toFixed(3)} s (CPU ${(c1 - c0).toFixed(3)} s)`],
    ["leaf sort, tree and scores", `${((t2 - t1) / 1000).toFixed(3)} s (CPU ${(c2 - c1).toFixed(3)} s)`],
    ["total", `${seconds.toFixed(3)} s (CPU ${(c2 - c0).toFixed(3)} s)`],
    ["(at intake: store + leaf hash)", `${(intake * 1000).toFixed(1)} µs per report`],
  ];
  console.log(
    `Epoch aggregation: ${count.toLocaleString("en-US")} reports, ${deviceCount.toLocaleString("en-US")} devices`,
  );
  for (const [k, v] of rows) console.log(`  ${k.padEnd(28)} ${v}`);
  if (window.reporters.length !== count)
    throw new Error(`expected ${count} reports in the window, read ${window.reporters.length}`);
  const target = `≤ ${TARGET_SECONDS} s at ${count.toLocaleString("en-US")} reports`;
  if (seconds <= TARGET_SECONDS) console.log(`  target: met (${target})`);
  else {
    console.log(`  target: MISSED: ${target} by ${(seconds - TARGET_SECONDS).toFixed(3)} s`);
    process.exitCode = 1;
  }
} finally {
  store.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
