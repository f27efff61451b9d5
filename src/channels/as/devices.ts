import { randomBytes } from "node:crypto";

import { Rejected } from "../../http/service";
import { checkDeviceAck, deviceAdvance, hotp } from "../hotp";
import type { HotpConfig } from "../hotp";
import { StoreLost } from "../store";
import type { AsStore, DeviceRecord, StoredReceipt } from "../store";
import type { ReceiptVerifier } from "../verify";
import { forgetBelow, remember } from "./codes";
import type { CodeWindow, RedeliveredGrant } from "./types";

/** What a device's acknowledgement and a redelivery need of the AS. */
export interface DeviceContext {
  devices: Map<string, DeviceRecord>;
  /** A device's window of outstanding codes (made on first use). */
  codeWindow: (device: DeviceRecord) => CodeWindow;
  store: AsStore;
  log?: (line: string) => void;
  verifier: ReceiptVerifier;
  /** The exchanges in flight, by `channelId:amount:signer`. */
  exchanges: Map<string, Set<Promise<unknown>>>;
  /** The exchanges whose signer is still being recovered (on a recovery thread), by `channelId:amount`. */
  recovering: Map<string, Set<Promise<unknown>>>;
  hotpConfig: HotpConfig;
  /** Wall-clock seconds (or the test clock), for code lifetimes. */
  clock: () => number;
  unknownCodeTtl: number;
}

/** Adds `promise` to `map`'s set under `key` until it settles; returns it (settled the same way). */
export function track<T>(map: Map<string, Set<Promise<unknown>>>, key: string, promise: Promise<T>): Promise<T> {
  const running = map.get(key) ?? new Set<Promise<unknown>>();
  running.add(promise);
  map.set(key, running);
  return promise.finally(() => {
    running.delete(promise);
    if (running.size === 0 && map.get(key) === running) map.delete(key);
  });
}

/**
 * A device's acknowledgement, relayed by a client: the device's window base (and `next`, one above the
 * highest counter it used) with its MAC under the shared secret, which only the device (and the AS) can
 * make. Every counter below the base was used, so the AS may issue up to base + W; it never issues a
 * counter below `next` again (an AS restored behind its device catches up). A replayed or older
 * acknowledgement changes nothing. Only one covering this process's current challenge ends a `--resync`
 * wait; while the wait goes on, the answer names the challenge (`awaitsChallenge`).
 */
export async function acknowledge(
  ctx: DeviceContext,
  id: string,
  ack: { base: number; next?: number; challenge?: string; mac: string },
): Promise<{ deviceId: string; acked: number; counter: number; awaitsChallenge?: string }> {
  const { base, next, challenge, mac } = ack;
  const device = ctx.devices.get(id.toLowerCase());
  if (device === undefined) throw new Rejected(404, `unknown device ${id}`, "unknown_device");
  if (next !== undefined && next < base)
    throw new Rejected(400, `body/next ${next} is below body/base ${base}`, "bad_ack");
  if (!checkDeviceAck(Buffer.from(device.secret, "hex"), device.deviceId, base, mac, next, challenge))
    throw new Rejected(403, `the acknowledgement of device ${device.deviceId} has a wrong MAC`, "bad_mac");
  const top = Math.max(base, next ?? base);
  const previousAcked = device.acked ?? 0;
  const codes = ctx.codeWindow(device);
  const raises = top > device.counter;
  // The device used codes this AS may not know it issued (a restored database): from now on no sale takes
  // a counter below `top`, also while the acknowledgement is being stored.
  codes.usedBelow = Math.max(codes.usedBelow, top);
  if (raises) device.counter = top;
  if (base > previousAcked || raises) {
    // Stored in the next group commit (one fsync with the receipts), answered once durable. The window
    // widens (acked) only then: a sale never relies on an acknowledgement that could still be lost.
    try {
      await ctx.store.setAcked(device.deviceId, base, top);
    } catch (error) {
      if (error instanceof StoreLost) throw storeLost("the AS stores no acknowledgements");
      throw new Rejected(503, "the AS cannot write its database now; retry later", "store_unavailable");
    }
    if (base > (device.acked ?? 0)) device.acked = base;
  }
  if (codes.challenge !== undefined && challenge === codes.challenge) {
    ctx.log?.(`device ${device.deviceId} acknowledged base ${base} (challenged): selling resumes`);
    codes.challenge = undefined;
  }
  forgetBelow(codes.expiry, previousAcked, device.acked ?? 0);
  return {
    deviceId: device.deviceId,
    acked: device.acked ?? 0,
    counter: device.counter,
    ...(codes.challenge === undefined ? {} : { awaitsChallenge: codes.challenge }),
  };
}

/**
 * The code of a stored receipt again, for its signer only (a `Redeliver` signature: the receipt itself is
 * public). For a client whose answer was lost after the receipt was stored (a dropped connection, a
 * timeout, an AS killed before answering): it paid, and re-sending the receipt is a 409. No counter is
 * issued: the code is the one the receipt bought; if the device already used it (or passed it), it says so.
 */
