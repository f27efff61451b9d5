import fs from "node:fs";

import type Database from "better-sqlite3";

import { UserError } from "../errors";
import { writeBatch } from "./store/commit";
import { KEY_CHECK, ENCRYPTED, decryptSecret, encryptSecret } from "./store/crypto";
import { checkTables, createSchema, openDatabase, prepareFile, writePidFile } from "./store/open";
import { FileWatch, identityOf } from "../db/files";
import { CounterUsed, StoreLost, StoreUnavailable, toChannel, toReceipt } from "./store/records";
import type {
  AsStoreOptions,
  ChannelRecord,
  ChannelRow,
  DeviceRecord,
  Job,
  ReceiptRow,
  StoredReceipt,
} from "./store/records";

export { CounterUsed, secretKeyFrom, StoreLost, StoreUnavailable } from "./store/records";
export type { AsStoreOptions, ChannelRecord, DeviceRecord, StoredReceipt } from "./store/records";

/**
 * The Authorization Server's durable state in SQLite (WAL, synchronous=FULL): every accepted receipt, the
 * best receipt per channel, and each device's secret, price and HOTP counter. Writes go through
 * {@link AsStore.commit}, which groups concurrent requests into one transaction and one fsync, and
 * resolves only after it is on disk: no OTP is released before its receipt is durable.
 *
 * One writer: the store holds SQLite's exclusive lock (`locking_mode=EXCLUSIVE`) for as long as it is open.
 * That is an fcntl lock the kernel drops when the process dies, even on `kill -9`, so there is no stale lock
 * to detect and no pid to be fooled by; `<db>.pid` only names the holder in the error a second opener gets.
 * Files are created 0600 (the WAL inherits the database's mode; no -shm exists in exclusive mode).
 */
export class AsStore {
  private readonly db: Database.Database;
  private readonly insertReceipt: Database.Statement;
  private readonly setBest: Database.Statement;
  private readonly setCounter: Database.Statement;
  private readonly setAckedRow: Database.Statement;
  /** One job's writes, in the batch's transaction: in a savepoint of their own (`writeOne`), or not. */
  private readonly writes: { writeOne: (job: Job) => void; writeDirect: (job: Job) => void };
  private queue: Job[] = [];
  private scheduled = false;
  private readonly groupCommitMs: number;
  private readonly secretKey?: Buffer;
  /** The database file and its WAL (receipts live there until a checkpoint), as opened. */
  private readonly files: FileWatch;
  /** Why the store stopped for good (its database or WAL deleted or replaced, or an fsync failed), if it did. */
  lost?: string;
  /** The last write error, for logs and health (never sent to a client). */
  lastError?: Error;
  /** Receipts stored: counted once on open, then kept in memory (/health reads it on every call). */
  private receipts: number;
  /** A descriptor of the WAL file: receipts' frames are fsynced through it in the thread pool. */
  private walFd?: number;
  /** Whether a WAL fsync runs, and the descriptor to close once syncs are done (the store was closed meanwhile). */
  private syncing = false;
  private closeWhenSynced?: number;

