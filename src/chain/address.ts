import { keccak, memoized } from "../keccak";

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

/**
 * The EIP-55 checksummed form of an address given as 40 lowercase hex digits (no 0x), hashed with the
 * native keccak: what ethers' `getAddress` returns, several times faster (it hashes in pure JS). Remembered
 * for the last addresses seen ({@link memoized}).
 */
export const checksumHex = memoized((lower: string): string => {
  const hash = keccak(Buffer.from(lower, "latin1"));
  let out = "0x";
  for (let i = 0; i < 40; i++) {
    const nibble = (hash[i >> 1] >> (i % 2 === 0 ? 4 : 0)) & 0xf;
    out += nibble >= 8 ? lower[i].toUpperCase() : lower[i];
  }
  return out;
});

/** True for 0x + 40 hex digits that are all one case or correctly checksummed (what ethers accepts). */
export function isAddress(address: string): boolean {
  if (!ADDRESS.test(address)) return false;
  const body = address.slice(2);
  const lower = body.toLowerCase();
  return body === lower || body === body.toUpperCase() || checksumHex(lower) === address;
}

/** An address in EIP-55 checksum case; refuses a non-address and a mixed-case one whose checksum is wrong. */
export function checksumAddress(address: string): string {
  if (!ADDRESS.test(address)) throw new Error(`"${address}" is not an address`);
  if (!isAddress(address)) throw new Error(`"${address}" has a bad checksum`);
  return checksumHex(address.slice(2).toLowerCase());
}
