import { AbiCoder, Signature, getAddress, keccak256 } from "ethers";
import type { ContractTransactionReceipt, ContractTransactionResponse } from "ethers";

import type { IPaymentChannels, PaymentChannels } from "../../typechain-types";
import { nativeChannelId } from "./verify";

/**
 * Everything that names a channel on chain: the contract's `ChannelKey` struct (the fields less `payee`)
 * and its payee, which the contract takes as the caller (`close`) or beside the key (`topUp`, `reclaim`,
 * `channelId`); a `ChannelKey` can be passed where the contract takes its struct. The id is
 * `keccak256(abi.encode(owner, payee, token, clientRoot, salt, openBlock))`, `openBlock` being the block
 * the open landed in, so the same parameters opened again later give a new id.
 */
export interface ChannelKey {
  owner: string;
  payee: string;
  token: boolean;
  clientRoot: string;
  salt: bigint;
  openBlock: bigint;
}

const KEY_TYPES = ["address", "address", "bool", "bytes32", "uint96", "uint64"];

/** The channel id, computed locally (equal to the contract's `channelId`). */
export function channelIdOf(k: ChannelKey): string {
  return (
    nativeChannelId(k) ??
    keccak256(
      AbiCoder.defaultAbiCoder().encode(KEY_TYPES, [k.owner, k.payee, k.token, k.clientRoot, k.salt, k.openBlock]),
    )
  );
}

/** The contract's `ChannelKey` struct of a channel (its key less the payee). */
export function keyStruct(k: Omit<ChannelKey, "payee">): Omit<ChannelKey, "payee"> {
  return { owner: k.owner, token: k.token, clientRoot: k.clientRoot, salt: k.salt, openBlock: k.openBlock };
}

/** The key and id of the channel an open transaction created, read from its ChannelOpened event. */
export function openedChannel(
  channels: PaymentChannels,
  receipt: ContractTransactionReceipt | null,
): ChannelKey & { channelId: string; deposit: bigint; expiry: bigint } {
  if (receipt === null) throw new Error("the open transaction has no receipt");
  const address = getAddress(channels.target as string);
  for (const log of receipt.logs) {
    if (getAddress(log.address) !== address) continue;
    const parsed = channels.interface.parseLog(log);
    if (parsed?.name !== "ChannelOpened") continue;
    const key: ChannelKey = {
      owner: getAddress(parsed.args.owner as string),
      payee: getAddress(parsed.args.payee as string),
      token: parsed.args.token as boolean,
      clientRoot: parsed.args.clientRoot as string,
      salt: parsed.args.salt as bigint,
      openBlock: BigInt(receipt.blockNumber),
    };
    const channelId = channelIdOf(key);
    if (channelId !== parsed.args.channelId) throw new Error("ChannelOpened event does not match its id");
    return { ...key, channelId, deposit: parsed.args.deposit as bigint, expiry: parsed.args.expiry as bigint };
  }
  throw new Error(`transaction ${receipt.hash} opened no channel`);
}

/** A channel to close (its key, less the payee: the caller is the payee) and the receipt to close it with. */
export interface CloseItem extends Omit<ChannelKey, "payee"> {
  amount: bigint;
  /** 65-byte signature; sent in compact (r, vs) form. */
  signature: string;
  proof: string[];
}

/**
 * Sends one `close`, or one `closeBatch` for several channels (the payee paid once per asset). A `close`
 * reverts if its channel cannot settle; a `closeBatch` settles what it can and skips the rest (read which
 * with {@link closeOutcome}). With `batch`, even a single channel goes through `closeBatch`, so a channel
 * that can no longer settle (expired, already closed or reclaimed) never makes the transaction revert.
 */
export function submitCloses(
  channels: PaymentChannels,
  items: readonly CloseItem[],
  options: { batch?: boolean } = {},
): Promise<ContractTransactionResponse> {
  if (items.length === 0) throw new Error("no channels to close");
  const requests = items.map(closeRequest);
  return requests.length === 1 && options.batch !== true ? channels.close(requests[0]) : channels.closeBatch(requests);
}

/** The contract's `CloseRequest` for a channel and its receipt (the signature sent in compact form). */
export function closeRequest(item: CloseItem): IPaymentChannels.CloseRequestStruct {
  const { r, yParityAndS: vs } = Signature.from(item.signature);
  return { key: keyStruct(item), amount: item.amount, r, vs, proof: item.proof };
}

/** Why `closeBatch` skipped a channel: the contract's `CloseSkipReason`, in its order. */
export const CLOSE_SKIP_REASONS = [
  "not-open",
  "expired",
  "opening-block",
  "above-deposit",
  "bad-signature",
  "not-in-group",
] as const;
export type CloseSkipReason = (typeof CLOSE_SKIP_REASONS)[number];

/**
 * Whether a skipped channel can never be closed by its payee again: every reason but the opening block
 * (a later block settles it). Receipts the AS checked at intake are never above the deposit, badly signed
 * or outside the group; if one is, retrying the same receipt cannot help either.
 */
export function isFinalSkip(reason: CloseSkipReason): boolean {
  return reason !== "opening-block";
}

/** What a close or batch close did, in the order of the requests: the channels it settled and skipped. */
export interface CloseOutcome {
  closed: { channelId: string; paid: bigint; refunded: bigint }[];
  skipped: { channelId: string; reason: CloseSkipReason }[];
}

/** Reads a close transaction's outcome from its receipt's `ChannelClosed` and `ChannelCloseSkipped` events. */
export function closeOutcome(channels: PaymentChannels, receipt: ContractTransactionReceipt | null): CloseOutcome {
  if (receipt === null) throw new Error("the close transaction has no receipt");
  if (receipt.status !== 1) throw new Error(`close transaction ${receipt.hash} reverted`);
  const address = getAddress(channels.target as string);
  const outcome: CloseOutcome = { closed: [], skipped: [] };
  for (const log of receipt.logs) {
    if (getAddress(log.address) !== address) continue;
    const parsed = channels.interface.parseLog(log);
    if (parsed?.name === "ChannelClosed") {
      outcome.closed.push({
        channelId: parsed.args.channelId as string,
        paid: parsed.args.paid as bigint,
        refunded: parsed.args.refunded as bigint,
      });
    } else if (parsed?.name === "ChannelCloseSkipped") {
      const reason = CLOSE_SKIP_REASONS[Number(parsed.args.reason as bigint)];
      if (reason === undefined) throw new Error(`unknown skip reason ${parsed.args.reason as bigint}`);
      outcome.skipped.push({ channelId: parsed.args.channelId as string, reason });
    }
  }
  return outcome;
}