  constructor(
    private readonly file: string,
    options: AsStoreOptions = {},
  ) {
    this.groupCommitMs = options.groupCommitMs ?? 0;
    if (options.secretKey !== undefined && options.secretKey.length !== 32)
      throw new UserError("the AS secret key must be 32 bytes (64 hex characters)");
    this.secretKey = options.secretKey;
    const memory = file === ":memory:";
    if (!memory) prepareFile(file, options);
    const db = openDatabase(file);
    this.db = db;
    if (!memory && options.create !== true) checkTables(db, file);
    if (!memory) writePidFile(file);
    createSchema(this.db);
    this.insertReceipt = this.db.prepare(
      "INSERT INTO receipts (channel_id, amount, signer, signature, proof, device_id, otp_counter) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    this.setBest = this.db.prepare(
      "INSERT INTO best (channel_id, amount) VALUES (?, ?) ON CONFLICT(channel_id) DO UPDATE SET amount = excluded.amount",
    );
    this.setCounter = this.db.prepare(
      "UPDATE devices SET counter = MAX(counter, ?), voided = MAX(voided, ?) WHERE device_id = ?",
    );
    this.setAckedRow = this.db.prepare(
      "UPDATE devices SET acked = MAX(acked, ?), counter = MAX(counter, ?) WHERE device_id = ?",
    );
    const writeDirect = (job: Job): void =>
      job.receipt === undefined ? job.write?.() : this.write(job.receipt, job.voided ?? 0);
    this.writes = { writeOne: this.db.transaction(writeDirect), writeDirect };
    this.receipts = (this.db.prepare("SELECT COUNT(*) AS n FROM receipts").get() as { n: number }).n;
    if (this.secretKey !== undefined) this.adoptKey();
    // The WAL exists once the schema statements above ran; our own descriptor of it, to fsync it off the
    // event loop. Without one (in memory), receipts are committed with synchronous=FULL.
    if (!memory && fs.existsSync(`${file}-wal`)) this.walFd = fs.openSync(`${file}-wal`, "r");
    const wal = this.walFd === undefined ? undefined : identityOf(this.walFd);
    this.files = new FileWatch(db, file, "AS", "receipts", wal);
  }

  /** With a key: check it against the database's key check, or record one and encrypt plaintext secrets. */
  private adoptKey(): void {
    const check = this.db.prepare("SELECT value FROM meta WHERE key = 'key_check'").get() as
      { value: string } | undefined;
    if (check !== undefined) {
      if (this.decrypt(check.value, "meta") !== KEY_CHECK)
        throw new UserError(`AS_SECRET_KEY does not decrypt the device secrets of ${this.file}: wrong key`);
      return;
    }
    const rows = this.db.prepare("SELECT device_id, secret FROM devices").all() as {
      device_id: string;
      secret: string;
    }[];
    const update = this.db.prepare("UPDATE devices SET secret = ? WHERE device_id = ?");
    this.db.transaction(() => {
      this.db.prepare("INSERT INTO meta (key, value) VALUES ('key_check', ?)").run(this.encrypt(KEY_CHECK, "meta"));
      for (const r of rows)
        if (!r.secret.startsWith(ENCRYPTED)) update.run(this.encrypt(r.secret, r.device_id), r.device_id);
    })();
  }

  private encrypt(plain: string, aad: string): string {
    return encryptSecret(this.secretKey, plain, aad);
  }

  private decrypt(stored: string, aad: string): string {
    return decryptSecret(this.secretKey, this.file, stored, aad);
  }

  close(): void {
    this.db.close();
    // An fsync still running keeps its descriptor; the last one to finish closes it.
    if (this.walFd !== undefined) {
      if (!this.syncing) fs.closeSync(this.walFd);
      else this.closeWhenSynced = this.walFd;
      this.walFd = undefined;
    }
    if (this.file === ":memory:" || this.lost !== undefined) return;
    const pidFile = `${this.file}.pid`;
    try {
      if ((JSON.parse(fs.readFileSync(pidFile, "utf8")) as { pid: number }).pid === process.pid) fs.rmSync(pidFile);
    } catch {
      // already gone
    }
  }

  /**
   * A real write, for health checks: one row of a `health` table, made durable by the group commit (its fsync
   * runs off the event loop, shared with the receipts'). Rejects when the database cannot be written
   * (read-only, locked, disk full: `code` is SQLite's), or the store was lost (code STORE_LOST: its database
   * or WAL deleted or replaced, or an fsync failed).
   */
  probeWrite(): Promise<void> {
    const write = (): void => {
      this.db.exec("CREATE TABLE IF NOT EXISTS health (id INTEGER PRIMARY KEY, at INTEGER NOT NULL)");
      this.db.prepare("INSERT OR REPLACE INTO health (id, at) VALUES (1, ?)").run(Date.now());
    };
    return this.enqueue({ write }).catch((error: Error) => {
      const code = error instanceof StoreLost ? "STORE_LOST" : (error.cause as { code?: unknown } | undefined)?.code;
      throw Object.assign(error, { code });
    });
  }

