import type { PaymentChannels } from "../../../typechain-types";
import type { ChainChannelState } from "../follower";
import { ChainUnavailable, oneLine, readChannelState, withTimeout } from "../follower";
import { closeOutcome, isFinalSkip, submitCloses } from "../key";
import type { CloseSkipReason } from "../key";
import type { AsStore, ChannelRecord } from "../store";
import type { CloseNote, CloseReport, Due } from "./types";

/** What a close round needs of the AS. */
export interface CloseContext {
  contract: PaymentChannels;
  rpcTimeoutMs: number;
  maxCloseBatch?: number;
  store: AsStore;
  /** How each channel ended on chain, when the AS saw it (for the 409 message). */
  ended: Map<string, string>;
  /** When each channel's state was last read on chain (ms). */
  checkedAt: Map<string, number>;
  /** Applies a state read on chain to a channel's record. */
  applyState: (record: ChannelRecord, state: ChainChannelState, how: string) => void;
}

/**
 * Closes channels with their best receipts. Each is first re-read on chain: one found closed (by an
 * earlier close whose result the AS did not record, e.g. it crashed), reclaimed or expired is marked
 * closed and not sent; one whose expiry a top-up moved out of `margin` waits. The rest go in
 * `closeBatch` transactions of at most `maxCloseBatch` (the contract skips, with its reason, a channel
 * that cannot settle, and the AS is paid once per asset). A transaction that reverts (e.g. out of gas)
 * is split in halves and retried, so one bad channel never stops the others; an RPC failure leaves the
 * channels due for the next round, which re-checks them on chain first.
 */
export async function closeChannels(
  ctx: CloseContext,
  items: Due[],
  report: CloseReport,
  o: { margin?: number },
): Promise<CloseReport> {
  const contract = ctx.contract;
  const note = (channelId: string, outcome: CloseNote["outcome"], detail: string) =>
    report.notes.push({ channelId, outcome, detail });
  const fail = (channelId: string, error: string) => {
    report.failed.push({ channelId, error });
    note(channelId, "failed", error);
  };
  const end = (channel: ChannelRecord, reason: CloseSkipReason, detail: string) => {
    channel.closed = true;
    ctx.ended.set(channel.channelId, detail);
    ctx.store.saveChannel(channel);
    report.skipped.push({ channelId: channel.channelId, reason });
    note(channel.channelId, "ended", detail);
  };
  let latest: number;
  try {
    latest = await withTimeout("reading the latest block", ctx.rpcTimeoutMs, async () => {
      const block = await contract.runner!.provider!.getBlock("latest");
      if (block === null) throw new Error("no latest block");
      return block.timestamp;
    });
  } catch (error) {
    for (const { channel } of items) fail(channel.channelId, `chain unavailable: ${oneLine(error)}`);
    return report;
  }
  const open: Due[] = [];
  for (let i = 0; i < items.length; i += 16) {
    const states = await Promise.allSettled(
      items
        .slice(i, i + 16)
        .map(({ channel }) =>
          readChannelState(contract, channel.channelId, { minConfirmations: 0, timeoutMs: ctx.rpcTimeoutMs }),
        ),
    );
    for (const [j, settled] of states.entries()) {
      const item = items[i + j];
      const { channel } = item;
      if (channel.closed) continue;
      if (settled.status === "rejected") {
        fail(channel.channelId, `chain unavailable: ${oneLine(settled.reason)}`);
        continue;
      }
      const state = settled.value;
      if (!state.open) end(channel, "not-open", await howEnded(ctx, channel));
      else if (latest > state.expiry)
        end(
          channel,
          "expired",
          `expired on chain at ${state.expiry} (chain time ${latest}): only its owner can reclaim it`,
        );
      else {
        ctx.applyState(channel, state, "closed or reclaimed on chain");
        ctx.checkedAt.set(channel.channelId, Date.now());
        if (o.margin !== undefined && channel.expiry - latest > o.margin)
          note(channel.channelId, "not-due", `a top-up moved its expiry to ${channel.expiry}: not due yet`);
        else open.push(item);
      }
    }
  }
  const size = Math.max(1, ctx.maxCloseBatch ?? 50);
  const round = { down: false };
  for (let i = 0; i < open.length; i += size) await sendCloses(ctx, open.slice(i, i + size), report, round);
  return report;
}

/**
 * Sends one `closeBatch`; if it reverts, closes each half on its own; a lone channel that reverts fails.
 * Once the RPC is found down (`round.down`), the round's remaining batches fail without being sent.
 */
