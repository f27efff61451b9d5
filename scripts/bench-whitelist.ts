/**
 * `npm run bench:whitelist -- [--devices N] [--old] [--no-old] [--no-json] [--dir DIR]`: a Merkle whitelist of
 * N devices (default 100,000) with every proof, as `device:register --merkle` writes it, against the
 * issue's targets. Files go to a temporary directory in DIR (default the system's; `--dir /dev/shm`
 * measures the code without the disk).
 *
 * A device list (`deviceId,deviceKey,deviceType`) is written to a temporary directory first (not timed).
 * Each measured phase then runs in its own child process, which reports its time and its peak resident
 * memory (`process.resourceUsage().maxRSS`, the kernel's high-water mark, so nothing is missed between
 * samples):
 * - `tree` (`--proofs tree`, the default above 10,000 devices): `writeWhitelist` streams the list from disk
 *   into the tree file and the binary device file, and writes the manifest: every proof is on disk, in
 *   the tree file, read by index;
 * - `json` (`--proofs json`, the format before; `--no-json` skips it): the same, then the JSON and the
 *   CSV with every proof as hex (read from the tree file block by block): 3.3 GB at a million devices;
 * - `proofs`: opens the tree file and serves 10,000 random proofs by index, each three times in three rounds of
 *   random order; the target is judged on the slowest timing, beside a control (a busy loop as long as the
 *   median proof: the machine's own pauses), the timings over 1 ms of each, and each proof at its fastest round,
 *   with the CPU time the host took from the machine (steal) and the run-queue wait of its main thread meanwhile;
 * - `old`: the code path before the one builder (merkletreejs + ethers' keccak, `JSON.stringify`), run by
 *   default up to 100,000 devices (`--old` forces it, `--no-old` skips it).
 * Every target is printed as met or `MISSED ... by ...`; a benchmark, it exits 0 on a miss.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PerformanceObserver, constants, performance } from "node:perf_hooks";

import { keccak } from "../src/keccak";
import { TreeFile, rootFromProof } from "../src/merkle/tree";
import { readWhitelistDevices, whitelistCsv, whitelistFiles, writeWhitelist } from "../src/merkle/whitelist";
import { referenceWhitelist } from "../test/merkle/reference";

interface Measured {
  seconds: number;
  /** CPU time (user + system) of the phase: less sensitive than wall time to other load on the machine. */
  cpuSeconds: number;
  /** Bytes of the files the phase wrote. */
  bytes?: number;
  peakMiB: number;
  root: string;
  perProofMs?: ProofTimes;
}

/** The proofs' timings (every round): their distribution, the first and the slowest, what garbage collection
 * explains, and the slowest proof at its fastest round. */
interface ProofTimes {
  first: number;
  /** The kind of garbage-collector pause the slowest timing overlapped ("major", "minor"), or "". */
  slowestInPause: string;
  maxOutsidePauses: number;
  overlappingPauses: number;
  /** The slowest of as many timings of a busy loop as long as the median proof: the measurement's own floor on this machine. */
  controlMax: number;
  mean: number;
  p50: number;
  p99: number;
  max: number;
  /** Timings over 1 ms, of the proofs and of the control (as many of each). */
  over: number;
  controlOver: number;
  /** The slowest of the 10,000 proofs, each at its fastest of {@link ROUNDS} timings: what a proof itself costs
   * with a warm tree file (rounds 2 and 3 read what round 1 read), not the target's measure. */
  slowestProof: number;
  /** That proof's timing in each round. */
  slowestProofRounds: number[];
  /** While the proofs and the control ran: CPU time the host took from this virtual machine (steal, summed over
   * its CPUs, 10 ms ticks) and time its main thread waited in the guest's own run queue; undefined off Linux. */
  stealMs?: number;
  runQueueMs?: number;
}

const MiB = 1024 * 1024;
const fmt = (n: number) => n.toLocaleString("en-US");

function peakMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

function cpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** The proofs timed: this many random indices, each served {@link ROUNDS} times. */
const SAMPLES = 10_000;
/** Rounds over the same indices, each in its own random order: a pause of the machine lands on one timing of a
 * proof, so a proof that is slow in every round is slow itself. */
const ROUNDS = 3;

/** Linux's accounting of time taken from this process while it could run: the host's steal time summed over
 * the machine's CPUs (`/proc/stat`, in 10 ms ticks) and this thread's wait in the guest's run queue
 * (`/proc/thread-self/schedstat`, ns); undefined where those files do not exist. */
function lostTime(): { stealMs: number; runQueueMs: number } | undefined {
  try {
    const cpu = fs.readFileSync("/proc/stat", "latin1").split("\n")[0].trim().split(/\s+/);
    const schedstat = fs.readFileSync("/proc/thread-self/schedstat", "latin1").trim().split(/\s+/);
    return { stealMs: Number(cpu[8]) * 10, runQueueMs: Number(schedstat[1]) / 1e6 };
  } catch {
    return undefined;
  }
}

