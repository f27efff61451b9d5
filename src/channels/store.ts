import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import Database from "better-sqlite3";

import { UserError } from "../errors";

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
  /** Hex of the shared secret (decrypted; encrypted at rest when the store has a key). */
  secret: string;
  price: bigint;
  /** The next HOTP counter the AS issues. */
  counter: number;
  /** The device's window base as last acknowledged by the device: every counter below it was used. */
  acked?: number;
  /** Codes below this expired unused and were voided by the AS (grants above it carry an advance to it). */
  voided?: number;
}

export interface AsStoreOptions {
  /** Create the database if it does not exist (`as:serve --init`). Default false: a missing database is an
   * error, so a database deleted behind the AS's back is never silently recreated with every counter at 0. */
  create?: boolean;
  /** How long a commit waits for others to share its transaction and fsync (ms). Default 2. */
  groupCommitMs?: number;
  /** 32-byte key (`AS_SECRET_KEY`): device secrets are stored AES-256-GCM encrypted under it. */
  secretKey?: Buffer;
}

/** The `AS_SECRET_KEY` environment value (64 hex characters) as a key; undefined when unset or empty. */
export function secretKeyFrom(value: string | undefined): Buffer | undefined {
  if (value === undefined || value === "") return undefined;
  if (!/^[0-9a-fA-F]{64}$/.test(value)) throw new UserError("AS_SECRET_KEY must be 64 hex characters (32 bytes)");
  return Buffer.from(value, "hex");
}

/** A write the store could not make durable: nothing of it was stored, and the caller's reservation was undone. */
export class StoreUnavailable extends Error {}

/** A receipt not written because its counter turned out used (`stale`): nothing stored, the reservation undone. */
export class CounterUsed extends Error {}

/** A receipt to store, or another write (`write`) made durable by the same group commit. */
interface Job {
  receipt?: StoredReceipt;
  /** With a receipt: the device's voided floor to store with it (durable before its grant's advance). */
  voided?: number;
  /** With a receipt: asked just before it is written; true (its counter is known used now) fails it alone. */
  stale?: () => boolean;
  write?: () => void;
  undo: () => void;
  done: (error?: Error) => void;
}

