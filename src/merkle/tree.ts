import fs from "node:fs";

import { keccak } from "../keccak";

/** The size of a leaf or node: a keccak256 hash. */
export const NODE_BYTES = 32;

/** The tree file's magic bytes (8) and header size: magic, then the leaf count as a big-endian uint64. */
const MAGIC = Buffer.from("TLMERKL1", "latin1");
export const TREE_FILE_HEADER_BYTES = 16;

/** Nodes hashed per chunk when a level is built from a file: bounds the memory of any build (2 MiB in). */
const CHUNK_NODES = 1 << 16;

const scratch = Buffer.alloc(2 * NODE_BYTES);
const nodeScratch = Buffer.alloc(NODE_BYTES);

/**
 * Hashes `count` packed nodes of `below` (from node `from`) into the level above, written packed into
 * `above` from node 0: keccak256 of each pair in ascending byte order (OpenZeppelin `MerkleProof`'s
 * sorted pairs), and an odd last node carried up unchanged (the shape `merkletreejs` builds with
 * `sortPairs`, which every deployed whitelist root was made with). `from` is even. Returns the nodes written.
 */
function hashLevel(below: Buffer, from: number, count: number, above: Buffer): number {
  let out = 0;
  for (let i = 0; i < count; i += 2, out++) {
    const a = (from + i) * NODE_BYTES;
    if (i + 1 === count) {
      below.copy(above, out * NODE_BYTES, a, a + NODE_BYTES);
      continue;
    }
    const b = a + NODE_BYTES;
    const ordered = below.compare(below, b, b + NODE_BYTES, a, b) <= 0;
    below.copy(scratch, ordered ? 0 : NODE_BYTES, a, b);
    below.copy(scratch, ordered ? NODE_BYTES : 0, b, b + NODE_BYTES);
    keccak(scratch).copy(above, out * NODE_BYTES);
  }
  return out;
}

/** The node count of every level, leaves first and the root (1) last. */
export function levelSizes(leafCount: number): number[] {
  if (!Number.isSafeInteger(leafCount) || leafCount < 1) throw new Error("a Merkle tree needs at least one leaf");
  const sizes = [leafCount];
  while (sizes[sizes.length - 1] > 1) sizes.push(Math.ceil(sizes[sizes.length - 1] / 2));
  return sizes;
}

function hex(buffer: Buffer, at = 0): string {
  return `0x${buffer.toString("hex", at, at + NODE_BYTES)}`;
}

function checkIndex(index: number, count: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= count) throw new Error(`no leaf at index ${index}`);
}

/** A leaf as a 32-byte Buffer, from 0x-prefixed hex or a Buffer. */
function nodeBuffer(node: string | Buffer): Buffer {
  const buffer = typeof node === "string" ? Buffer.from(node.slice(2), "hex") : node;
  if (buffer.length !== NODE_BYTES) throw new Error("a Merkle node is 32 bytes");
  return buffer;
}

/**
 * A sorted-pair Merkle tree held in memory, each level one packed Buffer of 32-byte nodes: for the small
 * trees (a channel's client group, an auditor's epoch, tests). Same roots and proofs as {@link TreeFile}.
 */
export class MerkleTree {
  /** The levels, leaves first, root last; each `size × 32` bytes. */
  private readonly levels: Buffer[];

  /** @param leaves The leaves, in the order their indexes refer to (packed, or one Buffer each); at least one. */
  constructor(leaves: Buffer | readonly Buffer[]) {
    const packed = Buffer.isBuffer(leaves) ? leaves : Buffer.concat(leaves.map(nodeBuffer));
    if (packed.length % NODE_BYTES !== 0) throw new Error("packed leaves must be a multiple of 32 bytes");
    const sizes = levelSizes(packed.length / NODE_BYTES);
    this.levels = [packed];
    for (let level = 1; level < sizes.length; level++) {
      const above = Buffer.allocUnsafe(sizes[level] * NODE_BYTES);
      hashLevel(this.levels[level - 1], 0, sizes[level - 1], above);
      this.levels.push(above);
    }
  }

  get count(): number {
    return this.levels[0].length / NODE_BYTES;
  }

  get root(): string {
    return hex(this.levels[this.levels.length - 1]);
  }

  leaf(index: number): string {
    checkIndex(index, this.count);
    return hex(this.levels[0], index * NODE_BYTES);
  }

  /** The proof of the leaf at `index`, bottom up, as `MerkleProof.verify` takes it. */
  proof(index: number): string[] {
    checkIndex(index, this.count);
    const proof: string[] = [];
    let i = index;
    for (let level = 0; level < this.levels.length - 1; level++) {
      const sibling = i ^ 1;
      if (sibling * NODE_BYTES < this.levels[level].length) proof.push(hex(this.levels[level], sibling * NODE_BYTES));
      i >>= 1;
    }
    return proof;
  }
}