/** `values` shuffled in place (Fisher-Yates) and returned. */
function shuffled(values: Uint32Array): Uint32Array {
  for (let i = values.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [values[i], values[j]] = [values[j], values[i]];
  }
  return values;
}

/**
 * 10,000 random proofs by index from the tree file, each timed in {@link ROUNDS} rounds (a fresh random order
 * each). Garbage-collector pauses are recorded too (`PerformanceObserver`, delivered after the loop), so the
 * report can tell a slow read from a proof that waited for a collection, and a control measures the
 * machine's own pauses.
 */
async function proofsPhase(dir: string, t0: number, cpu0: number): Promise<Measured> {
  const pauses: { start: number; end: number; major: boolean }[] = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries())
      pauses.push({
        start: e.startTime,
        end: e.startTime + e.duration,
        major: (e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR,
      });
  });
  observer.observe({ entryTypes: ["gc"] });
  // Start from a collected heap, as a proof server that has been running would: the start-up's garbage (ts-node
  // compiling this script and its imports) is collected before the clock, not by the first proofs.
  (globalThis as { gc?: () => void }).gc?.();
  const tree = TreeFile.open(path.join(dir, "tree.tree"));
  const indices = Uint32Array.from({ length: SAMPLES }, () => Math.floor(Math.random() * tree.count));
  // Timings in preallocated arrays: the loop itself leaves nothing for the collector but the proofs' strings.
  // took[r * SAMPLES + s] is round r's timing of indices[s]; startAt the same timing's start.
  const startAt = new Float64Array(ROUNDS * SAMPLES);
  const took = new Float64Array(ROUNDS * SAMPLES);
  const order = Uint32Array.from({ length: SAMPLES }, (_, s) => s);
  let first = -1;
  const lost0 = lostTime();
  for (let r = 0; r < ROUNDS; r++) {
    shuffled(order);
    for (let k = 0; k < SAMPLES; k++) {
      const s = order[k];
      const started = performance.now();
      tree.proof(indices[s]);
      took[r * SAMPLES + s] = performance.now() - started;
      startAt[r * SAMPLES + s] = started;
      if (first < 0) first = took[r * SAMPLES + s];
    }
  }
  // Checked after the clock, so the first timed proof is the first the tree file serves.
  for (let s = 0; s < 100; s++)
    if (rootFromProof(tree.leaf(indices[s]), tree.proof(indices[s])) !== tree.root)
      throw new Error(`proof ${indices[s]} is wrong`);
  tree.close();
  // Each proof at its fastest round: what serving that proof costs, without the pauses that hit one timing.
  const best = Float64Array.from({ length: SAMPLES }, (_, s) => {
    let min = took[s];
    for (let r = 1; r < ROUNDS; r++) min = Math.min(min, took[r * SAMPLES + s]);
    return min;
  });
  const spans = Array.from(took, (ms, i) => ({ start: startAt[i], ms }));
  // The control: as many timings of a busy loop as long as the median proof, no I/O and no allocation. Its
  // slowest sample is what this machine's scheduler (a shared virtual machine) and the runtime add to any one
  // measurement of that length, proof or not.
  const median = Float64Array.from(took).sort()[took.length >> 1];
  let control = 0;
  let controlOver = 0;
  for (let s = 0; s < took.length; s++) {
    const started = performance.now();
    while (performance.now() - started < median);
    const length = performance.now() - started;
    control = Math.max(control, length);
    if (length > 1) controlOver++;
  }
  const lost1 = lostTime();
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  const pauseOf = (x: { start: number; ms: number }) => pauses.find((p) => p.start < x.start + x.ms && p.end > x.start);
  const outside = spans.filter((x) => pauseOf(x) === undefined).map((x) => x.ms);
  const times = Float64Array.from(took).sort();
  const slowest = spans.reduce((a, b) => (b.ms > a.ms ? b : a));
  const slowestBest = best.reduce((a, b, s) => (b > best[a] ? s : a), 0);
  const perProofMs: ProofTimes = {
    first,
    slowestInPause: pauseOf(slowest) === undefined ? "" : pauseOf(slowest)?.major ? "major" : "minor",
    maxOutsidePauses: Math.max(...outside),
    overlappingPauses: took.length - outside.length,
    controlMax: control,
    mean: took.reduce((sum, t) => sum + t, 0) / took.length,
    p50: times[took.length >> 1],
    p99: times[Math.floor(took.length * 0.99)],
    max: times[took.length - 1],
    over: took.filter((t) => t > 1).length,
    controlOver,
    slowestProof: best[slowestBest],
    slowestProofRounds: Array.from({ length: ROUNDS }, (_, r) => took[r * SAMPLES + slowestBest]),
    ...(lost0 !== undefined && lost1 !== undefined
      ? { stealMs: lost1.stealMs - lost0.stealMs, runQueueMs: lost1.runQueueMs - lost0.runQueueMs }
      : {}),
  };
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, cpuSeconds: cpuSeconds() - cpu0, peakMiB: peakMiB(), root: tree.root, perProofMs };
}

