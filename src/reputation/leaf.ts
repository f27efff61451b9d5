import { keccak } from "../keccak";

/** A report's leaf as a Buffer: see {@link reportLeaf}. */
export function leafBuffer(digest: string): Buffer {
  return keccak(keccak(Buffer.from(digest.slice(2), "hex")));
}

/**
 * A report's leaf in an epoch's reports tree: keccak256(keccak256(digest)), where digest is the report's
 * EIP-712 digest (it binds every field, the chain and the registry). In Solidity:
 * `keccak256(bytes.concat(keccak256(abi.encode(digest))))`. The double hash gives a leaf a 32-byte
 * preimage and an inner node a 64-byte one, so an inner node can never pass for a report.
 */
export function reportLeaf(digest: string): string {
  return `0x${leafBuffer(digest).toString("hex")}`;
}
