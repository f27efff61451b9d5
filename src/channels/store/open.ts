import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import Database from "better-sqlite3";

import { UserError } from "../../errors";
import type { AsStoreOptions } from "./records";

/** Creates the database file when asked (0600, in a 0700 directory) and makes its files 0600. */
export function prepareFile(file: string, options: AsStoreOptions): void {
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

/** Opens the database in WAL mode and takes its exclusive lock, or throws a one-line error naming why not. */
export function openDatabase(file: string): Database.Database {
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
      throw new UserError(`AS database ${file} is in use by ${holder(file)}; one AS per database: stop it first`);
    if (code.startsWith("SQLITE_READONLY") || code.startsWith("SQLITE_CANTOPEN") || code === "SQLITE_PERM")
      throw new UserError(`AS database ${file} cannot be opened for writing (read-only file or directory?)`);
    throw new UserError(`AS database ${file} cannot be opened: ${(error as Error).message}`);
  }
  return db;
}

/** Throws (closing `db`) if the file holds no AS tables. */
export function checkTables(db: Database.Database, file: string): void {
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

/** Writes `<db>.pid`, naming this process as the lock's holder (0600). */
export function writePidFile(file: string): void {
  const pidFile = `${file}.pid`;
  fs.writeFileSync(pidFile, JSON.stringify({ pid: process.pid, host: os.hostname(), since: new Date() }), {
    mode: 0o600,
  });
  fs.chmodSync(pidFile, 0o600);
}

/** Creates the AS's tables if missing, and adds the columns added later to a database from before. */
export function createSchema(db: Database.Database): void {
  db.exec(`
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
  const columns = (db.prepare("PRAGMA table_info(devices)").all() as { name: string }[]).map((c) => c.name);
  if (!columns.includes("acked")) db.exec("ALTER TABLE devices ADD COLUMN acked INTEGER NOT NULL DEFAULT 0");
  // Added later: a database from before opens, its devices with nothing voided.
  if (!columns.includes("voided")) db.exec("ALTER TABLE devices ADD COLUMN voided INTEGER NOT NULL DEFAULT 0");
}

/** Who holds the database's lock, from its pid file (best effort: only for the error message). */
export function holder(file: string): string {
  try {
    const info = JSON.parse(fs.readFileSync(`${file}.pid`, "utf8")) as { pid: number; host: string };
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
