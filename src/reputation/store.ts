import fs from "node:fs";
import path from "node:path";

import Database from "better-sqlite3";

import { FileWatch } from "../db/files";
import { rootFromProof } from "../merkle/tree";
import type { ReportMessage } from "../eip712/report";
import { ColumnsBuilder } from "./columns";
import type { ReportColumns } from "./columns";
import { leafBuffer } from "./leaf";
import { EpochTrees } from "./trees";
import type { ModelParams } from "./model";

/** A report the auditor accepted: the signed message, its digest, and the two signatures. */
export interface StoredReport extends Omit<ReportMessage, "timestamp"> {
  timestamp: number;
  digest: string;
  signature: string;
  /** The subject's identity claim over the interaction challenge. */
  evidence: string;
}

/** An epoch the auditor submitted. */
export interface EpochRecord {
  epoch: number;
  /** The time the model decayed reports to (the epoch's first second). */
  reference: number;
  model: ModelParams;
  root: string;
  reports: number;
  /** Entries sent to the chain: device, score, trend. */
  scores: { deviceId: string; score: number; trend: number }[];
  txHashes: string[];
  gasUsed: string;
  rewarded: number;
  /**
   * Recorded before its first transaction was sent, and not all of its scores are known to have landed
   * yet (a crash or a refused batch came between): the next run resumes it with the same reports and root.
   */
  pending?: boolean;
}

/** What a run of an epoch's batches landed on chain, added to the epoch's record. */
export interface LandedBatches {
  scores: EpochRecord["scores"];
  txHashes: string[];
  gasUsed: bigint;
  rewarded: number;
}

interface ReportRow {
  digest: string;
  reporter: string;
  subject: string;
  interaction: string;
  rating: number;
  timestamp: number;
  signature: string;
  evidence: string;
}

/** Thrown when a report repeats one already stored (same digest, or the same reporter, subject and interaction). */
export class DuplicateReport extends Error {}

/**
 * The auditor's durable state in SQLite: every accepted report, and each submitted epoch with the digests
 * of the reports it used (in leaf order), so its Merkle proofs and scores can be served and recomputed
 * later. A (reporter, subject, interaction) triple is unique: one report per interaction.
 */
export class ReportStore {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  /** Every write first checks that the database and its WAL are still the files opened (else DatabaseLost). */
  private readonly files: FileWatch;
  /** Each submitted epoch's Merkle tree, built once from its stored leaves (see {@link EpochTrees}). */
  private readonly trees: EpochTrees;
  /** Reports stored: counted once on open, then kept in memory (/health reads it on every call). */
  private reports: number;

