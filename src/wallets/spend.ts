import type { BaseWallet, Signer } from "ethers";
import { getAddress } from "ethers";

import type { DeviceWallet } from "../../typechain-types";
import { registryAt } from "../chain/context";
import type { SystemContext } from "../chain/context";
import { gasOf, nextBlockTime } from "../chain/time";
import { compact } from "../eip712/device";
import { readDomain } from "../eip712/domain";
import { signDeviceTransfer } from "../eip712/wallet";
import { UserError } from "../errors";
import { STATUS_NAMES } from "../registry";
import { assetBalance, formatAmount } from "./assets";
import type { Asset } from "./assets";
import { ownerAmong, walletAt, walletOwners } from "./wallet";

export interface DeviceSpendOptions {
  wallet: string;
  device: BaseWallet;
  asset: Asset;
  to: string;
  amount: bigint;
  /** When given, the device signs and this account submits; otherwise the device sends itself. */
  relayer?: Signer;
}

export interface DeviceSpendResult {
  wallet: string;
  asset: string;
  symbol: string;
  decimals: number;
  to: string;
  amount: bigint;
  relayed: boolean;
  availableAfter: bigint;
  gasUsed: bigint;
  txHash: string;
}

/** Throws, naming why, unless the registry lets the wallet's device spend with `key`. */
async function checkRegistry(ctx: SystemContext, wallet: DeviceWallet, key: string): Promise<void> {
  const deviceId = await wallet.deviceId();
  const [owner, statusIndex, registryKey] = await registryAt(ctx).ownerStatusAndKey(deviceId);
  const status = STATUS_NAMES[Number(statusIndex)];
  if (status !== "active") throw new UserError(`device ${deviceId} is ${status} in the registry: it cannot spend`);
  if (getAddress(owner) !== getAddress(await wallet.getAddress())) {
    throw new UserError(`device ${deviceId} is owned by ${owner} in the registry, not by the wallet: it cannot spend`);
  }
  if (getAddress(registryKey) !== key) {
    throw new UserError(
      `the registry holds ${registryKey} as the key of device ${deviceId}, not ${key}: after a rotation the owners must set the new key in the wallet (setDeviceKey) before the device can spend`,
    );
  }
}

/** Throws, naming why, unless the wallet lets its device spend `o.amount` now; returns the device's relay nonce. */
async function checkSpend(ctx: SystemContext, wallet: DeviceWallet, o: DeviceSpendOptions): Promise<bigint> {
  const config = await wallet.deviceConfig();
  if (getAddress(config.deviceKey) !== o.device.address) {
    throw new UserError(`the key ${o.device.address} is not this wallet's device key (${config.deviceKey})`);
  }
  if (config.frozen) throw new UserError(`the device key of wallet ${o.wallet} is frozen by its owners`);
  await checkRegistry(ctx, wallet, o.device.address);
  const allowance = await wallet.allowance(o.asset.address);
  if (allowance.limit === 0n) throw new UserError(`${o.asset.symbol} is not an asset this device may spend`);
  if (o.amount > allowance.available) {
    throw new UserError(
      `${formatAmount(o.amount, o.asset)} is above what the device may spend now (${formatAmount(allowance.available, o.asset)} of ${formatAmount(allowance.limit, o.asset)} per period)`,
    );
  }
  const cap = await wallet.transferCap(o.asset.address);
  if (config.capsEnabled && cap !== 0n && o.amount > cap) {
    throw new UserError(
      `${formatAmount(o.amount, o.asset)} is above the per-transfer cap of ${formatAmount(cap, o.asset)}`,
    );
  }
  if (config.allowlistEnabled && !(await wallet.isRecipientAllowed(o.to))) {
    throw new UserError(`${o.to} is not on the wallet's recipient allow-list`);
  }
  const held = await assetBalance(ctx, o.asset, o.wallet);
  if (held < o.amount) {
    throw new UserError(
      `the wallet holds ${formatAmount(held, o.asset)}, less than ${formatAmount(o.amount, o.asset)}`,
    );
  }
  return allowance.nonce;
}

/** The device spends under its limits. What the wallet would refuse is refused here first, naming why. */
export async function deviceSpend(ctx: SystemContext, o: DeviceSpendOptions): Promise<DeviceSpendResult> {
  const wallet = await walletAt(ctx, o.wallet);
  const nonce = await checkSpend(ctx, wallet, o);
  let tx;
  if (o.relayer === undefined) {
    const device = o.device.connect(ctx.provider);
    if ((await ctx.provider.getBalance(device.address)) === 0n) {
      throw new UserError(
        `the device key ${device.address} has no ETH for gas: fund it, or have a relayer submit the device's signed transfer`,
      );
    }
    tx = await wallet.connect(device).deviceTransfer(o.asset.address, o.to, o.amount);
  } else {
    const deadline = (await nextBlockTime(ctx.provider)) + 3600n;
    const transfer = { asset: o.asset.address, to: o.to, amount: o.amount, nonce, deadline };
    const [r, vs] = compact(await signDeviceTransfer(o.device, await readDomain(wallet), transfer));
    tx = await wallet.connect(o.relayer).deviceTransferBySig(o.asset.address, o.to, o.amount, deadline, r, vs);
  }
  const gasUsed = await gasOf(tx);
  return {
    wallet: o.wallet,
    asset: o.asset.address,
    symbol: o.asset.symbol,
    decimals: o.asset.decimals,
    to: o.to,
    amount: o.amount,
    relayed: o.relayer !== undefined,
    availableAfter: (await wallet.allowance(o.asset.address)).available,
    gasUsed,
    txHash: tx.hash,
  };
}

export interface FreezeResult {
  wallet: string;
  by: string;
  gasUsed: bigint;
}

/** Any single owner freezes the device key at once. */
export async function freezeDevice(ctx: SystemContext, address: string, owner: Signer): Promise<FreezeResult> {
  const wallet = await walletAt(ctx, address, owner);
  const owners = await walletOwners(ctx, wallet);
  const by = ownerAmong(owners, await owner.getAddress(), address);
  if ((await wallet.deviceConfig()).frozen) {
    throw new UserError(`the device key of wallet ${address} is already frozen`);
  }
  return { wallet: address, by, gasUsed: await gasOf(await wallet.freezeDevice(owners)) };
}