/**
 * Builds a tree file from leaves added one at a time, so a tree of any size is built in bounded memory.
 *
 * The tree file: 8 bytes of magic (`TLMERKL1`), the leaf count as a big-endian uint64, then every level
 * packed, 32 bytes a node, leaves first and the root last. A level's size is `ceil(size below / 2)`, so
 * the count alone locates any node; {@link TreeFile} reads proofs from it by index.
 */
export class TreeFileWriter {
  private readonly fd: number;
  private readonly pending = Buffer.allocUnsafe(CHUNK_NODES * NODE_BYTES);
  private pendingCount = 0;
  private leafCount = 0;
  private finished = false;

  constructor(readonly file: string) {
    this.fd = fs.openSync(file, "w+");
    fs.writeSync(this.fd, Buffer.alloc(TREE_FILE_HEADER_BYTES), 0, TREE_FILE_HEADER_BYTES, 0);
  }

  /** Appends the next leaf (32 bytes, copied). */
  add(leaf: Buffer): void {
    if (this.finished) throw new Error("the tree file is already finished");
    if (leaf.length !== NODE_BYTES) throw new Error("a Merkle leaf is 32 bytes");
    leaf.copy(this.pending, this.pendingCount * NODE_BYTES);
    if (++this.pendingCount === CHUNK_NODES) this.flush();
  }

  private flush(): void {
    const bytes = this.pendingCount * NODE_BYTES;
    fs.writeSync(this.fd, this.pending, 0, bytes, TREE_FILE_HEADER_BYTES + this.leafCount * NODE_BYTES);
    this.leafCount += this.pendingCount;
    this.pendingCount = 0;
  }

  /** Hashes every level above the leaves into the file, closes it, and returns the root and leaf count. */
  finish(): { root: string; count: number } {
    if (this.finished) throw new Error("the tree file is already finished");
    this.finished = true;
    try {
      this.flush();
      const sizes = levelSizes(this.leafCount);
      const header = Buffer.alloc(TREE_FILE_HEADER_BYTES);
      MAGIC.copy(header);
      header.writeBigUInt64BE(BigInt(this.leafCount), MAGIC.length);
      fs.writeSync(this.fd, header, 0, header.length, 0);
      const input = this.pending;
      const output = Buffer.allocUnsafe((CHUNK_NODES / 2) * NODE_BYTES);
      let belowAt = TREE_FILE_HEADER_BYTES;
      for (let level = 1; level < sizes.length; level++) {
        const aboveAt = belowAt + sizes[level - 1] * NODE_BYTES;
        for (let from = 0; from < sizes[level - 1]; from += CHUNK_NODES) {
          const count = Math.min(CHUNK_NODES, sizes[level - 1] - from);
          fs.readSync(this.fd, input, 0, count * NODE_BYTES, belowAt + from * NODE_BYTES);
          const written = hashLevel(input, 0, count, output);
          fs.writeSync(this.fd, output, 0, written * NODE_BYTES, aboveAt + (from / 2) * NODE_BYTES);
        }
        belowAt = aboveAt;
      }
      const root = Buffer.alloc(NODE_BYTES);
      fs.readSync(this.fd, root, 0, NODE_BYTES, belowAt);
      return { root: hex(root), count: this.leafCount };
    } finally {
      fs.closeSync(this.fd);
    }
  }
}

/** Writes the tree of `leaves` to `file` (see {@link TreeFileWriter}) and returns its root and leaf count. */
export function writeTreeFile(file: string, leaves: Iterable<Buffer>): { root: string; count: number } {
  const writer = new TreeFileWriter(file);
  try {
    for (const leaf of leaves) writer.add(leaf);
  } catch (error) {
    writer.finish();
    throw error;
  }
  return writer.finish();
}

/** One leaf's proof as {@link TreeFile.forEachProof} hands it out: nodes as offsets into shared Buffers. */
export interface PackedProof {
  index: number;
  leaf: Buffer;
  leafAt: number;
  /** The proof's nodes, bottom up: node `k` is 32 bytes of `nodes[k]` at `at[k]`, from level `levels[k]`. */
  nodes: Buffer[];
  at: number[];
  levels: number[];
  /**
   * The same nodes as lowercase hex text (ASCII, no 0x): node `k` is 64 bytes of `hex[k]` at `2 * at[k]`.
   * Encoded a block of leaves at a time, so writing a proof as text costs a copy per node, not an encoding.
   */
  hex: Buffer[];
  /** The leaf as hex text: 64 bytes of `leafHex` at `2 * leafAt`. */
  leafHex: Buffer;
}

/**
 * A tree file opened for proofs by index: the top of the tree (levels of up to 65,536 nodes) is read
 * when opened, and each proof then takes one positioned read per level below it (4 for a million
 * leaves); the file is never loaded whole. Close it when done.
 */
export class TreeFile {
  private readonly fd: number;
  readonly count: number;
  readonly root: string;
  /** Byte offset of each level in the file, leaves first. */
  private readonly offsets: number[];
  private readonly sizes: number[];
  /** The top of the tree (every level of at most 65,536 nodes: under 4 MiB), read once when opened. */
  private readonly top: (Buffer | undefined)[];

