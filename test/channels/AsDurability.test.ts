import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import Database from "better-sqlite3";
import { expect } from "chai";
import fc from "fast-check";
import { Wallet, getBytes, keccak256 } from "ethers";
import secp256k1 from "secp256k1";

import { AuthorizationServer, MAX_TRACKED_EXPIRIES } from "../../src/channels/as-server";
import type { AccessGrant, AsOptions } from "../../src/channels/as-server";
import { ChannelClient } from "../../src/channels/client";
import { SimulatedDevice } from "../../src/channels/device";
import { DEFAULT_WINDOW, deviceAck, deviceAdvance, hotp } from "../../src/channels/hotp";
import { AsStore } from "../../src/channels/store";
import { ReceiptVerifier } from "../../src/channels/verify";
import { signRedeliver } from "../../src/eip712/receipt";
import { UserError } from "../../src/errors";
import { clientLeaf } from "../../src/merkle/group";
import { startAsProcess, SEEDED_DOMAIN } from "../shared/as-process";
import type { AsProcess, AsProcessConfig } from "../shared/as-process";

/**
 * Fault injection on the AS's store: `kill -9` under load, a locked, deleted or unwritable database, a second
 * AS on the same database, HOTP codes used out of order or not at all, and secrets at rest. Each asserts that
 * no acknowledged receipt is lost and no client is charged without a code. Channels are seeded in the store
 * (no chain): these faults are the database's and the device's, not the chain's.
 */
const domain = SEEDED_DOMAIN;
const verifier = new ReceiptVerifier(domain);
const payee = new Wallet(keccak256("0x01")).address;
const owner = new Wallet(keccak256("0x02")).address;

