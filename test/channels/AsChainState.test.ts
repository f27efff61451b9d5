import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";

import { loadFixture, mine, time } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { BrowserProvider, FetchRequest, JsonRpcProvider, Wallet, keccak256, parseEther, toUtf8Bytes } from "ethers";
import type { Eip1193Provider, TypedDataDomain } from "ethers";
import { ethers, network } from "hardhat";

import { AuthorizationServer } from "../../src/channels/as-server";
import type { AsOptions } from "../../src/channels/as-server";
import { ChannelFollower } from "../../src/channels/follower";
import { openedChannel, submitCloses } from "../../src/channels/key";
import { AsStore } from "../../src/channels/store";
import { ReceiptVerifier } from "../../src/channels/verify";
import { readDomain } from "../../src/eip712/domain";
import { signReceipt } from "../../src/eip712/receipt";
import { clientLeaf } from "../../src/merkle/group";
import { PaymentChannels__factory } from "../../typechain-types";
import type { PaymentChannels } from "../../typechain-types";
import { ROOT, hardhat, startNode } from "../shared/cli";
import type { LocalNode } from "../shared/cli";
import { channelsFixture } from "../shared/fixtures";
import type { ChannelsFixture } from "../shared/fixtures";
import { coverageRunning } from "../shared/gas";

const HOUR = 3_600n;
const DAY = 86_400n;
const PRICE = parseEther("0.01");
const LOCK = keccak256(toUtf8Bytes("SN-CHAIN-LOCK"));
const CURSOR = "follower:test";

/** One channel opened for the AS, paid by one client key (construction 2: the root is its leaf). */
interface Opened {
  channelId: string;
  client: Wallet;
  body: { owner: string; token: boolean; clientRoot: string; salt: string; openBlock: string };
  expiry: bigint;
}

async function openChannel(f: ChannelsFixture, salt: bigint, deposit: bigint, lifetime: bigint): Promise<Opened> {
  const client = new Wallet(keccak256(toUtf8Bytes(`chain-state-client-${salt}`)));
  const expiry = BigInt(await time.latest()) + lifetime;
  const tx = await f.channels
    .connect(f.owner)
    .openEth(f.server.address, expiry, clientLeaf(client.address), salt, { value: deposit });
  const { channelId, openBlock } = openedChannel(f.channels, await tx.wait());
  return {
    channelId,
    client,
    expiry,
    body: {
      owner: f.owner.address,
      token: false,
      clientRoot: clientLeaf(client.address),
      salt: salt.toString(),
      openBlock: openBlock.toString(),
    },
  };
}

/** The contract's key of a channel as registered with the AS. */
function keyOfBody(body: Opened["body"]) {
  return { ...body, salt: BigInt(body.salt), openBlock: BigInt(body.openBlock) };
}

/** Sends one receipt for `amount` to the AS: its HTTP status and body, as a client sees them. */
async function send(
  url: string,
  domain: TypedDataDomain,
  c: Opened,
  amount: bigint,
): Promise<{ status: number; body: { error?: string; otp?: string; counter?: number; amount?: string } }> {
  const signature = await signReceipt(c.client, domain, { channelId: c.channelId, cumulativeAmount: amount });
  const response = await fetch(`${url}/access`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ channel: c.body, deviceId: LOCK, amount: amount.toString(), signature, proof: [] }),
    signal: AbortSignal.timeout(60_000),
  });
  return { status: response.status, body: (await response.json()) as { error?: string } };
}

