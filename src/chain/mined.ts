import { isError } from "ethers";
import type { ContractTransactionReceipt, ContractTransactionResponse } from "ethers";

import { UserError } from "../errors";

/** How long a service waits for one of its transactions to be mined, by default. */
export const DEFAULT_MINED_TIMEOUT_MS = 180_000;

/**
 * A service's transaction sent but not mined in time: the run stops there. It may still land; either way the
 * next run reads what is on chain and sends only what is still missing. A {@link UserError}: a task prints it
 * as its one line.
 */
export class NotMined extends UserError {
  /** `next` says what the next run does about it (by default, an auditor's epoch). */
  constructor(
    readonly hash: string,
    readonly timeoutMs: number,
    next = "the epoch resumes on the next run (scores it lands by then are skipped)",
  ) {
    super(`transaction ${hash} was sent but not mined within ${timeoutMs / 1000} s; ${next}`);
  }
}

/**
 * `tx` mined, or a {@link NotMined} (with `next`, if given) after `timeoutMs`: the wait is abandoned, the
 * transaction is not. Ethers' own bound ends the wait and its listener; ours, a second later, covers a
 * receipt poll that never answers.
 */
export async function minedWithin(
  tx: ContractTransactionResponse,
  timeoutMs: number,
  next?: string,
): Promise<ContractTransactionReceipt | null> {
  let timer: NodeJS.Timeout | undefined;
  const wait = tx.wait(1, timeoutMs).catch((error: unknown) => {
    throw isError(error, "TIMEOUT") ? new NotMined(tx.hash, timeoutMs, next) : error;
  });
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new NotMined(tx.hash, timeoutMs, next)), timeoutMs + 1_000);
  });
  try {
    return await Promise.race([wait, late]);
  } finally {
    clearTimeout(timer);
    wait.catch(() => undefined);
  }
}

/** Runs one chain call (a read or a send) named `call`, e.g. under a time bound (`boundedRead`). */
export type ChainCall = <T>(call: string, fn: () => Promise<T>) => Promise<T>;

/** A {@link ChainCall} that runs the call as it is (bounded only by the provider's own timeout). */
export const unbounded: ChainCall = (_call, fn) => fn();
