/**
 * `npm run bench:as [clients] [seconds]`: Authorization Server throughput and overload over HTTP on loopback.
 *
 * The AS runs in its own process with its SQLite store; the clients run in this process, each with its own
 * one-client channel, trading receipts for OTPs for `seconds` (default 10). Every receipt is on disk before
 * its OTP is sent (group commit, synchronous=FULL). By default three runs: 64 clients (throughput, latency,
 * durability), then 2,048 clients (overload: the AS must shed load with a quick 429/503, and the clients
 * honour its Retry-After) on a running AS and on a cold one. A running AS: up to 64 of the clients trade for
 * one second before the clock (a warm-up: compiled code, the recovery process and the store's pages warm),
 * then every client sends at once. A cold AS: every client sends the moment it has started.
 * `BENCH_AS_WARMUP_SECONDS` sets the warm-up (0 to 60 s; 0: cold). `clients` runs one count only. The recover-only ceiling (native libsecp256k1) is
 * measured in the same run. Channels are seeded in the store, as the AS caches a channel after its first
 * on-chain check. Prints each run, then each target as "met" or "MISSED: <target> by <how much>"; the
 * exit code is 0 even when a target is missed (a benchmark, not a test), 1 only if the bench itself fails.
 *
 * `BENCH_AS_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR"` passes node flags to the AS process (profiling).
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";

import { Wallet, getBytes, keccak256 } from "ethers";
import secp256k1 from "secp256k1";

import { Connection, encodeRequest } from "./bench-as-http";
import type { Answer } from "./bench-as-http";
import { renderAsReport } from "../src/bench/as-targets";
import type { AsBenchResult, AsRun } from "../src/bench/as-targets";
import { runBench } from "../src/bench/verdict";
import { AuthorizationServer } from "../src/channels/as-server";
import { AsStore } from "../src/channels/store";
import { channelIdOf } from "../src/channels/key";
import { ReceiptVerifier } from "../src/channels/verify";
import type { ChannelParams } from "../src/channels/as-server";
import { clientLeaf } from "../src/merkle/group";

const seconds = Number(process.argv[3] ?? "10");
/** Seconds of warm-up load (up to 64 clients) before a run's clock starts: `BENCH_AS_WARMUP_SECONDS`, default 1
 * (0: an AS that meets the load the moment it starts). */
const WARMUP_TEXT = process.env.BENCH_AS_WARMUP_SECONDS ?? "1";
const WARMUP_SECONDS = /^\d+(\.\d+)?$/.test(WARMUP_TEXT) ? Number(WARMUP_TEXT) : NaN;
/** The runs: clients and warm-up seconds. By default 64 clients on a running AS, then 2,048 on a running AS
 * (a surge) and on one just started (a restart met by every client at once). */
const runs: { clients: number; warmup: number }[] =
  process.argv[2] === undefined
    ? [
        { clients: 64, warmup: WARMUP_SECONDS },
        { clients: 2048, warmup: WARMUP_SECONDS },
        { clients: 2048, warmup: 0 },
      ]
    : [{ clients: Number(process.argv[2]), warmup: WARMUP_SECONDS }];
const chainId = 31337n;
const channelsAddress = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0";
const payee = new Wallet(keccak256("0x01")).address;
const owner = new Wallet(keccak256("0x02")).address;
const domain = { name: "ThingLedger PaymentChannels", version: "1", chainId, verifyingContract: channelsAddress };
const verifier = new ReceiptVerifier(domain);
const deviceId = keccak256("0x1234");
const price = 1_000n;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const round = (x: number): number => Math.round(x * 100) / 100;

/** Recoveries per second of the AS's own verifier on one core, with nothing else running: per second of
 * wall time (the target's ceiling) and per second of CPU time (steadier on a shared machine). */
function recoverCeiling(): { wall: number; cpu: number } {
  const key = new Wallet(keccak256("0x99"));
  const channelId = keccak256("0x98");
  const sig = secp256k1.ecdsaSign(getBytes(verifier.digest(channelId, 1n)), getBytes(key.privateKey));
  const signature = `0x${Buffer.from(sig.signature).toString("hex")}${(sig.recid + 27).toString(16)}`;
  if (verifier.recover(channelId, 1n, signature) !== key.address) throw new Error("recover-only probe failed");
  const n = 20_000;
  const t = performance.now();
  const cpu = process.cpuUsage();
  for (let i = 0; i < n; i++) verifier.recover(channelId, 1n, signature);
  const used = process.cpuUsage(cpu);
  return { wall: n / ((performance.now() - t) / 1000), cpu: n / ((used.user + used.system) / 1e6) };
}

