/**
 * The compressed size that OP-stack chains (Fjord and later) charge a transaction's L1 data fee on:
 * the length of FastLZ level-1 output, as computed by Solady's `LibZip.flzCompress` and op-geth's
 * `FlzCompressLen`, and the Fjord size estimate built on it. Only the length is needed, so no output is
 * produced. This module is written from the algorithm's description; its test checks it against the
 * published vectors of those implementations.
 */

const HASH_MASK = 0x1fff; // 8,192-entry hash table (13 bits)
const MAX_DISTANCE = 0x1fff; // level 1 reaches back at most 8,191 bytes
const LITERAL_RUN = 32; // one control byte per run of at most 32 literals
const MATCH_LIMIT = 262; // a longer match is split into several

/** Length in bytes of the FastLZ level-1 compression of `input` (Solady / OP-stack flavour). */
export function flzCompressLength(input: Uint8Array): number {
  const table = new Uint32Array(HASH_MASK + 1);
  const u24 = (i: number): number => input[i] | (input[i + 1] << 8) | (input[i + 2] << 16);
  // Knuth's multiplicative hash over 32-bit unsigned arithmetic, top 13 of the 32 bits.
  const hash = (v: number): number => (Math.imul(2654435769 | 0, v) >>> 19) & HASH_MASK;
  let size = 0;
  const literals = (count: number): void => {
    size += (LITERAL_RUN + 1) * Math.floor(count / LITERAL_RUN);
    const rest = count % LITERAL_RUN;
    if (rest !== 0) size += rest + 1;
  };
  const limit = input.length < 13 ? 0 : input.length - 13;
  let anchor = 0;
  let ip = 2;
  while (ip < limit) {
    let ref: number;
    for (;;) {
      const seq = u24(ip);
      const h = hash(seq);
      ref = table[h];
      table[h] = ip;
      const distance = ip - ref;
      if (ip >= limit) break;
      ip += 1;
      if (distance <= MAX_DISTANCE && seq === u24(ref)) break;
    }
    if (ip >= limit) break;
    ip -= 1;
    if (ip > anchor) literals(ip - anchor);
    // Compare from the fourth byte on. As in the reference implementations, a mismatch ends the scan one
    // byte after it, and the match is then encoded one byte shorter: the encoded length is what counts.
    const end = limit + 9 - (ip + 3);
    let length = 0;
    while (length < end) {
      const differs = input[ref + 3 + length] !== input[ip + 3 + length];
      length += 1;
      if (differs) break;
    }
    const encoded = length - 1;
    size += 3 * Math.floor(encoded / MATCH_LIMIT) + (encoded % MATCH_LIMIT >= 6 ? 3 : 2);
    ip += length;
    table[hash(u24(ip))] = ip;
    ip += 1;
    table[hash(u24(ip))] = ip;
    ip += 1;
    anchor = ip;
  }
  literals(input.length - anchor);
  return size;
}

/** Fjord's constants (OP-stack `GasPriceOracle`), all scaled by 1e6. */
export const FJORD = { intercept: -42_585_600, fastlzCoef: 836_500, minTransactionSize: 100 } as const;

/**
 * Fjord's estimated compressed size of a signed transaction, in bytes (scaled by 1e6 on chain:
 * `max(minTransactionSize·1e6, intercept + fastlzCoef·fastlzSize)`; returned here divided by 1e6). The
 * L1 data fee is this size times the chain's per-byte L1 price.
 */
export function fjordEstimatedSize(fastlzSize: number): number {
  const scaled = Math.max(FJORD.minTransactionSize * 1e6, FJORD.intercept + FJORD.fastlzCoef * fastlzSize);
  return scaled / 1e6;
}
