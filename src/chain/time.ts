import type { Provider } from "ethers";

/** The latest block's timestamp: "now" for deadlines and expiries, whatever the wall clock says. */
export async function chainTime(provider: Provider): Promise<bigint> {
  const latest = await provider.getBlock("latest");
  return BigInt(latest?.timestamp ?? Math.floor(Date.now() / 1000));
}

/** Waits for a transaction and returns its gas; a failed or dropped transaction throws. */
export async function gasOf(tx: {
  wait(): Promise<{ gasUsed: bigint; status: number | null } | null>;
  hash: string;
}): Promise<bigint> {
  const receipt = await tx.wait();
  if (receipt === null || receipt.status !== 1) throw new Error(`transaction ${tx.hash} failed`);
  return receipt.gasUsed;
}

/**
 * Seconds a deadline must still have beyond the next block's time when a task sends a transaction that
 * checks it: the time to sign, send and be mined.
 */
export const DEADLINE_MARGIN = 60n;

/**
 * The earliest timestamp the next block can have: after the latest block, and not before the wall clock.
 * On an idle node the latest block can be hours old, so "now" for a deadline check is this, not the
 * latest block's timestamp.
 */
export async function nextBlockTime(provider: Provider): Promise<bigint> {
  const latest = await chainTime(provider);
  const wall = BigInt(Math.floor(Date.now() / 1000));
  return latest + 1n > wall ? latest + 1n : wall;
}
