import { registryAt } from "../chain/context";
import type { SystemContext } from "../chain/context";
import { readDomain } from "../eip712/domain";
import { ensure } from "../errors";
import { fetchJson } from "../http/client";
import { recomputeEpoch } from "./epoch";
import type { PublishedEpoch } from "./epoch";

export interface EpochVerification {
  epoch: number;
  root: string;
  reports: number;
  scores: number;
  /** True when a `ScoresUpdated` event on chain carries this root for this epoch. */
  onChain: boolean;
  /** The report counts committed on chain with this root (each should equal `reports`). */
  committedReports: number[];
  ok: boolean;
  problems: string[];
}

/** What the auditor at `base` published for `epoch`; an unreachable auditor or a refusal is one line. */
async function fetchEpoch(base: string, epoch: number): Promise<PublishedEpoch> {
  const { ok, status, body } = await fetchJson<PublishedEpoch>("auditor", `${base}/epochs/${epoch}`);
  ensure(ok, `the auditor at ${base} answered ${status}: ${body.error ?? "no reason given"}`);
  return body;
}

/**
 * Anyone's check of an auditor's epoch: fetches what it published, recomputes every report's digest, the
 * reports root and every score, looks for the root in the chain's `ScoresUpdated` events, and checks that
 * the report count committed with it (the bound on the auditor's rewards) is the number of reports published.
 */
export async function verifyPublishedEpoch(ctx: SystemContext, url: string, epoch: number): Promise<EpochVerification> {
  const registry = registryAt(ctx);
  const published = await fetchEpoch(url.replace(/\/+$/, ""), epoch);
  const check = recomputeEpoch(published, await readDomain(registry));
  const events = await registry.queryFilter(registry.filters.ScoresUpdated(undefined, epoch));
  const withRoot = events.filter((e) => e.args.reportsRoot.toLowerCase() === published.root.toLowerCase());
  const onChain = withRoot.length > 0;
  const committedReports = withRoot.map((e) => Number(e.args.reportCount));
  const problems = [...check.problems];
  if (!onChain) problems.push(`no ScoresUpdated event of epoch ${epoch} carries root ${published.root}`);
  for (const count of new Set(committedReports))
    if (count !== published.reports.length)
      problems.push(
        `root ${published.root} was committed on chain with ${count} report(s), but ${published.reports.length} are published`,
      );
  return {
    epoch,
    root: published.root,
    reports: published.reports.length,
    scores: published.scores.length,
    onChain,
    committedReports,
    ok: problems.length === 0,
    problems,
  };
}
