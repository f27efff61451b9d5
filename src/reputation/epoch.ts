import type { TypedDataDomain } from "ethers";
import keccak from "keccak256";

import { reportDigest } from "../eip712/report";
import { SortedMerkleTree } from "../merkle/tree";
import { rootFromProof } from "../merkle/whitelist";
import { aggregate } from "./model";
import type { ModelParams, SubjectScore } from "./model";
import type { StoredReport } from "./store";

/**
 * A report's leaf in an epoch's reports tree: keccak256(keccak256(digest)), where digest is the report's
 * EIP-712 digest (it binds every field, the chain and the registry). In Solidity:
 * `keccak256(bytes.concat(keccak256(abi.encode(digest))))`. The double hash gives a leaf a 32-byte
 * preimage and an inner node a 64-byte one, so an inner node can never pass for a report.
 */
export function reportLeaf(digest: string): string {
  return `0x${leafBuffer(digest).toString("hex")}`;
}

function leafBuffer(digest: string): Buffer {
  return keccak(keccak(Buffer.from(digest.slice(2), "hex")));
}

export interface BuiltEpoch {
  root: string;
  /** The reports, in leaf order (ascending leaf). */
  reports: StoredReport[];
  leaves: string[];
  scores: Map<string, SubjectScore>;
  tree: SortedMerkleTree;
}

/**
 * Builds an epoch from the reports it uses: sorts them by leaf (a canonical order, so the root and the
 * floating-point sums are the same wherever it is recomputed), builds the tree and scores the subjects.
 */
export function buildEpoch(reports: readonly StoredReport[], reference: number, params: ModelParams): BuiltEpoch {
  if (reports.length === 0) throw new Error("an epoch needs at least one report");
  const keyed = reports.map((r) => ({ r, leaf: leafBuffer(r.digest) }));
  keyed.sort((a, b) => Buffer.compare(a.leaf, b.leaf));
  const tree = new SortedMerkleTree(keyed.map((k) => k.leaf));
  const ordered = keyed.map((k) => k.r);
  return {
    root: tree.root,
    reports: ordered,
    leaves: keyed.map((k) => `0x${k.leaf.toString("hex")}`),
    scores: aggregate(ordered, reference, params),
    tree,
  };
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
