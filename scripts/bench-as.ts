/**
 * `npm run bench:as [clients] [seconds]`: Authorization Server throughput over HTTP on loopback.
 *
 * The AS runs in its own process with its SQLite store; `clients` concurrent clients (default 64), each
 * with its own one-client channel, trade receipts for OTPs for `seconds` (default 10). Every receipt is
 * on disk before its OTP is sent (group commit, synchronous=FULL). Prints exchanges per second, p50 and
 * p99 latency, and the recover-only ceiling (native libsecp256k1) measured in the same run. Channels are
 * seeded in the store, as the AS caches a channel after its first on-chain check.
 */
import { spawn } from "node:child_process";
import http from "node:http";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";

import { Wallet, getBytes, keccak256 } from "ethers";
import secp256k1 from "secp256k1";

import { AuthorizationServer } from "../src/channels/as-server";
import { AsStore } from "../src/channels/store";
import { ReceiptVerifier } from "../src/channels/verify";
import { clientLeaf } from "../src/merkle/group";

const clients = Number(process.argv[2] ?? "64");
const seconds = Number(process.argv[3] ?? "10");
const chainId = 31337n;
const channelsAddress = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0";
const payee = new Wallet(keccak256("0x01")).address;
const owner = new Wallet(keccak256("0x02")).address;
const domain = { name: "ThingLedger PaymentChannels", version: "1", chainId, verifyingContract: channelsAddress };
const verifier = new ReceiptVerifier(domain);
const deviceId = keccak256("0x1234");
const price = 1_000n;

const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });

/** POST with a keep-alive agent: lighter than fetch, so the clients do not cap the measurement. */
function post(url: URL, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: "/access",
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (response) => {
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (text += chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, text }));
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-bench-as-"));
  const file = path.join(dir, "as.sqlite");
  const keys = Array.from(
    { length: clients },
    (_, i) => new Wallet(keccak256(`0x${(i + 100).toString(16).padStart(4, "0")}`)),
  );

  // Seed the store: one channel per client, one device.
  const seed = new AsStore(file, { create: true });
  const seeder = new AuthorizationServer({ payee, verifier, store: seed });
  seeder.provisionDevice(deviceId, "ab".repeat(32), price);
  const channels = keys.map((k, i) => {
    const params = { owner, token: false, clientRoot: clientLeaf(k.address), salt: String(i + 1), openBlock: "1" };
    const channelId = seeder.channelIdOf(params);
    seed.saveChannel({
      channelId,
      owner,
      token: false,
      clientRoot: params.clientRoot,
      salt: BigInt(params.salt),
      openBlock: 1n,
      deposit: 10n ** 30n,
      expiry: 4_102_444_800,
      closed: false,
    });
    return { key: k, params, channelId, amount: 0n };
  });
  seed.close();

  // The recover-only ceiling, in this process.
  const probe = channels[0];
  const sig = secp256k1.ecdsaSign(getBytes(verifier.digest(probe.channelId, 1n)), getBytes(probe.key.privateKey));
  const signature = `0x${Buffer.from(sig.signature).toString("hex")}${(sig.recid + 27).toString(16)}`;
  const n = 20_000;
  let t = performance.now();
  for (let i = 0; i < n; i++) verifier.recover(probe.channelId, 1n, signature);
  const recoverPerSecond = n / ((performance.now() - t) / 1000);

  const server = spawn(
    process.execPath,
    [
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
  const url = await new Promise<string>((resolve, reject) => {
    server.stdout.on("data", (chunk: Buffer) => {
      const m = /listening (\S+)/.exec(chunk.toString());
      if (m !== null) resolve(m[1]);
    });
    server.once("exit", (code) => reject(new Error(`AS exited with ${code}`)));
  });

  const target = new URL(url);
  const latencies: number[] = [];
  let failures = 0;
  const deadline = performance.now() + seconds * 1000;
  t = performance.now();
  await Promise.all(
    channels.map(async (c) => {
      while (performance.now() < deadline) {
        const amount = c.amount + price;
        const s = secp256k1.ecdsaSign(getBytes(verifier.digest(c.channelId, amount)), getBytes(c.key.privateKey));
        const body = JSON.stringify({
          channel: c.params,
          deviceId,
          amount: amount.toString(),
          signature: `0x${Buffer.from(s.signature).toString("hex")}${(s.recid + 27).toString(16)}`,
          proof: [],
        });
        const started = performance.now();
        const response = await post(target, body);
        const reply = JSON.parse(response.text) as { otp?: string };
        latencies.push(performance.now() - started);
        if (response.status === 200 && reply.otp !== undefined) c.amount = amount;
        else failures++;
      }
    }),
  );
  const elapsed = (performance.now() - t) / 1000;
  const exited = new Promise((resolve) => server.once("exit", resolve));
  server.kill("SIGTERM");
  await exited; // it holds the database's lock until it is gone
  agent.destroy();
  const stored = new AsStore(file);
  const durable = stored.receiptCount();
  stored.close();
  fs.rmSync(dir, { recursive: true, force: true });

  latencies.sort((a, b) => a - b);
  const exchanges = latencies.length - failures;
  const report = {
    clients,
    seconds: Number(elapsed.toFixed(2)),
    exchanges,
    failures,
    exchangesPerSecond: Math.round(exchanges / elapsed),
    p50ms: Number(percentile(latencies, 50).toFixed(2)),
    p99ms: Number(percentile(latencies, 99).toFixed(2)),
    receiptsOnDisk: durable,
    recoverOnlyPerSecond: Math.round(recoverPerSecond),
    targets: { exchangesPerSecond: 2000, p99ms: 50 },
  };
  console.log(JSON.stringify(report, null, 2));
  console.log(
    `\n${report.exchangesPerSecond} exchanges/s (target ≥ 2,000), p50 ${report.p50ms} ms, p99 ${report.p99ms} ms (target ≤ 50), ` +
      `${durable} receipts durable, recover-only ceiling ${report.recoverOnlyPerSecond}/s`,
  );
  if (durable !== exchanges) {
    console.error(`durability check failed: ${exchanges} OTPs answered but ${durable} receipts on disk`);
    process.exit(1);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
