import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

import type Database from "better-sqlite3";
import { expect } from "chai";
import { Signature, TypedDataEncoder, Wallet, keccak256 } from "ethers";

import type { PaymentChannels } from "../../typechain-types";
import { AuthorizationServer } from "../../src/channels/as-server";
import type { AsOptions } from "../../src/channels/as-server";
import { ChannelClient } from "../../src/channels/client";
import { SimulatedDevice } from "../../src/channels/device";
import { hotp } from "../../src/channels/hotp";
import { channelIdOf } from "../../src/channels/key";
import { AsStore } from "../../src/channels/store";
import { ReceiptVerifier } from "../../src/channels/verify";
import { signReceipt, signRedeliver } from "../../src/eip712/receipt";
import { buildGroup } from "../../src/merkle/group";
import { startAsProcess, SEEDED_DOMAIN } from "../shared/as-process";
import type { AsProcess } from "../shared/as-process";
import { postJson, request } from "../shared/http";

/**
 * Redelivery (issue 15, A5) and durable-only receipts (A7): a client whose answer was lost after its receipt
 * was stored gets the same code again, and only the receipt's signer can; a receipt that is not on disk yet
 * is shown to nobody. Channels are seeded in the store (no chain), a group of two clients each.
 */
const domain = SEEDED_DOMAIN;
const payee = new Wallet(keccak256("0x01")).address;
const owner = new Wallet(keccak256("0x02")).address;
const DEVICE = keccak256("0x5678");
const SECRET = "cd".repeat(32);
const PRICE = 1_000n;
const DEPOSIT = 10n ** 30n;
const alice = new Wallet(keccak256("0x0a11ce"));
const bob = new Wallet(keccak256("0x0b0b"));
const mallory = new Wallet(keccak256("0x0bad"));

/**
 * A TCP proxy in front of the AS that, while `drop` > 0, cuts the connection of the next `POST /access` the
 * moment the AS's answer arrives: the receipt was stored and answered, and the client never hears of it.
 */