/** Starts the AS process on a freshly seeded store; resolves with its URL and a stop function. */
interface AsCpu {
  /** The AS process, and its recovery process, in µs; how many signatures each path recovered. */
  micros: number;
  recoveryMicros: number;
  counts: { process: number; inline: number; failures: number } | null;
}

async function startAs(file: string): Promise<{ url: URL; stop: () => Promise<AsCpu> }> {
  const server = spawn(
    process.execPath,
    [
      ...(process.env.BENCH_AS_NODE_ARGS ?? "").split(" ").filter((a) => a !== ""),
      "-r",
      "ts-node/register/transpile-only",
      path.join(__dirname, "bench-as-server.ts"),
      file,
      payee,
      chainId.toString(),
      channelsAddress,
      "0",
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const exited = new Promise((resolve) => server.once("exit", resolve));
  let cpu: AsCpu = { micros: NaN, recoveryMicros: 0, counts: null };
  const url = await new Promise<string>((resolve, reject) => {
    server.stdout.on("data", (chunk: Buffer) => {
      const m = /listening (\S+)/.exec(chunk.toString());
      if (m !== null) resolve(m[1]);
      const used = /cpu (\d+) (\d+) (.*)/.exec(chunk.toString());
      if (used !== null)
        cpu = {
          micros: Number(used[1]),
          recoveryMicros: Number(used[2]),
          counts: JSON.parse(used[3]) as AsCpu["counts"],
        };
    });
    server.once("exit", (code) => reject(new Error(`AS exited with ${code}`)));
  });
  return {
    url: new URL(url),
    stop: async () => {
      server.kill("SIGTERM");
      await exited;
      return cpu;
    },
  };
}

/** One client: its key, its channel, and its receipts signed ahead, as HTTP requests ready to send. */
interface BenchClient {
  key: Wallet;
  params: ChannelParams;
  channelId: string;
  /** `requests[k]` trades the receipt of cumulative amount (k + 1) × price. */
  requests: Buffer[];
  /** The index of the next receipt to send: the AS's best amount / price. */
  next: number;
}

/** Clients by index: the same key, channel parameters and channel id in every run, so their signed receipts are reused. */
const clientCache: BenchClient[] = [];

function benchClient(i: number): BenchClient {
  if (clientCache[i] !== undefined) return clientCache[i];
  const key = new Wallet(keccak256(`0x${(i + 100).toString(16).padStart(6, "0")}`));
  const params = { owner, token: false, clientRoot: clientLeaf(key.address), salt: String(i + 1), openBlock: "1" };
  const channelId = channelIdOf({
    owner,
    payee,
    token: false,
    clientRoot: params.clientRoot,
    salt: BigInt(i + 1),
    openBlock: 1n,
  });
  clientCache[i] = { key, params, channelId, requests: [], next: 0 };
  return clientCache[i];
}

/**
 * Signs a client's receipts up to `count`, each encoded as the request a client sends (`POST /access` with
 * the previous amount + the device's price, as `ChannelClient.buy` does): a client knows its amounts in
 * advance, since it alone pays into its channel. Returns how many were signed.
 */
function signAhead(c: BenchClient, count: number): number {
  const before = c.requests.length;
  const secret = getBytes(c.key.privateKey);
  for (let k = before; k < count; k++) {
    const amount = BigInt(k + 1) * price;
    const s = secp256k1.ecdsaSign(verifier.digestBytes(c.channelId, amount), secret);
    const body = JSON.stringify({
      channel: c.params,
      deviceId,
      amount: amount.toString(),
      signature: `0x${Buffer.from(s.signature).toString("hex")}${(s.recid + 27).toString(16)}`,
      proof: [],
    });
    c.requests.push(encodeRequest("POST", "/access", body));
  }
  return c.requests.length - before;
}

/** Seeds a fresh store: one channel per client (as the AS caches a channel after its first on-chain check), one device. */
function seedStore(file: string, clients: BenchClient[]): void {
  const seed = new AsStore(file, { create: true });
  const seeder = new AuthorizationServer({ payee, verifier, store: seed });
  seeder.provisionDevice(deviceId, "ab".repeat(32), price);
  for (const [i, c] of clients.entries()) {
    if (seeder.channelIdOf(c.params) !== c.channelId)
      throw new Error(`channel id of client ${i} differs from the AS's`);
    seed.saveChannel({
      channelId: c.channelId,
      owner,
      token: false,
      clientRoot: c.params.clientRoot,
      salt: BigInt(c.params.salt),
      openBlock: 1n,
      deposit: 10n ** 30n,
      expiry: 4_102_444_800,
      closed: false,
    });
  }
  seed.close();
}

/** Answers received by a phase of the run: latencies of OTPs and busy answers, failures by kind, receipts signed. */
interface Answers {
  ok: number[];
  busy: number[];
  failed: Map<string, number>;
  signed: number;
}

/**
 * Every client of `clients` trades receipts for OTPs on its own connection until `deadline`: it sends its next
 * receipt, waits out a busy answer's Retry-After, and after any other answer resynchronises with the AS's
 * best receipt (a lost answer may have been stored).
 */
async function drive(
  clients: BenchClient[],
  connections: Connection[],
  deadline: number,
  into: Answers,
): Promise<void> {
  await Promise.all(
    clients.map(async (c, i) => {
      const connection = connections[i];
      const best = encodeRequest("GET", `/channels/${c.channelId}/receipt`);
      while (performance.now() < deadline) {
        if (c.next >= c.requests.length) into.signed += signAhead(c, c.next + 16);
        const started = performance.now();
        let answer: Answer | undefined;
        let error = "";
        try {
          answer = await connection.send(c.requests[c.next]);
        } catch (e) {
          error = (e as { code?: string }).code ?? (e as Error).message;
        }
        const latency = performance.now() - started;
        if (answer?.status === 200 && (JSON.parse(answer.text) as { otp?: string }).otp !== undefined) {
          into.ok.push(latency);
          c.next++;
        } else if (answer?.status === 429 || answer?.status === 503) {
          into.busy.push(latency);
          await sleep(Math.min((answer.retryAfter ?? 1) * 1000, Math.max(0, deadline - performance.now())));
        } else {
          const kind = answer === undefined ? error : `HTTP ${answer.status}`;
          into.failed.set(kind, (into.failed.get(kind) ?? 0) + 1);
          const shown = await connection.send(best).catch(() => undefined);
          if (shown?.status === 200)
            c.next = Number(BigInt((JSON.parse(shown.text) as { amount: string }).amount) / price);
        }
      }
    }),
  );
}

async function run(clients: number, warmup: number, ceiling: number): Promise<AsRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-bench-as-"));
  const file = path.join(dir, "as.sqlite");
  const channels = Array.from({ length: clients }, (_, i) => benchClient(i));
  // Sign before the clock starts: enough receipts per client for the whole ceiling's rate (the AS recovers
  // every receipt on one thread, so it cannot go faster). A client that runs out signs more as it goes.
  const ahead = Math.ceil((ceiling * seconds) / clients);
  const signing = performance.now();
  let signedAhead = 0;
  // The warm-up's clients (the first 64) sign for its second as well.
  const warmAhead = Math.ceil((ceiling * warmup) / Math.min(64, clients));
  for (const [i, c] of channels.entries()) {
    c.next = 0;
    signedAhead += signAhead(c, ahead + (i < 64 ? warmAhead : 0));
  }
  console.log(
    `bench:as: ${signedAhead.toLocaleString("en-US")} receipts signed ahead in ${((performance.now() - signing) / 1000).toFixed(1)} s`,
  );
  seedStore(file, channels);

  const as = await startAs(file);
  const host = as.url.hostname;
  const port = Number(as.url.port);
  const health = encodeRequest("GET", "/health");
  // One connection per client, kept while it waits out a Retry-After, as separate client machines would.
  // Connect every client before the clock starts (GET /health is never shed): the runs measure clients
  // that keep sending, not a storm of new connections from one client process that is still starting.
  const connections = channels.map(() => new Connection(host, port));
  await Promise.all(connections.map((connection) => connection.send(health)));
  // Warm-up, before the clock (unless `warmup` is 0): up to 64 clients trade for `warmup` seconds, so a running
  // AS meets the load (its compiled code, the recovery process and the store's pages warm; not its shed path,
  // which 64 clients never reach). They have their answers before the clock starts; then every client sends
  // at once, each on the connection it opened before (no client connects during the clock).
  const warm = { ok: [] as number[], busy: [] as number[], failed: new Map<string, number>(), signed: 0 };
  if (warmup > 0) await drive(channels.slice(0, 64), connections, performance.now() + warmup * 1000, warm);
  const measured = { ok: [] as number[], busy: [] as number[], failed: new Map<string, number>(), signed: 0 };
  const { ok, busy, failed } = measured;
  const deadline = performance.now() + seconds * 1000;
  const t = performance.now();
  const clientCpu = process.cpuUsage();
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  await drive(channels, connections, deadline, measured);
  const signedDuring = measured.signed;
  const elapsed = (performance.now() - t) / 1000;
  const clientCpuUsed = process.cpuUsage(clientCpu);
  loopDelay.disable();
  const cpu = await as.stop();
  for (const connection of connections) connection.close();
  const stored = new AsStore(file);
  // Every receipt: the warm-up's and the timed run's (the durability target counts the OTPs of both).
  const receiptsOnDisk = stored.receiptCount();
  stored.close();
  fs.rmSync(dir, { recursive: true, force: true });

  const all = [...ok, ...busy].sort((a, b) => a - b);
  ok.sort((a, b) => a - b);
  busy.sort((a, b) => a - b);
  const failures = [...failed.values()].reduce((a, b) => a + b, 0);
  return {
    clients,
    seconds: round(elapsed),
    warmup: {
      seconds: warmup,
      exchanges: warm.ok.length,
      busy: warm.busy.length,
      failures: [...warm.failed.values()].reduce((a, b) => a + b, 0),
      ...(warm.failed.size === 0 ? {} : { failureKinds: Object.fromEntries(warm.failed) }),
    },
    exchanges: ok.length,
    busy: busy.length,
    failures,
    ...(failures === 0 ? {} : { failureKinds: Object.fromEntries(failed) }),
    exchangesPerSecond: Math.round(ok.length / elapsed),
    p50ms: round(percentile(all, 50)),
    p99ms: round(percentile(all, 99)),
    okP99ms: round(percentile(ok, 99)),
    busyP99ms: round(percentile(busy, 99)),
    receiptsOnDisk,
    clientLoopDelayP99ms: round(loopDelay.percentile(99) / 1e6),
    asCpuMsPerExchange: Math.round((cpu.micros / 1000 / Math.max(1, ok.length + busy.length)) * 1000) / 1000,
    ...(cpu.counts === null
      ? {}
      : {
          recoveryCpuMsPerExchange:
            Math.round((cpu.recoveryMicros / 1000 / Math.max(1, ok.length + busy.length)) * 1000) / 1000,
          recoveredByProcess: cpu.counts.process / Math.max(1, cpu.counts.process + cpu.counts.inline),
          recoveryRestarts: cpu.counts.failures,
        }),
    clientCpuMsPerExchange:
      Math.round(((clientCpuUsed.user + clientCpuUsed.system) / 1000 / Math.max(1, ok.length + busy.length)) * 1000) /
      1000,
    signedDuringRun: signedDuring,
  };
}

async function main(): Promise<void> {
  if (!(WARMUP_SECONDS <= 60))
    throw new Error(`BENCH_AS_WARMUP_SECONDS must be a number of seconds from 0 to 60, not "${WARMUP_TEXT}"`);
  const ceiling = recoverCeiling();
  const measured: AsRun[] = [];
  for (const { clients, warmup } of runs) {
    console.log(
      `bench:as: ${clients} clients for ${seconds} s${warmup > 0 ? ` after a ${warmup} s warm-up` : ", cold AS"}…`,
    );
    measured.push(await run(clients, warmup, ceiling.wall));
  }
  const result: AsBenchResult = {
    recoverOnlyPerSecond: Math.round(ceiling.wall),
    recoverOnlyPerCpuSecond: Math.round(ceiling.cpu),
    runs: measured,
  };
  console.log(JSON.stringify(result, null, 2));
  console.log(`\n${renderAsReport(result)}`);
}

runBench("bench:as", main);
