import { keccak256, toUtf8Bytes } from "ethers";

import { MAX_RATING } from "../eip712/report";
import { ensure } from "../errors";

/** `--interaction`: 0x + 64 hex as is (a channel id, a transaction hash), any other text hashed. */
export function parseInteraction(value: string): string {
  ensure(value !== "", "--interaction: give a channel id, a transaction hash or a label");
  return /^0x[0-9a-fA-F]{64}$/.test(value) ? value.toLowerCase() : keccak256(toUtf8Bytes(value));
}

/** `--rating`: a whole number from 0 (failed) to {@link MAX_RATING} (perfect). */
export function parseRating(value: string): number {
  const n = Number(value);
  ensure(
    /^\d+$/.test(value) && n <= MAX_RATING,
    `--rating: a whole number from 0 (failed) to ${MAX_RATING} (perfect), got "${value}"`,
  );
  return n;
}
