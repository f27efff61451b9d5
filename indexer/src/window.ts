/**
 * A device wallet's spend window as `contracts/libraries/SpendWindow.sol` keeps it, for the indexer's
 * handlers and API: periods are aligned (`index = timestamp / period`), the window holds what was spent in
 * its period and the one before, and its index is kept to 8 bits on chain (so an idle gap of a multiple
 * of 256 periods counts an old spend again, as the contract does).
 */
export interface SpendWindowState {
  limit: bigint;
  windowIndex: bigint;
  windowCurrent: bigint;
  windowPrevious: bigint;
}

/** The aligned period `timestamp` falls in. */
export function periodIndex(timestamp: bigint, period: number): bigint {
  return timestamp / BigInt(period);
}

/** What was spent in the period `nowIndex` and the one before it, as `SpendWindow.spentAt` reads it. */
export function spentAt(w: SpendWindowState, nowIndex: bigint): { current: bigint; previous: bigint } {
  const elapsed = BigInt.asUintN(8, nowIndex - w.windowIndex);
  if (elapsed === 0n) return { current: w.windowCurrent, previous: w.windowPrevious };
  if (elapsed === 1n) return { current: 0n, previous: w.windowCurrent };
  return { current: 0n, previous: 0n };
}

/** What the device may still spend in period `nowIndex` (`SpendWindow.available`). */
export function availableAt(w: SpendWindowState, nowIndex: bigint): bigint {
  const { current, previous } = spentAt(w, nowIndex);
  return current + previous >= w.limit ? 0n : w.limit - current - previous;
}

/** The window after a spend of `amount` in period `nowIndex` (the contract refused any spend above the limit). */
export function afterSpend(w: SpendWindowState, amount: bigint, nowIndex: bigint): SpendWindowState {
  const { current, previous } = spentAt(w, nowIndex);
  return { limit: w.limit, windowIndex: nowIndex, windowCurrent: current + amount, windowPrevious: previous };
}
