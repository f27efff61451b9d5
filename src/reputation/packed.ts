import { concat, toBeHex, zeroPadValue } from "ethers";

/** Bytes per entry of `updateScoresPacked`: reference (12), score (2), trend (1). */
export const PACKED_ENTRY_BYTES = 15;

/** A score to pack, as `updateScores` takes it. */
export interface PackableScore {
  deviceId: string;
  score: number;
  trend: number;
}

/**
 * A device's 96-bit reference, the key of its owner and reputation word on chain: its manufacturer id (the
 * id's top 32 bits), then the id's low 64 bits.
 */
export function deviceRef(deviceId: string): bigint {
  const id = BigInt(zeroPadValue(deviceId, 32));
  return ((id >> 224n) << 64n) | (id & 0xffff_ffff_ffff_ffffn);
}

/**
 * The `entries` argument of `updateScoresPacked`: per score, its device's reference (12 bytes), the score
 * (2 bytes) and the trend (1 byte, two's complement), big-endian, back to back. Refuses a score outside
 * 0-65,535 or a trend outside -128-127 (the chain refuses a score above 1,000 or a trend other than -1, 0, 1).
 */
export function packScores(entries: readonly PackableScore[]): string {
  if (entries.length === 0) throw new Error("no scores to pack");
  return concat(
    entries.map(({ deviceId, score, trend }) => {
      if (!Number.isInteger(score) || score < 0 || score > 0xffff) throw new Error(`score ${score} is no uint16`);
      if (!Number.isInteger(trend) || trend < -128 || trend > 127) throw new Error(`trend ${trend} is no int8`);
      return concat([toBeHex(deviceRef(deviceId), 12), toBeHex(score, 2), toBeHex(trend & 0xff, 1)]);
    }),
  );
}