class AnswerDropper {
  drop = 0;
  private readonly server = net.createServer((client) => this.relay(client));
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly target: string) {}

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  private relay(client: net.Socket): void {
    const url = new URL(this.target);
    const upstream = net.connect(Number(url.port), url.hostname);
    let cut = false;
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on("error", () => undefined);
      s.on("close", () => {
        this.sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on("data", (chunk: Buffer) => {
      if (this.drop > 0 && chunk.toString().startsWith("POST /access ")) {
        this.drop -= 1;
        cut = true;
      }
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (cut) client.resetAndDestroy();
      else client.write(chunk);
    });
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const group = buildGroup([alice.address, bob.address]);
const params = { owner, token: false, clientRoot: group.root, salt: "7", openBlock: "1" };
const channelId = channelIdOf({ ...params, payee, salt: 7n, openBlock: 1n });
const clientOf = (w: Wallet) =>
  new ChannelClient(w, { ...params, channelId, deposit: DEPOSIT }, group.proofs[w.address], domain);

/** A new database holding the group's channel and the device. */
function seed(file: string): void {
  const store = new AsStore(file, { create: true });
  store.saveChannel({
    channelId,
    owner,
    token: false,
    clientRoot: group.root,
    salt: 7n,
    openBlock: 1n,
    deposit: DEPOSIT,
    expiry: 4_102_444_800,
    closed: false,
  });
  new AuthorizationServer({ payee, verifier: new ReceiptVerifier(domain), store }).provisionDevice(
    DEVICE,
    SECRET,
    PRICE,
  );
  store.close();
}

/** A `POST /access` body: `signer`'s receipt for `amount` on the group's channel. */
async function accessBody(signer: Wallet, amount: bigint) {
  return {
    channel: params,
    deviceId: DEVICE,
    amount: amount.toString(),
    signature: await signReceipt(signer, domain, { channelId, cumulativeAmount: amount }),
    proof: group.proofs[signer.address],
  };
}

async function redeliverBody(signer: Wallet, amount: bigint) {
  return {
    amount: amount.toString(),
    signature: await signRedeliver(signer, domain, { channelId, cumulativeAmount: amount }),
  };
}

/** A stand-in for the channels contract on which the channel is open; `getChannel` runs `during` first. */
function openOnChain(during: () => Promise<void>): PaymentChannels {
  const provider = {
    getBlockNumber: async () => 100,
    getBlock: async () => ({ number: 100, timestamp: Math.floor(Date.now() / 1000) }),
  };
  const getChannel = async () => {
    await during();
    return { status: 1n, deposit: DEPOSIT, expiry: 4_102_444_800n };
  };
  return { runner: { provider }, getChannel } as unknown as PaymentChannels;
}

describe("redelivery signatures on the native path", function () {
  it("recoverRedeliver recovers ethers' signer with the native digest (no ethers encoder call per request); a receipt signature is not a redelivery", async function () {
    const verifier = new ReceiptVerifier(domain);
    const key = new Wallet(keccak256("0x77"));
    const channelId = keccak256("0x76");
    const signature = await signRedeliver(key, domain, { channelId, cumulativeAmount: 3n * PRICE });
    const receiptSig = await signReceipt(key, domain, { channelId, cumulativeAmount: 3n * PRICE });
    const hash = TypedDataEncoder.hash;
    let encoderCalls = 0;
    TypedDataEncoder.hash = (...args: Parameters<typeof hash>) => {
      encoderCalls++;
      return hash(...args);
    };
    try {
      expect(verifier.recoverRedeliver(channelId, 3n * PRICE, signature)).to.equal(key.address);
      expect(verifier.recoverRedeliver(channelId, 2n * PRICE, signature)).not.to.equal(key.address);
      expect(verifier.recoverRedeliver(channelId, 3n * PRICE, receiptSig)).not.to.equal(key.address);
      expect(encoderCalls).to.equal(0);
    } finally {
      TypedDataEncoder.hash = hash;
    }
  });
});

describe("AS redelivery of a lost answer (in process)", function () {
  let dir: string;
  let store: AsStore;
  let server: AuthorizationServer;
  let url: string;
  let proxy: AnswerDropper | undefined;
  let device: SimulatedDevice;

  async function setup(groupCommitMs?: number, extra: Partial<AsOptions> = {}): Promise<void> {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-as-redeliver-"));
    seed(path.join(dir, "as.sqlite"));
    store = new AsStore(path.join(dir, "as.sqlite"), { groupCommitMs });
    server = new AuthorizationServer({
      payee,
      verifier: new ReceiptVerifier(domain),
      store,
      hotpWindow: 8,
      ...extra,
    });
    url = await server.listen(0);
    device = new SimulatedDevice(path.join(dir, "lock.json"), 8, undefined, {
      deviceId: DEVICE,
      secret: SECRET,
      counter: 0,
      slotsGranted: 0,
    });
  }

  afterEach(async function () {
    await proxy?.stop();
    proxy = undefined;
    await server?.stop();
    store?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("a lost answer (the connection cut after the AS stored the receipt): buy() has the same code redelivered, and the device accepts it once", async function () {
    await setup();
    proxy = new AnswerDropper(url);
    const via = await proxy.start();
    proxy.drop = 1;
    const grant = await clientOf(alice).buy(via, DEVICE, PRICE);
    expect(proxy.drop).to.equal(0); // the first answer was really cut
    expect(grant).to.deep.include({ redelivered: true, used: false, counter: 0, amount: PRICE.toString() });
    expect(grant.otp).to.equal(hotp(Buffer.from(SECRET, "hex"), 0));
    // Charged once, one counter issued: the redelivery sold nothing new.
    expect(store.receiptAmounts(channelId)).to.deep.equal([PRICE]);
    expect(store.devices()[0].counter).to.equal(1);
    const outcome = device.present(grant.otp);
    expect(outcome.granted).to.equal(true);
    // Once the device reported it used, a redelivery says so, and the device refuses the code.
    await clientOf(alice).acknowledge(url, DEVICE, outcome.counter, outcome.ack!);
    const again = await clientOf(alice).redeliver(url, PRICE);
    expect(again).to.deep.include({
      otp: grant.otp,
      used: true,
      note: `device ${DEVICE} reported code 0 used: it will refuse it`,
    });
    expect(device.present(again.otp).granted).to.equal(false);
    // The next buy builds on the stored receipt: the same client pays the next amount, not the lost one twice.
    expect((await clientOf(alice).buy(url, DEVICE, PRICE)).amount).to.equal((2n * PRICE).toString());
  });

  it("no answer within timeoutMs while the receipt is being written: buy()'s redelivery waits for the write and gets the code", async function () {
    await setup(200);
    // The client's timer fires exactly when the AS starts writing the receipt (not by the clock).
    const timeout = new AbortController();
    const timers = AbortSignal.timeout;
    AbortSignal.timeout = () => timeout.signal;
    const commit = store.commit.bind(store);
    store.commit = (receipt, undo) => {
      AbortSignal.timeout = timers;
      timeout.abort(new DOMException("the client gave up", "TimeoutError"));
      return commit(receipt, undo);
    };
    try {
      const grant = await clientOf(alice).buy(url, DEVICE, PRICE, { timeoutMs: 1 });
      expect(grant).to.deep.include({ redelivered: true, used: false, counter: 0, amount: PRICE.toString() });
      expect(device.present(grant.otp).granted).to.equal(true);
      expect(store.receiptAmounts(channelId)).to.deep.equal([PRICE]);
    } finally {
      AbortSignal.timeout = timers;
    }
  });

  it("N2: no answer within timeoutMs while /access still reads the chain: the redelivery waits for the whole exchange and gets the code; charged once", async function () {
    // The chain read of the sale (stateMaxAge 0: every sale re-reads the channel) is slow: the client's timer
    // fires during it, and the read returns only once the client's redelivery has reached the AS.
    const timeout = new AbortController();
    const timers = AbortSignal.timeout;
    AbortSignal.timeout = () => timeout.signal;
    let redeliveryArrived!: () => void;
    const arrived = new Promise<void>((resolve) => (redeliveryArrived = resolve));
    const reads = { getChannel: 0 };
    const channels = openOnChain(async () => {
      reads.getChannel += 1;
      AbortSignal.timeout = timers;
      timeout.abort(new DOMException("the client gave up", "TimeoutError"));
      await arrived;
    });
    const verifier = new ReceiptVerifier(domain);
    const recoverRedeliver = verifier.recoverRedeliver.bind(verifier);
    verifier.recoverRedeliver = (...args) => {
      redeliveryArrived();
      return recoverRedeliver(...args);
    };
    try {
      await setup(undefined, { channels, stateMaxAge: 0, verifier });
      const grant = await clientOf(alice).buy(url, DEVICE, PRICE, { timeoutMs: 1, redeliverTimeoutMs: 10_000 });
      expect(reads.getChannel).to.equal(1); // the exchange really was inside its chain read when the client gave up
      expect(grant).to.deep.include({ redelivered: true, used: false, counter: 0, amount: PRICE.toString() });
      expect(grant.otp).to.equal(hotp(Buffer.from(SECRET, "hex"), 0));
      expect(device.present(grant.otp).granted).to.equal(true);
      // One receipt, one counter: the client was charged once, for the code it holds.
      expect(store.receiptAmounts(channelId)).to.deep.equal([PRICE]);
      expect(store.receipt(channelId, PRICE)!.signer).to.equal(alice.address);
      expect(store.devices()[0].counter).to.equal(1);
    } finally {
      AbortSignal.timeout = timers;
    }
  });

  it("N2: a redelivery waits only for its own signer's exchange: another member's redelivery of that amount is answered at once (404)", async function () {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let reading!: () => void;
    const inRead = new Promise<void>((resolve) => (reading = resolve));
    const channels = openOnChain(async () => {
      reading();
      await held;
    });
    await setup(undefined, { channels, stateMaxAge: 0 });
    const sale = postJson(url, "/access", await accessBody(alice, PRICE));
    await inRead;
    const other = await postJson(url, `/channels/${channelId}/redeliver`, await redeliverBody(bob, PRICE));
    expect(other.status).to.equal(404);
    expect(other.body.error).to.equal(
      `channel ${channelId} has no stored receipt of amount ${PRICE} (a receipt that was refused or not stored was not charged)`,
    );
    release();
    expect((await sale).status).to.equal(200);
    expect(store.receiptAmounts(channelId)).to.deep.equal([PRICE]);
  });

  it("a third party with the public receipt gets 403 and no code: the receipt's own signature, a forged one, another member's", async function () {
    await setup();
    const grant = await clientOf(alice).buy(url, DEVICE, PRICE);
    const shown = await request(url, "GET", `/channels/${channelId}/receipt`);
    expect(shown.body).to.deep.include({ amount: PRICE.toString(), signer: alice.address });
    const before = { receipts: store.receiptCount(), counter: store.devices()[0].counter };
    const route = `/channels/${channelId}/redeliver`;
    const attempts = [
      { amount: PRICE.toString(), signature: shown.body.signature }, // the receipt itself, as GET shows it
      await redeliverBody(mallory, PRICE), // an outsider's own signature
      await redeliverBody(bob, PRICE), // a member of the group, not the signer
    ];
    const signers = [
      new ReceiptVerifier(domain).recoverRedeliver(channelId, PRICE, shown.body.signature as string),
      mallory.address,
      bob.address,
    ];
    for (const [i, body] of attempts.entries()) {
      const r = await postJson(url, route, body);
      expect(r.status, `attempt ${i}`).to.equal(403);
      expect(r.body.error).to.equal(
        `the receipt of amount ${PRICE} was signed by ${alice.address}; only its signer can have its code again, not ${signers[i]}`,
      );
      expect(r.text).not.to.contain(grant.otp);
      expect(r.body).not.to.have.property("otp");
    }
    // An amount with no stored receipt: 404, even for a member.
    const unknown = await postJson(url, route, await redeliverBody(alice, 2n * PRICE));
    expect([unknown.status, unknown.body.error]).to.deep.equal([
      404,
      `channel ${channelId} has no stored receipt of amount ${2n * PRICE} (a receipt that was refused or not stored was not charged)`,
    ]);
    // The malleable twin of the signer's own signature (high s): 400.
    const sig = Signature.from((await redeliverBody(alice, PRICE)).signature);
    const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const twin = `${sig.r}${(N - BigInt(sig.s)).toString(16).padStart(64, "0")}${(55 - sig.v).toString(16)}`;
    const high = await postJson(url, route, { amount: PRICE.toString(), signature: twin });
    expect([high.status, high.body.error]).to.deep.equal([
      400,
      "the redelivery signature is malformed or not canonical (high s)",
    ]);
    expect({ receipts: store.receiptCount(), counter: store.devices()[0].counter }).to.deep.equal(before);
  });

  it("A7: a receipt not on disk yet is not shown; when its write fails, nobody (not even its signer) gets its code by redelivery", async function () {
    await setup(300); // a long group commit: the receipt waits, pending
    await clientOf(alice).buy(url, DEVICE, PRICE);
    (store as unknown as { db: Database.Database }).db.pragma("query_only = 1"); // the next write fails
    const amount = 2n * PRICE;
    const pending = postJson(url, "/access", await accessBody(bob, amount));
    await new Promise((r) => setTimeout(r, 100)); // accepted, waiting for its group commit
    const shown = await request(url, "GET", `/channels/${channelId}/receipt`);
    expect(shown.body).to.deep.include({ amount: PRICE.toString(), signer: alice.address });
    // A redelivery asked while it is being stored waits for the outcome: here, not stored.
    const redelivery = await postJson(url, `/channels/${channelId}/redeliver`, await redeliverBody(bob, amount));
    const failed = await pending;
    expect(failed.status).to.equal(503);
    expect(redelivery.status).to.equal(404);
    expect(redelivery.body).not.to.have.property("otp");
    expect(store.receiptAmounts(channelId)).to.deep.equal([PRICE]);
    // buy() on a 5xx asks for a redelivery, and with nothing stored reports both answers.
    await expect(clientOf(bob).buy(url, DEVICE, PRICE)).to.be.rejectedWith(
      `AS refused: 503 the AS could not store this receipt, so it was not accepted and nothing was charged: retry the same amount later; then AS refused the redelivery: 404 channel ${channelId} has no stored receipt of amount ${amount} (a receipt that was refused or not stored was not charged)`,
    );
  });
});

describe("AS redelivery after kill -9 (separate AS process)", function () {
  let dir: string;
  const running: AsProcess[] = [];
  let proxy: AnswerDropper | undefined;

  afterEach(async function () {
    await proxy?.stop();
    await Promise.all(running.splice(0).map((as) => as.kill9()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("the answer lost and the AS killed: the restarted AS redelivers the stored receipt's code from disk", async function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-as-redeliver-"));
    const file = path.join(dir, "as.sqlite");
    seed(file);
    const config = { file, payee, domain: { ...domain, chainId: domain.chainId.toString() }, hotpWindow: 8 };
    const first = await startAsProcess(config);
    running.push(first);
    proxy = new AnswerDropper(first.url);
    const via = await proxy.start();
    proxy.drop = 1;
    const sent = postJson(via, "/access", await accessBody(alice, PRICE));
    await expect(sent).to.be.rejected; // stored and answered; the answer never arrived
    await first.kill9();
    const second = await startAsProcess(config);
    running.push(second);
    const grant = await clientOf(alice).redeliver(second.url, PRICE);
    expect(grant).to.deep.include({ redelivered: true, used: false, counter: 0, amount: PRICE.toString() });
    expect(grant.otp).to.equal(hotp(Buffer.from(SECRET, "hex"), 0));
  });
});
