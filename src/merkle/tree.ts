import keccak from "keccak256";

/**
 * A Merkle tree of 32-byte leaves with sorted pairs, the shape OpenZeppelin's `MerkleProof.verify`
 * checks: each node is keccak256 of its two children in ascending order, and an odd node is carried up
 * a level unchanged. Built on Buffers (no hex strings inside), so 100,000 leaves take well under a second.
 */
export class SortedMerkleTree {
  private readonly layers: Buffer[][];

  /** @param leaves The leaves, in the order their indexes refer to; at least one. */
  constructor(leaves: readonly Buffer[]) {
    if (leaves.length === 0) throw new Error("a Merkle tree needs at least one leaf");
    const layers: Buffer[][] = [leaves.slice()];
    while (layers[layers.length - 1].length > 1) {
      const below = layers[layers.length - 1];
      const above: Buffer[] = [];
      for (let i = 0; i < below.length; i += 2) {
        if (i + 1 === below.length) above.push(below[i]);
        else above.push(hashPair(below[i], below[i + 1]));
      }
      layers.push(above);
    }
    this.layers = layers;
  }

  get root(): string {
    return `0x${this.layers[this.layers.length - 1][0].toString("hex")}`;
  }

  proof(index: number): string[] {
    if (!Number.isInteger(index) || index < 0 || index >= this.layers[0].length)
      throw new Error(`no leaf at index ${index}`);
    const proof: string[] = [];
    let i = index;
    for (let level = 0; level < this.layers.length - 1; level++) {
      const layer = this.layers[level];
      const sibling = i % 2 === 0 ? i + 1 : i - 1;
      if (sibling < layer.length) proof.push(`0x${layer[sibling].toString("hex")}`);
      i = Math.floor(i / 2);
    }
    return proof;
  }
}

function hashPair(a: Buffer, b: Buffer): Buffer {
  return keccak(Buffer.compare(a, b) <= 0 ? Buffer.concat([a, b]) : Buffer.concat([b, a]));
}