const ENCRYPTED = "enc1:";
const KEY_CHECK = "thingledger AS secret key check";

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
  /** One job's writes; called inside the batch's transaction, it runs in a savepoint. */
  private readonly writeOne: (job: Job) => void;
  private queue: Job[] = [];
  private scheduled = false;
  private readonly groupCommitMs: number;
  private readonly secretKey?: Buffer;
  private readonly identity?: { dev: number; ino: number };
  /** Why the store stopped accepting writes for good (its file was deleted or replaced), if it did. */
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
    this.groupCommitMs = options.groupCommitMs ?? 2;
    if (options.secretKey !== undefined && options.secretKey.length !== 32)
      throw new UserError("the AS secret key must be 32 bytes (64 hex characters)");
    this.secretKey = options.secretKey;
    const memory = file === ":memory:";
    if (!memory) {
      if (!fs.existsSync(file)) {
        if (options.create !== true)
          throw new UserError(
            `AS database ${file} does not exist; create a new one with --init (never for an AS that has sold codes: its devices' counters would restart at 0)`,
          );
        fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
        fs.writeFileSync(file, "", { mode: 0o600, flag: "wx" });
      }
      for (const f of [file, `${file}-wal`, `${file}-shm`]) if (fs.existsSync(f)) fs.chmodSync(f, 0o600);
    }
    let db: Database.Database | undefined;
    try {
      // A short busy timeout: a lock is answered at once rather than blocking the event loop for 5 s.
      db = new Database(file, { timeout: 0 });
      db.pragma("locking_mode = EXCLUSIVE");
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = FULL");
      // Checkpoint the WAL less often: each checkpoint blocks the event loop on an fsync of the database.
      // (Receipts are committed with synchronous=NORMAL and their WAL frames fsynced off the event loop,
      // see `flush`; NORMAL still syncs the WAL before a checkpoint and the database after it.)
      db.pragma("wal_autocheckpoint = 20000");
      db.exec("BEGIN EXCLUSIVE; COMMIT"); // takes the lock now, and keeps it until close
    } catch (error) {
      db?.close();
      const code = (error as { code?: string }).code ?? "";
      if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"))
        throw new UserError(`AS database ${file} is in use by ${this.holder()}; one AS per database: stop it first`);
      if (code.startsWith("SQLITE_READONLY") || code.startsWith("SQLITE_CANTOPEN") || code === "SQLITE_PERM")
        throw new UserError(`AS database ${file} cannot be opened for writing (read-only file or directory?)`);
      throw new UserError(`AS database ${file} cannot be opened: ${(error as Error).message}`);
    }
    this.db = db;
    if (!memory && options.create !== true) {
      // A file without the AS's tables is not an AS database: most often a copy of `as.sqlite` made without
      // its `-wal` file (where recent state lives until a checkpoint). Starting on it would reissue counters.
      const tables = db
        .prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'devices'")
        .get() as {
        n: number;
      };
      if (tables.n === 0) {
        db.close();
        throw new UserError(
          `AS database ${file} holds no AS tables (a copy made without its -wal file?); restore it together with ${file}-wal, or create a new one with --init (never for an AS that has sold codes)`,
        );
      }
    }
    if (!memory) {
      const st = fs.statSync(file);
      this.identity = { dev: st.dev, ino: st.ino };
      const pidFile = `${file}.pid`;
      fs.writeFileSync(pidFile, JSON.stringify({ pid: process.pid, host: os.hostname(), since: new Date() }), {
        mode: 0o600,
      });
      fs.chmodSync(pidFile, 0o600);
    }
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
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    `);
    const columns = (this.db.prepare("PRAGMA table_info(devices)").all() as { name: string }[]).map((c) => c.name);
    if (!columns.includes("acked")) this.db.exec("ALTER TABLE devices ADD COLUMN acked INTEGER NOT NULL DEFAULT 0");
    // Added later: a database from before opens, its devices with nothing voided.
    if (!columns.includes("voided")) this.db.exec("ALTER TABLE devices ADD COLUMN voided INTEGER NOT NULL DEFAULT 0");
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
    this.writeOne = this.db.transaction((job: Job) =>
      job.receipt === undefined ? job.write?.() : this.write(job.receipt, job.voided ?? 0),
    );
    this.receipts = (this.db.prepare("SELECT COUNT(*) AS n FROM receipts").get() as { n: number }).n;
    if (this.secretKey !== undefined) this.adoptKey();
    // The WAL exists once the schema statements above ran; our own descriptor of it, to fsync it off the
    // event loop. Without one (in memory), receipts are committed with synchronous=FULL.
    if (!memory && fs.existsSync(`${file}-wal`)) this.walFd = fs.openSync(`${file}-wal`, "r");
  }

  /** Who holds the database's lock, from its pid file (best effort: only for the error message). */
  private holder(): string {
    try {
      const info = JSON.parse(fs.readFileSync(`${this.file}.pid`, "utf8")) as { pid: number; host: string };
      if (info.host === os.hostname() && info.pid !== process.pid) {
        try {
          process.kill(info.pid, 0);
          return `another AS (pid ${info.pid})`;
        } catch (error) {
          if ((error as { code?: string }).code === "EPERM") return `another AS (pid ${info.pid})`;
        }
      } else if (info.pid === process.pid) return `this process (pid ${info.pid}, a second store)`;
    } catch {
      // no pid file: not an AS
    }
    return "another process (not an AS of this host: a sqlite3 shell, a backup?)";
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

  /** AES-256-GCM, a fresh 96-bit nonce per secret, the device id as associated data (rows cannot be swapped). */
  private encrypt(plain: string, aad: string): string {
    if (this.secretKey === undefined) return plain;
    const nonce = crypto.randomBytes(12);
    const cipher = crypto.createCipheriv("aes-256-gcm", this.secretKey, nonce);
    cipher.setAAD(Buffer.from(aad));
    const sealed = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
    return `${ENCRYPTED}${nonce.toString("base64")}:${sealed.toString("base64")}:${cipher.getAuthTag().toString("base64")}`;
  }

  private decrypt(stored: string, aad: string): string {
    if (!stored.startsWith(ENCRYPTED)) return stored;
    if (this.secretKey === undefined)
      throw new UserError(`AS database ${this.file} holds encrypted device secrets: set AS_SECRET_KEY`);
    const [nonce, sealed, tag] = stored
      .slice(ENCRYPTED.length)
      .split(":")
      .map((p) => Buffer.from(p, "base64"));
    try {
      const decipher = crypto.createDecipheriv("aes-256-gcm", this.secretKey, nonce);
      decipher.setAAD(Buffer.from(aad));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(sealed), decipher.final()]).toString("utf8");
    } catch {
      throw new UserError(`AS_SECRET_KEY does not decrypt the device secrets of ${this.file}: wrong key`);
    }
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
   * A real write, for health checks: one row of a `health` table, in its own transaction. Throws when the
   * database cannot be written (read-only, locked, disk full) or its file is gone (code ENOENT).
   */
  probeWrite(): void {
    // The same check every commit makes: a database deleted or replaced while running is not healthy.
    try {
      this.checkPresent();
    } catch (error) {
      throw Object.assign(error as Error, { code: "ENOENT" });
    }
    this.db.exec("CREATE TABLE IF NOT EXISTS health (id INTEGER PRIMARY KEY, at INTEGER NOT NULL)");
    this.db.prepare("INSERT OR REPLACE INTO health (id, at) VALUES (1, ?)").run(Date.now());
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
        setTimeout(() => this.flush(), this.groupCommitMs);
      }
    });
  }

  /** Throws (and stops the store for good) if the database file was deleted or replaced while open. */
  checkPresent(): void {
    if (this.lost === undefined && this.identity !== undefined) {
      let st: fs.Stats | undefined;
      try {
        st = fs.statSync(this.file);
      } catch {
        st = undefined;
      }
      if (st === undefined || st.ino !== this.identity.ino || st.dev !== this.identity.dev)
        this.lost = `AS database ${this.file} was deleted or replaced while the AS was running`;
    }
    if (this.lost !== undefined) throw new StoreUnavailable(this.lost);
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
      const channels = new Set<string>();
      const shift = new Map<string, number>();
      if (deferSync) this.db.pragma("synchronous = NORMAL");
      this.db.transaction(() => {
        for (const job of batch) {
          if (job.receipt === undefined) {
            try {
              this.writeOne(job); // in its own savepoint; fails only itself
            } catch (error) {
              failed.set(job, error as Error);
            }
            continue;
          }
          const { channelId, deviceId } = job.receipt;
          const gap = shift.get(deviceId) ?? 0;
          if (job.stale?.() === true) {
            // Its counter was used (the device said so meanwhile): no hole to fill, so no shift.
            failed.set(job, new CounterUsed(`counter ${job.receipt.otpCounter} was used meanwhile`));
            channels.add(channelId);
            continue;
          }
          if (channels.has(channelId)) {
            failed.set(job, new Error("an earlier receipt of its channel failed"));
          } else {
            // Counters stay dense: a failed receipt's counter goes to the next receipt of its device.
            job.receipt.otpCounter -= gap;
            try {
              this.writeOne(job); // in its own savepoint
              continue;
            } catch (error) {
              failed.set(job, error as Error);
            }
          }
          channels.add(channelId);
          shift.set(deviceId, gap + 1);
        }
      })();
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
        job.done(error instanceof StoreUnavailable ? error : new StoreUnavailable(error.message));
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
      if (error !== null) {
        // The receipts are written but may not be on disk: nothing more is sold (an fsync that failed cannot
        // be retried safely), and their clients are told to come back (redelivery serves what survived).
        this.lastError = error;
        this.lost = `AS database ${this.file} could not be synced to disk (${error.code ?? "error"})`;
      }
      for (const job of jobs) job.done(error === null ? undefined : new StoreUnavailable(this.lost));
      if (this.queue.length > 0) this.flush();
      else if (this.closeWhenSynced === fd) {
        fs.closeSync(fd);
        this.closeWhenSynced = undefined;
      }
    });
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
