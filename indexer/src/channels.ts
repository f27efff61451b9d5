import { ponder } from "ponder:registry";
import type { Context, Event } from "ponder:registry";
import { and, eq, isNull } from "ponder";
import { channel, channelEvent, channelRefund } from "ponder:schema";
import { decodeFunctionData } from "viem";

import { PaymentChannels__factory } from "../../src/chain/factories";
import { CLOSE_SKIP_REASONS } from "../../src/channels/key";

type Hex = `0x${string}`;
type AnyEvent = Event<"PaymentChannels:ChannelClosed">;

/** Which channels function a transaction called (`close` or `closeBatch`), when it was sent to the contract. */
function calledFunction(event: AnyEvent, context: Context): string | null {
  if (event.transaction.to?.toLowerCase() !== context.contracts.PaymentChannels.address.toLowerCase()) return null;
  try {
    return decodeFunctionData({ abi: PaymentChannels__factory.abi, data: event.transaction.input }).functionName;
  } catch {
    return null;
  }
}

/** One event of a channel's history. */
async function history(
  event: AnyEvent,
  context: Context,
  channelId: Hex,
  kind: string,
  values: { deposit?: bigint; expiry?: bigint; paid?: bigint; refunded?: bigint; reason?: string } = {},
): Promise<void> {
  await context.db.insert(channelEvent).values({
    id: event.id,
    channelId,
    kind,
    ...values,
    block: event.block.number,
    timestamp: event.block.timestamp,
    txHash: event.transaction.hash,
  });
}

ponder.on("PaymentChannels:ChannelOpened", async ({ event, context }) => {
  const { channelId, owner, payee, token, deposit, expiry, clientRoot, salt } = event.args;
  await context.db.insert(channel).values({
    id: channelId,
    owner,
    payee,
    token,
    clientRoot,
    salt,
    openBlock: event.block.number,
    openedAt: event.block.timestamp,
    initialDeposit: deposit,
    deposit,
    expiry: BigInt(expiry),
    topUps: 0,
    status: "Open",
  });
  await history(event as unknown as AnyEvent, context, channelId, "Opened", { deposit, expiry: BigInt(expiry) });
});

ponder.on("PaymentChannels:ChannelToppedUp", async ({ event, context }) => {
  const { channelId, deposit, expiry } = event.args;
  await context.db
    .update(channel, { id: channelId })
    .set((c) => ({ deposit, expiry: BigInt(expiry), topUps: c.topUps + 1 }));
  await history(event as unknown as AnyEvent, context, channelId, "ToppedUp", { deposit, expiry: BigInt(expiry) });
});

ponder.on("PaymentChannels:ChannelClosed", async ({ event, context }) => {
  const { channelId, paid, refunded } = event.args;
  const fn = calledFunction(event, context);
  await context.db.update(channel, { id: channelId }).set({
    status: "Closed",
    paid,
    refunded,
    endedBy: fn === "close" || fn === "closeBatch" ? fn : null,
    endedBlock: event.block.number,
    endedAt: event.block.timestamp,
    endTxHash: event.transaction.hash,
  });
  await history(event, context, channelId, "Closed", { paid, refunded });
});

ponder.on("PaymentChannels:ChannelCloseSkipped", async ({ event, context }) => {
  const { channelId, reason } = event.args;
  // A skip may name a channel that never existed (wrong parameters): only known channels get the event.
  if ((await context.db.find(channel, { id: channelId })) === null) return;
  const name = CLOSE_SKIP_REASONS[reason] ?? String(reason);
  await history(event as unknown as AnyEvent, context, channelId, "CloseSkipped", { reason: name });
});

ponder.on("PaymentChannels:ChannelReclaimed", async ({ event, context }) => {
  const { channelId, refunded } = event.args;
  await context.db.update(channel, { id: channelId }).set({
    status: "Reclaimed",
    paid: 0n,
    refunded,
    endedBy: "reclaim",
    endedBlock: event.block.number,
    endedAt: event.block.timestamp,
    endTxHash: event.transaction.hash,
  });
  await history(event as unknown as AnyEvent, context, channelId, "Reclaimed", { refunded });
});

/**
 * An ETH refund the owner's account refused. It follows the `ChannelClosed` of its channel in the same
 * transaction: that is the owner's channel ended in this transaction whose refund it is and not yet owed.
 */
ponder.on("PaymentChannels:RefundOwed", async ({ event, context }) => {
  const { owner, amount } = event.args;
  const [ended] = await context.db.sql
    .select({ id: channel.id })
    .from(channel)
    .where(
      and(
        eq(channel.endTxHash, event.transaction.hash),
        eq(channel.owner, owner),
        eq(channel.refunded, amount),
        eq(channel.token, false),
        isNull(channel.refundOwed),
      ),
    )
    .limit(1);
  const channelId = ended?.id ?? null;
  if (channelId !== null) await context.db.update(channel, { id: channelId }).set({ refundOwed: amount });
  await context.db.insert(channelRefund).values({
    id: event.id,
    owner,
    kind: "Owed",
    amount,
    channelId,
    block: event.block.number,
    timestamp: event.block.timestamp,
    txHash: event.transaction.hash,
  });
});

ponder.on("PaymentChannels:RefundWithdrawn", async ({ event, context }) => {
  await context.db.insert(channelRefund).values({
    id: event.id,
    owner: event.args.owner,
    kind: "Withdrawn",
    amount: event.args.amount,
    block: event.block.number,
    timestamp: event.block.timestamp,
    txHash: event.transaction.hash,
  });
});