  upsertDevice(d: DeviceRecord): void {
    this.db
      .prepare(
        "INSERT INTO devices (device_id, secret, price, counter, acked) VALUES (?, ?, ?, ?, ?) ON CONFLICT(device_id) DO UPDATE SET secret = excluded.secret, price = excluded.price",
      )
      .run(d.deviceId, this.encrypt(d.secret, d.deviceId), d.price.toString(), d.counter, d.acked ?? 0);
  }

  devices(): DeviceRecord[] {
    return (
      this.db.prepare("SELECT device_id, secret, price, counter, acked, voided FROM devices").all() as {
        device_id: string;
        secret: string;
        price: string;
        counter: number;
        acked: number;
        voided: number;
      }[]
    ).map((r) => ({
      deviceId: r.device_id,
      secret: this.decrypt(r.secret, r.device_id),
      price: BigInt(r.price),
      counter: r.counter,
      acked: r.acked,
      voided: r.voided,
    }));
  }

  /** Records a device's acknowledged window base (every counter below it was used) and raises its counter to
   * `counter` (default the base: the device used nothing below it that the AS may issue again), in the next
   * group commit: resolves once durable, rejects with a {@link StoreUnavailable} if it could not be stored. */
  setAcked(deviceId: string, acked: number, counter = acked): Promise<void> {
    return this.enqueue({ write: () => this.setAckedRow.run(acked, Math.max(acked, counter), deviceId) });
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

  /** A value of the `meta` table (e.g. the chain follower's last block), or undefined. */
  meta(key: string): string | undefined {
    return (this.db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined)?.value;
  }

  /** Saves channels and a `meta` value in one transaction (the follower's changes and its cursor). */
  saveChannelsAndMeta(channels: readonly ChannelRecord[], key: string, value: string): void {
    this.db.transaction(() => {
      for (const c of channels) this.saveChannel(c);
      this.db
        .prepare("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
        .run(key, value);
    })();
  }

  channels(): ChannelRecord[] {
    return (this.db.prepare("SELECT * FROM channels").all() as ChannelRow[]).map(toChannel);
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

  /** The stored receipt of a channel at `amount`, or undefined. */
  receipt(channelId: string, amount: bigint): StoredReceipt | undefined {
    const row = this.db
      .prepare("SELECT * FROM receipts WHERE channel_id = ? AND amount = ?")
      .get(channelId.toLowerCase(), amount.toString()) as ReceiptRow | undefined;
    return row === undefined ? undefined : toReceipt(row);
  }

  /** Receipts stored (in memory: no query). */
  receiptCount(): number {
    return this.receipts;
  }

  /**
   * Queues a receipt and its device's counter advance; resolves once both are on disk (written, and the WAL
   * fsynced after the write). If they cannot be
   * stored, `undo` is called (synchronously, newest first, before anything else runs: the caller gives back
   * what it reserved: the best receipt, and one counter of the device) and the promise rejects with a
   * {@link StoreUnavailable}. Each receipt is written in its own savepoint: a failing one fails only itself
   * and the receipts queued after it on the same channel (they build on its amount), not the rest of the
   * batch. Receipts of the same device are queued in counter order; a later one takes the counter a failed
   * one gave back (`receipt.otpCounter` is lowered before it is written), so counters never have gaps.
   */
  commit(
    receipt: StoredReceipt,
    undo: () => void = () => undefined,
    o: { voided?: number; stale?: () => boolean } = {},
  ): Promise<void> {
    return this.enqueue({ receipt, undo, ...o });
  }

  private enqueue(job: Omit<Job, "done" | "undo"> & { undo?: () => void }): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({
        ...job,
        undo: job.undo ?? (() => undefined),
        done: (error) => (error === undefined ? resolve() : reject(error)),
      });
      // While an fsync runs, the queue waits for it (its end flushes).
      if (!this.scheduled && !this.syncing) {
        this.scheduled = true;
        // 0: after this turn of the event loop (every request it parsed joins); while the fsync then runs,
        // the next ones gather on their own.
        if (this.groupCommitMs === 0) setImmediate(() => this.flush());
        else setTimeout(() => this.flush(), this.groupCommitMs);
      }
    });
  }

