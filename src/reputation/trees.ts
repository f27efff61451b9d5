import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

import { LRUCache } from "lru-cache";

import { MerkleTree, TreeFile, writeTreeFile } from "../merkle/tree";

/**
 * The auditor's submitted epochs' Merkle trees. On disk (`dir`), one tree file an epoch (`<epoch>.tree`), so
 * that a proof is read by index in O(log n) whichever epochs are asked for; in memory without `dir`. Each is
 * built once from the epoch's stored leaves (`leaves`), and the last few used stay open.
 */
export class EpochTrees {
  /** The last epoch trees used (tree files stay open), closed when evicted or on {@link close}. */
  private readonly trees = new LRUCache<number, TreeFile | MerkleTree>({
    max: 8,
    dispose: (tree) => {
      if (tree instanceof TreeFile) tree.close();
    },
  });

  constructor(
    private readonly dir: string | undefined,
    private readonly leaves: (epoch: number) => Buffer[],
  ) {}

  /** Closes the open tree files. */
  close(): void {
    this.trees.clear();
  }

  /** An epoch's tree: the one kept, or (with `rebuild`, or none kept) built afresh from its leaves. */
  get(epoch: number, rebuild: boolean): TreeFile | MerkleTree {
    const cached = this.trees.get(epoch);
    if (cached !== undefined && !rebuild) return cached;
    this.trees.delete(epoch);
    let tree: TreeFile | MerkleTree;
    if (this.dir === undefined) tree = new MerkleTree(this.leaves(epoch));
    else {
      const file = path.join(this.dir, `${epoch}.tree`);
      if (rebuild || !fs.existsSync(file)) this.write(epoch, file);
      try {
        tree = TreeFile.open(file);
      } catch {
        // Truncated or not a tree file: written afresh (a tree file is a cache of the database's leaves).
        this.write(epoch, file);
        tree = TreeFile.open(file);
      }
    }
    this.trees.set(epoch, tree);
    return tree;
  }

  /** Writes an epoch's tree file: a temporary file of its own, synced, then renamed into place. */
  private write(epoch: number, file: string): void {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const partial = `${file}.${crypto.randomUUID()}.partial`;
    try {
      writeTreeFile(partial, this.leaves(epoch));
      const fd = fs.openSync(partial, "r");
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(partial, file);
    } finally {
      fs.rmSync(partial, { force: true });
    }
  }
}
