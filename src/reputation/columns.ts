import os from "node:os";

import { NODE_BYTES } from "../merkle/tree";

/** The model's fields of many reports as columns: report i's reporter is `devices[reporters[i]]`. */
export interface RatedColumns {
  /** Every device id that appears, once; `reporters` and `subjects` hold indexes into it. */
  devices: readonly string[];
  reporters: ArrayLike<number>;
  subjects: ArrayLike<number>;
  ratings: ArrayLike<number>;
  timestamps: ArrayLike<number>;
}

/**
 * An epoch's reports as columns, the compact form the auditor's store reads them in: one entry per report
 * (in any order), each device named by its index in `devices`, and the leaves packed, 32 bytes each, in
 * the same order. No report is an object and no id or digest a string of its own.
 */
export interface ReportColumns extends RatedColumns {
  reporters: Uint32Array;
  subjects: Uint32Array;
  ratings: Float64Array;
  timestamps: Float64Array;
  /** The reports' leaves, packed: report i's is bytes 32·i to 32·i + 32. */
  leaves: Buffer;
  /** Where each report came from: its rowid in the store, or its index in a list. */
  rows: Float64Array;
}

/** Gives each distinct device id a small index, in the order first seen. */
export class DeviceIndex {
  readonly devices: string[] = [];
  private readonly ids = new Map<string, number>();

  of(id: string): number {
    let index = this.ids.get(id);
    if (index === undefined) {
      index = this.devices.length;
      this.ids.set(id, index);
      this.devices.push(id);
    }
    return index;
  }
}

/** Fills {@link ReportColumns} one report at a time, growing its arrays as needed. */
export class ColumnsBuilder {
  private readonly index = new DeviceIndex();
  private size = 0;
  private reporters: Uint32Array;
  private subjects: Uint32Array;
  private ratings: Float64Array;
  private timestamps: Float64Array;
  private leaves: Buffer;
  private rows: Float64Array;

  constructor(capacity = 1024) {
    const c = Math.max(1, capacity);
    this.reporters = new Uint32Array(c);
    this.subjects = new Uint32Array(c);
    this.ratings = new Float64Array(c);
    this.timestamps = new Float64Array(c);
    this.leaves = Buffer.allocUnsafe(c * NODE_BYTES);
    this.rows = new Float64Array(c);
  }

  add(reporter: string, subject: string, rating: number, timestamp: number, leaf: Buffer, row = this.size): void {
    if (leaf.length !== NODE_BYTES) throw new Error("a report's leaf is 32 bytes");
    if (this.size === this.reporters.length) this.grow();
    const i = this.size++;
    this.reporters[i] = this.index.of(reporter);
    this.subjects[i] = this.index.of(subject);
    this.ratings[i] = rating;
    this.timestamps[i] = timestamp;
    this.rows[i] = row;
    leaf.copy(this.leaves, i * NODE_BYTES);
  }

  private grow(): void {
    const c = this.reporters.length * 2;
    const grown = <T extends Uint32Array | Float64Array>(a: T, make: (n: number) => T): T => {
      const b = make(c);
      b.set(a);
      return b;
    };
    this.reporters = grown(this.reporters, (n) => new Uint32Array(n));
    this.subjects = grown(this.subjects, (n) => new Uint32Array(n));
    this.ratings = grown(this.ratings, (n) => new Float64Array(n));
    this.timestamps = grown(this.timestamps, (n) => new Float64Array(n));
    this.rows = grown(this.rows, (n) => new Float64Array(n));
    const leaves = Buffer.allocUnsafe(c * NODE_BYTES);
    this.leaves.copy(leaves);
    this.leaves = leaves;
  }

  finish(): ReportColumns {
    const n = this.size;
    return {
      devices: this.index.devices,
      reporters: this.reporters.subarray(0, n),
      subjects: this.subjects.subarray(0, n),
      ratings: this.ratings.subarray(0, n),
      timestamps: this.timestamps.subarray(0, n),
      leaves: this.leaves.subarray(0, n * NODE_BYTES),
      rows: this.rows.subarray(0, n),
    };
  }
}

/**
 * The permutation that sorts `count` packed 32-byte leaves ascending (byte order, as `Buffer.compare`):
 * `order[k]` is the index of the k-th smallest. A native sort of 64-bit keys (a leaf's first 4 bytes
 * above its index), then each run of leaves sharing their first 4 bytes (rare: they are hashes) sorted
 * by the whole leaf. Equal leaves keep their input order.
 */
export function leafOrder(leaves: Buffer, count: number): Uint32Array {
  if (leaves.length < count * NODE_BYTES) throw new Error("fewer packed leaves than the count");
  if (count >= 2 ** 32) throw new Error("too many leaves to sort");
  const keys = new BigUint64Array(count);
  // Written as two 32-bit halves, no BigInt per leaf: the low half (the index) first on a little-endian machine.
  const halves = new Uint32Array(keys.buffer);
  const [low, high] = os.endianness() === "LE" ? [0, 1] : [1, 0];
  const prefix = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    prefix[i] = leaves.readUInt32BE(i * NODE_BYTES);
    halves[2 * i + low] = i;
    halves[2 * i + high] = prefix[i];
  }
  keys.sort();
  const order = new Uint32Array(count);
  for (let k = 0; k < count; k++) order[k] = halves[2 * k + low];
  const byLeaf = (a: number, b: number) =>
    leaves.compare(leaves, b * NODE_BYTES, (b + 1) * NODE_BYTES, a * NODE_BYTES, (a + 1) * NODE_BYTES) || a - b;
  for (let start = 0; start < count;) {
    let end = start + 1;
    while (end < count && prefix[order[end]] === prefix[order[start]]) end++;
    if (end - start > 1) order.subarray(start, end).sort(byLeaf);
    start = end;
  }
  return order;
}