  /** Throws a {@link StoreLost} (and stops the store for good) if the database file or its WAL was deleted or
   * replaced while open (a lost WAL's receipts are first saved into the database file: {@link lostFiles}). */
  checkPresent(): void {
    try {
      if (this.lost === undefined) this.files.check();
    } catch (error) {
      this.lost = (error as Error).message;
    }
    if (this.lost !== undefined) throw new StoreLost(this.lost);
  }

  private write(receipt: StoredReceipt, voided: number): void {
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
    this.setCounter.run(receipt.otpCounter + 1, voided, receipt.deviceId);
  }

  /**
   * Writes the queued receipts in one transaction, then makes them durable with one fsync of the WAL in
   * libuv's thread pool, so the event loop keeps serving while the disk syncs (a blocking fsync took it
   * 7 ms per group commit). The transaction runs with synchronous=NORMAL: its frames are written to the
   * WAL (safe from a crash of the process at once) but not synced; the jobs resolve only after our fsync,
   * which covers every frame written before it started. NORMAL still syncs the WAL before a checkpoint
   * and the database after it, so no receipt synced earlier is ever at risk. Every other write of the
   * store stays synchronous=FULL.
   */
  private flush(): void {
    this.scheduled = false;
    if (this.syncing || this.queue.length === 0) return; // the running fsync's end flushes
    const batch = this.queue;
    this.queue = [];
    const failed = new Map<Job, Error>();
    const deferSync = this.walFd !== undefined;
    try {
      this.checkPresent();
      if (deferSync) this.db.pragma("synchronous = NORMAL");
      writeBatch(this.db, batch, this.writes, failed);
    } catch (error) {
      for (const job of batch) failed.set(job, error as Error);
    } finally {
      if (deferSync) this.db.pragma("synchronous = FULL");
    }
    this.receipts += batch.filter((job) => job.receipt !== undefined && !failed.has(job)).length;
    // Undo newest first, so each channel and device is back at its last durable value.
    for (let i = batch.length - 1; i >= 0; i--) if (failed.has(batch[i])) batch[i].undo();
    const written: Job[] = [];
    for (const job of batch) {
      const error = failed.get(job);
      if (error === undefined) written.push(job);
      else if (error instanceof CounterUsed) job.done(error);
      else {
        this.lastError = error;
        job.done(error instanceof StoreUnavailable ? error : new StoreUnavailable(error.message, { cause: error }));
      }
    }
    if (written.length === 0) return;
    if (!deferSync) {
      for (const job of written) job.done();
      return;
    }
    this.sync(this.walFd!, written);
  }

  /**
   * One fsync of the WAL for the jobs just written. While it runs, new jobs queue (no timer, no write):
   * when it returns, they are written and synced together at once. At most one fsync is in flight, so a
   * slow disk makes the batches larger, not the syncs more (each transaction rewrites its pages in the WAL).
   */
  private sync(fd: number, jobs: Job[]): void {
    this.syncing = true;
    fs.fdatasync(fd, (error) => {
      this.syncing = false;
      let failure: StoreLost | undefined;
      if (error !== null) {
        // The receipts are written but may not be on disk: nothing more is sold (an fsync that failed cannot
        // be retried safely), and their clients are told so: the receipt may be paid by a close.
        this.lastError = error;
        this.lost = `AS database ${this.file} could not be synced to disk (${error.code ?? "error"})`;
        failure = new StoreLost(this.lost, true);
      }
      for (const job of jobs) job.done(failure);
      if (this.queue.length > 0) this.flush();
      else if (this.closeWhenSynced === fd) {
        fs.closeSync(fd);
        this.closeWhenSynced = undefined;
      }
    });
  }
}
