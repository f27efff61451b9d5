import type { ContractRunner } from "ethers";
import { ZeroAddress, getAddress } from "ethers";

import type { DeviceWallet } from "../../typechain-types";
import { DeviceWallet__factory } from "../chain/factories";
import { walletFactoryAt } from "../chain/context";
import type { SystemContext } from "../chain/context";
import { sortOwners } from "../eip712/wallet";
import { UserError } from "../errors";

/** The most owners a wallet takes (see OwnerSet.sol). */
export const MAX_OWNERS = 20;

/**
 * A device wallet of this system's factory, read-only or with `runner` to send transactions. An address
 * without code, or with code that is not a clone of the factory's implementation, is refused.
 */
export async function walletAt(ctx: SystemContext, address: string, runner?: ContractRunner): Promise<DeviceWallet> {
  const code = await ctx.provider.getCode(address);
  if (code === "0x") {
    throw new UserError(`there is no device wallet at ${address} on network "${ctx.network}"`);
  }
  const implementation = await walletFactoryAt(ctx).implementation();
  if (!isWalletClone(code, implementation)) {
    throw new UserError(`${address} is not a device wallet of this network's factory`);
  }
  return DeviceWallet__factory.connect(address, runner ?? ctx.provider);
}

/**
 * Whether `code` is exactly the runtime code the factory deploys: OpenZeppelin's EIP-1167 clone of
 * `implementation` with the device id (32 bytes) as its immutable argument. Any other code (a contract that
 * merely contains the implementation's address, the factory itself) is not a device wallet.
 */
export function isWalletClone(code: string, implementation: string): boolean {
  const impl = implementation.slice(2).toLowerCase();
  return new RegExp(`^0x363d3d373d3d3d363d73${impl}5af43d82803e903d91602b57fd5bf3[0-9a-f]{64}$`).test(
    code.toLowerCase(),
  );
}

/** Checks an owner set and its threshold; returns the owners sorted as the wallet requires. */
export function checkOwners(owners: string[], threshold: number): string[] {
  const sorted = sortOwners(owners);
  if (sorted.length === 0) throw new UserError("a wallet needs at least one owner");
  if (sorted.length > MAX_OWNERS) {
    throw new UserError(`a wallet has at most ${MAX_OWNERS} owners, got ${sorted.length}`);
  }
  if (new Set(sorted).size !== sorted.length) throw new UserError("an owner is listed twice");
  if (sorted.includes(ZeroAddress)) throw new UserError("the zero address cannot be an owner");
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > sorted.length) {
    throw new UserError(`the threshold must be between 1 and ${sorted.length} (the number of owners)`);
  }
  return sorted;
}

/**
 * The default most blocks one `eth_getLogs` asks about: many public RPCs refuse wider ranges (10,000 is a
 * common limit; some allow fewer, set `maxBlockRange` lower for them).
 */
export const DEFAULT_MAX_BLOCK_RANGE = 10_000;

/** Where and how wallet events are read. */
export interface LogScan {
  /**
   * The first block to read: the factory's deployment block when known (the app server takes it from the
   * deployment's journal); default 0.
   */
  fromBlock?: number;
  /** The most blocks one `eth_getLogs` covers (default {@link DEFAULT_MAX_BLOCK_RANGE}). */
  maxBlockRange?: number;
}

/** A wallet's creation, as the factory's `WalletCreated` event records it. */
export interface WalletCreation {
  block: number;
  owners: string[];
}

/**
 * Reads `query(from, to)` over [from, to] in ranges of at most `max` blocks, oldest first or newest first,
 * and stops at the first range that holds a log (the caller wants the first, or the last, there is).
 */
async function firstLogs<T>(
  from: number,
  to: number,
  max: number,
  newestFirst: boolean,
  query: (from: number, to: number) => Promise<T[]>,
): Promise<T[]> {
  if (!Number.isSafeInteger(max) || max < 1) throw new UserError(`the block range must be a whole number ≥ 1`);
  for (let n = 0; n <= Math.floor((to - from) / max); n++) {
    const lo = newestFirst ? Math.max(from, to - (n + 1) * max + 1) : from + n * max;
    const hi = newestFirst ? to - n * max : Math.min(to, from + (n + 1) * max - 1);
    const logs = await query(lo, hi);
    if (logs.length > 0) return logs;
  }
  return [];
}

/**
 * {@link firstLogs} over [from, to] with `scan`'s range. A caller that does not know the factory's deployment
 * block (the CLI: `scan.fromBlock` unset) first asks for the whole span in one call, as most nodes allow, so
 * a long chain costs it one call, not one per range; only an RPC that refuses that is read in bounded ranges.
 */
async function scanLogs<T>(
  scan: LogScan,
  from: number,
  to: number,
  newestFirst: boolean,
  query: (from: number, to: number) => Promise<T[]>,
): Promise<T[]> {
  const whole = scan.fromBlock === undefined ? await query(from, to).catch(() => undefined) : undefined;
  return whole ?? firstLogs(from, to, scan.maxBlockRange ?? DEFAULT_MAX_BLOCK_RANGE, newestFirst, query);
}

/** Where the factory created `address` and with which owners, reading its events from `scan.fromBlock` on. */
export async function walletCreation(
  ctx: SystemContext,
  address: string,
  scan: LogScan = {},
  latest?: number,
): Promise<WalletCreation | undefined> {
  const factory = walletFactoryAt(ctx);
  const to = latest ?? (await ctx.provider.getBlockNumber());
  const query = (a: number, b: number) => factory.queryFilter(factory.filters.WalletCreated(address), a, b);
  const created = await scanLogs(scan, scan.fromBlock ?? 0, to, false, query);
  const first = created[0];
  return first === undefined
    ? undefined
    : { block: first.blockNumber, owners: first.args.owners.map((o) => getAddress(o)) };
}

/**
 * The wallet's current owners. The wallet stores only their hash, so they are read from its events (the
 * last `OwnersChanged` since its creation, else the factory's `WalletCreated`) and checked against the hash.
 * Events are read in ranges of at most `scan.maxBlockRange` blocks: the creation oldest first from
 * `scan.fromBlock` (or `creation` when the caller knows it), the owner changes newest first down to it.
 */
export async function walletOwners(
  ctx: SystemContext,
  wallet: DeviceWallet,
  scan: LogScan = {},
  creation?: WalletCreation,
): Promise<string[]> {
  const address = await wallet.getAddress();
  const latest = await ctx.provider.getBlockNumber();
  const created = creation ?? (await walletCreation(ctx, address, scan, latest));
  let owners = created?.owners;
  if (created !== undefined) {
    const changed = await scanLogs(scan, created.block, latest, true, (a, b) =>
      wallet.queryFilter(wallet.filters.OwnersChanged(), a, b),
    );
    if (changed.length > 0) owners = [...changed[changed.length - 1]!.args.owners];
  }
  if (owners === undefined || !(await wallet.isOwnerSet(owners))) {
    throw new UserError(`cannot find the owner set of wallet ${address} in its events`);
  }
  return owners.map((o) => getAddress(o));
}

/** Throws unless `account` is one of `owners`; returns it checksummed. */
export function ownerAmong(owners: readonly string[], account: string, wallet: string): string {
  const owner = getAddress(account);
  if (!owners.includes(owner)) throw new UserError(`${owner} is not an owner of wallet ${wallet}`);
  return owner;
}
