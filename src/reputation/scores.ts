import { ZeroAddress } from "ethers";

import type { DeviceRegistry } from "../../typechain-types";
import { STATUS_NAMES } from "../registry";
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

/**
 * Submits `entries` in batches of `batchSize`, each with the epoch's reports root and report count (the
 * bound on this epoch's rewards). Stops at the first batch the chain refuses and returns what landed
 * before it with the error, so that the caller can record what is on chain.
 */
export async function submitScores(
  registry: DeviceRegistry,
  entries: readonly ScoreEntry[],
  epoch: number,
  root: string,
  reports: number,
  batchSize: number,
): Promise<SubmittedScores> {
  const result: SubmittedScores = { submitted: 0, changed: 0, rewarded: 0, gasUsed: 0n, txHashes: [] };
  try {
    for (let i = 0; i < entries.length; i += batchSize) {
      const chunk = entries.slice(i, i + batchSize);
      const tx =
        chunk.length === 1
          ? await registry.updateScore(chunk[0].deviceId, chunk[0].score, chunk[0].trend, epoch, root, reports)
          : await registry.updateScores([...chunk], epoch, root, reports);
      const mined = await tx.wait();
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