  private constructor(fd: number, file: string) {
    this.fd = fd;
    const header = Buffer.alloc(TREE_FILE_HEADER_BYTES);
    const read = fs.readSync(fd, header, 0, header.length, 0);
    if (read < header.length || !header.subarray(0, MAGIC.length).equals(MAGIC))
      throw new Error(`${file} is not a Merkle tree file`);
    this.count = Number(header.readBigUInt64BE(MAGIC.length));
    this.sizes = levelSizes(this.count);
    this.offsets = [];
    let at = TREE_FILE_HEADER_BYTES;
    for (const size of this.sizes) {
      this.offsets.push(at);
      at += size * NODE_BYTES;
    }
    if (fs.fstatSync(fd).size < at) throw new Error(`${file} is truncated: ${this.count} leaves need ${at} bytes`);
    this.top = this.sizes.map((size, level) => {
      if (size > CHUNK_NODES) return undefined;
      const buffer = Buffer.allocUnsafe(size * NODE_BYTES);
      fs.readSync(fd, buffer, 0, buffer.length, this.offsets[level]);
      return buffer;
    });
    this.root = hex(this.top[this.top.length - 1] as Buffer);
  }

  static open(file: string): TreeFile {
    const fd = fs.openSync(file, "r");
    try {
      return new TreeFile(fd, file);
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
  }

  private node(level: number, index: number): string {
    const top = this.top[level];
    if (top !== undefined) return hex(top, index * NODE_BYTES);
    // One scratch buffer for every read (the read is synchronous): a proof allocates only its strings.
    fs.readSync(this.fd, nodeScratch, 0, NODE_BYTES, this.offsets[level] + index * NODE_BYTES);
    return hex(nodeScratch);
  }

  leaf(index: number): string {
    checkIndex(index, this.count);
    return this.node(0, index);
  }

  /** The proof of the leaf at `index`, bottom up, read from the file. */
  proof(index: number): string[] {
    checkIndex(index, this.count);
    const proof: string[] = [];
    let i = index;
    for (let level = 0; level < this.sizes.length - 1; level++) {
      if ((i ^ 1) < this.sizes[level]) proof.push(this.node(level, i ^ 1));
      i >>= 1;
    }
    return proof;
  }

  /**
   * Calls `fn` with every leaf's proof in index order, reading the file in blocks of leaves (each level's
   * window of siblings for the block, one read each): every proof of a large tree in bounded memory.
   * The Buffers are reused after `fn` returns.
   */
  forEachProof(fn: (proof: PackedProof) => void): void {
    const windows = this.sizes.map(() => Buffer.allocUnsafe((CHUNK_NODES + 2) * NODE_BYTES));
    const hexWindows = this.sizes.map(() => Buffer.allocUnsafe((CHUNK_NODES + 2) * NODE_BYTES * 2));
    const starts: number[] = this.sizes.map(() => 0);
    const proof: PackedProof = {
      index: 0,
      leaf: windows[0],
      leafAt: 0,
      nodes: [],
      at: [],
      levels: [],
      hex: [],
      leafHex: hexWindows[0],
    };
    for (let from = 0; from < this.count; from += CHUNK_NODES) {
      const to = Math.min(this.count, from + CHUNK_NODES);
      for (let level = 0; level < this.sizes.length; level++) {
        const first = Math.max(0, (from >> level) - 1);
        const bytes = (Math.min(this.sizes[level], ((to - 1) >> level) + 2) - first) * NODE_BYTES;
        starts[level] = first;
        fs.readSync(this.fd, windows[level], 0, bytes, this.offsets[level] + first * NODE_BYTES);
        hexWindows[level].write(windows[level].toString("hex", 0, bytes), 0, "latin1");
      }
      for (let index = from; index < to; index++) {
        proof.index = index;
        proof.leafAt = (index - starts[0]) * NODE_BYTES;
        proof.nodes.length = 0;
        proof.at.length = 0;
        proof.levels.length = 0;
        proof.hex.length = 0;
        let i = index;
        for (let level = 0; level < this.sizes.length - 1; level++) {
          if ((i ^ 1) < this.sizes[level]) {
            proof.nodes.push(windows[level]);
            proof.hex.push(hexWindows[level]);
            proof.at.push(((i ^ 1) - starts[level]) * NODE_BYTES);
            proof.levels.push(level);
          }
          i >>= 1;
        }
        fn(proof);
      }
    }
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}

/**
 * Recomputes a root from a leaf and its sorted-pair proof, as `MerkleProof.processProof` does on chain.
 * Malformed input (a node not 32 bytes) is hashed as given and so leads to another root, never a throw.
 */
export function rootFromProof(leaf: string, proof: readonly string[]): string {
  let node: Buffer = Buffer.from(leaf.slice(2), "hex");
  for (const p of proof) {
    const sibling = Buffer.from(p.slice(2), "hex");
    node = keccak(Buffer.compare(node, sibling) <= 0 ? Buffer.concat([node, sibling]) : Buffer.concat([sibling, node]));
  }
  return `0x${node.toString("hex")}`;
}