export async function redeliver(
  ctx: DeviceContext,
  id: string,
  amount: bigint,
  signature: string,
): Promise<RedeliveredGrant> {
  const channelId = id.toLowerCase();
  const signer = ctx.verifier.recoverRedeliver(channelId, amount, signature);
  if (signer === undefined)
    throw new Rejected(400, "the redelivery signature is malformed or not canonical (high s)", "bad_signature");
  // The signer's own exchanges of this receipt still running (a chain read, the commit): their outcome first.
  // Those still recovering their signer first (each is registered under its signer before it settles).
  await Promise.allSettled(ctx.recovering.get(`${channelId}:${amount}`) ?? []);
  await Promise.allSettled(ctx.exchanges.get(`${channelId}:${amount}:${signer}`) ?? []);
  // A lost store may hold receipts that are not on disk (a failed fsync): their codes are never handed out.
  if (ctx.store.lost !== undefined) throw storeLost("the AS hands out no codes, not even again");
  let receipt: StoredReceipt | undefined;
  try {
    receipt = ctx.store.receipt(channelId, amount);
  } catch {
    throw new Rejected(503, "the AS cannot read its database now; retry later", "store_unavailable");
  }
  if (receipt === undefined)
    throw new Rejected(
      404,
      `channel ${channelId} has no stored receipt of amount ${amount} (a receipt that was refused or not stored was not charged)`,
      "no_stored_receipt",
    );
  if (signer !== receipt.signer)
    throw new Rejected(
      403,
      `the receipt of amount ${amount} was signed by ${receipt.signer}; only its signer can have its code again, not ${signer}`,
      "not_signer",
    );
  const device = ctx.devices.get(receipt.deviceId.toLowerCase());
  if (device === undefined) throw new Rejected(404, `unknown device ${receipt.deviceId}`, "unknown_device");
  const secret = Buffer.from(device.secret, "hex");
  const otp = hotp(secret, receipt.otpCounter, ctx.hotpConfig);
  const codes = ctx.codeWindow(device);
  const voided = receipt.otpCounter >= (device.acked ?? 0) && receipt.otpCounter < codes.voided;
  const used = receipt.otpCounter < (device.acked ?? 0) || voided;
  let expiresAt = codes.expiry.get(receipt.otpCounter);
  if (expiresAt === undefined) {
    expiresAt = ctx.clock() + (used ? 0 : ctx.unknownCodeTtl);
    if (!used) remember(codes.expiry, receipt.otpCounter, expiresAt);
  }
  return {
    deviceId: device.deviceId,
    otp,
    counter: receipt.otpCounter,
    amount: amount.toString(),
    expiresAt,
    ...(codes.voided > (device.acked ?? 0) && !used
      ? { advance: { base: codes.voided, mac: deviceAdvance(secret, device.deviceId, codes.voided) } }
      : {}),
    redelivered: true,
    used,
    ...(used
      ? {
          note: voided
            ? `code ${receipt.otpCounter} of device ${device.deviceId} expired unused and was voided: it will refuse it`
            : `device ${device.deviceId} reported code ${receipt.otpCounter} used: it will refuse it`,
        }
      : {}),
  };
}

/** 503 `store_lost`: the store stopped for good (its database or WAL removed, or an fsync failed); `what` the AS no longer does. */
export function storeLost(what: string, detail = ""): Rejected {
  return new Rejected(
    503,
    `${what}: its database was removed or failed while it ran; an operator must act${detail}`,
    "store_lost",
  );
}

/**
 * The answer of a sale whose commit found the store lost: its receipt was not written (nothing charged), or
 * it was written before its fsync failed: it may be on disk and paid by a close, so selling its amount again
 * could charge the client twice; its code comes by redelivery once the AS is back.
 */
export function saleLost(error: StoreLost, channelId: string): Rejected {
  if (!error.mayBeStored)
    return storeLost("the AS has stopped selling", "; this receipt was not stored: nothing was charged");
  return new Rejected(
    503,
    `the AS's database failed while storing this receipt, so the AS has stopped selling; the receipt may be on disk and be paid by a close, so it cannot be retried safely: once the AS is back, ask for its code with POST /channels/${channelId}/redeliver (if it was not stored, the same amount buys)`,
    "store_lost",
  );
}

/** A device's window of outstanding codes, made on first use (with a random challenge under `--resync`). */
export function codeWindowOf(windows: Map<string, CodeWindow>, device: DeviceRecord, resync: boolean): CodeWindow {
  let codes = windows.get(device.deviceId);
  if (codes === undefined) {
    codes = {
      voided: device.voided ?? 0,
      expiry: new Map(),
      usedBelow: 0,
      ...(resync ? { challenge: randomBytes(16).toString("hex") } : {}),
    };
    windows.set(device.deviceId, codes);
  }
  return codes;
}
