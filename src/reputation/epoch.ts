import type { TypedDataDomain } from "ethers";
import { reportDigest } from "../eip712/report";
import { MerkleTree, NODE_BYTES, rootFromProof } from "../merkle/tree";
import { ColumnsBuilder, leafOrder } from "./columns";
import type { ReportColumns } from "./columns";
import { leafBuffer, reportLeaf } from "./leaf";
import { aggregateColumns } from "./model";
import type { ModelParams, RatedReport, SubjectScore } from "./model";
import type { StoredReport } from "./store";

/** What an epoch needs of a report: the model's fields and the digest its leaf is made from. */
export type EpochReport = RatedReport & { digest: string };

export interface BuiltEpoch<T extends EpochReport> {
  root: string;
  /** The reports, in leaf order (ascending leaf). */
  reports: T[];
  scores: Map<string, SubjectScore>;
  tree: MerkleTree;
}

/**
 * Builds an epoch from the reports it uses: sorts them by leaf (a canonical order, so the root and the
 * floating-point sums are the same wherever it is recomputed), builds the tree and scores the subjects.
 */
export function buildEpoch<T extends EpochReport>(
  reports: readonly T[],
  reference: number,
  params: ModelParams,
): BuiltEpoch<T> {
  if (reports.length === 0) throw new Error("an epoch needs at least one report");
  const columns = new ColumnsBuilder(reports.length);
  for (const r of reports) columns.add(r.reporterId, r.subjectId, r.rating, r.timestamp, leafBuffer(r.digest));
  const built = buildEpochColumns(columns.finish(), reference, params);
  const ordered = Array.from(built.order, (i) => reports[i]);
  return { root: built.root, reports: ordered, scores: built.scores, tree: built.tree };
}

/** An epoch built from its reports as columns: `order[k]` is the report whose leaf is k-th in the tree. */
export interface BuiltColumnsEpoch {
  root: string;
  order: Uint32Array;
  scores: Map<string, SubjectScore>;
  tree: MerkleTree;
}

/**
 * {@link buildEpoch} over reports as columns, with their leaves (the auditor's store reads them so, each
 * leaf hashed once at intake): the same order, root and scores, without an object or string per report.
 */
export function buildEpochColumns(columns: ReportColumns, reference: number, params: ModelParams): BuiltColumnsEpoch {
  const count = columns.reporters.length;
  if (count === 0) throw new Error("an epoch needs at least one report");
  const order = leafOrder(columns.leaves, count);
  const tree = new MerkleTree(permuteLeaves(columns.leaves, order));
  return { root: tree.root, order, scores: aggregateColumns(columns, reference, params, order), tree };
}

/** The packed leaves in `order`, copied a 32-bit word at a time (a `Buffer.copy` per leaf costs more). */
function permuteLeaves(leaves: Buffer, order: Uint32Array): Buffer {
  const words = NODE_BYTES / 4;
  const sorted = Buffer.alloc(order.length * NODE_BYTES);
  const to = new Uint32Array(sorted.buffer, sorted.byteOffset, order.length * words);
  const aligned = leaves.byteOffset % 4 === 0 ? leaves : Buffer.from(leaves);
  const from = new Uint32Array(aligned.buffer, aligned.byteOffset, order.length * words);
  for (let k = 0, at = 0; k < order.length; k++) {
    const start = order[k] * words;
    for (let w = 0; w < words; w++) to[at++] = from[start + w];
  }
  return sorted;
}

/** Checks a report's inclusion proof against an epoch's reports root. */
export function proveInclusion(root: string, digest: string, proof: readonly string[]): boolean {
  return rootFromProof(reportLeaf(digest), proof) === root.toLowerCase();
}

/** What an auditor publishes for an epoch: enough for anyone to recompute its root and scores. */
export interface PublishedEpoch {
  epoch: number;
  reference: number;
  root: string;
  model: ModelParams;
  reports: StoredReport[];
  scores: { deviceId: string; score: number; trend: number }[];
}

export interface EpochCheck {
  ok: boolean;
  root: string;
  problems: string[];
}

/**
 * Recomputes a published epoch: every report's digest from its fields in `domain` (the chain's registry),
 * the root from those digests, and the scores from the model. Any difference is a problem.
 */
export function recomputeEpoch(published: PublishedEpoch, domain: TypedDataDomain): EpochCheck {
  const problems: string[] = [];
  for (const r of published.reports) {
    const digest = reportDigest(domain, { ...r, timestamp: BigInt(r.timestamp) });
    if (digest !== r.digest.toLowerCase()) problems.push(`report ${r.digest}: its fields hash to ${digest}`);
  }
  const built = buildEpoch(published.reports, published.reference, published.model);
  if (built.root !== published.root.toLowerCase())
    problems.push(`reports root: published ${published.root}, recomputed ${built.root}`);
  for (const s of published.scores) {
    const mine = built.scores.get(s.deviceId.toLowerCase());
    if (mine === undefined) problems.push(`device ${s.deviceId}: no report supports a score`);
    else if (mine.score !== s.score || mine.trend !== s.trend)
      problems.push(`device ${s.deviceId}: published ${s.score}/${s.trend}, recomputed ${mine.score}/${mine.trend}`);
  }
  return { ok: problems.length === 0, root: built.root, problems };
}
