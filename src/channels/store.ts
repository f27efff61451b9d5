import fs from "node:fs";
import path from "node:path";

import Database from "better-sqlite3";

/** A receipt the AS accepted, as stored. */
export interface StoredReceipt {
  channelId: string;
  amount: bigint;
  signer: string;
  signature: string;
  proof: string[];
  deviceId: string;
  otpCounter: number;
}

export interface ChannelRecord {
  channelId: string;
  owner: string;
  token: boolean;
  clientRoot: string;
  salt: bigint;
  openBlock: bigint;
  deposit: bigint;
  expiry: number;
  closed: boolean;
}

export interface DeviceRecord {
  deviceId: string;
  secret: string;
  price: bigint;
  counter: number;
}

interface ReceiptRow {
  channel_id: string;
  amount: string;
  signer: string;
  signature: string;
  proof: string;
  device_id: string;
  otp_counter: number;
}

/**
 * The Authorization Server's durable state in SQLite (WAL, synchronous=FULL): every accepted receipt, the
 * best receipt per channel, and each device's secret, price and HOTP counter. Writes go through
 * {@link AsStore.commit}, which groups concurrent requests into one transaction and one fsync, and
 * resolves only after it is on disk: no OTP is released before its receipt is durable.
 */
export class AsStore {
  private readonly db: Database.Database;
  private readonly insertReceipt: Database.Statement;
  private readonly setBest: Database.Statement;
  private readonly setCounter: Database.Statement;
  private queue: { write: () => void; done: (error?: Error) => void }[] = [];
  private scheduled = false;

