import fs from "node:fs";

import type { Signer } from "ethers";
import { formatEther, isHexString } from "ethers";

import type { PaymentChannels } from "../../typechain-types";
import { channelsAt } from "../chain/context";
import type { SystemContext } from "../chain/context";
import { chainTime } from "../chain/time";
import { readJsonFile } from "../cli/json";
import { ensure } from "../errors";
import { readDomain } from "../eip712/domain";
import { isMember } from "../merkle/group";
import { channelInfo } from "./info";
import type { Asset, ChannelInfo } from "./info";
import { closeOutcome, submitCloses } from "./key";
import type { CloseItem, CloseSkipReason } from "./key";
import { AsStore } from "./store";
import { ReceiptVerifier } from "./verify";

/** A receipt to close with, as a file or from the AS's database. */
export interface ReceiptInput {
  channelId: string;
  amount: bigint;
  signature: string;
  proof: string[];
}

/** Reads and checks a receipt file: `{ channelId, amount (decimal string), signature, proof }`. */
export function readReceiptFile(file: string): ReceiptInput {
  const raw = (readJsonFile(file, "a receipt { channelId, amount, signature, proof }") ?? {}) as {
    channelId?: unknown;
    amount?: unknown;
    signature?: unknown;
    proof?: unknown;
  };
  ensure(
    typeof raw.channelId === "string" && isHexString(raw.channelId, 32),
    `${file}: "channelId" must be 0x + 64 hex`,
  );
  ensure(typeof raw.amount === "string" && /^\d+$/.test(raw.amount), `${file}: "amount" must be a decimal string`);
  ensure(typeof raw.signature === "string" && isHexString(raw.signature, 65), `${file}: "signature" must be 65 bytes`);
  ensure(
    Array.isArray(raw.proof) && raw.proof.every((p) => typeof p === "string" && isHexString(p, 32)),
    `${file}: "proof" must be an array of 32-byte hex strings`,
  );
  return {
    channelId: raw.channelId.toLowerCase(),
    amount: BigInt(raw.amount),
    signature: raw.signature,
    proof: raw.proof as string[],
  };
}

/** The best receipt of each open channel in an AS database (all of them, or `only`). */
export function receiptsFromDb(db: string, only?: string[]): ReceiptInput[] {
  ensure(fs.existsSync(db), `AS database ${db} does not exist`);
  const store = new AsStore(db);
  try {
    const best = store.bestReceipts();
    const closed = new Set(
      store
        .channels()
        .filter((c) => c.closed)
        .map((c) => c.channelId),
    );
    const ids = only ?? [...best.keys()].filter((id) => !closed.has(id));
    return ids.map((id) => {
      const r = best.get(id);
      ensure(r !== undefined, `AS database ${db} holds no receipt for channel ${id}`);
      return { channelId: id, amount: r.amount, signature: r.signature, proof: r.proof };
    });
  } finally {
    store.close();
  }
}

export interface CloseResult {
  closed: { channelId: string; paid: bigint; refunded: bigint; asset: Asset }[];
  /** Channels a batch close skipped (they changed between the checks and the block, e.g. reclaimed). */
  skipped: { channelId: string; reason: CloseSkipReason }[];
  gasUsed: bigint;
  transaction: string;
}

/**
 * Checks a receipt as the contract will: the caller is the payee, the channel open and unexpired at `now`,
 * the amount within the deposit, the signer in the group. Returns the channel and its close request.
 */
async function checkReceipt(
  ctx: SystemContext,
  channels: PaymentChannels,
  r: ReceiptInput,
  at: { payee: string; now: bigint; verifier: ReceiptVerifier },
): Promise<ChannelInfo & CloseItem> {
  const info = await channelInfo(ctx, r.channelId, channels);
  ensure(info.status === "open", `channel ${r.channelId} is already ${info.status}`);
  ensure(info.payee === at.payee, `channel ${r.channelId} pays ${info.payee}; only that account can close it`);
  ensure(at.now <= info.expiry, `channel ${r.channelId} expired at ${info.expiry}; the owner can only reclaim it now`);
  ensure(
    r.amount <= info.deposit,
    `channel ${r.channelId}: the receipt's ${formatEther(r.amount)} exceeds the deposit of ${formatEther(info.deposit)} ${info.asset === "eth" ? "ETH" : "THING"}`,
  );
  const signer = at.verifier.recover(r.channelId, r.amount, r.signature);
  ensure(signer !== undefined, `channel ${r.channelId}: the receipt's signature is malformed or not canonical`);
  ensure(
    isMember(info.clientRoot, signer, r.proof),
    `channel ${r.channelId}: receipt signer ${signer} is not in the group (wrong proof, amount or channel)`,
  );
  return { ...info, amount: r.amount, signature: r.signature, proof: r.proof };
}

/**
 * The AS closes channels with their receipts: one `close`, or one `closeBatch` for several. Every receipt
 * is checked first (see {@link checkReceipt}), so a bad one sends nothing.
 */
export async function closeChannels(
  ctx: SystemContext,
  o: { payee: Signer; receipts: ReceiptInput[] },
): Promise<CloseResult> {
  ensure(o.receipts.length > 0, "no receipts to close with");
  const channels = channelsAt(ctx, o.payee);
  const at = {
    payee: await o.payee.getAddress(),
    now: await chainTime(ctx.provider),
    verifier: new ReceiptVerifier(await readDomain(channels)),
  };
  const requests: (ChannelInfo & CloseItem)[] = [];
  const seen = new Set<string>();
  for (const r of o.receipts) {
    ensure(!seen.has(r.channelId), `channel ${r.channelId} is listed twice`);
    seen.add(r.channelId);
    requests.push(await checkReceipt(ctx, channels, r, at));
  }
  const tx = await submitCloses(channels, requests);
  const mined = await tx.wait();
  // What settled is read from the receipt: a batch skips a channel that changed after the checks above.
  const outcome = closeOutcome(channels, mined);
  const assetOf = new Map(requests.map((q) => [q.channelId.toLowerCase(), q.asset]));
  return {
    closed: outcome.closed.map((c) => ({ ...c, asset: assetOf.get(c.channelId.toLowerCase())! })),
    skipped: outcome.skipped,
    gasUsed: mined?.gasUsed ?? 0n,
    transaction: tx.hash,
  };
}

/** Closes with the best receipts in an AS database, and marks those channels closed in it. Run it while
 * that AS is stopped (a running AS closes due channels itself). */
export async function closeFromDb(
  ctx: SystemContext,
  o: { payee: Signer; db: string; only?: string[] },
): Promise<CloseResult> {
  const receipts = receiptsFromDb(o.db, o.only);
  ensure(receipts.length > 0, `AS database ${o.db} holds no receipts of open channels`);
  const result = await closeChannels(ctx, { payee: o.payee, receipts });
  const store = new AsStore(o.db);
  try {
    const closed = new Set(result.closed.map((c) => c.channelId));
    for (const c of store.channels()) if (closed.has(c.channelId)) store.saveChannel({ ...c, closed: true });
  } finally {
    store.close();
  }
  return result;
}
