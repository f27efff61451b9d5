import type { DeviceRecord } from "../store";
import type { CodeWindow } from "./types";

/**
 * Expiries remembered per device at most. Only W codes can be outstanding, but W may be huge (`--hotp-window`):
 * a code whose expiry is not remembered counts as expiring one lifetime after the AS first looks at it, so
 * forgetting one only delays its voiding, never brings it forward.
 */
export const MAX_TRACKED_EXPIRIES = 4_096;

/** The `meta` key of the longest code lifetime this database has used (codes outstanding at a start get it). */
export const CODE_TTL_META = "code_ttl_max";

/** Records a code's expiry, unless {@link MAX_TRACKED_EXPIRIES} are remembered already (see there). */
export function remember(expiry: Map<number, number>, counter: number, at: number): void {
  if (expiry.size < MAX_TRACKED_EXPIRIES || expiry.has(counter)) expiry.set(counter, at);
}

/** Forgets the expiries of counters in [from, to): O(min(to - from, remembered)), not a scan per acknowledgement. */
export function forgetBelow(expiry: Map<number, number>, from: number, to: number): void {
  if (to - from <= expiry.size) for (let c = from; c < to; c++) expiry.delete(c);
  else for (const c of expiry.keys()) if (c < to) expiry.delete(c);
}

/**
 * The lowest counter still live for `device`: at least its acknowledged base. When the window is full,
 * the expired codes at its bottom are voided first (never one whose lifetime is not over), and grants
 * carry the advance to the new floor until the device acknowledges it.
 */
export function windowFloor(
  device: DeviceRecord,
  codes: CodeWindow,
  window: number,
  clock: () => number,
  unknownCodeTtl: number,
  log?: (line: string) => void,
): number {
  const acked = device.acked ?? 0;
  let floor = Math.max(acked, codes.voided);
  if (device.counter < floor + window) return floor;
  const now = clock();
  while (floor < device.counter) {
    let expiresAt = codes.expiry.get(floor);
    if (expiresAt === undefined) remember(codes.expiry, floor, (expiresAt = now + unknownCodeTtl));
    if (expiresAt > now) break;
    codes.expiry.delete(floor++);
  }
  if (floor > Math.max(acked, codes.voided)) {
    log?.(`device ${device.deviceId}: codes below ${floor} expired unused and are voided`);
    codes.voided = floor;
  }
  return floor;
}
