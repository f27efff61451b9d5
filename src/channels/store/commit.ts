import type Database from "better-sqlite3";

import { CounterUsed } from "./records";
import type { Job } from "./records";

/** Thrown out of the fast path's transaction to roll it back: a write failed, the batch is written again job by job. */
class RetryInSavepoints extends Error {}

/**
 * Writes a batch in one transaction, recording in `failed` the jobs that could not be written (see
 * {@link AsStore.commit} for which fail together). The jobs are first written straight into the batch's
 * transaction (`writeDirect`, no savepoint each: the savepoints cost as much as the writes). Only if one of
 * them throws, or a receipt is stale, is that transaction rolled back and the batch written again with each
 * job in its own savepoint (`writeOne`), so that only the jobs that must fail do.
 */
export function writeBatch(
  db: Database.Database,
  batch: Job[],
  writes: { writeOne: (job: Job) => void; writeDirect: (job: Job) => void },
  failed: Map<Job, Error>,
): void {
  try {
    db.transaction(() => {
      for (const job of batch) {
        if (job.receipt !== undefined && job.stale?.() === true) throw new RetryInSavepoints("a stale receipt");
        try {
          writes.writeDirect(job);
        } catch (error) {
          throw new RetryInSavepoints("a write failed", { cause: error });
        }
      }
    })();
  } catch (error) {
    if (!(error instanceof RetryInSavepoints)) throw error;
    writeInSavepoints(db, batch, writes.writeOne, failed);
  }
}

/** Writes a batch in one transaction, each job in its own savepoint (`writeOne`). */
function writeInSavepoints(
  db: Database.Database,
  batch: Job[],
  writeOne: (job: Job) => void,
  failed: Map<Job, Error>,
): void {
  const channels = new Set<string>();
  const shift = new Map<string, number>();
  db.transaction(() => {
    for (const job of batch) {
      if (job.receipt === undefined) {
        try {
          writeOne(job); // in its own savepoint; fails only itself
        } catch (error) {
          failed.set(job, error as Error);
        }
        continue;
      }
      const { channelId, deviceId } = job.receipt;
      const gap = shift.get(deviceId) ?? 0;
      if (job.stale?.() === true) {
        // Its counter was used (the device said so meanwhile): no hole to fill, so no shift.
        failed.set(job, new CounterUsed(`counter ${job.receipt.otpCounter} was used meanwhile`));
        channels.add(channelId);
        continue;
      }
      if (channels.has(channelId)) {
        failed.set(job, new Error("an earlier receipt of its channel failed"));
      } else {
        // Counters stay dense: a failed receipt's counter goes to the next receipt of its device.
        job.receipt.otpCounter -= gap;
        try {
          writeOne(job); // in its own savepoint
          continue;
        } catch (error) {
          failed.set(job, error as Error);
        }
      }
      channels.add(channelId);
      shift.set(deviceId, gap + 1);
    }
  })();
}