/** The measured phases, run in a child process each: `child <phase> <dir>`. */
function child(phase: string, dir: string): Measured | Promise<Measured> {
  const list = path.join(dir, "devices.csv");
  const t0 = performance.now();
  const cpu0 = cpuSeconds();
  if (phase === "tree" || phase === "json") {
    const files = whitelistFiles(path.join(dir, `${phase}.json`), phase);
    const { root } = writeWhitelist(() => readWhitelistDevices(list), 1, files, phase);
    const seconds = (performance.now() - t0) / 1000;
    const bytes = Object.values(files).reduce((sum, f) => sum + fs.statSync(f as string).size, 0);
    return { seconds, cpuSeconds: cpuSeconds() - cpu0, peakMiB: peakMiB(), root, bytes };
  }
  if (phase === "proofs") return proofsPhase(dir, t0, cpu0);
  // The old path: the fleet in memory, merkletreejs, and the whole JSON and CSV built as strings.
  const whitelist = referenceWhitelist([...readWhitelistDevices(list)], 1);
  const json = `${JSON.stringify(whitelist, null, 2)}\n`;
  const csv = whitelistCsv(whitelist);
  fs.writeFileSync(path.join(dir, "old.json"), json);
  fs.writeFileSync(path.join(dir, "old.csv"), csv);
  return {
    seconds: (performance.now() - t0) / 1000,
    cpuSeconds: cpuSeconds() - cpu0,
    peakMiB: peakMiB(),
    root: whitelist.root,
    bytes: json.length + csv.length,
  };
}

function run(phase: string, dir: string): Measured {
  const out = execFileSync(
    process.execPath,
    [
      ...(phase === "proofs" ? ["--expose-gc"] : []),
      "-r",
      "ts-node/register/transpile-only",
      __filename,
      "--child",
      phase,
      dir,
    ],
    { encoding: "utf8", maxBuffer: 16 * MiB, stdio: ["ignore", "pipe", "inherit"] },
  );
  return JSON.parse(out.trim().split("\n").pop() as string) as Measured;
}

/** The device list: random-looking ids and keys, hashed with the native keccak (not timed). */
function writeDeviceList(file: string, count: number): void {
  const fd = fs.openSync(file, "w");
  let chunk = "deviceId,deviceKey,deviceType\n";
  for (let i = 0; i < count; i++) {
    const id = keccak(Buffer.from(`bench-device-${i}`)).toString("hex");
    const key = keccak(Buffer.from(`bench-key-${i}`)).toString("hex", 0, 20);
    chunk += `0x${id},0x${key},${1 + (i % 5)}\n`;
    if (chunk.length > 4 * MiB) {
      fs.writeSync(fd, chunk);
      chunk = "";
    }
  }
  fs.writeSync(fd, chunk);
  fs.closeSync(fd);
}

function verdict(ok: boolean, target: string, miss: string): string {
  return ok ? `met (${target})` : `MISSED: ${target} by ${miss}`;
}

