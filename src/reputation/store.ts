import fs from "node:fs";
import path from "node:path";

import Database from "better-sqlite3";

import type { ReportMessage } from "../eip712/report";
import type { EpochReport } from "./epoch";
import { leafBuffer } from "./leaf";
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
      CREATE INDEX IF NOT EXISTS reports_by_time ON reports (timestamp);
      CREATE TABLE IF NOT EXISTS epochs (
        epoch INTEGER PRIMARY KEY, reference INTEGER NOT NULL, model TEXT NOT NULL, root TEXT NOT NULL, reports INTEGER NOT NULL,
        scores TEXT NOT NULL, tx_hashes TEXT NOT NULL, gas_used TEXT NOT NULL, rewarded INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS epoch_reports (
        epoch INTEGER NOT NULL, position INTEGER NOT NULL, digest TEXT NOT NULL, PRIMARY KEY (epoch, position));
    `);
    this.insert = this.db.prepare(
      "INSERT INTO reports (digest, reporter, subject, interaction, rating, timestamp, signature, evidence, leaf) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    );
    this.reports = (this.db.prepare("SELECT COUNT(*) AS n FROM reports").get() as { n: number }).n;
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
    this.insertOne(r);
    this.reports++;
  }

  /** Stores many reports in one transaction (all or none). */
  addMany(reports: readonly StoredReport[]): void {
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
   * What an epoch needs of the reports with from ≤ timestamp ≤ to, in leaf order (SQLite sorts), with their
   * leaves: the input of `buildEpoch` without hashing anything again.
   */
  epochInput(from: number, to: number): { reports: EpochReport[]; leaves: Buffer[] } {
    const rows = this.db
      .prepare(
        "SELECT digest, reporter, subject, rating, timestamp, leaf FROM reports WHERE timestamp >= ? AND timestamp <= ? ORDER BY leaf",
      )
      .raw()
      .all(from, to) as [string, string, string, number, number, Buffer][];
    const reports: EpochReport[] = new Array<EpochReport>(rows.length);
    const leaves: Buffer[] = new Array<Buffer>(rows.length);
    rows.forEach(([digest, reporterId, subjectId, rating, timestamp, leaf], i) => {
      reports[i] = { digest, reporterId, subjectId, rating, timestamp };
      leaves[i] = leaf;
    });
    return { reports, leaves };
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
    this.db.transaction(() => {
      this.db
        .prepare(
          "INSERT INTO epochs (epoch, reference, model, root, reports, scores, tx_hashes, gas_used, rewarded) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        );
      const row = this.db.prepare("INSERT INTO epoch_reports (epoch, position, digest) VALUES (?, ?, ?)");
      digests.forEach((d, i) => row.run(record.epoch, i, d));
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
    };
  }

  epochs(): number[] {
    return (this.db.prepare("SELECT epoch FROM epochs ORDER BY epoch").all() as { epoch: number }[]).map(
      (r) => r.epoch,
    );
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
