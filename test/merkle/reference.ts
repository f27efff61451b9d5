/**
 * The old code path, kept only for tests and `npm run bench:whitelist`: `merkletreejs` with sorted pairs
 * over ethers' pure-JS keccak256, which every deployed whitelist root was built with. An independent
 * reference for `src/merkle/tree.ts` (none of its code is shared).
 */
import { getAddress, keccak256 } from "ethers";
import { MerkleTree } from "merkletreejs";

import type { Whitelist, WhitelistDevice } from "../../src/merkle/whitelist";

function hash(data: Buffer): Buffer {
  return Buffer.from(keccak256(data).slice(2), "hex");
}

export function referenceTree(leaves: readonly Buffer[]): { root: string; proof(index: number): string[] } {
  const tree = new MerkleTree(leaves.slice(), hash, { sortPairs: true });
  return { root: tree.getHexRoot(), proof: (index) => tree.getHexProof(leaves[index], index) };
}

/** The whitelist as the code before the one builder made it (leaves, tree and proofs all merkletreejs + ethers). */
export function referenceWhitelist(devices: readonly WhitelistDevice[], manufacturerId: number): Whitelist {
  const leaves = devices.map((d) => {
    const word = Buffer.alloc(128);
    word.write(d.deviceId.slice(2), 0, "hex");
    word.write(d.deviceKey.slice(2), 44, "hex");
    word.writeUInt32BE(d.deviceType, 92);
    word.writeUInt32BE(manufacturerId, 124);
    return hash(hash(word));
  });
  const tree = new MerkleTree(leaves, hash, { sortPairs: true });
  const entries = devices.map((d, index) => ({
    deviceId: d.deviceId,
    deviceKey: getAddress(d.deviceKey),
    deviceType: d.deviceType,
    index,
    leaf: `0x${leaves[index].toString("hex")}`,
    proof: tree.getHexProof(leaves[index], index),
  }));
  return { kind: "thingledger/whitelist", manufacturerId, root: tree.getHexRoot(), capacity: devices.length, entries };
}
