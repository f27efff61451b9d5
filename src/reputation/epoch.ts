import type { TypedDataDomain } from "ethers";
import { reportDigest } from "../eip712/report";
import { MerkleTree, rootFromProof } from "../merkle/tree";
import { leafBuffer, reportLeaf } from "./leaf";
import { aggregate } from "./model";
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
 * The auditor's store keeps each report's leaf and hands them over already sorted (`sortedLeaves`, one
 * per report); they are then only checked for order, not hashed again.
 */
export function buildEpoch<T extends EpochReport>(
  reports: readonly T[],
  reference: number,
  params: ModelParams,
  sortedLeaves?: readonly Buffer[],
): BuiltEpoch<T> {
  if (reports.length === 0) throw new Error("an epoch needs at least one report");
  let ordered: T[];
  let leaves: Buffer[];
  if (sortedLeaves === undefined) {
    const keyed = reports.map((r) => ({ r, leaf: leafBuffer(r.digest) }));
    keyed.sort((a, b) => Buffer.compare(a.leaf, b.leaf));
    ordered = keyed.map((k) => k.r);
    leaves = keyed.map((k) => k.leaf);
  } else {
    if (sortedLeaves.length !== reports.length) throw new Error("one leaf per report is needed");
    for (let i = 1; i < sortedLeaves.length; i++)
      if (Buffer.compare(sortedLeaves[i - 1], sortedLeaves[i]) > 0) throw new Error("leaves out of order");
    ordered = reports.slice();
    leaves = sortedLeaves.slice();
  }
  const tree = new MerkleTree(leaves);
  return { root: tree.root, reports: ordered, scores: aggregate(ordered, reference, params), tree };
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