describe("Authorization Server: chain state and closes (issue 15, defects 1 and 2)", function () {
  let dir: string;
  let store: AsStore | undefined;
  let server: AuthorizationServer | undefined;

  beforeEach(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-as-chain-"));
  });

  afterEach(async function () {
    await server?.stop();
    store?.close();
    server = undefined;
    store = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function startServer(
    f: ChannelsFixture,
    extra: Partial<AsOptions> = {},
  ): Promise<{ url: string; server: AuthorizationServer; store: AsStore; lines: string[] }> {
    store = new AsStore(path.join(dir, "as.sqlite"), { create: true });
    const lines: string[] = [];
    server = new AuthorizationServer({
      channels: f.channels.connect(f.server),
      payee: f.server.address,
      verifier: new ReceiptVerifier(f.domain),
      store,
      expiryMargin: 60,
      log: (line) => lines.push(line),
      ...extra,
    });
    server.provisionDevice(LOCK, crypto.randomBytes(32).toString("hex"), PRICE);
    const url = await server.listen(0);
    return { url, server, store, lines };
  }

  /** Buys `slots` slots on a channel, one receipt after the other; every one must be granted. */
  async function buy(url: string, f: ChannelsFixture, c: Opened, from: bigint, slots: number): Promise<bigint> {
    let amount = from;
    for (let i = 0; i < slots; i++) {
      amount += PRICE;
      const r = await send(url, f.domain, c, amount);
      expect(r.status, r.body.error).to.equal(200);
    }
    return amount;
  }

  it("one poisoned channel among many due closes (closed before a crash, reclaimed, expired, a batch that reverts) stops none of the others", async function () {
    const f = await loadFixture(channelsFixture);
    const good = await Promise.all([1n, 2n, 3n].map((salt) => openChannel(f, salt, parseEther("1"), DAY)));
    const crashed = await openChannel(f, 4n, parseEther("1"), DAY);
    const reclaimed = await openChannel(f, 5n, parseEther("1"), 2n * HOUR);
    const expired = await openChannel(f, 6n, parseEther("1"), 2n * HOUR);
    // One good channel's batches revert on chain (out of gas) while the fault lasts.
    const contract = f.channels.connect(f.server);
    const closeBatch = contract.closeBatch;
    let poisoned = true;
    Object.defineProperty(contract, "closeBatch", {
      value: async (requests: Parameters<typeof closeBatch>[0]) => {
        const hit = poisoned && (requests as { key: { salt: bigint } }[]).some((q) => BigInt(q.key.salt) === 3n);
        if (!hit) return closeBatch(requests);
        const needed = await closeBatch.estimateGas(requests);
        return closeBatch(requests, { gasLimit: (needed * 9n) / 10n });
      },
    });
    const s = await startServer(f, { channels: contract as PaymentChannels });
    const best = new Map<string, bigint>();
    for (const [i, c] of [...good, crashed, reclaimed, expired].entries())
      best.set(c.channelId, await buy(s.url, f, c, 0n, 1 + (i % 3)));

    // The AS closed `crashed` and crashed before recording it: the close is on chain, the store says open.
    const crashBest = s.store.bestReceipts().get(crashed.channelId)!;
    await (
      await submitCloses(f.channels.connect(f.server), [
        { ...crashed.body, salt: 4n, openBlock: BigInt(crashed.body.openBlock), ...crashBest },
      ])
    ).wait();
    // Two hours on: one short channel reclaimed by its owner, the other expired; the rest are due.
    await time.increaseTo(reclaimed.expiry + 1n);
    await f.channels.connect(f.owner).reclaim(keyOfBody(reclaimed.body), f.server.address);

    const first = await s.server.closeDue(Number(DAY));
    expect(first.closed.sort()).to.deep.equal([good[0].channelId, good[1].channelId].sort());
    expect(first.failed.map((x) => x.channelId)).to.deep.equal([good[2].channelId]);
    expect(first.failed[0].error).to.match(/^closeBatch reverted/);
    expect(first.skipped).to.deep.include.members([
      { channelId: crashed.channelId, reason: "not-open" },
      { channelId: reclaimed.channelId, reason: "not-open" },
      { channelId: expired.channelId, reason: "expired" },
    ]);
    const notes = new Map(first.notes.map((n) => [n.channelId, n.detail]));
    expect(notes.get(crashed.channelId)).to.match(
      new RegExp(`^closed on chain, paid ${best.get(crashed.channelId)} \\(0x`),
    );
    expect(notes.get(reclaimed.channelId)).to.match(/^reclaimed by its owner on chain, refunded/);
    expect(notes.get(expired.channelId)).to.match(/^expired on chain at \d+/);
    // The fault is over: the next round closes the channel left due, and then nothing is due.
    poisoned = false;
    const second = await s.server.closeDue(Number(DAY));
    expect(second.closed).to.deep.equal([good[2].channelId]);
    expect(await s.server.dueChannels(Number(DAY))).to.deep.equal([]);
    expect(s.store.channels().every((c) => c.closed)).to.equal(true);
    // The AS was paid each closable channel's best receipt, on chain.
    for (const c of [...good, crashed]) {
      const [event] = await f.channels.queryFilter(f.channels.filters.ChannelClosed(c.channelId));
      expect(event.args.paid, c.channelId).to.equal(best.get(c.channelId));
      expect((await f.channels.getChannel(c.channelId)).status).to.equal(0n);
    }
    expect((await f.channels.getChannel(expired.channelId)).status).to.equal(1n); // only its owner can end it now
  });

  it("a channel topped up, closed or reclaimed on chain behind the AS's back: served again after the top-up, refused with 409 once ended, expiry judged by chain time", async function () {
    const f = await loadFixture(channelsFixture);
    const topped = await openChannel(f, 1n, 2n * PRICE, DAY);
    const closed = await openChannel(f, 2n, parseEther("1"), DAY);
    const reclaimed = await openChannel(f, 3n, parseEther("1"), 2n * HOUR);
    const expiring = await openChannel(f, 4n, parseEther("1"), 2n * HOUR);
    const s = await startServer(f, { stateMaxAge: 0 });
    await buy(s.url, f, topped, 0n, 2);
    const refused = await send(s.url, f.domain, topped, 3n * PRICE);
    expect(refused.status).to.equal(402);
    expect(refused.body.error).to.match(/exceeds the channel's deposit/);
    // The owner tops up: the next receipt is served (the AS re-reads the channel; it used to refuse forever).
    await f.channels.connect(f.owner).topUp(keyOfBody(topped.body), f.server.address, PRICE, topped.expiry + HOUR, {
      value: PRICE,
    });
    const served = await send(s.url, f.domain, topped, 3n * PRICE);
    expect(served.status, served.body.error).to.equal(200);
    expect(s.store.channels().find((c) => c.channelId === topped.channelId)).to.include({
      deposit: 3n * PRICE,
      expiry: Number(topped.expiry + HOUR),
    });

    // The payee's key closes a channel by hand (another process): no more sales on it.
    const closedBest = await buy(s.url, f, closed, 0n, 2);
    const receipt = s.store.bestReceipts().get(closed.channelId)!;
    await (
      await submitCloses(f.channels.connect(f.server), [
        { ...closed.body, salt: 2n, openBlock: BigInt(closed.body.openBlock), ...receipt },
      ])
    ).wait();
    const afterClose = await send(s.url, f.domain, closed, closedBest + PRICE);
    expect(afterClose.status).to.equal(409);
    expect(afterClose.body.error).to.equal(
      `channel ${closed.channelId} is closed or reclaimed on chain: it can no longer be paid`,
    );

    // Chain time, not the wall clock: two hours on chain, the short channels are past expiry.
    await buy(s.url, f, reclaimed, 0n, 1);
    await buy(s.url, f, expiring, 0n, 1);
    await time.increaseTo(reclaimed.expiry + 1n);
    await f.channels.connect(f.owner).reclaim(keyOfBody(reclaimed.body), f.server.address);
    const afterReclaim = await send(s.url, f.domain, reclaimed, 2n * PRICE);
    expect(afterReclaim.status).to.equal(409);
    expect(afterReclaim.body.error).to.match(/is closed or reclaimed on chain: it can no longer be paid$/);
    const afterExpiry = await send(s.url, f.domain, expiring, 2n * PRICE);
    expect(afterExpiry.status).to.equal(409);
    expect(afterExpiry.body.error).to.match(/expires at \d+: too close to accept receipts/);
    // Nothing was stored for the refused receipts: each channel's best is its last granted one.
    const bestNow = s.store.bestReceipts();
    expect(bestNow.get(topped.channelId)!.amount).to.equal(3n * PRICE);
    expect(bestNow.get(closed.channelId)!.amount).to.equal(closedBest);
    expect(bestNow.get(reclaimed.channelId)!.amount).to.equal(PRICE);
    expect(bestNow.get(expiring.channelId)!.amount).to.equal(PRICE);
    expect(s.store.receiptCount()).to.equal(3 + 2 + 1 + 1);
  });

  it("the follower applies opens, top-ups, closes and reclaims from confirmed blocks, stores its block, and a restart resumes there", async function () {
    const f = await loadFixture(channelsFixture);
    const topped = await openChannel(f, 1n, 2n * PRICE, DAY);
    // A long staleness bound: only the follower can tell the AS about the chain.
    const s = await startServer(f, { stateMaxAge: 3_600, minConfirmations: 2 });
    const follower = (srv: AuthorizationServer, st: AsStore) =>
      new ChannelFollower({
        channels: f.channels,
        payee: f.server.address,
        minConfirmations: 2,
        timeoutMs: 5_000,
        maxRange: 3,
        cursor: () => (st.meta(CURSOR) === undefined ? undefined : Number(st.meta(CURSOR))),
        apply: (events, toBlock) => srv.applyChainEvents(events, CURSOR, toBlock),
        resync: () => srv.refreshAll(),
      });
    // First run: no cursor; it starts at the confirmed head.
    const head = await ethers.provider.getBlockNumber();
    expect(await follower(s.server, s.store).poll()).to.equal(head - 2);
    await mine(2);
    await buy(s.url, f, topped, 0n, 2);
    expect((await send(s.url, f.domain, topped, 3n * PRICE)).status).to.equal(402);
    await f.channels.connect(f.owner).topUp(keyOfBody(topped.body), f.server.address, 2n * PRICE, topped.expiry, {
      value: 2n * PRICE,
    });
    // Not confirmed yet: a reorg could undo it, so the AS does not count it.
    await follower(s.server, s.store).poll();
    expect((await send(s.url, f.domain, topped, 3n * PRICE)).status).to.equal(402);
    await mine(2);
    const cursor = await follower(s.server, s.store).poll();
    expect(s.store.meta(CURSOR)).to.equal(String(cursor));
    expect((await send(s.url, f.domain, topped, 3n * PRICE)).status).to.equal(200);

    // The AS stops; meanwhile a channel opens for it, and the payee's key closes `topped` by hand.
    await s.server.stop();
    s.store.close();
    const fresh = await openChannel(f, 7n, parseEther("1"), DAY);
    const receipt = new AsStore(path.join(dir, "as.sqlite"));
    const best = receipt.bestReceipts().get(topped.channelId)!;
    receipt.close();
    await (
      await submitCloses(f.channels.connect(f.server), [
        { ...topped.body, salt: 1n, openBlock: BigInt(topped.body.openBlock), ...best },
      ])
    ).wait();
    await mine(2);
    const t = await startServer(f, { stateMaxAge: 3_600, minConfirmations: 2 });
    const resumedFrom = Number(t.store.meta(CURSOR));
    expect(resumedFrom).to.equal(cursor);
    await follower(t.server, t.store).poll();
    const records = new Map(t.store.channels().map((c) => [c.channelId, c]));
    expect(records.get(topped.channelId)).to.include({ closed: true, deposit: 4n * PRICE });
    expect(records.get(fresh.channelId)).to.include({ closed: false, deposit: parseEther("1") });
    expect(
      t.lines.some((l) =>
        l.includes(
          `channel ${topped.channelId} ended: closed on chain, paid ${best.amount} (seen by the event follower)`,
        ),
      ),
    ).to.equal(true);
    const refused = await send(t.url, f.domain, topped, 4n * PRICE);
    expect(refused.status).to.equal(409);
    expect(refused.body.error).to.equal(
      `channel ${topped.channelId} is closed on chain, paid ${best.amount}: it can no longer be paid`,
    );
    // The channel the follower learned while the AS was down is served.
    expect((await send(t.url, f.domain, fresh, PRICE)).status).to.equal(200);
  });

  it("the RPC failing or hung during a sale's re-read: 503 'chain unavailable' with a clear message, nothing stored, then served again", async function () {
    const f = await loadFixture(channelsFixture);
    const c = await openChannel(f, 1n, parseEther("1"), DAY);
    let mode: "up" | "down" | "hung" = "up";
    const hung: (() => void)[] = [];
    const faulty: Eip1193Provider = {
      request: async (args) => {
        if (mode === "down") throw new Error("connect ECONNREFUSED 127.0.0.1:8545 (internal detail)");
        if (mode === "hung") await new Promise<void>((resolve) => hung.push(resolve));
        return network.provider.request(args);
      },
    };
    const provider = new BrowserProvider(faulty, undefined, { cacheTimeout: -1 });
    const channels = PaymentChannels__factory.connect(await f.channels.getAddress(), provider);
    const s = await startServer(f, { channels, stateMaxAge: 0, rpcTimeoutMs: 300 });
    await buy(s.url, f, c, 0n, 1);
    for (const m of ["down", "hung"] as const) {
      mode = m;
      const r = await send(s.url, f.domain, c, 2n * PRICE);
      expect(r.status, m).to.equal(503);
      expect(r.body.error, m).to.equal(
        `chain unavailable: the AS cannot check channel ${c.channelId} on chain; try again shortly`,
      );
    }
    expect(s.lines.some((l) => /no answer from the RPC within 300 ms/.test(l))).to.equal(true);
    // The cause is in the AS's log, for its operator; the client saw only the sentence above.
    expect(s.lines.filter((l) => l.startsWith(`chain read for channel ${c.channelId} failed`))).to.have.length(2);
    mode = "up";
    hung.forEach((resolve) => resolve());
    expect(s.store.receiptCount()).to.equal(1);
    // Not charged for the refused tries: the same receipt is served once the chain is back.
    const r = await send(s.url, f.domain, c, 2n * PRICE);
    expect(r.status, r.body.error).to.equal(200);
    expect(r.body.counter).to.equal(1);
  });
});

/**
 * A JSON-RPC proxy between the AS process and the node: "up" forwards, "down" resets every connection
 * (the node stopped), "hung" holds every request unanswered; `fail` answers the next calls of a method with
 * a JSON-RPC error (an RPC fault on the AS's close).
 */
class RpcProxy {
  mode: "up" | "down" | "hung" = "up";
  /** JSON-RPC calls forwarded, by method (eth_call by its selector's first bytes is not split out). */
  readonly calls = new Map<string, number>();
  private readonly faults = new Map<string, number>();
  private readonly held: http.ServerResponse[] = [];
  private readonly agent = new http.Agent({ keepAlive: false });

  private constructor(
    readonly server: http.Server,
    readonly url: string,
  ) {}

  static async start(target: string): Promise<RpcProxy> {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    const proxy = new RpcProxy(server, `http://127.0.0.1:${port}`);
    server.on("request", (req, res) => proxy.handle(target, req, res));
    return proxy;
  }

  fail(method: string, times: number): void {
    this.faults.set(method, times);
  }

  setMode(mode: "up" | "down" | "hung"): void {
    this.mode = mode;
    if (mode !== "hung") for (const res of this.held.splice(0)) res.socket?.destroy();
  }

  private handle(target: string, req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.mode === "down") {
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (this.mode === "hung") {
        this.held.push(res);
        return;
      }
      const body = Buffer.concat(chunks);
      const call = JSON.parse(body.toString()) as { id?: number; method?: string };
      this.calls.set(call.method ?? "?", (this.calls.get(call.method ?? "?") ?? 0) + 1);
      const left = this.faults.get(call.method ?? "") ?? 0;
      if (left > 0) {
        this.faults.set(call.method!, left - 1);
        res.setHeader("content-type", "application/json");
        res.end(
          JSON.stringify({ jsonrpc: "2.0", id: call.id, error: { code: -32603, message: "injected RPC fault" } }),
        );
        return;
      }
      const upstream = http.request(
        target,
        { method: "POST", agent: this.agent, headers: { "content-type": "application/json" } },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, { "content-type": "application/json" });
          answer.pipe(res);
        },
      );
      upstream.on("error", () => res.socket?.destroy());
      upstream.end(body);
    });
  }

  async stop(): Promise<void> {
    this.setMode("down");
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

const TREASURY_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"; // hardhat account 0
const TREASURY = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"; // hardhat account 0
const AS_ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"; // hardhat account 1
const MILLI = parseEther("0.001");

/**
 * Fault injection with real processes: a `hardhat node`, and the AS run as `npx hardhat as:serve` in its
 * own process, talking to the node through {@link RpcProxy}. Every scenario checks that no acknowledged
 * receipt is lost, that no client is charged without a code (the AS stored exactly the receipts it
 * answered with a code), and that the AS is paid each channel's best receipt on chain.
 */
describe("Authorization Server process on a real node: chain faults (issue 15, defects 1 and 2)", function () {
  this.timeout(900_000);
  let node: LocalNode;
  let proxy: RpcProxy;
  let scratch: string;
  let deploymentDir: string;
  let env: NodeJS.ProcessEnv;
  let provider: JsonRpcProvider;
  let channels: PaymentChannels;
  let domain: TypedDataDomain;
  let devicesFile: string;
  let db: string;
  let as: { child: ChildProcess; url: string; log: string[] } | undefined;
  /** Every amount a client received a code for, per channel. */
  const delivered = new Map<string, bigint[]>();
  let salt = 100n;
  let longExpiry = 0n;

  before(async function () {
    if (coverageRunning()) this.skip();
    node = await startNode();
    const id = `test-as-chain-${process.pid}-${Date.now()}`;
    env = { THINGLEDGER_LOCALHOST_URL: node.url, THINGLEDGER_DEPLOYMENT_ID: id };
    deploymentDir = path.join(ROOT, "deploy", "deployments", id);
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-as-chain-node-"));
    const deployed = hardhat(["deploy", "--network", "localhost", "--json"], env);
    expect(deployed.status, deployed.stderr).to.equal(0);
    const book = JSON.parse(fs.readFileSync(path.join(deploymentDir, "deployed_addresses.json"), "utf8")) as Record<
      string,
      string
    >;
    const request = new FetchRequest(node.url);
    request.getUrlFunc = FetchRequest.createGetUrlFunc({ agent: new http.Agent({ keepAlive: false }) });
    provider = new JsonRpcProvider(request, undefined, { staticNetwork: true, cacheTimeout: -1 });
    channels = PaymentChannels__factory.connect(
      book["PaymentChannels#PaymentChannels"],
      new Wallet(TREASURY_KEY, provider),
    );
    domain = await readDomain(channels);
    proxy = await RpcProxy.start(node.url);
    devicesFile = path.join(scratch, "devices.json");
    fs.writeFileSync(devicesFile, JSON.stringify([{ deviceId: LOCK, secret: "a1".repeat(32), price: "0.001" }]));
    db = path.join(scratch, "as", "as.sqlite");
  });

  after(async function () {
    if (as?.child.pid !== undefined && as.child.exitCode === null) process.kill(-as.child.pid, "SIGKILL");
    await proxy?.stop();
    await node?.stop();
    if (deploymentDir !== undefined) fs.rmSync(deploymentDir, { recursive: true, force: true });
    if (scratch !== undefined) fs.rmSync(scratch, { recursive: true, force: true });
  });

  /** Starts `as:serve` in its own process, its RPC through the proxy; close rounds every second. */
  async function startAs(): Promise<{ child: ChildProcess; url: string; log: string[] }> {
    const args = ["hardhat", "as:serve", "--network", "localhost", "--port", "0", "--db", db];
    args.push("--devices", devicesFile, "--signer", "1", "--poll", "1", "--close-margin", "3600", "--follow", "1");
    // Its clients buy as fast as they can from one address and never use their codes: no rate limit, and a
    // HOTP window wide enough that unused codes never hold sales up (AsDurability tests the window).
    args.push("--state-max-age", "1", "--rpc-timeout", "1000", "--rate-limit", "0", "--hotp-window", "1000000");
    args.push("--json");
    if (!fs.existsSync(db)) args.push("--init");
    const child = spawn("npx", args, {
      cwd: ROOT,
      env: { ...process.env, ...env, THINGLEDGER_LOCALHOST_URL: proxy.url },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const log: string[] = [];
    let out = "";
    child.stderr?.on("data", (chunk: Buffer) =>
      log.push(
        ...chunk
          .toString()
          .split("\n")
          .filter((l) => l !== ""),
      ),
    );
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`as:serve did not start:\n${out}${log.join("\n")}`)), 180_000);
      child.stdout?.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        const match = /"url": "([^"]+)"/.exec(out);
        if (match !== null) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      });
      child.once("exit", (code) => reject(new Error(`as:serve exited with ${code}:\n${out}${log.join("\n")}`)));
    });
    as = { child, url, log };
    return as;
  }

  async function stopAs(signal: "SIGTERM" | "SIGKILL"): Promise<void> {
    if (as === undefined || as.child.exitCode !== null) return;
    const exited = new Promise((resolve) => as!.child.once("exit", resolve));
    process.kill(-as.child.pid!, signal);
    await exited;
    // Until the node process under npx has let go of the database, a new AS (or a reader) is refused.
    if (fs.existsSync(db)) (await openStore()).close();
  }

  async function chainNow(): Promise<bigint> {
    return BigInt((await provider.getBlock("latest"))!.timestamp);
  }

  async function warp(seconds: bigint): Promise<void> {
    await provider.send("evm_increaseTime", [Number(seconds)]);
    await provider.send("evm_mine", []);
  }

  async function open(deposit: bigint, expiry: bigint): Promise<Opened> {
    salt += 1n;
    const client = new Wallet(keccak256(toUtf8Bytes(`as-chain-node-client-${salt}`)));
    const tx = await channels.openEth(AS_ADDRESS, expiry, clientLeaf(client.address), salt, { value: deposit });
    const { channelId, openBlock } = openedChannel(channels, await tx.wait());
    return {
      channelId,
      client,
      expiry,
      body: {
        owner: TREASURY,
        token: false,
        clientRoot: clientLeaf(client.address),
        salt: salt.toString(),
        openBlock: openBlock.toString(),
      },
    };
  }

  /** One client's purchase: the receipt after its last granted one; a code received is recorded. */
  async function purchase(c: Opened): Promise<{ status: number; error?: string }> {
    const list = delivered.get(c.channelId) ?? [];
    const amount = (list.at(-1) ?? 0n) + MILLI;
    const r = await send(as!.url, domain, c, amount);
    if (r.status === 200) {
      expect(r.body.amount).to.equal(amount.toString());
      delivered.set(c.channelId, [...list, amount]);
    }
    return { status: r.status, error: r.body.error };
  }

  async function purchaseOk(c: Opened, times: number): Promise<void> {
    for (let i = 0; i < times; i++) {
      const r = await purchase(c);
      expect(r.status, r.error).to.equal(200);
    }
  }

  /** The payee's key closes a channel by hand with the AS's best receipt, as another process would. */
  async function closeByHand(c: Opened): Promise<bigint> {
    const r = (await (await fetch(`${as!.url}/channels/${c.channelId}/receipt`)).json()) as {
      amount: string;
      signature: string;
      proof: string[];
    };
    const payee = await provider.getSigner(AS_ADDRESS);
    const item = { ...c.body, salt: BigInt(c.body.salt), openBlock: BigInt(c.body.openBlock) };
    await (
      await submitCloses(channels.connect(payee), [
        { ...item, amount: BigInt(r.amount), signature: r.signature, proof: r.proof },
      ])
    ).wait();
    return BigInt(r.amount);
  }

  async function until(what: string, check: () => Promise<boolean>): Promise<void> {
    for (let i = 0; i < 240; i++) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`timed out waiting for ${what}\n${as?.log.join("\n")}`);
  }

  /**
   * The AS's database, once the stopped AS has let go of it: `npx` may exit a moment before the node process
   * under it has closed the database and released its lock.
   */
  async function openStore(): Promise<AsStore> {
    for (let i = 0; ; i++) {
      try {
        return new AsStore(db);
      } catch (error) {
        if (i >= 40 || !/is in use by another AS/.test((error as Error).message)) throw error;
        await sleep(250);
      }
    }
  }

  /** The store holds exactly the receipts clients got codes for, and its best is the last of them. */
  async function expectStoreMatchesDelivered(ids: string[]): Promise<void> {
    const store = await openStore();
    try {
      for (const id of ids) {
        const got = delivered.get(id) ?? [];
        expect(store.receiptAmounts(id), id).to.deep.equal(got);
        expect(store.bestReceipts().get(id)?.amount, id).to.equal(got.at(-1));
      }
    } finally {
      store.close();
    }
  }

  async function expectPaidBest(c: Opened): Promise<void> {
    const [event] = await channels.queryFilter(channels.filters.ChannelClosed(c.channelId));
    expect(event, `${c.channelId} closed`).to.not.equal(undefined);
    expect(event.args.paid, c.channelId).to.equal(delivered.get(c.channelId)!.at(-1));
  }

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  let topped: Opened;

  it("a channel topped up, closed or reclaimed on chain behind the AS's back: served again, refused with 409", async function () {
    await startAs();
    longExpiry = (await chainNow()) + DAY;
    topped = await open(2n * MILLI, longExpiry);
    const closed = await open(parseEther("1"), longExpiry);
    const reclaimed = await open(parseEther("1"), (await chainNow()) + 65n * 60n);
    await purchaseOk(topped, 2);
    const refused = await purchase(topped);
    expect(refused.status).to.equal(402);
    await channels.topUp(keyOfBody(topped.body), AS_ADDRESS, 2n * MILLI, longExpiry, { value: 2n * MILLI });
    // Served again once the AS re-reads it (at most --state-max-age later), not refused forever.
    await until("the topped-up channel to be served", async () => (await purchase(topped)).status === 200);
    await purchaseOk(topped, 1);

    await purchaseOk(closed, 2);
    const paid = await closeByHand(closed);
    await sleep(1_500); // past --state-max-age: the AS must know
    const afterClose = await purchase(closed);
    expect(afterClose.status).to.equal(409);
    expect(afterClose.error).to.match(
      /^channel 0x[0-9a-f]{64} is (closed or reclaimed on chain|closed on chain, paid \d+): it can no longer be paid$/,
    );
    const [event] = await channels.queryFilter(channels.filters.ChannelClosed(closed.channelId));
    expect(event.args.paid).to.equal(paid);
    expect(paid).to.equal(delivered.get(closed.channelId)!.at(-1));

    await purchaseOk(reclaimed, 1);
    await warp(70n * 60n);
    await channels.reclaim(keyOfBody(reclaimed.body), AS_ADDRESS);
    await sleep(1_500);
    const afterReclaim = await purchase(reclaimed);
    expect(afterReclaim.status).to.equal(409);
    expect(afterReclaim.error).to.match(/reclaimed|expires at/);
    // The AS holds its database exclusively: stop it to read the store, then start it again.
    await stopAs("SIGTERM");
    await expectStoreMatchesDelivered([topped.channelId, closed.channelId, reclaimed.channelId]);
    await startAs();
  });

  it("one poisoned channel among many due closes, after a kill -9 and an RPC fault on the close: the others are closed and paid their best receipts", async function () {
    const now = await chainNow();
    const good: Opened[] = [];
    for (let i = 0; i < 4; i++) good.push(await open(parseEther("1"), now + 2n * HOUR));
    const closedEarlier = await open(parseEther("1"), now + 2n * HOUR);
    const reclaimed = await open(parseEther("1"), now + 65n * 60n);
    const expired = await open(parseEther("1"), now + 65n * 60n);
    for (const [i, c] of [...good, closedEarlier, reclaimed, expired].entries()) await purchaseOk(c, 1 + (i % 3));
    // The AS crashes; its last close (of `closedEarlier`) was mined but never recorded.
    await closeByHand(closedEarlier);
    // Its event follower may still see that close before the kill (a loaded machine gives it the time): then the
    // killed AS reports it, and the restarted one finds it recorded. Either way it is reported, once.
    const killedLog = as!.log;
    await stopAs("SIGKILL");
    await warp(70n * 60n); // the short channels expire; the good ones are now due
    await channels.reclaim(keyOfBody(reclaimed.body), AS_ADDRESS);
    proxy.fail("eth_sendTransaction", 1); // the first close the restarted AS sends fails at the RPC
    await startAs();
    await until("the good channels to be closed", async () => {
      for (const c of good) if ((await channels.getChannel(c.channelId)).status !== 0n) return false;
      return true;
    });
    for (const c of [...good, closedEarlier]) await expectPaidBest(c);
    expect((await channels.getChannel(expired.channelId)).status).to.equal(1n);
    const logs = () => [...killedLog, ...as!.log];
    await until("every poisoned channel to be reported", async () =>
      [closedEarlier, reclaimed, expired].every((c) => logs().some((l) => l.includes(`channel ${c.channelId} ended`))),
    );
    const lines = logs().join("\n");
    for (const c of [closedEarlier, reclaimed, expired])
      expect(
        logs().filter((l) => l.includes(`channel ${c.channelId} ended`)),
        c.channelId,
      ).to.have.length(1);
    expect(lines).to.contain(
      `channel ${closedEarlier.channelId} ended: closed on chain, paid ${delivered.get(closedEarlier.channelId)!.at(-1)}`,
    );
    expect(lines).to.contain(`channel ${reclaimed.channelId} ended: reclaimed by its owner on chain`);
    expect(lines).to.match(new RegExp(`channel ${expired.channelId} ended: expired on chain at \\d+`));
    expect(lines).to.match(/failed: closeBatch failed: .*injected RPC fault/);
    await stopAs("SIGTERM");
    const store = await openStore();
    const records = new Map(store.channels().map((c) => [c.channelId, c.closed]));
    store.close();
    for (const c of [...good, closedEarlier, reclaimed, expired])
      expect(records.get(c.channelId), c.channelId).to.equal(true);
    await expectStoreMatchesDelivered([...good, closedEarlier, reclaimed, expired].map((c) => c.channelId));
  });

  it("the RPC stopped mid-run, and hung: sales get 503 'chain unavailable' and never hang; nothing is lost or charged without a code; the AS is paid the best receipts", async function () {
    await startAs();
    const load: Opened[] = [];
    for (let i = 0; i < 3; i++) load.push(await open(parseEther("1"), longExpiry));
    const statuses: { phase: string; status: number; error?: string; ms: number }[] = [];
    let phase = "up";
    let running = true;
    proxy.calls.clear();
    const buyers = load.map(async (c) => {
      while (running) {
        const started = performance.now();
        const r = await purchase(c);
        statuses.push({ phase, ...r, ms: performance.now() - started });
        if (r.status !== 200) await sleep(100);
      }
    });
    const grants = () => statuses.filter((s) => s.status === 200).length;
    const summary = () =>
      JSON.stringify(
        Object.entries(
          statuses.reduce<Record<string, number>>((n, x) => {
            const key = `${x.status} ${x.error ?? ""}`.slice(0, 160);
            n[key] = (n[key] ?? 0) + 1;
            return n;
          }, {}),
        ),
      );
    await until("grants before the outage", async () => grants() >= 15).catch((error: Error) => {
      throw new Error(`${error.message}\nanswers: ${summary()}`);
    });
    for (const mode of ["hung", "down"] as const) {
      phase = mode;
      proxy.setMode(mode);
      await until(`a 503 while the RPC is ${mode}`, async () =>
        statuses.some((s) => s.phase === mode && s.status === 503),
      );
      await sleep(2_000);
      proxy.setMode("up");
      phase = `after ${mode}`;
      const before = grants();
      await until(`grants after the RPC was ${mode}`, async () => grants() >= before + 15);
    }
    running = false;
    await Promise.all(buyers);
    // Printed, not asserted: what the run cost the RPC, and how long refused sales took.
    const slowest = (mode: string) =>
      Math.max(...statuses.filter((s) => s.phase === mode && s.status === 503).map((s) => s.ms)).toFixed(0);
    console.log(
      `      ${grants()} grants, ${statuses.length - grants()} refused; RPC calls ${JSON.stringify(Object.fromEntries(proxy.calls))}; slowest 503: hung ${slowest("hung")} ms, down ${slowest("down")} ms`,
    );
    for (const s of statuses.filter((x) => x.status !== 200)) {
      expect(s.status, `${s.phase}: ${s.error}`).to.equal(503);
      expect(s.error).to.match(
        /^chain unavailable: the AS cannot (check channel 0x[0-9a-f]{64} on chain|read the chain's time); try again shortly$/,
      );
    }
    await stopAs("SIGTERM");
    await expectStoreMatchesDelivered(load.map((c) => c.channelId));
    await startAs();
    // Every open channel with receipts comes due: the AS closes each with its best receipt.
    await warp(longExpiry - (await chainNow()) - 1_800n);
    await until("the channels to be closed", async () => {
      for (const c of [...load, topped]) if ((await channels.getChannel(c.channelId)).status !== 0n) return false;
      return true;
    });
    for (const c of [...load, topped]) await expectPaidBest(c);
    await stopAs("SIGTERM");
    await expectStoreMatchesDelivered([...load, topped].map((c) => c.channelId));
  });
});
