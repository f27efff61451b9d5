import { ZeroAddress } from "ethers";

import type { DeviceRegistry } from "../../typechain-types";
import { DEFAULT_MINED_TIMEOUT_MS, minedWithin, unbounded } from "../chain/mined";
import type { ChainCall } from "../chain/mined";
import { STATUS_NAMES, collectPaidFees, coveringAccounts, uncollectedFees } from "../registry";
import type { FeeCollection } from "../registry";
import { packScores } from "./packed";
import type { SubjectScore } from "./model";

/** One score as `updateScores` takes it. */
export interface ScoreEntry {
  deviceId: string;
  score: number;
  trend: number;
}

/** What {@link submitScores} landed on chain, and the error that stopped it, if any. */
export interface SubmittedScores {
  submitted: number;
  changed: number;
  rewarded: number;
  gasUsed: bigint;
  txHashes: string[];
  /** The fees paid from credit collected into the pool first, when it would have fallen short. */
  collection?: FeeCollection;
  failure?: unknown;
}

/**
 * The scores worth submitting for `epoch`, read 50 subjects at a time: a subject is left out when it is
 * not registered, not active (revoked after its reports came in: the registry would skip it and pay
 * nothing), already scored this epoch, or its score and trend are unchanged. `read` runs each chain read
 * (the auditor bounds them by its RPC timeout).
 */
export async function scoresToSubmit(
  registry: DeviceRegistry,
  subjects: readonly SubjectScore[],
  epoch: number,
  read: <T>(call: string, fn: () => Promise<T>) => Promise<T>,
): Promise<ScoreEntry[]> {
  const entries: ScoreEntry[] = [];
  for (let i = 0; i < subjects.length; i += 50) {
    const chunk = subjects.slice(i, i + 50);
    const states = await Promise.all(
      chunk.map(async (s) => {
        const [rep, [owner, status]] = await Promise.all([
          read("reputationOf", () => registry.reputationOf(s.subjectId)),
          read("ownerAndStatus", () => registry.ownerAndStatus(s.subjectId)),
        ]);
        return { rep, owner, status };
      }),
    );
    chunk.forEach((s, j) => {
      const { rep, owner, status } = states[j];
      if (owner === ZeroAddress) return;
      if (STATUS_NAMES[Number(status)] !== "active") return;
      if (rep.audited && Number(rep.epoch) === epoch) return;
      if (rep.audited && Number(rep.score) === s.score && Number(rep.trend) === s.trend) return;
      entries.push({ deviceId: s.subjectId, score: s.score, trend: s.trend });
    });
  }
  return entries;
}

export { DEFAULT_MINED_TIMEOUT_MS, NotMined } from "../chain/mined";

/**
 * Submits `entries` in batches of `batchSize` (`updateScoresPacked`, 15 bytes an entry; one entry alone
 * through `updateScore`), each with the epoch's reports root and report count (the
 * bound on this epoch's rewards). Stops at the first batch the chain refuses and returns what landed
 * before it with the error, so that the caller can record what is on chain. A batch not mined within
 * `minedTimeoutMs` stops it the same way, with a {@link NotMined}. Every read and send runs through `call`
 * (the auditor bounds each by its RPC timeout, so a hung RPC fails the run instead of stalling it).
 */
export async function submitScores(
  registry: DeviceRegistry,
  entries: readonly ScoreEntry[],
  epoch: number,
  root: string,
  reports: number,
  batchSize: number,
  minedTimeoutMs = DEFAULT_MINED_TIMEOUT_MS,
  call: ChainCall = unbounded,
): Promise<SubmittedScores> {
  const result: SubmittedScores = { submitted: 0, changed: 0, rewarded: 0, gasUsed: 0n, txHashes: [] };
  try {
    result.collection = await collectForRewards(registry, entries.length, epoch, reports, minedTimeoutMs, call);
    for (let i = 0; i < entries.length; i += batchSize) {
      const chunk = entries.slice(i, i + batchSize);
      const tx =
        chunk.length === 1
          ? await call("updateScore", () =>
              registry.updateScore(chunk[0].deviceId, chunk[0].score, chunk[0].trend, epoch, root, reports),
            )
          : await call("updateScoresPacked", () =>
              registry.updateScoresPacked(packScores(chunk), epoch, root, reports),
            );
      const mined = await minedWithin(tx, minedTimeoutMs);
      result.txHashes.push(tx.hash);
      result.gasUsed += mined?.gasUsed ?? 0n;
      result.submitted += chunk.length;
      for (const log of mined?.logs ?? []) {
        const parsed = registry.interface.parseLog(log);
        if (parsed?.name === "ScoresUpdated") {
          result.changed += Number(parsed.args.changed);
          result.rewarded += Number(parsed.args.rewarded);
        }
      }
    }
  } catch (error) {
    result.failure = error;
  }
  return result;
}

/** How many rewards a refill reserves ahead (DeviceReputation's `_REFILL_REWARDS`). */
const REFILL_REWARDS = 64n;

/**
 * Before an auditor (`registry`'s signer) submits `changes` scores of `epoch`, collects the fees paid from
 * credit that the reward pool does not count yet, when without them the pool would fall short of the rewards
 * these scores earn (a refill grants only what the pool holds, and a score changed unpaid is never paid
 * later). It collects from the manufacturers with the most uncollected fees until the shortfall and the
 * refill's reserve ahead are covered, at most `MAX_COLLECT_ACCOUNTS` accounts in one transaction.
 * Returns undefined when no collection was needed. A collection not mined within `minedTimeoutMs` throws a
 * {@link NotMined} (an auditor's epoch must not wait forever on it).
 */
export async function collectForRewards(
  registry: DeviceRegistry,
  changes: number,
  epoch: number,
  reports: number,
  minedTimeoutMs = DEFAULT_MINED_TIMEOUT_MS,
  call: ChainCall = unbounded,
): Promise<FeeCollection | undefined> {
  const reward = await call("auditReward", () => registry.auditReward());
  if (reward === 0n || changes === 0) return undefined;
  const runner = registry.runner as { getAddress?: () => Promise<string> } | null;
  const auditor = (await runner?.getAddress?.()) ?? "";
  const info = await call("auditorInfo", () => registry.auditorInfo(auditor));
  // As the registry counts it: min(reports, cap) less the epoch's rewards already paid, at most one per change.
  const used = Number(info.rewardEpoch) === epoch ? Number(info.rewardedInEpoch) : 0;
  const allowed = Math.max(Math.min(reports, Number(info.maxRewardsPerEpoch)) - used, 0);
  const needed = BigInt(Math.min(allowed, changes)) * reward;
  if (needed <= info.budget) return undefined;
  const pool = await call("rewardPool", () => registry.rewardPool());
  if (pool >= needed - info.budget) return undefined;
  const wanted = needed - info.budget + REFILL_REWARDS * reward - pool;
  const accounts = coveringAccounts(await call("uncollectedFees", () => uncollectedFees(registry)), wanted);
  return accounts.length === 0
    ? undefined
    : collectPaidFees(
        registry,
        accounts,
        minedTimeoutMs,
        "the epoch resumes on the next run, which collects only the fees still uncollected",
        call,
      );
}
