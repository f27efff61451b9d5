import type Database from "better-sqlite3";

import { CounterUsed } from "./records";
import type { Job } from "./records";

/**
 * Writes a batch in one transaction, each job in its own savepoint (`writeOne`), recording in `failed`
 * the jobs that could not be written (see {@link AsStore.commit} for which fail together).
 */
export function writeBatch(
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