async function sendCloses(
  ctx: CloseContext,
  batch: Due[],
  report: CloseReport,
  round: { down: boolean },
): Promise<void> {
  const contract = ctx.contract;
  let sent: string | undefined;
  try {
    if (round.down) throw new ChainUnavailable("the RPC failed earlier in this round");
    const tx = await withTimeout("sending closeBatch", ctx.rpcTimeoutMs * 2, () =>
      submitCloses(
        contract,
        batch.map(({ channel, receipt }) => ({
          ...channel,
          amount: receipt.amount,
          signature: receipt.signature,
          proof: receipt.proof,
        })),
        { batch: true },
      ),
    );
    sent = tx.hash;
    const mined = await withTimeout(`waiting for closeBatch ${tx.hash}`, ctx.rpcTimeoutMs * 12, () => tx.wait());
    const outcome = closeOutcome(contract, mined);
    report.gasUsed += mined?.gasUsed ?? 0n;
    const paid = new Map(outcome.closed.map((c) => [c.channelId.toLowerCase(), c.paid]));
    const skipped = new Map(outcome.skipped.map((s) => [s.channelId.toLowerCase(), s.reason]));
    for (const { channel } of batch) {
      const id = channel.channelId;
      const reason = skipped.get(id);
      if (paid.has(id)) {
        channel.closed = true;
        ctx.ended.set(id, "closed by this AS");
        ctx.store.saveChannel(channel);
        report.closed.push(id);
        report.notes.push({ channelId: id, outcome: "closed", detail: `paid ${paid.get(id)} in ${tx.hash}` });
      } else if (reason !== undefined) {
        report.skipped.push({ channelId: id, reason });
        if (isFinalSkip(reason)) {
          channel.closed = true;
          ctx.ended.set(id, `not closable (${reason})`);
          ctx.store.saveChannel(channel);
        }
        report.notes.push({
          channelId: id,
          outcome: "skipped",
          detail: `skipped by closeBatch: ${reason}${isFinalSkip(reason) ? "" : " (retried next round)"}`,
        });
      }
    }
  } catch (error) {
    // A revert (the transaction or its gas estimate) is the batch's content: split it. Anything else (the
    // RPC down, a transaction sent but not confirmed in time) is retried next round, after a re-check.
    // An RPC that is down can look like a revert without data: split only while the chain answers.
    const reverted = isRevert(error) && !round.down && (await chainAnswers(ctx));
    if (!reverted) round.down ||= !(await chainAnswers(ctx));
    if (reverted && batch.length > 1) {
      const half = Math.ceil(batch.length / 2);
      await sendCloses(ctx, batch.slice(0, half), report, round);
      await sendCloses(ctx, batch.slice(half), report, round);
      return;
    }
    const what = reverted
      ? "closeBatch reverted"
      : sent === undefined
        ? "closeBatch failed"
        : "closeBatch not confirmed";
    const why = `${what}${sent === undefined ? "" : ` (${sent})`}: ${oneLine(error)}`;
    for (const { channel } of batch) {
      report.failed.push({ channelId: channel.channelId, error: why });
      report.notes.push({ channelId: channel.channelId, outcome: "failed", detail: why });
    }
  }
}

async function chainAnswers(ctx: CloseContext): Promise<boolean> {
  try {
    await withTimeout("reading the block number", ctx.rpcTimeoutMs, () =>
      ctx.contract.runner!.provider!.getBlockNumber(),
    );
    return true;
  } catch {
    return false;
  }
}

/** How a channel that reads as not open ended, from its events (for the log); best effort. */
async function howEnded(ctx: CloseContext, channel: ChannelRecord): Promise<string> {
  const contract = ctx.contract;
  try {
    return await withTimeout(`reading the end of channel ${channel.channelId}`, ctx.rpcTimeoutMs, async () => {
      const from = Number(channel.openBlock);
      const [closed] = await contract.queryFilter(contract.filters.ChannelClosed(channel.channelId), from);
      if (closed !== undefined) return `closed on chain, paid ${closed.args.paid} (${closed.transactionHash})`;
      const [reclaimed] = await contract.queryFilter(contract.filters.ChannelReclaimed(channel.channelId), from);
      if (reclaimed !== undefined)
        return `reclaimed by its owner on chain, refunded ${reclaimed.args.refunded} (${reclaimed.transactionHash})`;
      return "not open on chain";
    });
  } catch {
    return "not open on chain";
  }
}

/** Whether an error is a revert (of a transaction or its gas estimate), as opposed to an RPC failure. */
function isRevert(error: unknown): boolean {
  const e = error as { code?: string; message?: string; cause?: { code?: string } };
  if (e?.code === "CALL_EXCEPTION" || e?.cause?.code === "CALL_EXCEPTION") return true;
  return /revert|out of gas/i.test(e?.message ?? "");
}
