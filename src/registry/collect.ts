import { getAddress } from "ethers";

import type { DeviceRegistry } from "../../typechain-types";
import { DEFAULT_MINED_TIMEOUT_MS, minedWithin, unbounded } from "../chain/mined";
import type { ChainCall } from "../chain/mined";
import { UserError } from "../errors";

/**
 * Fees a manufacturer paid from its credit reach the reward pool only when counted: by anyone's
 * `collectFeesPaidFromCredit(accounts)`, or the manufacturer's next deposit or withdrawal. These helpers find
 * the manufacturers with fees to collect and collect them, for the `registry:collect-fees` task and for an
 * auditor about to claim rewards (see `collectForRewards` in src/reputation/scores.ts).
 */
export interface UncollectedFees {
  id: number;
  account: string;
  amount: bigint;
}

export interface FeeCollection {
  /** The accounts named in the transaction (none: nothing to collect, no transaction sent). */
  accounts: string[];
  collected: bigint;
  poolBefore: bigint;
  poolAfter: bigint;
  gasUsed: bigint;
  txHash?: string;
}

/**
 * The most accounts one collection names: each costs ~8,000 gas (two cold reads, one write, an event), so
 * a collection stays under ~1M gas however many manufacturers there are.
 */
export const MAX_COLLECT_ACCOUNTS = 100;

/** Every manufacturer (by id, removed ones included) with fees paid from credit not yet in the pool, largest first. */
export async function uncollectedFees(registry: DeviceRegistry): Promise<UncollectedFees[]> {
  const count = Number(await registry.manufacturerCount());
  const out: UncollectedFees[] = [];
  for (let first = 1; first <= count; first += 50) {
    const ids = Array.from({ length: Math.min(50, count - first + 1) }, (_, i) => first + i);
    const found = await Promise.all(
      ids.map(async (id) => {
        const account = await registry.manufacturerAccount(id);
        return { id, account, amount: await registry.uncollectedPaidFees(account) };
      }),
    );
    out.push(...found.filter((f) => f.amount > 0n));
  }
  return out.sort((a, b) => (a.amount === b.amount ? a.id - b.id : a.amount > b.amount ? -1 : 1));
}

/** The fewest of `found` (largest first, at most {@link MAX_COLLECT_ACCOUNTS}) whose fees cover `amount`. */
export function coveringAccounts(found: readonly UncollectedFees[], amount: bigint): string[] {
  const accounts: string[] = [];
  let covered = 0n;
  for (const f of found) {
    if (covered >= amount || accounts.length === MAX_COLLECT_ACCOUNTS) break;
    accounts.push(f.account);
    covered += f.amount;
  }
  return accounts;
}

/**
 * The named `accounts`, checked before anything is sent: each must be a manufacturer's current account,
 * named once, and at most {@link MAX_COLLECT_ACCOUNTS} of them.
 */
export async function checkCollectAccounts(registry: DeviceRegistry, accounts: readonly string[]): Promise<string[]> {
  const unique = [...new Set(accounts.map((a) => getAddress(a)))];
  if (unique.length === 0) throw new UserError("no manufacturer accounts named; nothing was sent");
  if (unique.length > MAX_COLLECT_ACCOUNTS) {
    throw new UserError(
      `${unique.length} accounts named, above the ${MAX_COLLECT_ACCOUNTS} one collection takes; split them; nothing was sent`,
    );
  }
  for (const account of unique) {
    if ((await registry.getManufacturer(account)).id === 0n) {
      throw new UserError(
        `${account} is not a manufacturer account of this registry (manufacturer:list shows them); nothing was sent`,
      );
    }
  }
  return unique;
}

/**
 * Collects the fees `accounts` paid from credit into the reward pool (`registry` connected to the sender;
 * anyone may send it). Accounts with nothing to collect are left out; when none is left, nothing is sent.
 * `collected` is what the transaction's `PaidFeesCollected` events say joined the pool. A transaction not
 * mined within `minedTimeoutMs` throws a `NotMined` naming it, then saying `next` (what a later run does).
 * Each read and the send run through `call` (the auditor bounds them by its RPC timeout).
 */
export async function collectPaidFees(
  registry: DeviceRegistry,
  accounts: readonly string[],
  minedTimeoutMs = DEFAULT_MINED_TIMEOUT_MS,
  next = "fees are collected once: if it lands, a later collection finds nothing left of them",
  call: ChainCall = unbounded,
): Promise<FeeCollection> {
  const poolBefore = await call("rewardPool", () => registry.rewardPool());
  const owed = await call("uncollectedPaidFees", () =>
    Promise.all(accounts.map((a) => registry.uncollectedPaidFees(a))),
  );
  const named = accounts.filter((_, i) => owed[i] > 0n);
  if (named.length === 0) return { accounts: [], collected: 0n, poolBefore, poolAfter: poolBefore, gasUsed: 0n };
  const tx = await call("collectFeesPaidFromCredit", () => registry.collectFeesPaidFromCredit(named));
  const receipt = await minedWithin(tx, minedTimeoutMs, next);
  let collected = 0n;
  for (const log of receipt?.logs ?? []) {
    const parsed = registry.interface.parseLog(log);
    if (parsed?.name === "PaidFeesCollected") collected += parsed.args.amount as bigint;
  }
  const poolAfter = await call("rewardPool", () => registry.rewardPool());
  return { accounts: named, collected, poolBefore, poolAfter, gasUsed: receipt?.gasUsed ?? 0n, txHash: tx.hash };
}