/** `n` buyers, each with its own key and its own open channel (a group of one) stored in the AS's database. */
function seedBuyers(server: AuthorizationServer, store: AsStore, n: number, keyBase: number): Buyer[] {
  return Array.from({ length: n }, (_, i) => {
    const key = new Wallet(keccak256(`0x${(i + keyBase).toString(16).padStart(4, "0")}`));
    const params = { owner, token: false, clientRoot: clientLeaf(key.address), salt: String(i + 1), openBlock: "1" };
    const channelId = server.channelIdOf(params);
    store.saveChannel({
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
    return { key, params, channelId };
  });
}
const DEVICE = keccak256("0x1234");
/** The answers of a sale and of a redelivery once the AS's database is lost (503 `store_lost`). */
const STOPPED = "the AS has stopped selling: its database was removed or failed while it ran; an operator must act";
const STOPPED_CODES =
  "the AS hands out no codes, not even again: its database was removed or failed while it ran; an operator must act";
const SECRET = "ab".repeat(32);
const PRICE = 1_000n;

interface Buyer {
  key: Wallet;
  params: { owner: string; token: boolean; clientRoot: string; salt: string; openBlock: string };
  channelId: string;
}

function sign(buyer: Buyer, amount: bigint): string {
  const s = secp256k1.ecdsaSign(getBytes(verifier.digest(buyer.channelId, amount)), getBytes(buyer.key.privateKey));
  return `0x${Buffer.from(s.signature).toString("hex")}${(s.recid + 27).toString(16)}`;
}

async function post(
  url: string,
  route: string,
  body: unknown,
): Promise<{ status: number; body: Record<string, string> }> {
  const response = await fetch(`${url}${route}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, string> };
}

function buy(url: string, buyer: Buyer, amount: bigint): Promise<{ status: number; body: Record<string, string> }> {
  return post(url, "/access", {
    channel: buyer.params,
    deviceId: DEVICE,
    amount: amount.toString(),
    signature: sign(buyer, amount),
    proof: [],
  });
}

async function bestAmount(url: string, buyer: Buyer): Promise<bigint> {
  const response = await fetch(`${url}/channels/${buyer.channelId}/receipt`);
  return BigInt(((await response.json()) as { amount: string }).amount);
}

/** The receipts on disk, read with a plain SQLite connection (the AS must be stopped). */
function receiptsOnDisk(file: string): { channel: string; amount: bigint; counter: number }[] {
  const db = new Database(file, { readonly: true });
  try {
    return (
      db.prepare("SELECT channel_id, amount, otp_counter FROM receipts").all() as {
        channel_id: string;
        amount: string;
        otp_counter: number;
      }[]
    ).map((r) => ({ channel: r.channel_id, amount: BigInt(r.amount), counter: r.otp_counter }));
  } finally {
    db.close();
  }
}

describe("AS durability under faults (separate AS processes)", function () {
  let dir: string;
  let file: string;
  let buyers: Buyer[];
  const running: AsProcess[] = [];

  /** A new database with `n` one-client channels and one device. */
  function seed(n: number, options: { secretKey?: Buffer } = {}): void {
    const store = new AsStore(file, { create: true, secretKey: options.secretKey });
    const server = new AuthorizationServer({ payee, verifier, store });
    server.provisionDevice(DEVICE, SECRET, PRICE);
    buyers = seedBuyers(server, store, n, 100);
    store.close();
  }

  function config(extra: Partial<AsProcessConfig> = {}): AsProcessConfig {
    return {
      file,
      payee,
      domain: { ...domain, chainId: domain.chainId.toString() },
      hotpWindow: 1_000_000, // no device uses these codes: no outstanding-codes bound
      ...extra,
    };
  }

  async function start(extra: Partial<AsProcessConfig> = {}, env: NodeJS.ProcessEnv = {}): Promise<AsProcess> {
    const as = await startAsProcess(config(extra), env);
    running.push(as);
    return as;
  }

  beforeEach(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-as-faults-"));
    file = path.join(dir, "data", "as.sqlite");
  });

  afterEach(async function () {
    await Promise.all(running.splice(0).map((as) => as.kill9()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("kill -9 under load: every OTP a client received has its receipt on disk, the best is the max, no counter is issued twice", async function () {
    seed(8);
    let as = await start();
    const delivered: { channel: string; amount: bigint; counter: number }[] = [];
    let killed = false;
    const loops = buyers.map(async (buyer) => {
      let amount = 0n;
      while (!killed) {
        try {
          const r = await buy(as.url, buyer, amount + PRICE);
          if (r.status !== 200) throw new Error(`${r.status} ${r.body.error}`);
          amount += PRICE;
          delivered.push({ channel: buyer.channelId, amount, counter: Number(r.body.counter) });
        } catch (error) {
          if (!killed) throw error;
        }
      }
    });
    while (delivered.length < 150) await new Promise((r) => setTimeout(r, 10));
    killed = true;
    await as.kill9();
    await Promise.all(loops);

    const disk = receiptsOnDisk(file);
    const onDisk = new Map(disk.map((r) => [`${r.channel}:${r.amount}`, r.counter]));
    for (const d of delivered)
      expect(onDisk.get(`${d.channel}:${d.amount}`), `${d.channel} ${d.amount}`).to.equal(d.counter);
    // At most one receipt per client is on disk without its OTP delivered: the request in flight at the kill.
    expect(disk.length - delivered.length).to.be.within(0, buyers.length);
    // Counters on disk are 0..n-1, each once: none skipped, none issued twice.
    expect(disk.map((r) => r.counter).sort((a, b) => a - b)).to.deep.equal(disk.map((_, i) => i));
    const store = new AsStore(file);
    const best = store.bestReceipts();
    for (const buyer of buyers) {
      const amounts = store.receiptAmounts(buyer.channelId);
      expect(best.get(buyer.channelId)?.amount, buyer.channelId).to.equal(amounts[amounts.length - 1]);
    }
    expect(store.devices()[0].counter).to.equal(disk.length);
    store.close();

    // Restarted on the same database (no --init needed), it carries on: new counters only.
    as = await start();
    const next = await buy(as.url, buyers[0], best.get(buyers[0].channelId)!.amount + PRICE);
    expect(next.status, next.body.error).to.equal(200);
    expect(Number(next.body.counter)).to.equal(disk.length);
  });

  it("a second AS on the same database refuses to start, naming the first; after a kill -9 of the first it starts", async function () {
    seed(1);
    const first = await start();
    await expect(startAsProcess(config())).to.be.rejectedWith(
      new RegExp(
        `^error: AS database ${file.replace(/[/.]/g, "\\$&")} is in use by another AS \\(pid ${first.child.pid}\\); one AS per database: stop it first$`,
      ),
    );
    // The first still sells, and only it: one writer, one sequence of counters.
    const r = await buy(first.url, buyers[0], PRICE);
    expect(r.status).to.equal(200);
    expect(r.body.counter).to.equal(0);
    await first.kill9(); // the kernel drops the lock with the process: nothing stale to clean up
    const second = await start();
    const again = await buy(second.url, buyers[0], 2n * PRICE);
    expect([again.status, again.body.counter]).to.deep.equal([200, 1]);
  });

  it("a database locked by another connection: the AS refuses to start at once; a running AS keeps its lock and sells", async function () {
    seed(1);
    const other = new Database(file, { timeout: 0 });
    other.exec("BEGIN IMMEDIATE");
    try {
      await expect(startAsProcess(config())).to.be.rejectedWith(
        /^error: AS database .* is in use by another process \(not an AS of this host: a sqlite3 shell, a backup\?\); one AS per database: stop it first$/,
      );
    } finally {
      other.exec("ROLLBACK");
      other.close();
    }
    const as = await start();
    // Now the AS holds the lock: another writer is refused at once (no 5 s busy wait), and the AS goes on.
    const intruder = new Database(file, { timeout: 0 });
    expect(() => intruder.exec("BEGIN IMMEDIATE")).to.throw(/database is locked/);
    intruder.close();
    const r = await buy(as.url, buyers[0], PRICE);
    expect([r.status, r.body.amount]).to.deep.equal([200, PRICE.toString()]);
  });

  it("a database deleted while running: the AS stops selling (503, nothing charged) and refuses to restart without --init", async function () {
    seed(1);
    const as = await start();
    expect((await buy(as.url, buyers[0], PRICE)).status).to.equal(200);
    for (const f of fs.readdirSync(path.dirname(file))) fs.rmSync(path.join(path.dirname(file), f));
    const refused = await buy(as.url, buyers[0], 2n * PRICE);
    expect([refused.status, refused.body.reason, refused.body.error]).to.deep.equal([
      503,
      "store_lost",
      `${STOPPED}; this receipt was not stored: nothing was charged`,
    ]);
    expect(await bestAmount(as.url, buyers[0])).to.equal(PRICE); // not raised: the client was not charged
    const again = await buy(as.url, buyers[0], 2n * PRICE);
    expect([again.status, again.body.reason, again.body.error]).to.deep.equal([503, "store_lost", STOPPED]);
    await as.kill9();
    // Restarting on the missing database would hand out counter 0 again: refused, one line.
    await expect(startAsProcess(config())).to.be.rejectedWith(
      /^error: AS database .*as\.sqlite does not exist; create a new one with --init \(never for an AS that has sold codes: its devices' counters would restart at 0\)$/,
    );
    expect(fs.existsSync(file)).to.equal(false);
  });

  it("the WAL deleted while running: the AS stops selling and redelivering (503 store_lost), every acknowledged receipt and counter survives a kill -9, and a restart sells on", async function () {
    seed(2);
    const as = await start();
    const sold = [];
    for (const [b, amount] of [
      [0, PRICE],
      [1, PRICE],
      [0, 2n * PRICE],
    ] as const)
      sold.push(await buy(as.url, buyers[b], amount));
    expect(sold.map((r) => [r.status, r.body.counter])).to.deep.equal([
      [200, 0],
      [200, 1],
      [200, 2],
    ]);
    fs.rmSync(`${file}-wal`); // where every receipt since the last checkpoint lives
    const refused = await buy(as.url, buyers[1], 2n * PRICE);
    expect([refused.status, refused.body.reason, refused.body.error]).to.deep.equal([
      503,
      "store_lost",
      `${STOPPED}; this receipt was not stored: nothing was charged`,
    ]);
    const redelivered = await post(as.url, `/channels/${buyers[0].channelId}/redeliver`, {
      amount: PRICE.toString(),
      signature: await signRedeliver(buyers[0].key, domain, {
        channelId: buyers[0].channelId,
        cumulativeAmount: PRICE,
      }),
    });
    expect([redelivered.status, redelivered.body.reason, redelivered.body.error]).to.deep.equal([
      503,
      "store_lost",
      STOPPED_CODES,
    ]);
    expect((await fetch(`${as.url}/health`)).status).to.equal(503);
    await as.kill9();
    // The database file alone (its WAL's path is gone) holds every acknowledged receipt and the device's counter.
    expect(
      receiptsOnDisk(file)
        .map((r) => r.counter)
        .sort(),
    ).to.deep.equal([0, 1, 2]);
    const store = new AsStore(file);
    expect(store.devices()[0].counter).to.equal(3);
    store.close();
    const restarted = await start();
    const next = await buy(restarted.url, buyers[1], 2n * PRICE);
    expect([next.status, next.body.counter]).to.deep.equal([200, 3]);
  });

  it("secrets: files are 0600, HOTP secrets are encrypted at rest, and the AS refuses to start without the right key", async function () {
    const key = crypto.randomBytes(32);
    seed(1, { secretKey: key });
    const env = { AS_SECRET_KEY: key.toString("hex") };
    const as = await start({}, env);
    expect((await buy(as.url, buyers[0], PRICE)).status).to.equal(200);
    for (const f of [file, `${file}-wal`, `${file}.pid`])
      expect(fs.statSync(f).mode & 0o777, path.basename(f)).to.equal(0o600);
    expect(fs.statSync(path.dirname(file)).mode & 0o777).to.equal(0o700);
    await as.kill9();
    const raw = new Database(file, { readonly: true });
    const { secret } = raw.prepare("SELECT secret FROM devices").get() as { secret: string };
    raw.close();
    expect(secret).to.match(/^enc1:/);
    for (const f of [file, `${file}-wal`]) expect(fs.readFileSync(f).includes(SECRET), f).to.equal(false);
    await expect(startAsProcess(config(), { AS_SECRET_KEY: "" })).to.be.rejectedWith(
      /^error: AS database .* holds encrypted device secrets: set AS_SECRET_KEY$/,
    );
    await expect(
      startAsProcess(config(), { AS_SECRET_KEY: crypto.randomBytes(32).toString("hex") }),
    ).to.be.rejectedWith(/^error: AS_SECRET_KEY does not decrypt the device secrets of .*: wrong key$/);
    const restarted = await start({}, env);
    const r = await buy(restarted.url, buyers[0], 2n * PRICE);
    expect(r.body.otp).to.equal(hotp(Buffer.from(SECRET, "hex"), 1));
  });
});

describe("AS store faults and the HOTP window (in process)", function () {
  let dir: string;
  let store: AsStore;
  let server: AuthorizationServer;
  let url: string;
  let buyers: Buyer[];

  async function setup(hotpWindow?: number, groupCommitMs?: number, extra: Partial<AsOptions> = {}): Promise<void> {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-as-window-"));
    store = new AsStore(path.join(dir, "as.sqlite"), { create: true, groupCommitMs });
    server = new AuthorizationServer({ payee, verifier, store, hotpWindow });
    server.provisionDevice(DEVICE, SECRET, PRICE);
    buyers = seedBuyers(server, store, 12, 200);
    server = new AuthorizationServer({ payee, verifier, store, hotpWindow, ...extra }); // sees the seeded channels
    url = await server.listen(0);
  }

  /** The store's own connection, to inject a fault (the AS holds the only lock). */
  function rawDb(): Database.Database {
    return (store as unknown as { db: Database.Database }).db;
  }

  afterEach(async function () {
    await server?.stop();
    store?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("a failed commit (read-only database) answers 503, charges nothing, and the same amount works afterwards", async function () {
    await setup();
    expect((await buy(url, buyers[0], PRICE)).status).to.equal(200);
    rawDb().pragma("query_only = 1"); // every write now fails, as on a read-only or full disk
    const failed = await Promise.all([buy(url, buyers[0], 2n * PRICE), buy(url, buyers[1], PRICE)]);
    for (const r of failed) {
      expect(r.status).to.equal(503);
      expect(r.body.error).to.equal(
        "the AS could not store this receipt, so it was not accepted and nothing was charged: retry the same amount later",
      );
      expect(r.body.error).not.to.match(/SQLITE|readonly/i);
    }
    expect(await bestAmount(url, buyers[0])).to.equal(PRICE);
    expect(await bestAmount(url, buyers[1])).to.equal(0n);
    expect(store.receiptCount()).to.equal(1);
    expect(store.lastError?.message).to.match(/readonly/);
    rawDb().pragma("query_only = 0");
    // The same amounts work now, and the counters continue without a gap (a gap would pin the device's window).
    const ok = await buy(url, buyers[0], 2n * PRICE);
    expect([ok.status, ok.body.amount, ok.body.counter]).to.deep.equal([200, (2n * PRICE).toString(), 1]);
    const other = await buy(url, buyers[1], PRICE);
    expect([other.status, other.body.counter]).to.deep.equal([200, 2]);
    expect(store.devices()[0].counter).to.equal(3);
  });

  it("/health's database probe is written in the group commit and synced off the event loop; a read-only database is reported (503, db.writable false) until it can write again", async function () {
    await setup(undefined, 1, { http: { healthCacheMs: 0 } });
    const health = async () => {
      const r = await fetch(`${url}/health`);
      return { status: r.status, db: ((await r.json()) as { db: Record<string, unknown> }).db };
    };
    const realSync = fs.fdatasync;
    const held: ((error: NodeJS.ErrnoException | null) => void)[] = [];
    (fs as { fdatasync: unknown }).fdatasync = (_fd: number, cb: (error: NodeJS.ErrnoException | null) => void) =>
      held.push(cb);
    let answered = false;
    try {
      const probe = health().then((r) => ((answered = true), r));
      while (held.length === 0 && !answered) await new Promise((r) => setTimeout(r, 5));
      // Its write waits for the group commit's fsync, in the thread pool: the event loop serves others meanwhile.
      expect(await bestAmount(url, buyers[0])).to.equal(0n);
      expect(answered).to.equal(false);
      held.shift()!(null);
      expect(await probe).to.deep.equal({ status: 200, db: { ok: true, writable: true } });
    } finally {
      (fs as { fdatasync: unknown }).fdatasync = realSync;
      for (const cb of held.splice(0)) cb(null);
    }
    rawDb().pragma("query_only = 1"); // every write now fails, as on a read-only or full disk
    expect(await health()).to.deep.equal({
      status: 503,
      db: { ok: false, writable: false, error: "the database cannot be written (SQLITE_READONLY)" },
    });
    expect(store.lost).to.equal(undefined); // a failed write is not a lost store: it recovers
    rawDb().pragma("query_only = 0");
    expect(await health()).to.deep.equal({ status: 200, db: { ok: true, writable: true } });
  });

  it("a failing write fails only its own request, not the others committed with it", async function () {
    await setup(undefined, 200); // a long group commit: the four requests share one transaction
    // A row that makes the next receipt of buyers[0] collide (as a corrupt or tampered database would).
    rawDb()
      .prepare("INSERT INTO receipts VALUES (?, ?, 'x', 'x', '[]', 'x', 99)")
      .run(buyers[0].channelId, PRICE.toString());
    const results = await Promise.all(buyers.slice(0, 4).map((b) => buy(url, b, PRICE)));
    expect(results.map((r) => r.status)).to.deep.equal([503, 200, 200, 200]);
    // The survivors got counters 0..2: the failed one's counter was given back, not skipped.
    expect(
      results
        .slice(1)
        .map((r) => r.body.counter)
        .sort(),
    ).to.deep.equal([0, 1, 2]);
    expect(await bestAmount(url, buyers[0])).to.equal(0n);
    expect(store.devices()[0].counter).to.equal(3);
  });

  it("a close never uses a receipt that is not on disk yet (it could still fail to be stored)", async function () {
    await setup(undefined, 300);
    expect((await buy(url, buyers[0], PRICE)).status).to.equal(200);
    rawDb().pragma("query_only = 1");
    const inFlight = buy(url, buyers[0], 2n * PRICE);
    await new Promise((r) => setTimeout(r, 150)); // accepted, waiting for its group commit
    expect(await bestAmount(url, buyers[0])).to.equal(PRICE); // shown only once durable (issue 15, A7)
    const due = (await server.dueChannels(Number.MAX_SAFE_INTEGER)).find(
      (d) => d.channel.channelId === buyers[0].channelId,
    );
    expect(due?.receipt.amount).to.equal(PRICE); // a close uses only the durable one
    expect((await inFlight).status).to.equal(503);
    expect(await bestAmount(url, buyers[0])).to.equal(PRICE);
    rawDb().pragma("query_only = 0");
    expect((await buy(url, buyers[0], 2n * PRICE)).status).to.equal(200);
    expect((await server.dueChannels(Number.MAX_SAFE_INTEGER))[0].receipt.amount).to.equal(2n * PRICE);
  });

  it("a huge --hotp-window: the AS remembers at most MAX_TRACKED_EXPIRIES code expiries, and an acknowledgement forgets only the acknowledged ones, without a scan", async function () {
    await setup(Number.MAX_SAFE_INTEGER, 1);
    const rounds = Math.ceil((MAX_TRACKED_EXPIRIES + 40) / buyers.length);
    for (let i = 1; i <= rounds; i++) {
      const answers = await Promise.all(buyers.map((b) => buy(url, b, BigInt(i) * PRICE)));
      expect(answers.every((a) => a.status === 200)).to.equal(true);
    }
    const sold = rounds * buyers.length;
    const windows = (server as unknown as { windows: Map<string, { expiry: Map<number, number> }> }).windows;
    const expiry = windows.get(DEVICE)!.expiry;
    expect(sold).to.be.greaterThan(MAX_TRACKED_EXPIRIES);
    expect(expiry.size).to.equal(MAX_TRACKED_EXPIRIES);
    expect(store.devices()[0].counter).to.equal(sold);
    // The device acknowledges its first 10 codes: those 10 are forgotten one by one, the map is not scanned.
    let scans = 0;
    const keys = expiry.keys.bind(expiry);
    expiry.keys = () => {
      scans++;
      return keys();
    };
    const mac = deviceAck(Buffer.from(SECRET, "hex"), DEVICE, 10);
    const acked = await post(url, `/devices/${DEVICE}/ack`, { base: 10, mac });
    expect([acked.status, acked.body.acked]).to.deep.equal([200, 10]);
    expect(scans).to.equal(0);
    expect(expiry.size).to.equal(MAX_TRACKED_EXPIRIES - 10);
    expect(expiry.has(9)).to.equal(false);
    expect(expiry.has(10)).to.equal(true);
  });

  it("the voided floor is durable: after a restart, a redelivered code above it still carries its advance, and a voided code is still void", async function () {
    let now = 1_000_000;
    await setup(8, undefined, { codeTtl: 100, now: () => now });
    for (const b of buyers.slice(0, 8)) expect((await buy(url, b, PRICE)).status).to.equal(200);
    now += 100; // codes 0-7 expired: the next sale voids them and carries the advance to 8
    const advance = { base: 8, mac: deviceAdvance(Buffer.from(SECRET, "hex"), DEVICE, 8) };
    const sold = await buy(url, buyers[8], PRICE);
    expect([sold.status, sold.body.counter, sold.body.advance]).to.deep.equal([200, 8, advance]);
    // The answer was lost, and the AS restarts.
    await server.stop();
    store.close();
    store = new AsStore(path.join(dir, "as.sqlite"));
    expect(store.devices()[0]).to.deep.include({ counter: 9, acked: 0, voided: 8 });
    server = new AuthorizationServer({ payee, verifier, store, hotpWindow: 8, codeTtl: 100, now: () => now });
    url = await server.listen(0);
    const redeliver = async (b: Buyer) =>
      (
        await post(url, `/channels/${b.channelId}/redeliver`, {
          amount: PRICE.toString(),
          signature: await signRedeliver(b.key, domain, { channelId: b.channelId, cumulativeAmount: PRICE }),
        })
      ).body;
    const again = await redeliver(buyers[8]);
    expect(again).to.deep.include({ counter: 8, used: false, otp: sold.body.otp });
    expect(again.advance).to.deep.equal(advance);
    expect(await redeliver(buyers[0])).to.deep.include({ counter: 0, used: true });
  });

  it("a database from before the voided column opens (the column is added, nothing voided) and sells", async function () {
    await setup(8);
    expect((await buy(url, buyers[0], PRICE)).status).to.equal(200);
    await server.stop();
    store.close();
    const file = path.join(dir, "as.sqlite");
    const old = new Database(file);
    old.exec("ALTER TABLE devices DROP COLUMN voided");
    old.close();
    store = new AsStore(file);
    expect(store.devices()[0]).to.deep.include({ counter: 1, voided: 0 });
    server = new AuthorizationServer({ payee, verifier, store, hotpWindow: 8 });
    url = await server.listen(0);
    expect((await buy(url, buyers[0], 2n * PRICE)).body.counter).to.equal(1);
  });

  it("an acknowledgement is answered only once durable, in the group commit (no fsync of its own)", async function () {
    await setup(8, 200); // a long group commit: the acknowledgement waits for it
    const first = await buy(url, buyers[0], PRICE);
    expect(first.status).to.equal(200);
    const mac = deviceAck(Buffer.from(SECRET, "hex"), DEVICE, 1);
    let answered = false;
    const acked = post(url, `/devices/${DEVICE}/ack`, { base: 1, mac }).then((r) => ((answered = true), r));
    await new Promise((r) => setTimeout(r, 100));
    expect(answered).to.equal(false); // queued for the group commit, not written on its own
    expect((await acked).body).to.deep.include({ acked: 1 });
    expect(store.devices()[0].acked).to.equal(1);
    // A failed write: 503, and the window does not widen.
    rawDb().pragma("query_only = 1");
    const refused = await post(url, `/devices/${DEVICE}/ack`, {
      base: 2,
      next: 2,
      mac: deviceAck(Buffer.from(SECRET, "hex"), DEVICE, 2),
    });
    expect([refused.status, refused.body.reason]).to.deep.equal([503, "store_unavailable"]);
    rawDb().pragma("query_only = 0");
    expect(store.devices()[0].acked).to.equal(1);
  });

  it("a failed WAL fsync: the sale answers 503 store_lost (its receipt may be on disk: not retried, never 'nothing was charged'), and no route sells, redelivers or acknowledges afterwards", async function () {
    await setup(undefined, 1);
    const realSync = fs.fdatasync;
    const held: ((error: NodeJS.ErrnoException | null) => void)[] = [];
    (fs as { fdatasync: unknown }).fdatasync = (_fd: number, cb: (error: NodeJS.ErrnoException | null) => void) =>
      held.push(cb);
    try {
      const redeliver = async (b: Buyer, amount: bigint) =>
        post(url, `/channels/${b.channelId}/redeliver`, {
          amount: amount.toString(),
          signature: await signRedeliver(b.key, domain, { channelId: b.channelId, cumulativeAmount: amount }),
        });
      const sale = buy(url, buyers[0], PRICE);
      while (held.length === 0) await new Promise((r) => setTimeout(r, 5));
      // Written, its fsync running: a redelivery of it waits for the exchange to end.
      const waiting = redeliver(buyers[0], PRICE);
      await new Promise((r) => setTimeout(r, 50));
      held.shift()!(Object.assign(new Error("EIO: i/o error, fdatasync"), { code: "EIO" }));
      const answer = await sale;
      expect([answer.status, answer.body.reason, answer.body.error]).to.deep.equal([
        503,
        "store_lost",
        `the AS's database failed while storing this receipt, so the AS has stopped selling; the receipt may be on disk and be paid by a close, so it cannot be retried safely: once the AS is back, ask for its code with POST /channels/${buyers[0].channelId}/redeliver (if it was not stored, the same amount buys)`,
      ]);
      expect(store.lost).to.match(/could not be synced to disk \(EIO\)$/);
      // It is still in the database the AS reads and restarts on: "nothing was charged" would be false.
      expect(store.receipt(buyers[0].channelId, PRICE)?.otpCounter).to.equal(0);
      for (const r of [await waiting, await redeliver(buyers[0], PRICE)])
        expect([r.status, r.body.reason, r.body.error]).to.deep.equal([503, "store_lost", STOPPED_CODES]);
      const another = await buy(url, buyers[1], PRICE);
      expect([another.status, another.body.reason, another.body.error]).to.deep.equal([503, "store_lost", STOPPED]);
      const ack = await post(url, `/devices/${DEVICE}/ack`, {
        base: 1,
        mac: deviceAck(Buffer.from(SECRET, "hex"), DEVICE, 1),
      });
      expect([ack.status, ack.body.reason, ack.body.error]).to.deep.equal([
        503,
        "store_lost",
        "the AS stores no acknowledgements: its database was removed or failed while it ran; an operator must act",
      ]);
      expect(held.length).to.equal(0); // nothing more was written to be synced
      expect(store.receipt(buyers[1].channelId, PRICE)).to.equal(undefined);
      expect(store.receiptCount()).to.equal(1);
    } finally {
      (fs as { fdatasync: unknown }).fdatasync = realSync;
    }
  });

  /** A device with a window of 8 and a client per buyer; `backUp` stops the AS and copies its database,
   * `restore(o)` puts that copy back and starts the AS on it with options `o`. */
  async function restorable() {
    await setup(8);
    const file = path.join(dir, "as.sqlite");
    const device = new SimulatedDevice(path.join(dir, "lock.json"), 8, undefined, {
      deviceId: DEVICE,
      secret: SECRET,
      counter: 0,
      slotsGranted: 0,
    });
    const clients = buyers.map(
      (b) => new ChannelClient(b.key, { ...b.params, channelId: b.channelId, deposit: 10n ** 30n }, [], domain),
    );
    const restart = async (o: Partial<AsOptions> = {}) => {
      await server.stop();
      store.close();
      store = new AsStore(file);
      server = new AuthorizationServer({ payee, verifier, store, hotpWindow: 8, ...o });
      url = await server.listen(0);
    };
    const backup = path.join(dir, "backup");
    const databaseFiles = (d: string) => fs.readdirSync(d).filter((f) => f.startsWith("as.sqlite"));
    const backUp = async () => {
      await restart();
      fs.mkdirSync(backup);
      for (const f of databaseFiles(dir)) fs.copyFileSync(path.join(dir, f), path.join(backup, f));
    };
    const restore = async (o: Partial<AsOptions> = {}) => {
      await server.stop();
      store.close();
      for (const f of databaseFiles(dir)) fs.rmSync(path.join(dir, f));
      for (const f of databaseFiles(backup)) fs.copyFileSync(path.join(backup, f), path.join(dir, f));
      await restart(o);
    };
    return { device, clients, restart, backUp, restore };
  }

  /** The AS's `--resync` challenge for the device (null when it awaits nothing). */
  async function challengeOf(asUrl: string): Promise<string | null> {
    const response = await fetch(`${asUrl}/devices/${DEVICE}/challenge`);
    expect(response.status).to.equal(200);
    const body = (await response.json()) as { deviceId: string; challenge: string | null };
    expect(body.deviceId).to.equal(DEVICE);
    return body.challenge;
  }

  /** An AS and a device with a window of 8, and the 8 codes that eight buyers paid for (counters 0-7). */
  async function eightCodes(): Promise<{ device: SimulatedDevice; grants: AccessGrant[] }> {
    await setup(8);
    const device = new SimulatedDevice(path.join(dir, "lock.json"), 8, undefined, {
      deviceId: DEVICE,
      secret: SECRET,
      counter: 0,
      slotsGranted: 0,
    });
    const grants: AccessGrant[] = [];
    for (const b of buyers.slice(0, 8)) grants.push((await buy(url, b, PRICE)).body as unknown as AccessGrant);
    return { device, grants };
  }

  it("codes used out of order: every paid code is granted by the device", async function () {
    const { device, grants } = await eightCodes();
    expect(grants.map((g) => g.counter)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7]);
    for (const g of [...grants].reverse()) expect(device.present(g.otp).granted, `code ${g.counter}`).to.equal(true);
    expect(device.slotsGranted).to.equal(8);
    for (const g of grants) expect(device.present(g.otp).granted).to.equal(false); // each works once
  });

  it("unused codes: at most W outstanding per device, 429 before charging, and selling resumes once the device acknowledges", async function () {
    const { device, grants } = await eightCodes();
    // Six codes go unused (0..5); two are used (6, 7) and their acknowledgements relayed.
    for (const g of grants.slice(6)) {
      const outcome = device.present(g.otp);
      expect(outcome.granted).to.equal(true);
      const ack = await post(url, `/devices/${DEVICE}/ack`, {
        base: outcome.counter,
        next: outcome.next,
        mac: outcome.ack,
      });
      expect(ack.status).to.equal(200);
      // The device used counters above its base (next 7, then 8): a relay without them is refused.
      expect(outcome).to.include({ counter: 0, next: g.counter + 1 });
      const bare = await post(url, `/devices/${DEVICE}/ack`, { base: outcome.counter, mac: outcome.ack });
      expect([bare.status, bare.body.error]).to.deep.equal([
        403,
        `the acknowledgement of device ${DEVICE} has a wrong MAC`,
      ]);
    }
    // The window is still pinned at the oldest unused code: an 9th code could fall outside it. 429, nothing charged.
    const refused = await buy(url, buyers[8], PRICE);
    expect(refused.status).to.equal(429);
    expect(refused.body.error).to.match(
      new RegExp(
        `^device ${DEVICE}'s window of 8 codes is full: code 0, the oldest its device has not acknowledged as used, is outstanding until \\d+; use it \\(and relay the device's acknowledgement\\) or buy after then$`,
      ),
    );
    expect(await bestAmount(url, buyers[8])).to.equal(0n);
    expect(store.receiptCount()).to.equal(8);
    // A forged acknowledgement (a client claiming the codes were used) changes nothing.
    const forged = await post(url, `/devices/${DEVICE}/ack`, { base: 8, mac: "00".repeat(16) });
    expect([forged.status, forged.body.error]).to.deep.equal([
      403,
      `the acknowledgement of device ${DEVICE} has a wrong MAC`,
    ]);
    expect((await buy(url, buyers[8], PRICE)).status).to.equal(429);
    // The holders of the unused codes come, in any order: every paid code is granted, none was lost.
    let last = device.present(grants[3].otp);
    for (const i of [5, 0, 4, 2, 1]) last = device.present(grants[i].otp);
    expect(last).to.include({ granted: true, counter: 8 });
    expect(device.slotsGranted).to.equal(8);
    const ack = await post(url, `/devices/${DEVICE}/ack`, { base: last.counter, mac: last.ack });
    expect(ack.body).to.deep.equal({ deviceId: DEVICE, acked: 8, counter: 8 });
    const next = await buy(url, buyers[8], PRICE);
    expect([next.status, next.body.counter]).to.deep.equal([200, 8]);
    expect(device.present(next.body.otp).granted).to.equal(true);
    // The acknowledgement is durable: a restarted AS still knows the device's base.
    expect(store.devices()[0].acked).to.equal(8);
    // An older acknowledgement replayed changes nothing.
    const stale = await post(url, `/devices/${DEVICE}/ack`, {
      base: 1,
      mac: (await import("../../src/channels/hotp")).deviceAck(Buffer.from(SECRET, "hex"), DEVICE, 1),
    });
    expect(stale.body).to.deep.equal({ deviceId: DEVICE, acked: 8, counter: 9 });
  });

  it("the 429 says what is true: one code held back and seven used and acknowledged fill the window, and it names the held code and its expiry", async function () {
    const { device, grants } = await eightCodes();
    for (const g of grants.slice(1)) {
      const outcome = device.present(g.otp);
      expect(outcome).to.include({ granted: true, counter: 0, next: g.counter + 1 });
      const ack = await post(url, `/devices/${DEVICE}/ack`, { base: 0, next: outcome.next, mac: outcome.ack });
      expect(ack.status).to.equal(200);
    }
    const refused = await buy(url, buyers[8], PRICE);
    expect([refused.status, refused.body.error]).to.deep.equal([
      429,
      `device ${DEVICE}'s window of 8 codes is full: code 0, the oldest its device has not acknowledged as used, is outstanding until ${grants[0].expiresAt}; use it (and relay the device's acknowledgement) or buy after then`,
    ]);
    expect(store.receiptCount()).to.equal(8);
    // Code 0 used and acknowledged: the window slides past all eight.
    const last = device.present(grants[0].otp);
    expect((await post(url, `/devices/${DEVICE}/ack`, { base: last.counter, mac: last.ack })).body).to.deep.equal({
      deviceId: DEVICE,
      acked: 8,
      counter: 8,
    });
    expect((await buy(url, buyers[8], PRICE)).body.counter).to.equal(8);
  });

  it("unused codes expire: with the window full, the AS voids only expired codes, with an advance the device applies; codes not expired are never voided", async function () {
    let now = 1_000_000;
    await setup(8, undefined, { codeTtl: 100, now: () => now });
    const device = new SimulatedDevice(path.join(dir, "lock.json"), 8, undefined, {
      deviceId: DEVICE,
      secret: SECRET,
      counter: 0,
      slotsGranted: 0,
    });
    // Codes 0-3 sold at t, 4-7 at t + 60: a griefer's, never used. Each grant states its expiry.
    const grants: Record<string, unknown>[] = [];
    for (const [i, b] of buyers.slice(0, 8).entries()) {
      if (i === 4) now += 60;
      grants.push((await buy(url, b, PRICE)).body);
    }
    expect(grants.map((g) => g.expiresAt)).to.deep.equal([...Array(4).fill(1_000_100), ...Array(4).fill(1_000_160)]);
    expect(grants.every((g) => g.advance === undefined)).to.equal(true);
    // t + 99: nothing has expired, nothing is voided: 429, nothing charged, naming when the oldest expires.
    now = 1_000_099;
    const early = await buy(url, buyers[8], PRICE);
    expect([early.status, early.body.error]).to.deep.equal([
      429,
      `device ${DEVICE}'s window of 8 codes is full: code 0, the oldest its device has not acknowledged as used, is outstanding until 1000100; use it (and relay the device's acknowledgement) or buy after then`,
    ]);
    expect(store.receiptCount()).to.equal(8);
    // t + 100: codes 0-3 expired. The AS voids them (not 4-7) and sells 8-11, each with the advance to 4.
    now = 1_000_100;
    const advance = { base: 4, mac: deviceAdvance(Buffer.from(SECRET, "hex"), DEVICE, 4) };
    const fresh: Record<string, unknown>[] = [];
    for (const b of buyers.slice(8, 12)) {
      const r = await buy(url, b, PRICE);
      expect(r.status).to.equal(200);
      fresh.push(r.body);
    }
    expect(fresh.map((g) => [g.counter, g.expiresAt])).to.deep.equal([8, 9, 10, 11].map((c) => [c, 1_000_200]));
    for (const g of fresh) expect(g.advance).to.deep.equal(advance);
    // Codes 4-7 have not expired: never voided, so the window is full again.
    expect((await buy(url, buyers[0], 2n * PRICE)).status).to.equal(429);
    // A redelivery (a lost answer) states the same: code 0 is void, code 4 lives until t + 160, with the advance.
    const redeliver = async (b: Buyer) =>
      (
        await post(url, `/channels/${b.channelId}/redeliver`, {
          amount: PRICE.toString(),
          signature: await signRedeliver(b.key, domain, { channelId: b.channelId, cumulativeAmount: PRICE }),
        })
      ).body;
    expect(await redeliver(buyers[0])).to.deep.include({
      counter: 0,
      used: true,
      note: `code 0 of device ${DEVICE} expired unused and was voided: it will refuse it`,
    });
    const again = await redeliver(buyers[4]);
    expect(again).to.deep.include({ counter: 4, used: false, expiresAt: 1_000_160, otp: grants[4].otp });
    expect(again.advance).to.deep.equal(advance);
    // The device: code 11 with its advance is granted (applied first), a voided code is refused, and codes
    // 4-7 and 8-10 (no advance needed now) are granted, in any order.
    expect(device.present(String(fresh[3].otp), advance)).to.deep.include({ granted: true, counter: 4 });
    expect(device.present(String(grants[0].otp)).granted).to.equal(false);
    for (const g of [grants[6], fresh[0], grants[4], grants[5], fresh[2], grants[7], fresh[1]])
      expect(device.present(String(g.otp), g.advance as never).granted, `code ${g.counter}`).to.equal(true);
    const last = device.present(String(fresh[3].otp));
    expect(last).to.deep.include({ granted: false, counter: 12 });
    expect(device.slotsGranted).to.equal(8);
    // The device's acknowledgement reaches the AS: selling resumes without an advance.
    const ack = await post(url, `/devices/${DEVICE}/ack`, { base: last.counter, mac: last.ack });
    expect(ack.body).to.deep.equal({ deviceId: DEVICE, acked: 12, counter: 12 });
    const after = await buy(url, buyers[0], 2n * PRICE);
    expect([after.status, after.body.counter, after.body.advance]).to.deep.equal([200, 12, undefined]);
  });

  it("property: whatever the order of sales, uses, lost acknowledgements and time, at most W unexpired codes are outstanding and the device grants every paid code presented before it expires", async function () {
    this.timeout(120_000);
    const W = 4;
    const TTL = 100;
    type Step =
      { kind: "buy"; who: number } | { kind: "use"; pick: number; relay: boolean } | { kind: "wait"; s: number };
    const step = fc.oneof(
      fc.record({ kind: fc.constant("buy" as const), who: fc.nat(11) }),
      fc.record({ kind: fc.constant("use" as const), pick: fc.nat(), relay: fc.boolean() }),
      fc.record({ kind: fc.constant("wait" as const), s: fc.integer({ min: 1, max: 120 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 10, maxLength: 40 }), async (steps: Step[]) => {
        let now = 5_000_000;
        await server?.stop();
        store?.close();
        if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
        await setup(W, 0, { codeTtl: TTL, now: () => now });
        const device = new SimulatedDevice(path.join(dir, "lock.json"), W, undefined, {
          deviceId: DEVICE,
          secret: SECRET,
          counter: 0,
          slotsGranted: 0,
        });
        const paid = buyers.map(() => 0n);
        const held: AccessGrant[] = [];
        const sold: AccessGrant[] = [];
        let granted = 0;
        for (const st of steps) {
          if (st.kind === "wait") now += st.s;
          else if (st.kind === "buy") {
            const r = await buy(url, buyers[st.who], paid[st.who] + PRICE);
            expect([200, 429], String(r.body.error)).to.include(r.status);
            if (r.status === 200) {
              paid[st.who] += PRICE;
              held.push(r.body as unknown as AccessGrant);
              sold.push(r.body as unknown as AccessGrant);
            } else {
              // Refused only while W sold codes (used or not: their acknowledgement may be lost) are unexpired.
              expect(sold.filter((g) => now < g.expiresAt).length, "429 with expired codes").to.be.at.least(W);
            }
          } else if (held.length > 0) {
            const [g] = held.splice(st.pick % held.length, 1);
            const outcome = device.present(g.otp, g.advance);
            if (now < g.expiresAt) expect(outcome.granted, `code ${g.counter} before its expiry`).to.equal(true);
            if (outcome.granted) granted++;
            if (st.relay) {
              const ack = await post(url, `/devices/${DEVICE}/ack`, {
                base: outcome.counter,
                next: outcome.next,
                mac: outcome.ack,
              });
              expect(ack.status).to.equal(200);
            }
          }
          // The bound: paid codes still unused and unexpired never exceed the device's window.
          expect(held.filter((g) => now < g.expiresAt).length).to.be.at.most(W);
        }
        // Every code was granted at most once, and only paid codes were.
        expect(granted).to.equal(device.slotsGranted);
        expect(granted).to.be.at.most(store.receiptCount());
      }),
      { numRuns: 15 },
    );
  });

  it("an AS restored from a backup behind its device: the first refused code's acknowledgement heals its counter; with resync nobody is charged", async function () {
    const { device, clients, backUp, restore: restoreAs } = await restorable();
    const redeem = async (i: number, amount: bigint) => {
      const grant = await clients[i].buy(url, DEVICE, PRICE);
      expect(grant.amount).to.equal(amount.toString());
      return { grant, outcome: await clients[i].redeem(url, device, grant) };
    };
    for (const i of [0, 1]) expect((await redeem(i, PRICE)).outcome.granted).to.equal(true);
    // A backup (the AS stopped): counters 0-1 sold and used.
    await backUp();
    // After it: codes 2-7 sold; all but 5 used (its holder keeps it), out of order.
    const later = [];
    for (const i of [2, 3, 4, 5, 6, 7]) later.push((await clients[i].buy(url, DEVICE, PRICE)).otp);
    for (const otp of [later[5], later[0], later[1], later[4], later[2]]) device.present(otp);
    expect(device.ack()).to.deep.include({ base: 5, next: 8 });
    const restore = async (o: Partial<AsOptions> = {}) => {
      await restoreAs(o);
      expect(store.devices()[0]).to.deep.include({ counter: 2, acked: 2 });
    };

    // Restored without resync: the AS sells counter 2, which the device used: refused, the one client charged
    // for nothing. Its acknowledgement (base 5, next 8), relayed by the client, moves the AS past every code
    // the device used, not only past its base.
    await restore();
    const first = await redeem(8, PRICE);
    expect(first.grant.counter).to.equal(2);
    expect(first.outcome).to.deep.include({ granted: false, reason: "unknown or reused", counter: 5, next: 8 });
    expect(store.devices()[0]).to.deep.include({ counter: 8, acked: 5 });
    const second = await redeem(9, PRICE);
    expect([second.grant.counter, second.outcome.granted]).to.deep.equal([8, true]);
    expect(device.present(later[3]).granted).to.equal(true); // the code sold before the restore still works

    // Restored again, with resync: nothing is sold until the device's acknowledgement arrives; then no refusal.
    await restore({ resync: true });
    const before = store.receiptCount();
    const challenge = await challengeOf(url);
    expect(challenge).to.match(/^[0-9a-f]{32}$/);
    await expect(clients[10].buy(url, DEVICE, PRICE)).to.be.rejectedWith(
      `AS refused: 409 device ${DEVICE} awaits its own acknowledgement (the AS restarted with --resync): relay the device's acknowledgement of challenge ${challenge} (GET /devices/${DEVICE}/challenge) to POST /devices/${DEVICE}/ack, then buy`,
    );
    expect(store.receiptCount()).to.equal(before);
    expect(await bestAmount(url, buyers[10])).to.equal(0n);
    // A forged acknowledgement does not end the wait.
    expect((await post(url, `/devices/${DEVICE}/ack`, { base: 99, mac: "00".repeat(16) })).status).to.equal(403);
    const below = await post(url, `/devices/${DEVICE}/ack`, { base: 9, next: 3, mac: "00".repeat(16) });
    expect([below.status, below.body.error]).to.deep.equal([400, "body/next 3 is below body/base 9"]);
    await expect(clients[10].buy(url, DEVICE, PRICE)).to.be.rejectedWith(/409/);
    // Nor does a genuine one without the challenge: it could be an old one, replayed.
    const plain = device.ack();
    expect(plain.mac).to.equal(deviceAck(Buffer.from(SECRET, "hex"), DEVICE, plain.base, plain.next));
    await clients[10].acknowledge(url, DEVICE, plain.base, plain.mac, plain.next);
    await expect(clients[10].buy(url, DEVICE, PRICE)).to.be.rejectedWith(/409/);
    // The device's acknowledgement of the challenge does.
    const asked = device.ack(challenge!);
    expect(asked).to.deep.equal({
      base: 9,
      challenge,
      mac: deviceAck(Buffer.from(SECRET, "hex"), DEVICE, 9, undefined, challenge!),
    });
    await clients[10].acknowledge(url, DEVICE, asked.base, asked.mac, asked.next, asked.challenge);
    expect(await challengeOf(url)).to.equal(null);
    const resumed = await redeem(10, PRICE);
    expect([resumed.grant.counter, resumed.outcome.granted]).to.deep.equal([9, true]);
  });

  it("resync: a replayed old acknowledgement does not end the wait (409, nothing stored); only the device's acknowledgement of the AS's current challenge does", async function () {
    const { device, clients, restart, backUp, restore } = await restorable();
    // Code 0 sold and used; anybody on the path keeps the device's acknowledgement (base 1).
    const g0 = await clients[0].buy(url, DEVICE, PRICE);
    const o0 = await clients[0].redeem(url, device, g0);
    expect(o0.granted).to.equal(true);
    const oldAck = { base: o0.counter, mac: o0.ack };
    await backUp();
    // Codes 1 and 2 sold and used after the backup.
    for (const i of [1, 2])
      expect((await clients[i].redeem(url, device, await clients[i].buy(url, DEVICE, PRICE))).granted).to.equal(true);
    expect(device.counter).to.equal(3);
    // The database is lost and restored from the backup; the AS restarts with resync.
    await restore({ resync: true });
    expect(store.devices()[0]).to.deep.include({ counter: 1, acked: 1 });
    const waiting = await buy(url, buyers[3], PRICE);
    expect(waiting.status).to.equal(409);
    // The stale acknowledgement replayed: its MAC is genuine, so it is accepted (nothing to raise), but the
    // wait goes on, naming the challenge: it may predate the restore. Nothing is sold, nothing stored.
    const first = await challengeOf(url);
    const replay = await post(url, `/devices/${DEVICE}/ack`, oldAck);
    expect([replay.status, replay.body]).to.deep.equal([
      200,
      { deviceId: DEVICE, acked: 1, counter: 1, awaitsChallenge: first },
    ]);
    expect((await buy(url, buyers[3], PRICE)).status).to.equal(409);
    // An acknowledgement of another process's challenge (kept from an earlier start) does not end it either.
    const earlier = device.ack(first!);
    await restart({ resync: true });
    const current = await challengeOf(url);
    expect(current)
      .to.match(/^[0-9a-f]{32}$/)
      .and.not.equal(first);
    const stale = await post(url, `/devices/${DEVICE}/ack`, earlier);
    expect([stale.status, stale.body.awaitsChallenge]).to.deep.equal([200, current]);
    // Claiming the current challenge for it: the MAC does not cover it.
    const claimed = await post(url, `/devices/${DEVICE}/ack`, { ...earlier, challenge: current });
    expect([claimed.status, claimed.body.error]).to.deep.equal([
      403,
      `the acknowledgement of device ${DEVICE} has a wrong MAC`,
    ]);
    // A malformed challenge, and an unknown device: refused, naming the problem.
    const malformed = await post(url, `/devices/${DEVICE}/ack`, { ...earlier, challenge: "ZZ" });
    expect([malformed.status, malformed.body.error]).to.deep.equal([
      400,
      'body/challenge must match pattern "^[0-9a-f]{32}$"',
    ]);
    const unknown = await fetch(`${url}/devices/${keccak256("0x99")}/challenge`);
    expect([unknown.status, await unknown.json()]).to.deep.equal([
      404,
      { error: `unknown device ${keccak256("0x99")}`, reason: "unknown_device" },
    ]);
    expect((await buy(url, buyers[3], PRICE)).status).to.equal(409);
    expect(store.receiptCount()).to.equal(1);
    expect(await bestAmount(url, buyers[3])).to.equal(0n);
    // A client with the device at hand: buy() reads the challenge, relays the device's acknowledgement of it
    // and sends the receipt again: the AS sells past every counter the device used, and the device grants it.
    const grant = await clients[3].buy(url, DEVICE, PRICE, { device });
    expect([grant.counter, grant.amount]).to.deep.equal([3, PRICE.toString()]);
    expect(device.present(grant.otp).granted).to.equal(true);
    expect(await challengeOf(url)).to.equal(null);
    expect(store.devices()[0]).to.deep.include({ counter: 4, acked: 3 });
  });

  it("an acknowledgement that raises the counter while a commit is in flight: the commit fails, and its undo never puts the counter below the acknowledged next", async function () {
    await setup(undefined, 300); // a long group commit: the acknowledgement arrives before the write
    // The device is ahead of the AS (a restored database): base 0, counters 1-3 used, so next 4.
    const device = new SimulatedDevice(path.join(dir, "lock.json"), DEFAULT_WINDOW, undefined, {
      deviceId: DEVICE,
      secret: SECRET,
      counter: 0,
      used: [1, 2, 3],
      slotsGranted: 3,
    });
    // A row that makes the receipt of buyers[0] collide: its write fails.
    rawDb()
      .prepare("INSERT INTO receipts VALUES (?, ?, 'x', 'x', '[]', 'x', 99)")
      .run(buyers[0].channelId, PRICE.toString());
    const failing = buy(url, buyers[0], PRICE); // reserves counter 0
    await new Promise((r) => setTimeout(r, 100));
    const { base, next, mac } = device.ack();
    expect([base, next]).to.deep.equal([0, 4]);
    const ack = await post(url, `/devices/${DEVICE}/ack`, { base, next, mac });
    expect(ack.body).to.deep.equal({ deviceId: DEVICE, acked: 0, counter: 4 });
    expect((await failing).status).to.equal(503);
    // The undo gave back the failed reservation, but not below next: counters 1-3 are never sold again.
    const sold = await buy(url, buyers[1], PRICE);
    expect([sold.status, sold.body.counter]).to.deep.equal([200, 4]);
    expect(device.present(sold.body.otp).granted).to.equal(true);
    expect(store.devices()[0].counter).to.equal(5);
  });

  it("an acknowledgement overtaking a reservation not yet committed (a restored database): the receipt is not stored, nobody is charged for a used code, and the retry gets a fresh one", async function () {
    await setup(undefined, 300); // a long group commit: the acknowledgement arrives before the write
    // The device is ahead of the AS: counters 0-2 used (base 3).
    const device = new SimulatedDevice(path.join(dir, "lock.json"), DEFAULT_WINDOW, undefined, {
      deviceId: DEVICE,
      secret: SECRET,
      counter: 3,
      slotsGranted: 3,
    });
    const overtaken = buy(url, buyers[0], PRICE); // reserves counter 0, which the device used
    await new Promise((r) => setTimeout(r, 100));
    const { base, next, mac } = device.ack();
    const ack = await post(url, `/devices/${DEVICE}/ack`, { base, next, mac });
    expect(ack.body).to.deep.include({ acked: 3, counter: 3 });
    const refused = await overtaken;
    expect([refused.status, refused.body.reason]).to.deep.equal([503, "counter_used"]);
    expect(refused.body.error).to.equal(
      `device ${DEVICE} acknowledged counters up to 2 as used while this receipt was being stored, so it was not accepted and nothing was charged: retry the same amount`,
    );
    expect(store.receiptCount()).to.equal(0);
    expect(await bestAmount(url, buyers[0])).to.equal(0n);
    // The same amount again: counter 3, which the device grants.
    const sold = await buy(url, buyers[0], PRICE);
    expect([sold.status, sold.body.counter]).to.deep.equal([200, 3]);
    expect(device.present(sold.body.otp).granted).to.equal(true);
    expect(store.devices()[0]).to.deep.include({ counter: 4, acked: 3 });
  });

  it("a store without --init refuses a database file without the AS's tables (a copy made without its -wal file)", function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-as-nowal-"));
    try {
      const empty = path.join(dir, "empty.sqlite");
      fs.writeFileSync(empty, "");
      const foreign = path.join(dir, "foreign.sqlite");
      const other = new Database(foreign);
      other.exec("CREATE TABLE notes (x)");
      other.close();
      for (const file of [empty, foreign]) {
        expect(() => new AsStore(file)).to.throw(
          UserError,
          /holds no AS tables \(a copy made without its -wal file\?\)/,
        );
        // Nothing was created in it: it is still not an AS database.
        const check = new Database(file);
        expect(check.prepare("SELECT name FROM sqlite_master WHERE name = 'devices'").get()).to.equal(undefined);
        check.close();
      }
      // With --init it becomes a new AS database.
      new AsStore(empty, { create: true }).close();
      new AsStore(empty).close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a store without --init refuses a missing database with one line", function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-as-window-"));
    expect(() => new AsStore(path.join(dir, "missing.sqlite"))).to.throw(
      UserError,
      /does not exist; create a new one with --init/,
    );
  });
});
