import { ZeroAddress, formatUnits, getAddress, isAddress } from "ethers";

import { IERC20Metadata__factory } from "../chain/factories";
import type { SystemContext } from "../chain/context";
import { UserError } from "../errors";

/** The largest limit a wallet stores (72 bits, see SpendWindow.sol). */
export const MAX_LIMIT = (1n << 72n) - 1n;

/** What a wallet holds and its device spends: ETH or an ERC-20. */
export interface Asset {
  /** address(0) for ETH. */
  address: string;
  symbol: string;
  decimals: number;
}

export const ETH: Asset = { address: ZeroAddress, symbol: "ETH", decimals: 18 };

/** `eth`, `token` (the ThingToken) or an ERC-20 address, which must answer `symbol()` and `decimals()`. */
export async function resolveAsset(ctx: SystemContext, value: string): Promise<Asset> {
  const v = value.trim().toLowerCase();
  if (v === "eth") return ETH;
  if (v === "token" || v === "thing") return { address: ctx.addresses.ThingToken, symbol: "THING", decimals: 18 };
  if (!isAddress(value)) throw new UserError(`asset "${value}" is neither eth, token nor an ERC-20 address`);
  const address = getAddress(value);
  if ((await ctx.provider.getCode(address)) === "0x") {
    throw new UserError(`asset ${address} has no contract code on network "${ctx.network}"`);
  }
  const erc20 = IERC20Metadata__factory.connect(address, ctx.provider);
  try {
    return { address, symbol: await erc20.symbol(), decimals: Number(await erc20.decimals()) };
  } catch {
    throw new UserError(`asset ${address} does not answer symbol() and decimals() like an ERC-20`);
  }
}

/** `1.5 ETH`: an amount in base units with the asset's decimals and symbol. */
export function formatAmount(amount: bigint, asset: Pick<Asset, "symbol" | "decimals">): string {
  return `${formatUnits(amount, asset.decimals)} ${asset.symbol}`;
}

/** Throws unless `limit` fits the wallet's per-period limit of `asset`. */
export function checkLimit(limit: bigint, asset: Asset): void {
  if (limit > MAX_LIMIT) {
    throw new UserError(
      `a limit of ${formatAmount(limit, asset)} is above the wallet's maximum of ${formatAmount(MAX_LIMIT, asset)} per period`,
    );
  }
}

/** What `account` holds of `asset`, in base units. */
export async function assetBalance(ctx: SystemContext, asset: Asset, account: string): Promise<bigint> {
  if (asset.address === ZeroAddress) return ctx.provider.getBalance(account);
  return IERC20Metadata__factory.connect(asset.address, ctx.provider).balanceOf(account);
}
