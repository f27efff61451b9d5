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
 * The wallet's current owners. The wallet stores only their hash, so they are read from its events (the
 * last `OwnersChanged`, else the factory's `WalletCreated`) and checked against the hash.
 */
export async function walletOwners(ctx: SystemContext, wallet: DeviceWallet): Promise<string[]> {
  const changed = await wallet.queryFilter(wallet.filters.OwnersChanged(), 0);
  let owners: string[] | undefined;
  if (changed.length > 0) {
    owners = [...changed[changed.length - 1].args.owners];
  } else {
    const factory = walletFactoryAt(ctx);
    const created = await factory.queryFilter(factory.filters.WalletCreated(await wallet.getAddress()), 0);
    if (created.length > 0) owners = [...created[created.length - 1].args.owners];
  }
  if (owners === undefined || !(await wallet.isOwnerSet(owners))) {
    throw new UserError(`cannot find the owner set of wallet ${await wallet.getAddress()} in its events`);
  }
  return owners.map((o) => getAddress(o));
}

/** Throws unless `account` is one of `owners`; returns it checksummed. */
export function ownerAmong(owners: readonly string[], account: string, wallet: string): string {
  const owner = getAddress(account);
  if (!owners.includes(owner)) throw new UserError(`${owner} is not an owner of wallet ${wallet}`);
  return owner;
}
