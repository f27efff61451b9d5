import { getAddress } from "ethers";

import { registryAt } from "../chain/context";
import type { SystemContext } from "../chain/context";
import { STATUS_NAMES } from "../registry";
import { ETH, assetBalance, resolveAsset } from "./assets";
import type { Asset } from "./assets";
import { walletAt, walletOwners } from "./wallet";

export interface WalletStatus {
  wallet: string;
  deviceId: string;
  deviceStatus: string;
  deviceOwnedByWallet: boolean;
  owners: string[];
  threshold: number;
  nonce: bigint;
  deviceKey: string;
  /** The key the registry holds for the device: the device spends only while it equals `deviceKey`. */
  registryKey: string;
  period: number;
  frozen: boolean;
  linked: boolean;
  balances: { asset: string; symbol: string; decimals: number; balance: bigint }[];
  allowances: {
    asset: string;
    symbol: string;
    decimals: number;
    limit: bigint;
    spentCurrentPeriod: bigint;
    spentPreviousPeriod: bigint;
    available: bigint;
    relayNonce: bigint;
  }[];
}

/** Everything about a wallet; allowances for ETH, the ThingToken and any `extraAssets`. */
export async function walletStatus(
  ctx: SystemContext,
  address: string,
  extraAssets: Asset[] = [],
): Promise<WalletStatus> {
  const wallet = await walletAt(ctx, address);
  const deviceId = await wallet.deviceId();
  const [owner, statusIndex, registryKey] = await registryAt(ctx).ownerStatusAndKey(deviceId);
  const config = await wallet.deviceConfig();
  const balances: WalletStatus["balances"] = [];
  const allowances: WalletStatus["allowances"] = [];
  for (const asset of [ETH, await resolveAsset(ctx, "token"), ...extraAssets]) {
    const { address: assetAddress, symbol, decimals } = asset;
    balances.push({ asset: assetAddress, symbol, decimals, balance: await assetBalance(ctx, asset, address) });
    const a = await wallet.allowance(assetAddress);
    if (a.limit > 0n) {
      const { limit, spentCurrentPeriod, spentPreviousPeriod, available, nonce } = a;
      allowances.push({
        asset: assetAddress,
        symbol,
        decimals,
        limit,
        spentCurrentPeriod,
        spentPreviousPeriod,
        available,
        relayNonce: nonce,
      });
    }
  }
  return {
    wallet: getAddress(address),
    deviceId,
    deviceStatus: STATUS_NAMES[Number(statusIndex)],
    deviceOwnedByWallet: getAddress(owner) === getAddress(address),
    owners: await walletOwners(ctx, wallet),
    threshold: Number(await wallet.threshold()),
    nonce: await wallet.nonce(),
    deviceKey: config.deviceKey,
    registryKey,
    period: Number(config.period),
    frozen: config.frozen,
    linked: config.linked,
    balances,
    allowances,
  };
}
