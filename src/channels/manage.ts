import type { Signer } from "ethers";

import { channelsAt, tokenAt } from "../chain/context";
import type { SystemContext } from "../chain/context";
import { chainTime } from "../chain/time";
import { ensure } from "../errors";
import { channelInfo } from "./info";
import type { ChannelInfo } from "./info";
import { keyStruct } from "./key";

export interface TopUpResult {
  channelId: string;
  added: bigint;
  deposit: bigint;
  expiry: bigint;
  gasUsed: bigint;
  transaction: string;
}

/** Lets the channels contract take `amount` of the owner's ThingToken, checking the balance first. */
async function approveTopUp(ctx: SystemContext, owner: Signer, amount: bigint): Promise<void> {
  const token = tokenAt(ctx, owner);
  const address = await owner.getAddress();
  const balance = await token.balanceOf(address);
  ensure(balance >= amount, `${address} holds ${balance} token base units, less than ${amount}`);
  const allowance = await token.allowance(address, ctx.addresses.PaymentChannels);
  if (allowance < amount) await (await token.approve(ctx.addresses.PaymentChannels, amount)).wait();
}

/** Checks that the channel is `owner`'s. */
function ensureOwner(info: ChannelInfo, owner: string): void {
  ensure(info.owner === owner, `channel ${info.channelId} belongs to ${info.owner}, not to ${owner}`);
}

/** The owner adds `amount` to the deposit and/or extends the expiry to `expiry`. */
export async function topUpChannel(
  ctx: SystemContext,
  o: { owner: Signer; channelId: string; amount: bigint; expiry?: bigint },
): Promise<TopUpResult> {
  const channels = channelsAt(ctx, o.owner);
  const info = await channelInfo(ctx, o.channelId, channels);
  ensure(info.status === "open", `channel ${o.channelId} is ${info.status}; only an open channel can be topped up`);
  ensureOwner(info, await o.owner.getAddress());
  const expiry = o.expiry ?? info.expiry;
  ensure(expiry >= info.expiry, `the new expiry ${expiry} is before the channel's expiry ${info.expiry}`);
  ensure(o.amount > 0n || expiry > info.expiry, "nothing to do: neither an amount to add nor a later expiry");
  ensure(info.deposit + o.amount < 1n << 96n, "the deposit would exceed 2^96 - 1 base units");
  let tx;
  if (info.token) {
    if (o.amount > 0n) await approveTopUp(ctx, o.owner, o.amount);
    tx = await channels.topUp(keyStruct(info), info.payee, o.amount, expiry);
  } else {
    tx = await channels.topUp(keyStruct(info), info.payee, o.amount, expiry, { value: o.amount });
  }
  const mined = await tx.wait();
  const state = await channels.getChannel(o.channelId);
  return {
    channelId: o.channelId,
    added: o.amount,
    deposit: state.deposit,
    expiry: state.expiry,
    gasUsed: mined?.gasUsed ?? 0n,
    transaction: tx.hash,
  };
}

export interface ReclaimResult {
  channelId: string;
  refunded: bigint;
  gasUsed: bigint;
  transaction: string;
}

/** After expiry without a close, the owner takes the deposit back. */
export async function reclaimChannel(
  ctx: SystemContext,
  o: { owner: Signer; channelId: string },
): Promise<ReclaimResult> {
  const channels = channelsAt(ctx, o.owner);
  const info = await channelInfo(ctx, o.channelId, channels);
  ensure(info.status === "open", `channel ${o.channelId} is already ${info.status}`);
  ensureOwner(info, await o.owner.getAddress());
  // "Has it expired?" is judged by the latest block, not the wall clock: a node whose clock runs behind
  // ours would refuse the reclaim (the preflight would catch it too, but this names the wait).
  const now = await chainTime(ctx.provider);
  ensure(now > info.expiry, `channel ${o.channelId} expires at ${info.expiry}; chain time is ${now}: wait`);
  const tx = await channels.reclaim(keyStruct(info), info.payee);
  const mined = await tx.wait();
  return { channelId: o.channelId, refunded: info.deposit, gasUsed: mined?.gasUsed ?? 0n, transaction: tx.hash };
}
