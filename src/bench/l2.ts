import { SigningKey, Transaction, getBytes, keccak256, toUtf8Bytes } from "ethers";

import type { MeasuredTx } from "./bound";
import { fjordEstimatedSize, flzCompressLength } from "./fastlz";

/**
 * What an OP-stack L2 charges a transaction's L1 data on: the size of the signed transaction, as sent.
 * The measured call is re-signed as an EIP-1559 (type-2) transaction with a fixed test key and fees typical
 * of OP Mainnet, so the figures do not depend on the test network's accounts or fee market.
 */
export const L2_TX = {
  chainId: 10n,
  nonce: 1_000,
  /** 0.001 gwei tip, 0.1 gwei fee cap. */
  maxPriorityFeePerGas: 1_000_000n,
  maxFeePerGas: 100_000_000n,
} as const;

const KEY = new SigningKey(keccak256(toUtf8Bytes("thingledger bench:gas L2 sender")));

export interface L2Size {
  /** Bytes of the signed transaction's EIP-2718 envelope (type byte + RLP). */
  rlpBytes: number;
  /** Its FastLZ-compressed length. */
  fastlzBytes: number;
  /** Fjord's size estimate (max(100, −42.5856 + 0.8365 × fastlz)), the bytes the L1 fee is charged on. */
  fjordBytes: number;
}

/** The signed transaction behind a measured call, as an L2 would receive it. */
export function signedL2Transaction(tx: MeasuredTx): Uint8Array {
  const t = Transaction.from({
    type: 2,
    ...L2_TX,
    gasLimit: BigInt(tx.gasLimit),
    to: tx.to,
    value: BigInt(tx.value),
    data: tx.data,
    accessList: [],
  });
  t.signature = KEY.sign(t.unsignedHash);
  return getBytes(t.serialized);
}

export function l2Size(tx: MeasuredTx): L2Size {
  const signed = signedL2Transaction(tx);
  const fastlzBytes = flzCompressLength(signed);
  return { rlpBytes: signed.length, fastlzBytes, fjordBytes: Math.round(fjordEstimatedSize(fastlzBytes) * 10) / 10 };
}

/** A batch row's L2 data target: at most `fastlzBytes` FastLZ bytes (issue 20: half the size at its filing). */
export interface L2Target {
  fastlzBytes: number;
  /** Where the target comes from. */
  source: string;
  /** For a row that misses it: why it cannot be met without dropping a requirement, in one line. */
  excess?: string;
}

/** The L2 targets, by row (each a whole batch transaction at a realistic size). */
export const L2_TARGETS: Record<string, L2Target> = {
  "reputation.updateScoresPacked (batch of 100, existing scores)": {
    fastlzBytes: 2_401,
    source: "half of updateScores' 4,802 FastLZ bytes at issue 20's filing; the auditor sends the packed form",
  },
  "channels.closeBatch (20 ETH channels, distinct groups of 1,024, total)": {
    fastlzBytes: 4_980,
    source: "half of 9,960 FastLZ bytes (issue 20's filing)",
    excess:
      "each channel's entry carries ~470 incompressible bytes: its client's 10-level Merkle proof (320), the client's signature (64), the group root and salt (64) and the owner (20); half would need no membership proof, dropping the check that the receipt's signer belongs to the owner's group",
  },
};

/** The plain line for a row that misses its L2 target, or null when it meets it (or has none). */
export function l2Miss(operation: string, size: L2Size | null): string | null {
  const t = L2_TARGETS[operation];
  if (t === undefined || size === null || size.fastlzBytes <= t.fastlzBytes) return null;
  const by = size.fastlzBytes - t.fastlzBytes;
  const line = `${operation}: ${size.fastlzBytes.toLocaleString("en-US")} FastLZ bytes miss the L2 target of ${t.fastlzBytes.toLocaleString("en-US")} (${t.source}) by ${by.toLocaleString("en-US")}`;
  return `${line}: ${t.excess ?? "no reason recorded"}`;
}
