/**
 * The SQLite files of a long-running service (the AS, the auditor): whether they are still the files it
 * opened. A database deleted or replaced under a running service would otherwise take every later write
 * with it, silently, at the next restart.
 */
import fs from "node:fs";

import type Database from "better-sqlite3";

export interface FileIdentity {
  dev: number;
  ino: number;
}

/** The identity of a file (by path or open descriptor), or undefined when the path does not exist. */
export function identityOf(file: string | number): FileIdentity | undefined {
  try {
    const st = typeof file === "number" ? fs.fstatSync(file) : fs.statSync(file);
    return { dev: st.dev, ino: st.ino };
  } catch {
    return undefined;
  }
}

export function sameFile(file: string, identity: FileIdentity): boolean {
  const now = identityOf(file);
  return now !== undefined && now.dev === identity.dev && now.ino === identity.ino;
}

/**
 * Why the database's files are no longer those it opened (deleted or replaced), or undefined; `service` and
 * `held` name the service and what its WAL holds in the message. A WAL lost so held every write since the last checkpoint, and SQLite still has it open: it is checkpointed into
 * the database file (synced after, as every checkpoint) at once, so a crash now loses nothing acknowledged.
 */
export function lostFiles(
  db: Database.Database,
  file: string,
  identity: FileIdentity,
  wal: FileIdentity | undefined,
  service = "AS",
  held = "receipts",
): string | undefined {
  const lost = (name: string) => `${service} database ${name} was deleted or replaced while the ${service} was running`;
  if (!sameFile(file, identity)) return lost(file);
  if (wal === undefined || sameFile(`${file}-wal`, wal)) return undefined;
  let saved = false;
  try {
    const [r] = db.pragma("wal_checkpoint(FULL)") as { busy: number; log: number; checkpointed: number }[];
    saved = r.busy === 0 && r.checkpointed === r.log;
  } catch {
    // not saved: said below
  }
  return `${lost(`${file}-wal`)}; the ${held} it held ${saved ? "were" : "could not all be"} saved into ${file}`;
}

/**
 * A service's database was deleted or replaced while it ran (see {@link lostFiles}): it writes nothing more
 * until an operator restarts it on the right database. `code` is what `/health` reports.
 */
export class DatabaseLost extends Error {
  readonly code = "STORE_LOST";
}

/**
 * Watches a service's database file and its WAL from the moment it opened them: `check()` throws a
 * {@link DatabaseLost} (for good, once seen) when either was deleted or replaced. An in-memory database is
 * never lost.
 */
export class FileWatch {
  private readonly identity?: FileIdentity;
  private wal?: FileIdentity;
  private lost?: string;

  constructor(
    private readonly db: Database.Database,
    private readonly file: string,
    private readonly service: string,
    private readonly held: string,
    /** The WAL's identity when the caller has it open (the AS fsyncs through it); default: by its path now. */
    wal?: FileIdentity,
  ) {
    if (file === ":memory:") return;
    this.identity = identityOf(file);
    this.wal = wal ?? identityOf(`${file}-wal`);
  }

  check(): void {
    if (this.lost === undefined && this.identity !== undefined) {
      this.wal ??= identityOf(`${this.file}-wal`);
      this.lost = lostFiles(this.db, this.file, this.identity, this.wal, this.service, this.held);
    }
    if (this.lost !== undefined) throw new DatabaseLost(this.lost);
  }
}