  /**
   * @param groupCommitMs How long a commit waits for others to share its transaction and fsync. A few
   * milliseconds turn one fsync per request into one per batch under load.
   */
  constructor(
    file: string,
    private readonly groupCommitMs = 2,
  ) {
    if (file !== ":memory:") fs.mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = FULL");
    // Checkpoint the WAL less often: each checkpoint blocks the event loop on an fsync of the database.
    this.db.pragma("wal_autocheckpoint = 20000");
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS devices (
        device_id TEXT PRIMARY KEY, secret TEXT NOT NULL, price TEXT NOT NULL, counter INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS channels (
        channel_id TEXT PRIMARY KEY, owner TEXT NOT NULL, token INTEGER NOT NULL, client_root TEXT NOT NULL,
        salt TEXT NOT NULL, open_block TEXT NOT NULL, deposit TEXT NOT NULL, expiry INTEGER NOT NULL, closed INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE IF NOT EXISTS receipts (
        channel_id TEXT NOT NULL, amount TEXT NOT NULL, signer TEXT NOT NULL, signature TEXT NOT NULL,
        proof TEXT NOT NULL, device_id TEXT NOT NULL, otp_counter INTEGER NOT NULL,
        PRIMARY KEY (channel_id, amount));
      CREATE TABLE IF NOT EXISTS best (channel_id TEXT PRIMARY KEY, amount TEXT NOT NULL);
    `);
    this.insertReceipt = this.db.prepare(
      "INSERT INTO receipts (channel_id, amount, signer, signature, proof, device_id, otp_counter) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    this.setBest = this.db.prepare(
      "INSERT INTO best (channel_id, amount) VALUES (?, ?) ON CONFLICT(channel_id) DO UPDATE SET amount = excluded.amount",
    );
    this.setCounter = this.db.prepare("UPDATE devices SET counter = ? WHERE device_id = ?");
  }

  close(): void {
    this.db.close();
  }

  /**
   * A real write, for health checks: one row of a `health` table, in its own transaction. Throws when the
   * database cannot be written (read-only, locked, disk full) or its file is gone (code ENOENT).
   */
  probeWrite(): void {
    if (!this.db.memory && !fs.existsSync(this.db.name))
      throw Object.assign(new Error(`database file ${this.db.name} is gone`), { code: "ENOENT" });
    this.db.exec("CREATE TABLE IF NOT EXISTS health (id INTEGER PRIMARY KEY, at INTEGER NOT NULL)");
    this.db.prepare("INSERT OR REPLACE INTO health (id, at) VALUES (1, ?)").run(Date.now());
  }

  upsertDevice(d: DeviceRecord): void {
    this.db
      .prepare(
        "INSERT INTO devices (device_id, secret, price, counter) VALUES (?, ?, ?, ?) ON CONFLICT(device_id) DO UPDATE SET secret = excluded.secret, price = excluded.price",
      )
      .run(d.deviceId, d.secret, d.price.toString(), d.counter);
  }

  devices(): DeviceRecord[] {
    return (
      this.db.prepare("SELECT device_id, secret, price, counter FROM devices").all() as {
        device_id: string;
        secret: string;
        price: string;
        counter: number;
      }[]
    ).map((r) => ({ deviceId: r.device_id, secret: r.secret, price: BigInt(r.price), counter: r.counter }));
  }

  saveChannel(c: ChannelRecord): void {
    this.db
      .prepare(
        "INSERT INTO channels (channel_id, owner, token, client_root, salt, open_block, deposit, expiry, closed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(channel_id) DO UPDATE SET deposit = excluded.deposit, expiry = excluded.expiry, closed = excluded.closed",
      )
      .run(
        c.channelId,
        c.owner,
        c.token ? 1 : 0,
        c.clientRoot,
        c.salt.toString(),
        c.openBlock.toString(),
        c.deposit.toString(),
        c.expiry,
        c.closed ? 1 : 0,
      );
  }

  channels(): ChannelRecord[] {
    return (
      this.db.prepare("SELECT * FROM channels").all() as {
        channel_id: string;
        owner: string;
        token: number;
        client_root: string;
        salt: string;
        open_block: string;
        deposit: string;
        expiry: number;
        closed: number;
      }[]
    ).map((r) => ({
      channelId: r.channel_id,
      owner: r.owner,
      token: r.token === 1,
      clientRoot: r.client_root,
      salt: BigInt(r.salt),
      openBlock: BigInt(r.open_block),
      deposit: BigInt(r.deposit),
      expiry: r.expiry,
      closed: r.closed === 1,
    }));
  }

  /** The highest receipt of every channel. */
  bestReceipts(): Map<string, StoredReceipt> {
    const rows = this.db
      .prepare("SELECT r.* FROM receipts r JOIN best b ON b.channel_id = r.channel_id AND b.amount = r.amount")
      .all() as ReceiptRow[];
    return new Map(rows.map((r) => [r.channel_id, toReceipt(r)]));
  }

  /** Every receipt amount stored for a channel, ascending. */
  receiptAmounts(channelId: string): bigint[] {
    return (
      this.db.prepare("SELECT amount FROM receipts WHERE channel_id = ?").all(channelId.toLowerCase()) as {
        amount: string;
      }[]
    )
      .map((r) => BigInt(r.amount))
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  receiptCount(): number {
    return (this.db.prepare("SELECT COUNT(*) AS n FROM receipts").get() as { n: number }).n;
  }

  /** Queues a receipt and its device's counter advance; resolves once both are on disk. */
  commit(receipt: StoredReceipt): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({
        write: () => {
          this.insertReceipt.run(
            receipt.channelId,
            receipt.amount.toString(),
            receipt.signer,
            receipt.signature,
            JSON.stringify(receipt.proof),
            receipt.deviceId,
            receipt.otpCounter,
          );
          this.setBest.run(receipt.channelId, receipt.amount.toString());
          this.setCounter.run(receipt.otpCounter + 1, receipt.deviceId);
        },
        done: (error) => (error === undefined ? resolve() : reject(error)),
      });
      if (!this.scheduled) {
        this.scheduled = true;
        setTimeout(() => this.flush(), this.groupCommitMs);
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    try {
      this.db.transaction(() => batch.forEach((job) => job.write()))();
      batch.forEach((job) => job.done());
    } catch (error) {
      batch.forEach((job) => job.done(error as Error));
    }
  }
}

function toReceipt(r: ReceiptRow): StoredReceipt {
  return {
    channelId: r.channel_id,
    amount: BigInt(r.amount),
    signer: r.signer,
    signature: r.signature,
    proof: JSON.parse(r.proof) as string[],
    deviceId: r.device_id,
    otpCounter: r.otp_counter,
  };
}
