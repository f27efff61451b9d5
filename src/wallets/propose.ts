import { ZeroAddress, formatUnits, getAddress, isHexString } from "ethers";

import { DeviceWallet__factory, IERC20Metadata__factory } from "../chain/factories";
import { registryAt } from "../chain/context";
import type { SystemContext } from "../chain/context";
import { UserError } from "../errors";
import { checkLimit, formatAmount } from "./assets";
import type { Asset } from "./assets";
import { PROPOSAL_KIND } from "./proposal";
import type { Proposal } from "./proposal";
import { walletAt } from "./wallet";

export interface ProposeOptions {
  wallet: string;
  to: string;
  value: bigint;
  data: string;
  gasLimit?: bigint;
  nonce?: bigint;
  description: string;
}

/** Builds a proposal for the wallet's next nonce (or `nonce`); the inner call's gas is estimated if not given. */
export async function propose(ctx: SystemContext, o: ProposeOptions): Promise<Proposal> {
  const wallet = await walletAt(ctx, o.wallet);
  const current = await wallet.nonce();
  const nonce = o.nonce ?? current;
  if (nonce < current) throw new UserError(`nonce ${nonce} is already used (the wallet's nonce is ${current})`);
  if (!isHexString(o.data)) throw new UserError(`the call data "${o.data}" is not 0x-prefixed hex`);
  const balance = await ctx.provider.getBalance(o.wallet);
  if (o.value > balance) {
    throw new UserError(
      `the wallet holds ${formatUnits(balance, 18)} ETH, less than the ${formatUnits(o.value, 18)} proposed`,
    );
  }
  let gasLimit = o.gasLimit;
  if (gasLimit === undefined) {
    let estimate: bigint;
    try {
      estimate = await ctx.provider.estimateGas({ from: o.wallet, to: o.to, value: o.value, data: o.data });
    } catch (error) {
      throw new UserError(`the proposed call would fail from the wallet: ${shortReason(error)}`);
    }
    gasLimit = innerGasLimit(estimate, o.data, (await ctx.provider.getCode(o.to)) !== "0x");
  }
  return newProposal(ctx.chainId, o.wallet, nonce, o, gasLimit);
}

/**
 * The gas an inner call gets from an estimate of it sent from the wallet: a plain ETH payment to an
 * account without code needs none beyond the call's stipend (0); otherwise the estimate, which includes the
 * 21,000 of a transaction that an inner call does not pay: a safe margin.
 */
export function innerGasLimit(estimate: bigint, data: string, targetHasCode: boolean): bigint {
  return data === "0x" && !targetHasCode ? 0n : estimate;
}

/** An unsigned proposal of `call` at `nonce` (the CLI and the browser app both build them here). */
export function newProposal(
  chainId: bigint | number,
  wallet: string,
  nonce: bigint,
  call: ActionCall,
  gasLimit: bigint,
): Proposal {
  return {
    kind: PROPOSAL_KIND,
    version: 1,
    chainId: chainId.toString(),
    wallet: getAddress(wallet),
    nonce: nonce.toString(),
    to: getAddress(call.to),
    value: call.value.toString(),
    data: call.data,
    gasLimit: gasLimit.toString(),
    description: call.description,
    signatures: {},
  };
}

function shortReason(error: unknown): string {
  const e = error as { shortMessage?: string; message?: string };
  return (e.shortMessage ?? e.message ?? String(error)).split("\n")[0];
}

/** What the owners are asked to do. */
export type WalletAction =
  /** A call from the wallet, with ETH (`value`) and calldata. */
  | { kind: "call"; to: string; value: bigint; data: string }
  /** An ERC-20 transfer from the wallet (ETH goes as a call with `value`). */
  | { kind: "transfer"; asset: Asset; to: string; amount: bigint }
  /** Sets the wallet's device key to `key`, which must be the registry's key of the device. */
  | { kind: "rotateKey"; key: string }
  /** Unfreezes the device key. */
  | { kind: "unfreeze" };

/** The call a wallet makes for an action, with a description for the owners. */
export interface ActionCall {
  to: string;
  value: bigint;
  data: string;
  description: string;
}

/** Turns an action into the call the wallet makes, refusing a key the registry does not hold. */
export async function resolveAction(ctx: SystemContext, wallet: string, a: WalletAction): Promise<ActionCall> {
  switch (a.kind) {
    case "rotateKey": {
      // The wallet lets its device spend only with the registry's key: the device's key is rotated in the
      // registry first (by the wallet, its owner), then set here.
      const deviceId = await (await walletAt(ctx, wallet)).deviceId();
      const registryKey = (await registryAt(ctx).getDevice(deviceId)).deviceKey;
      if (getAddress(registryKey) !== getAddress(a.key)) {
        throw new UserError(
          `the registry holds ${registryKey} as the key of device ${deviceId}, not ${a.key}; rotate the key in the registry first, then set that key in the wallet`,
        );
      }
      const data = DeviceWallet__factory.createInterface().encodeFunctionData("setDeviceKey", [a.key]);
      return { to: wallet, value: 0n, data, description: `set the device key to ${a.key}, the registry's key` };
    }
    default:
      return actionCall(wallet, a);
  }
}

/** The call for an action that needs no chain read: every action but a key rotation. */
export function actionCall(wallet: string, a: Exclude<WalletAction, { kind: "rotateKey" }>): ActionCall {
  switch (a.kind) {
    case "unfreeze":
      return {
        to: wallet,
        value: 0n,
        data: DeviceWallet__factory.createInterface().encodeFunctionData("setFrozen", [false]),
        description: "unfreeze the device key",
      };
    case "transfer": {
      if (a.asset.address === ZeroAddress) throw new UserError("ETH is sent as a call with a value, not as a transfer");
      const data = IERC20Metadata__factory.createInterface().encodeFunctionData("transfer", [a.to, a.amount]);
      return {
        to: a.asset.address,
        value: 0n,
        data,
        description: `transfer ${formatAmount(a.amount, a.asset)} to ${a.to}`,
      };
    }
    case "call": {
      const { to, value, data } = a;
      const description = `call ${to}${value > 0n ? ` with ${formatUnits(value, 18)} ETH` : ""}${data === "0x" ? "" : ` (data ${data.slice(0, 10)}…)`}`;
      return { to, value, data, description };
    }
  }
}

/** The call that sets the device's per-period limit of one asset (0 stops the device spending it). */
export function limitCall(wallet: string, asset: Asset, limit: bigint): ActionCall {
  checkLimit(limit, asset);
  return {
    to: wallet,
    value: 0n,
    data: DeviceWallet__factory.createInterface().encodeFunctionData("setAllowance", [asset.address, limit]),
    description: `set the device's ${asset.symbol} limit to ${formatAmount(limit, asset)} per period`,
  };
}

/** A proposal to set the device's per-period limit of one asset (0 stops the device spending it). */
export async function proposeLimit(ctx: SystemContext, wallet: string, asset: Asset, limit: bigint): Promise<Proposal> {
  return propose(ctx, { wallet, ...limitCall(wallet, asset, limit) });
}