function main(): void {
  const args = process.argv.slice(2);
  if (args[0] === "--child") {
    void Promise.resolve(child(args[1], args[2])).then((m) => console.log(JSON.stringify(m)));
    return;
  }
  const at = args.indexOf("--devices");
  const count = at < 0 ? 100_000 : Number(args[at + 1]);
  if (!Number.isSafeInteger(count) || count < 1) {
    console.error("usage: npm run bench:whitelist -- [--devices N ≥ 1] [--old] [--no-old] [--no-json] [--dir DIR]");
    process.exit(1);
  }
  const dirAt = args.indexOf("--dir");
  const parent = dirAt < 0 ? os.tmpdir() : args[dirAt + 1];
  if (parent === undefined || !fs.existsSync(parent)) {
    console.error(`--dir: ${parent ?? "(none)"} is not a directory`);
    process.exit(1);
  }
  const withOld = args.includes("--old") || (!args.includes("--no-old") && count <= 100_000);
  const withJson = !args.includes("--no-json");
  const dir = fs.mkdtempSync(path.join(parent, "thingledger-bench-whitelist-"));
  try {
    writeDeviceList(path.join(dir, "devices.csv"), count);
    const fresh = run("tree", dir);
    const proofs = run("proofs", dir);
    const mib = (bytes = 0) => `${fmt(Math.round(bytes / MiB))} MiB`;
    const line = (m: Measured) =>
      `${m.seconds.toFixed(2)} s (CPU ${m.cpuSeconds.toFixed(2)} s), peak ${m.peakMiB.toFixed(0)} MiB, wrote ${mib(m.bytes)}`;
    console.log(`Whitelist of ${fmt(count)} devices in ${parent}: root ${fresh.root}`);
    console.log(`  --proofs tree: root + tree file + device file (every proof by index) on disk: ${line(fresh)}`);
    const p = proofs.perProofMs as ProofTimes;
    const us = (ms: number) => `${(ms * 1000).toFixed(1)} µs`;
    const ms = (x: number) => `${x.toFixed(3)} ms`;
    console.log(
      `  one proof by index from the tree file (10,000 random, each served ${ROUNDS} times in ${ROUNDS} rounds of ` +
        `random order): mean ${us(p.mean)}, median ${us(p.p50)}, p99 ${us(p.p99)} (the first ${ms(p.first)}); the ` +
        `slowest proof at its fastest round ${ms(p.slowestProof)} (its rounds: ${p.slowestProofRounds.map(ms).join(", ")}); ` +
        `timings over 1 ms: ${fmt(p.over)} of the proofs', ${fmt(p.controlOver)} of the control's`,
    );
    console.log(
      `  the slowest single timing ${ms(p.max)}` +
        `${p.slowestInPause === "" ? "" : `, during a ${p.slowestInPause} garbage-collector pause`}; ` +
        `${fmt(p.overlappingPauses)} timings overlapped a GC pause, the slowest of the rest ${ms(p.maxOutsidePauses)}; ` +
        `the slowest of ${fmt(ROUNDS * SAMPLES)} timings of a busy loop as long as the median proof, no I/O and no ` +
        `allocation (this machine's own pauses) ${ms(p.controlMax)}`,
    );
    if (p.stealMs !== undefined && p.runQueueMs !== undefined)
      console.log(
        `  while the proofs and the control ran, the host took ${fmt(p.stealMs)} ms of CPU time from this virtual ` +
          `machine (steal, /proc/stat, all CPUs) and its main thread waited ${p.runQueueMs.toFixed(3)} ms in the run ` +
          `queue behind other work: time taken from any code here, proof or control`,
      );
    let before: Measured | undefined;
    if (withJson) {
      before = run("json", dir);
      if (before.root !== fresh.root)
        throw new Error(`the json format's root ${before.root} differs from ${fresh.root}`);
      console.log(`  --proofs json (every proof as hex in the JSON and CSV, the format before): ${line(before)}`);
    }
    const targets: string[] = [];
    if (count === 1_000_000) {
      targets.push(
        verdict(fresh.seconds <= 15, "≤ 15 s at 1,000,000", `${(fresh.seconds - 15).toFixed(2)} s`),
        verdict(fresh.peakMiB <= 1024, "≤ 1 GB peak at 1,000,000", `${(fresh.peakMiB - 1024).toFixed(0)} MiB`),
      );
    }
    if (count >= 10_000_000)
      targets.push(
        verdict(fresh.peakMiB <= 4096, "≤ 4 GB peak at 10,000,000", `${(fresh.peakMiB - 4096).toFixed(0)} MiB`),
      );
    targets.push(
      verdict(p.p99 <= 1, "a proof ≤ 1 ms (99th percentile of every timing)", `${(p.p99 - 1).toFixed(3)} ms`),
      verdict(p.max <= 1, `every proof ≤ 1 ms (the slowest of ${fmt(ROUNDS * SAMPLES)} timings)`, ms(p.max - 1)) +
        // Only when the control's pauses are of the proof's order: a proof far slower than them is the proof's.
        (p.max > 1 && p.controlMax > 1 && p.controlMax >= p.max / 2
          ? ` — of the order of this machine's own pauses: a busy loop as long as the median proof, no I/O and ` +
            `no allocation, also took up to ${ms(p.controlMax)}, so judge it on a quieter machine`
          : ""),
    );
    if (withOld) {
      const old = run("old", dir);
      if (old.root !== fresh.root) throw new Error(`the old path's root ${old.root} differs from ${fresh.root}`);
      if (withJson)
        for (const ext of ["json", "csv"])
          if (!fs.readFileSync(path.join(dir, `old.${ext}`)).equals(fs.readFileSync(path.join(dir, `json.${ext}`))))
            throw new Error(`the old path's ${ext} differs`);
      console.log(
        `  old path (merkletreejs, in memory, JSON and CSV): ${line(old)}; same root${withJson ? " and files" : ""}`,
      );
      targets.push(
        verdict(
          fresh.seconds < old.seconds / 2,
          `under half the old path's ${old.seconds.toFixed(2)} s`,
          `${(fresh.seconds - old.seconds / 2).toFixed(2)} s`,
        ),
      );
    }
    for (const t of targets) console.log(`  target: ${t}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main();
