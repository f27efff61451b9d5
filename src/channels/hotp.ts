import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

import { generateSync, verifySync } from "@otplib/hotp";

import { UserError } from "../errors";

/**
 * HOTP (RFC 4226) one-time passwords, through otplib with node:crypto's HMAC. ThingLedger uses HMAC-SHA-256 with 6 to 8 digits;
 * SHA-1 is accepted for the RFC's own test vectors.
 */
export type HotpAlgorithm = "sha1" | "sha256";
export type HotpDigits = 6 | 7 | 8;

export interface HotpConfig {
  algorithm: HotpAlgorithm;
  digits: HotpDigits;
}

export const DEFAULT_HOTP: HotpConfig = { algorithm: "sha256", digits: 8 };

/**
 * The device's window W: it accepts any unused counter in [base, base + W), and the AS never has more than
 * W codes outstanding per device, so no paid code ever falls out of the window. 32 fits a 32-bit bitmap.
 */
export const DEFAULT_WINDOW = 32;

/**
 * otplib's crypto plugin on node:crypto (OpenSSL's HMAC): the AS makes a code per sale, and the pure-JS
 * HMAC of `@otplib/plugin-crypto-noble` cost it several times more. otplib keeps the RFC's counter
 * encoding, truncation and checks; only the HMAC is native.
 */
const crypto: Parameters<typeof generateSync>[0]["crypto"] = {
  name: "node",
  algorithms: ["sha1", "sha256"],
  hmac: (algorithm, key, data) => createHmac(algorithm.toLowerCase().replace(/[-_]/, ""), key).update(data).digest(),
  randomBytes: (length) => randomBytes(length),
  constantTimeEqual: (a, b) => {
    const x = typeof a === "string" ? Buffer.from(a) : Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    const y = typeof b === "string" ? Buffer.from(b) : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    return x.length === y.length && timingSafeEqual(x, y);
  },
};

export function hotp(secret: Uint8Array, counter: number, config: HotpConfig = DEFAULT_HOTP): string {
  return generateSync({ secret, counter, crypto, algorithm: config.algorithm, digits: config.digits });
}

/**
 * Checks `token` against counters `counter` … `counter + window`. Returns the counter that matched, or
 * undefined: the caller then advances past it, so a token works once.
 */
export function hotpMatch(
  secret: Uint8Array,
  token: string,
  counter: number,
  window: number,
  config: HotpConfig = DEFAULT_HOTP,
): number | undefined {
  if (!new RegExp(`^\\d{${config.digits}}$`).test(token)) return undefined;
  const result = verifySync({
    secret,
    token,
    counter,
    crypto,
    algorithm: config.algorithm,
    digits: config.digits,
    counterTolerance: [0, window],
  });
  return result.valid ? counter + result.delta : undefined;
}

/**
 * The device's sliding-window check: `token` against every counter in [base, base + window) whose bit in
 * `used` (bit i = counter base + i) is clear. Returns the counter that matched, or undefined.
 */
export function hotpMatchUnused(
  secret: Uint8Array,
  token: string,
  base: number,
  window: number,
  used: readonly boolean[],
  config: HotpConfig = DEFAULT_HOTP,
): number | undefined {
  if (!new RegExp(`^\\d{${config.digits}}$`).test(token)) return undefined;
  for (let i = 0; i < window; i++) if (!used[i] && hotp(secret, base + i, config) === token) return base + i;
  return undefined;
}

/** 16 bytes of HMAC-SHA-256 of `message` under the shared secret, as hex. */
function deviceMac(secret: Uint8Array, message: string): string {
  return createHmac("sha256", secret).update(message).digest().subarray(0, 16).toString("hex");
}

function macEquals(expectedHex: string, givenHex: string): boolean {
  const expected = Buffer.from(expectedHex, "hex");
  const given = Buffer.from(givenHex, "hex");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** A challenge of the AS (`--resync`): 16 random bytes as 32 lower-case hex digits. */
export const CHALLENGE_PATTERN = "^[0-9a-f]{32}$";

/**
 * A device's acknowledgement of its window: `base` (every counter below it was used) and `next`, one above
 * the highest counter it ever used (omitted, or equal to `base`, when it used none above its base). Only the
 * device and its AS can make one (a MAC under the shared secret); a client relays it. With `challenge` (the
 * AS's random nonce while it awaits the device after a restore) the MAC covers it too: such an
 * acknowledgement was made after the AS asked, so it cannot be an old one replayed.
 */
export function deviceAck(
  secret: Uint8Array,
  deviceId: string,
  base: number,
  next?: number,
  challenge?: string,
): string {
  if (challenge !== undefined && !new RegExp(CHALLENGE_PATTERN).test(challenge))
    throw new UserError(`challenge ${challenge.slice(0, 40)} is not 32 lower-case hex digits`);
  const above = next === undefined || next <= base ? "" : ` ${next}`;
  const asked = challenge === undefined ? "" : ` challenge ${challenge}`;
  return deviceMac(secret, `thingledger device ack ${deviceId.toLowerCase()} ${base}${above}${asked}`);
}

export function checkDeviceAck(
  secret: Uint8Array,
  deviceId: string,
  base: number,
  mac: string,
  next?: number,
  challenge?: string,
): boolean {
  return macEquals(deviceAck(secret, deviceId, base, next, challenge), mac);
}

/**
 * The AS's authenticated advance of a device's window base to `base`: every counter below it that the
 * device has not used is void (the AS makes one only for codes whose lifetime is over). A different message
 * from an acknowledgement, so neither can stand in for the other.
 */
export function deviceAdvance(secret: Uint8Array, deviceId: string, base: number): string {
  return deviceMac(secret, `thingledger device advance ${deviceId.toLowerCase()} ${base}`);
}

export function checkDeviceAdvance(secret: Uint8Array, deviceId: string, base: number, mac: string): boolean {
  return macEquals(deviceAdvance(secret, deviceId, base), mac);
}