  constructor(file: string) {
    if (file !== ":memory:") fs.mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = FULL");
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS reports (
        digest TEXT PRIMARY KEY, reporter TEXT NOT NULL, subject TEXT NOT NULL, interaction TEXT NOT NULL,
        rating INTEGER NOT NULL, timestamp INTEGER NOT NULL, signature TEXT NOT NULL, evidence TEXT NOT NULL,
        leaf BLOB NOT NULL, UNIQUE (reporter, subject, interaction));
      -- Every column an epoch reads, so its reports come from this index alone (replaces reports_by_time;
      -- a database made before gets it, once, when opened).
      CREATE INDEX IF NOT EXISTS reports_for_epochs ON reports (timestamp, reporter, subject, rating, leaf);
      DROP INDEX IF EXISTS reports_by_time;
      CREATE TABLE IF NOT EXISTS epochs (
        epoch INTEGER PRIMARY KEY, reference INTEGER NOT NULL, model TEXT NOT NULL, root TEXT NOT NULL, reports INTEGER NOT NULL,
        scores TEXT NOT NULL, tx_hashes TEXT NOT NULL, gas_used TEXT NOT NULL, rewarded INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS epoch_reports (
        epoch INTEGER NOT NULL, position INTEGER NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (epoch, position));
      CREATE INDEX IF NOT EXISTS epoch_reports_by_digest ON epoch_reports (epoch, digest);
    `);
    const epochColumns = (this.db.prepare("PRAGMA table_info(epochs)").all() as { name: string }[]).map((c) => c.name);
    if (!epochColumns.includes("pending"))
      this.db.exec("ALTER TABLE epochs ADD COLUMN pending INTEGER NOT NULL DEFAULT 0");
    this.insert = this.db.prepare(
      "INSERT INTO reports (digest, reporter, subject, interaction, rating, timestamp, signature, evidence, leaf) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    );
    this.reports = (this.db.prepare("SELECT COUNT(*) AS n FROM reports").get() as { n: number }).n;
    this.files = new FileWatch(this.db, file, "auditor", "reports");
    this.trees = new EpochTrees(file === ":memory:" ? undefined : `${file}.epochs`, (epoch) => this.epochLeaves(epoch));
  }

  close(): void {
    this.trees.close();
    this.db.close();
  }

  /**
   * A real write, for health checks: one row of a `health` table, in its own transaction. Throws when the
   * database cannot be written (read-only, locked, disk full) or was lost (a {@link DatabaseLost}, code
   * STORE_LOST: its file or WAL deleted or replaced while running).
   */
  probeWrite(): void {
    this.files.check();
    this.db.exec("CREATE TABLE IF NOT EXISTS health (id INTEGER PRIMARY KEY, at INTEGER NOT NULL)");
    this.db.prepare("INSERT OR REPLACE INTO health (id, at) VALUES (1, ?)").run(Date.now());
  }

  /** True when a report with this digest, or for the same reporter, subject and interaction, is stored. */
  has(r: Pick<StoredReport, "digest" | "reporterId" | "subjectId" | "interaction">): boolean {
    return (
      this.db
        .prepare("SELECT 1 FROM reports WHERE digest = ? OR (reporter = ? AND subject = ? AND interaction = ?)")
        .get(r.digest, r.reporterId, r.subjectId, r.interaction) !== undefined
    );
  }

  /**
   * Stores a report durably, with its leaf (hashed once here, so an epoch over many reports only sorts and
   * builds the tree); a repeat throws {@link DuplicateReport} and changes nothing.
   */
  add(r: StoredReport): void {
    this.files.check();
    this.insertOne(r);
    this.reports++;
  }

  /** Stores many reports in one transaction (all or none). */
  addMany(reports: readonly StoredReport[]): void {
    this.files.check();
    this.db.transaction(() => reports.forEach((r) => this.insertOne(r)))();
    this.reports += reports.length;
  }

  private insertOne(r: StoredReport): void {
    try {
      this.insert.run(
        r.digest,
        r.reporterId,
        r.subjectId,
        r.interaction,
        r.rating,
        r.timestamp,
        r.signature,
        r.evidence,
        leafBuffer(r.digest),
      );
    } catch (error) {
      if ((error as { code?: string }).code?.startsWith("SQLITE_CONSTRAINT") === true)
        throw new DuplicateReport(`report ${r.digest} repeats a stored one`);
      throw error;
    }
  }

  /** Reports stored (in memory: no query). */
  count(): number {
    return this.reports;
  }

  /** Reports with from ≤ timestamp ≤ to. */
  reportsBetween(from: number, to: number): StoredReport[] {
    const rows = this.db
      .prepare(
        "SELECT digest, reporter, subject, interaction, rating, timestamp, signature, evidence FROM reports WHERE timestamp >= ? AND timestamp <= ?",
      )
      .all(from, to) as ReportRow[];
    return rows.map(fromRow);
  }

  /**
   * What an epoch needs of the reports with from ≤ timestamp ≤ to, as columns with their leaves (hashed at
   * intake), in time order: the input of `buildEpochColumns`, which sorts them by leaf. Read from the index
   * `reports_for_epochs` alone (it holds every column read), never from the table's rows, and not sorted
   * by SQLite; in chunks of about `chunk` rows, each one call (one row per call costs more), a chunk ending
   * before its last second so the next starts there, in one read transaction.
   */
  epochInput(from: number, to: number, chunk = 1_000): ReportColumns {
    const columns = new ColumnsBuilder(1 << 16);
    const select = `SELECT reporter, subject, rating, timestamp, leaf, rowid FROM reports INDEXED BY reports_for_epochs`;
    type Row = [string, string, number, number, Buffer, number];
    const next = this.db.prepare(`${select} WHERE timestamp >= ? AND timestamp <= ? ORDER BY timestamp LIMIT ?`).raw();
    const second = this.db.prepare(`${select} WHERE timestamp = ?`).raw();
    const take = (rows: Row[], end = rows.length) => {
      for (let i = 0; i < end; i++) columns.add(rows[i][0], rows[i][1], rows[i][2], rows[i][3], rows[i][4], rows[i][5]);
    };
    this.db.transaction(() => {
      for (let at = from; at <= to;) {
        const rows = next.all(at, to, chunk) as Row[];
        if (rows.length < chunk) return take(rows);
        const last = rows[rows.length - 1][3];
        if (rows[0][3] === last) {
          // A whole chunk in one second: that second's rows at once, then the next second.
          take(second.all(last) as Row[]);
          at = last + 1;
        } else {
          let end = rows.length;
          while (rows[end - 1][3] === last) end--;
          take(rows, end);
          at = last;
        }
      }
    })();
    return columns.finish();
  }

  /** The digests of the reports at these rowids (an epoch's `rows`), in the order given. */
  digestsAt(rows: ArrayLike<number>): string[] {
    const read = this.db.prepare("SELECT digest FROM reports WHERE rowid = ?").pluck();
    return Array.from(rows, (row) => {
      const digest = read.get(row) as string | undefined;
      if (digest === undefined) throw new Error(`report row ${row} is no longer stored`);
      return digest;
    });
  }

  report(digest: string): StoredReport | undefined {
    const row = this.db
      .prepare(
        "SELECT digest, reporter, subject, interaction, rating, timestamp, signature, evidence FROM reports WHERE digest = ?",
      )
      .get(digest.toLowerCase()) as ReportRow | undefined;
    return row === undefined ? undefined : fromRow(row);
  }

  saveEpoch(record: EpochRecord, digests: readonly string[]): void {
    this.files.check();
    this.db.transaction(() => {
      this.db
        .prepare(
          "INSERT INTO epochs (epoch, reference, model, root, reports, scores, tx_hashes, gas_used, rewarded, pending) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .run(
          record.epoch,
          record.reference,
          JSON.stringify(record.model),
          record.root,
          record.reports,
          JSON.stringify(record.scores),
          JSON.stringify(record.txHashes),
          record.gasUsed,
          record.rewarded,
          record.pending === true ? 1 : 0,
        );
      const row = this.db.prepare("INSERT INTO epoch_reports (epoch, position, digest) VALUES (?, ?, ?)");
      digests.forEach((d, i) => row.run(record.epoch, i, d));
    })();
  }

  /**
   * Adds what a run landed to a recorded epoch, in one transaction; `done`: every score it had to submit is
   * on chain (the epoch is no longer pending).
   */
  recordBatches(epoch: number, landed: LandedBatches, done: boolean): void {
    this.files.check();
    this.db.transaction(() => {
      const record = this.epoch(epoch);
      if (record === undefined) throw new Error(`epoch ${epoch} is not recorded`);
      this.db
        .prepare("UPDATE epochs SET scores = ?, tx_hashes = ?, gas_used = ?, rewarded = ?, pending = ? WHERE epoch = ?")
        .run(
          JSON.stringify([...record.scores, ...landed.scores]),
          JSON.stringify([...record.txHashes, ...landed.txHashes]),
          (BigInt(record.gasUsed) + landed.gasUsed).toString(),
          record.rewarded + landed.rewarded,
          done ? 0 : 1,
          epoch,
        );
    })();
  }

  epoch(epoch: number): EpochRecord | undefined {
    const row = this.db.prepare("SELECT * FROM epochs WHERE epoch = ?").get(epoch) as
      | {
          epoch: number;
          reference: number;
          model: string;
          root: string;
          reports: number;
          scores: string;
          tx_hashes: string;
          gas_used: string;
          rewarded: number;
          pending: number;
        }
      | undefined;
    if (row === undefined) return undefined;
    return {
      epoch: row.epoch,
      reference: row.reference,
      model: JSON.parse(row.model) as ModelParams,
      root: row.root,
      reports: row.reports,
      scores: JSON.parse(row.scores) as EpochRecord["scores"],
      txHashes: JSON.parse(row.tx_hashes) as string[],
      gasUsed: row.gas_used,
      rewarded: row.rewarded,
      ...(row.pending === 1 ? { pending: true } : {}),
    };
  }

  /** Whether this auditor recorded `epoch` (one indexed lookup). */
  hasEpoch(epoch: number): boolean {
    return this.db.prepare("SELECT 1 FROM epochs WHERE epoch = ?").get(epoch) !== undefined;
  }

  epochs(): number[] {
    return (this.db.prepare("SELECT epoch FROM epochs ORDER BY epoch").all() as { epoch: number }[]).map(
      (r) => r.epoch,
    );
  }

  /**
   * A report's position in a submitted epoch's leaves and the Merkle proof at that position, or undefined
   * when the epoch or the report in it is unknown. The epoch's tree is built once, from its stored leaves
   * (no scoring), and kept ({@link EpochTrees}). Every proof is checked against the
   * report's own leaf and the root recorded before the epoch was sent: a damaged tree file is rebuilt, and
   * a wrong proof is never served.
   */
  epochProof(epoch: number, digest: string): { root: string; index: number; proof: string[] } | undefined {
    const row = this.db.prepare("SELECT root FROM epochs WHERE epoch = ?").get(epoch) as { root: string } | undefined;
    if (row === undefined) return undefined;
    const at = this.db
      .prepare("SELECT position FROM epoch_reports WHERE epoch = ? AND digest = ?")
      .get(epoch, digest.toLowerCase()) as { position: number } | undefined;
    if (at === undefined) return undefined;
    const leaf = `0x${leafBuffer(digest.toLowerCase()).toString("hex")}`;
    for (const rebuild of [false, true]) {
      const proof = this.trees.get(epoch, rebuild).proof(at.position);
      if (rootFromProof(leaf, proof) === row.root) return { root: row.root, index: at.position, proof };
    }
    throw new Error(
      `epoch ${epoch}'s stored reports no longer hash to its recorded root ${row.root}: the database was changed`,
    );
  }

  /** An epoch's leaves, in leaf order. */
  private epochLeaves(epoch: number): Buffer[] {
    const rows = this.db
      .prepare(
        "SELECT r.leaf FROM epoch_reports e JOIN reports r ON r.digest = e.digest WHERE e.epoch = ? ORDER BY e.position",
      )
      .all(epoch) as { leaf: Buffer }[];
    return rows.map((r) => r.leaf);
  }

  /** The reports an epoch used, in leaf order. */
  epochReports(epoch: number): StoredReport[] {
    const rows = this.db
      .prepare(
        "SELECT r.digest, r.reporter, r.subject, r.interaction, r.rating, r.timestamp, r.signature, r.evidence FROM epoch_reports e JOIN reports r ON r.digest = e.digest WHERE e.epoch = ? ORDER BY e.position",
      )
      .all(epoch) as ReportRow[];
    return rows.map(fromRow);
  }
}

function fromRow(row: ReportRow): StoredReport {
  return {
    digest: row.digest,
    reporterId: row.reporter,
    subjectId: row.subject,
    interaction: row.interaction,
    rating: row.rating,
    timestamp: row.timestamp,
    signature: row.signature,
    evidence: row.evidence,
  };
}
