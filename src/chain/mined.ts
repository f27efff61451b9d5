import type { ContractTransactionReceipt, ContractTransactionResponse } from "ethers";

/** How long a service waits for one of its transactions to be mined, by default. */
export const DEFAULT_MINED_TIMEOUT_MS = 180_000;

/**
 * A service's transaction sent but not mined in time: the run stops there. It may still land; either way the
 * next run reads what is on chain and sends only what is still missing.
 */
export class NotMined extends Error {
  constructor(
    readonly hash: string,
    readonly timeoutMs: number,
  ) {
    super(
      `transaction ${hash} was sent but not mined within ${timeoutMs / 1000} s; the epoch resumes on the next run (scores it lands by then are skipped)`,
    );
  }
}

/** `tx` mined, or a {@link NotMined} after `timeoutMs` (the wait is abandoned, the transaction is not). */
export async function minedWithin(
  tx: ContractTransactionResponse,
  timeoutMs: number,
): Promise<ContractTransactionReceipt | null> {
  let timer: NodeJS.Timeout | undefined;
  const wait = tx.wait();
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new NotMined(tx.hash, timeoutMs)), timeoutMs);
  });
  try {
    return await Promise.race([wait, late]);
  } finally {
    clearTimeout(timer);
    wait.catch(() => undefined);
  }
}
