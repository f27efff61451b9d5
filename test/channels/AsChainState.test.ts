import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { loadFixture, mine, time } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { BrowserProvider, Wallet, keccak256, parseEther, toUtf8Bytes } from "ethers";
import type { Eip1193Provider, TypedDataDomain } from "ethers";
import { ethers, network } from "hardhat";

import { AuthorizationServer } from "../../src/channels/as-server";
import type { AsOptions } from "../../src/channels/as-server";
import { ChannelFollower } from "../../src/channels/follower";
import { openedChannel, submitCloses } from "../../src/channels/key";
import { AsStore } from "../../src/channels/store";
import { ReceiptVerifier } from "../../src/channels/verify";
import { signReceipt } from "../../src/eip712/receipt";
import { clientLeaf } from "../../src/merkle/group";
import { PaymentChannels__factory } from "../../typechain-types";
import type { PaymentChannels } from "../../typechain-types";
import { channelsFixture } from "../shared/fixtures";
import type { ChannelsFixture } from "../shared/fixtures";

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
    store = new AsStore(path.join(dir, "as.sqlite"));
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
        const hit = poisoned && (requests as { salt: bigint }[]).some((q) => BigInt(q.salt) === 3n);
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
    await f.channels
      .connect(f.owner)
      .reclaim(f.server.address, false, reclaimed.body.clientRoot, 5n, BigInt(reclaimed.body.openBlock));

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
      new RegExp(`^already closed on chain, paid ${best.get(crashed.channelId)}`),
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
    await f.channels
      .connect(f.owner)
      .topUp(
        f.server.address,
        false,
        topped.body.clientRoot,
        1n,
        BigInt(topped.body.openBlock),
        PRICE,
        topped.expiry + HOUR,
        {
          value: PRICE,
        },
      );
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
    await f.channels
      .connect(f.owner)
      .reclaim(f.server.address, false, reclaimed.body.clientRoot, 3n, BigInt(reclaimed.body.openBlock));
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
    await f.channels
      .connect(f.owner)
      .topUp(
        f.server.address,
        false,
        topped.body.clientRoot,
        1n,
        BigInt(topped.body.openBlock),
        2n * PRICE,
        topped.expiry,
        {
          value: 2n * PRICE,
        },
      );
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
      t.lines.some((l) => l.includes(`channel ${topped.channelId} closed on chain, paid ${best.amount}`)),
    ).to.equal(true);
    const refused = await send(t.url, f.domain, topped, 4n * PRICE);
    expect(refused.status).to.equal(409);
    expect(refused.body.error).to.match(new RegExp(`is closed on chain \\(paid ${best.amount}\\)`));
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
