import { generateSync, verifySync } from "@otplib/hotp";
import { NobleCryptoPlugin } from "@otplib/plugin-crypto-noble";

/**
 * HOTP (RFC 4226) one-time passwords, through otplib. ThingLedger uses HMAC-SHA-256 with 6 to 8 digits;
 * SHA-1 is accepted for the RFC's own test vectors.
 */
export type HotpAlgorithm = "sha1" | "sha256";
export type HotpDigits = 6 | 7 | 8;

export interface HotpConfig {
  algorithm: HotpAlgorithm;
  digits: HotpDigits;
}

export const DEFAULT_HOTP: HotpConfig = { algorithm: "sha256", digits: 8 };

const crypto = new NobleCryptoPlugin();

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
