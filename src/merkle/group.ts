import { getAddress } from "ethers";
import { memoized, keccak as nativeKeccak } from "../keccak";

import { MerkleTree, rootFromProof } from "./tree";

/**
 * A channel's client group: the Merkle root of its client keys. Leaves are double-hashed, as
 * `GroupLeaf.hash` computes them on chain; a one-client group's root is that client's leaf. Remembered for
 * the last clients seen (the AS checks the same signers' membership with every receipt).
 */
export const clientLeaf = memoized((client: string): string => {
  // abi.encode(address): the 20 bytes right-aligned in a 32-byte word.
  const word = Buffer.alloc(32);
  word.write(client.slice(2), 12, "hex");
  return `0x${nativeKeccak(nativeKeccak(word)).toString("hex")}`;
});

export interface ClientGroup {
  root: string;
  clients: string[];
  /** Proof of each client, by address (checksummed). */
  proofs: Record<string, string[]>;
}

export function buildGroup(clients: readonly string[]): ClientGroup {
  if (clients.length === 0) throw new Error("a client group needs at least one client");
  const normalized = clients.map((c) => getAddress(c));
  if (new Set(normalized).size !== normalized.length) throw new Error("a client group lists a client twice");
  const leaves = normalized.map((c) => Buffer.from(clientLeaf(c).slice(2), "hex"));
  const tree = new MerkleTree(leaves);
  const proofs: Record<string, string[]> = {};
  normalized.forEach((c, i) => {
    proofs[c] = tree.proof(i);
  });
  return { root: tree.root, clients: normalized, proofs };
}

/** Checks a client's membership off chain, as `MerkleProof.verify` with sorted pairs does. */
export function isMember(root: string, client: string, proof: readonly string[]): boolean {
  return rootFromProof(clientLeaf(client), proof) === root.toLowerCase();
}
