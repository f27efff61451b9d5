import type { Signer } from "ethers";
import { getAddress } from "ethers";

import { DeviceWallet__factory } from "../chain/factories";
import { registryAt, walletFactoryAt } from "../chain/context";
import type { SystemContext } from "../chain/context";
import { gasOf } from "../chain/time";
import { UserError } from "../errors";
import { STATUS_NAMES } from "../registry";
import { checkLimit } from "./assets";
import type { Asset } from "./assets";
import { checkOwners } from "./wallet";

export interface CreateWalletOptions {
  owners: string[];
  threshold: number;
  deviceId: string;
  /**
   * Defaults to the key the registry holds for the device; any other key is refused, because the wallet
   * lets its device spend only with the registry's key (a rotation in the registry stops the old key).
   */
  deviceKey?: string;
  /** Length of a spending period in seconds. */
  period: number;
  limits: { asset: Asset; limit: bigint }[];
}

export interface CreateWalletResult {
  wallet: string;
  deviceId: string;
  deviceKey: string;
  owners: string[];
  threshold: number;
  period: number;
  limits: { asset: string; symbol: string; decimals: number; limit: bigint }[];
  /** True when the creator owned the device and handed its registry record to the wallet. */
  deviceTransferred: boolean;
  linked: boolean;
  gasUsed: bigint;
  /** What is left to do before the device can spend, if anything. */
  next?: string;
}

/** The device as the registry holds it, and the key the wallet gets; refused if it cannot have a wallet. */
async function walletDevice(ctx: SystemContext, deviceId: string, deviceKey?: string) {
  const registry = registryAt(ctx);
  const [owner, statusIndex] = await registry.ownerAndStatus(deviceId);
  const status = STATUS_NAMES[Number(statusIndex)];
  if (status === "unknown") throw new UserError(`device ${deviceId} is not registered on this network`);
  if (status === "revoked") throw new UserError(`device ${deviceId} is revoked: it cannot have a wallet`);
  const registryKey = getAddress((await registry.getDevice(deviceId)).deviceKey);
  const key = deviceKey === undefined ? registryKey : getAddress(deviceKey);
  if (key !== registryKey) {
    throw new UserError(
      `the registry holds ${registryKey} for device ${deviceId}; a wallet's device key must be the registry's key, or the device can never spend`,
    );
  }
  return { owner: getAddress(owner), status, key };
}

/**
 * Creates a device wallet at its predicted address. Every check runs before the first transaction. If
 * the creator owns the (active) device, its registry record is handed to the wallet and the wallet links,
 * so the device can spend at once.
 */
export async function createWallet(
  ctx: SystemContext,
  creator: Signer,
  o: CreateWalletOptions,
): Promise<CreateWalletResult> {
  const owners = checkOwners(o.owners, o.threshold);
  if (!Number.isInteger(o.period) || o.period < 1 || o.period > 0xffffffff) {
    throw new UserError(`the period must be between 1 second and 2^32 - 1 seconds, got ${o.period}`);
  }
  for (const { asset, limit } of o.limits) checkLimit(limit, asset);
  const device = await walletDevice(ctx, o.deviceId, o.deviceKey);
  const config = {
    owners,
    threshold: o.threshold,
    deviceId: o.deviceId,
    deviceKey: device.key,
    period: o.period,
    assets: o.limits.map((l) => l.asset.address),
    limits: o.limits.map((l) => l.limit),
  };
  const factory = walletFactoryAt(ctx, creator);
  const wallet = await factory.predictWallet(config);
  if ((await ctx.provider.getCode(wallet)) !== "0x") {
    throw new UserError(`a wallet with this configuration already exists at ${wallet}`);
  }
  let gasUsed = await gasOf(await factory.createWallet(config));
  const handOver = device.status === "active" && device.owner === getAddress(await creator.getAddress());
  if (handOver) {
    gasUsed += await gasOf(await registryAt(ctx, creator).transferDevice(o.deviceId, wallet));
    gasUsed += await gasOf(await DeviceWallet__factory.connect(wallet, creator).link());
  }
  return {
    wallet,
    deviceId: o.deviceId,
    deviceKey: device.key,
    owners,
    threshold: o.threshold,
    period: o.period,
    limits: o.limits.map(({ asset, limit }) => ({
      asset: asset.address,
      symbol: asset.symbol,
      decimals: asset.decimals,
      limit,
    })),
    deviceTransferred: handOver,
    linked: handOver,
    gasUsed,
    next: handOver
      ? undefined
      : device.status === "active"
        ? `the device's owner ${device.owner} must transfer the device to the wallet ${wallet} before the device can spend`
        : `activate the device, then transfer it to the wallet ${wallet} before the device can spend`,
  };
}
