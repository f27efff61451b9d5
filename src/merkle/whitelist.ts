import fs from "node:fs";
import { StringDecoder } from "node:string_decoder";

import { checksumAddress, isAddress } from "../chain/address";
import { keccak } from "../keccak";

import { DeviceRecordWriter } from "./records";
import { TextSink } from "./sink";
import { MerkleTree, NODE_BYTES, TreeFile, TreeFileWriter, rootFromProof } from "./tree";
import type { PackedProof } from "./tree";

export { rootFromProof };

/** One device of a manufacturer's whitelist. */
export interface WhitelistDevice {
  deviceId: string;
  deviceKey: string;
  deviceType: number;
}

export interface WhitelistEntry extends WhitelistDevice {
  index: number;
  leaf: string;
  proof: string[];
}

export interface Whitelist {
  kind: "thingledger/whitelist";
  manufacturerId: number;
  root: string;
  capacity: number;
  entries: WhitelistEntry[];
}

/** The leaf's preimage, reused: only the four words' value bytes are written, the rest stays zero. */
const leafWord = Buffer.alloc(128);

/**
 * Encodes a device into {@link leafWord}: `abi.encode(deviceId, deviceKey, deviceType, manufacturerId)`,
 * the four static words by hand (about 50 times faster than ethers' ABI coder over a fleet). The hex is
 * checked by what it decodes to (Node stops at the first non-hex digit).
 */
function encodeLeafWord(device: WhitelistDevice, manufacturerId: number): Buffer {
  const { deviceId, deviceKey } = device;
  if (deviceId.length !== 66 || !deviceId.startsWith("0x") || leafWord.write(deviceId.slice(2), 0, "hex") !== 32)
    throw new Error(`device id ${deviceId} is not 0x + 64 hex`);
  if (deviceKey.length !== 42 || !deviceKey.startsWith("0x") || leafWord.write(deviceKey.slice(2), 44, "hex") !== 20)
    throw new Error(`device key ${deviceKey} is not an address`);
  leafWord.writeUInt32BE(device.deviceType, 92);
  leafWord.writeUInt32BE(manufacturerId, 124);
  return leafWord;
}

/**
 * The leaf of a device, as `DeviceLeaf.hash` computes it on chain:
 * keccak256(keccak256(abi.encode(deviceId, deviceKey, deviceType, manufacturerId))). The double hash gives
 * leaves a 32-byte preimage and internal nodes a 64-byte one, so neither can pass for the other.
 */
function deviceLeafBuffer(device: WhitelistDevice, manufacturerId: number): Buffer {
  return keccak(keccak(encodeLeafWord(device, manufacturerId)));
}

export function deviceLeaf(device: WhitelistDevice, manufacturerId: number): string {
  return toHex(deviceLeafBuffer(device, manufacturerId));
}

function toHex(buffer: Buffer): string {
  return `0x${buffer.toString("hex")}`;
}

/** Builds the whitelist tree in memory, with every device's proof: for small fleets and tests. */
export function buildWhitelist(devices: readonly WhitelistDevice[], manufacturerId: number): Whitelist {
  if (devices.length === 0) {
    throw new Error("a whitelist needs at least one device");
  }
  const tree = new MerkleTree(devices.map((d) => deviceLeafBuffer(d, manufacturerId)));
  const entries = devices.map((d, index) => ({
    deviceId: d.deviceId,
    deviceKey: checksumAddress(d.deviceKey),
    deviceType: d.deviceType,
    index,
    leaf: tree.leaf(index),
    proof: tree.proof(index),
  }));
  return { kind: "thingledger/whitelist", manufacturerId, root: tree.root, capacity: devices.length, entries };
}

const CSV_HEADER = "index,deviceId,deviceKey,deviceType,leaf,proof\n";

/** The whitelist as CSV: one row per device with its proof joined by ';'. */
export function whitelistCsv(whitelist: Whitelist): string {
  const rows = whitelist.entries.map((e) =>
    [e.index, e.deviceId, e.deviceKey, e.deviceType, e.leaf, e.proof.join(";")].join(","),
  );
  return `${CSV_HEADER}${rows.join("\n")}\n`;
}

/**
 * How a whitelist's proofs are written: `json` (the JSON and CSV with every device's entry and proof as
 * hex, plus the tree file) or `tree` (a small JSON manifest, the tree file, and the device file of
 * fixed-size binary records: every proof is read by index from the tree file).
 */
export type ProofFormat = "json" | "tree";

/** Where {@link writeWhitelist} writes: the JSON, the tree file, and the CSV (`json`) or device file (`tree`). */
export interface WhitelistFiles {
  json: string;
  tree: string;
  csv?: string;
  devices?: string;
}

/** A whitelist's files, beside its JSON and named by its stem: `X.json` → `X.csv`/`X.devices`, `X.tree`. */
export function whitelistFiles(json: string, proofs: ProofFormat): WhitelistFiles {
  const stem = json.replace(/\.json$/i, "");
  return proofs === "json"
    ? { json, csv: `${stem}.csv`, tree: `${stem}.tree` }
    : { json, tree: `${stem}.tree`, devices: `${stem}.devices` };
}

/** The JSON of a `tree` whitelist: what {@link Whitelist} holds but the entries (they are in its files). */
export interface WhitelistManifest {
  kind: "thingledger/whitelist";
  manufacturerId: number;
  root: string;
  capacity: number;
  proofs: "tree";
}

/** The most nodes a proof can have: a tree of 2^64 leaves. */
const MAX_PROOF_NODES = 64;

/**
 * A proof as text, kept from one proof to the next: each node is one segment (`separator`, `before`, the
 * node's 64 hex digits, `after`), packed in one Buffer. A node at level k is in 2^k consecutive proofs, so
 * most segments stay as the proof before left them, and a changed one is a 64-byte copy from the tree
 * file's hex (see {@link PackedProof.hex}): no proof is encoded or joined per device.
 */
class ProofText {
  /** The segments; bytes `separator.length` to `end` are the proof, its nodes separated. */
  readonly text: Buffer;
  readonly start: number;
  end = 0;
  private readonly segment: number;
  private readonly hexAt: number;
  /** What each segment holds now: the level and index of its node (-1: nothing yet). */
  private readonly level = new Array<number>(MAX_PROOF_NODES).fill(-1);
  private readonly index = new Array<number>(MAX_PROOF_NODES).fill(-1);

  constructor(separator: string, before: string, after: string) {
    this.start = separator.length;
    this.hexAt = separator.length + before.length;
    this.segment = this.hexAt + 2 * NODE_BYTES + after.length;
    this.text = Buffer.alloc(MAX_PROOF_NODES * this.segment);
    for (let k = 0; k < MAX_PROOF_NODES; k++) {
      this.text.write(separator + before, k * this.segment, "latin1");
      this.text.write(after, k * this.segment + this.hexAt + 2 * NODE_BYTES, "latin1");
    }
  }

  /** Updates the text to `p`'s proof. */
  update(p: PackedProof): void {
    for (let k = 0; k < p.nodes.length; k++) {
      const level = p.levels[k];
      const sibling = (p.index >> level) ^ 1;
      if (this.level[k] === level && this.index[k] === sibling) continue;
      this.level[k] = level;
      this.index[k] = sibling;
      const at = 2 * p.at[k];
      p.hex[k].copy(this.text, k * this.segment + this.hexAt, at, at + 2 * NODE_BYTES);
    }
    this.end = p.nodes.length * this.segment;
  }
}

/**
 * Writes a whitelist of any size in bounded memory, reading the devices from `devices` (called once per
 * pass: a fleet read from disk is streamed, never held). The first pass writes the tree file (and, for
 * `tree`, the device file beside it); then `tree` writes the manifest, `json` a second pass writes
 * `files.json` (the same document {@link buildWhitelist} gives, as `JSON.stringify(whitelist, null, 2)`
 * prints it) and `files.csv` (as {@link whitelistCsv}), each proof read from the tree file.
 */
export function writeWhitelist(
  devices: () => Iterable<WhitelistDevice>,
  manufacturerId: number,
  files: WhitelistFiles,
  proofs: ProofFormat = "json",
): { root: string; capacity: number } {
  const wanted = proofs === "json" ? files.csv : files.devices;
  if (wanted === undefined)
    throw new Error(`a ${proofs} whitelist needs its ${proofs === "json" ? "csv" : "devices"} file`);
  const records = proofs === "tree" ? new DeviceRecordWriter(wanted) : undefined;
  const writer = new TreeFileWriter(files.tree);
  let failure: unknown;
  try {
    for (const d of devices()) {
      const words = encodeLeafWord(d, manufacturerId);
      if (records !== undefined) {
        if (!isAddress(d.deviceKey)) throw new Error(`device key ${d.deviceKey} has a bad checksum`);
        records.addEncoded(words);
      }
      writer.add(keccak(keccak(words)));
    }
  } catch (error) {
    failure = error;
  }
  try {
    records?.close();
  } catch (error) {
    failure ??= error;
  }
  const { root, count } = writer.finish();
  if (failure !== undefined) throw failure;
  if (proofs === "tree") {
    const manifest: WhitelistManifest = {
      kind: "thingledger/whitelist",
      manufacturerId,
      root,
      capacity: count,
      proofs,
    };
    fs.writeFileSync(files.json, `${JSON.stringify(manifest, null, 2)}\n`);
  } else writeProofText(devices, manufacturerId, { json: files.json, csv: wanted, tree: files.tree }, root, count);
  return { root, capacity: count };
}

/** The second pass of a `json` whitelist: every entry and proof as text, in the JSON and the CSV. */
function writeProofText(
  devices: () => Iterable<WhitelistDevice>,
  manufacturerId: number,
  files: Required<Omit<WhitelistFiles, "devices">>,
  root: string,
  count: number,
): void {
  const tree = TreeFile.open(files.tree);
  const json = new TextSink(files.json);
  const csv = new TextSink(files.csv);
  try {
    json.write(
      `{\n  "kind": "thingledger/whitelist",\n  "manufacturerId": ${manufacturerId},\n  "root": "${root}",\n` +
        `  "capacity": ${count},\n  "entries": [\n`,
    );
    csv.write(CSV_HEADER);
    const source = devices()[Symbol.iterator]();
    const jsonProof = new ProofText(",", '\n        "0x', '"');
    const csvProof = new ProofText(";", "0x", "");
    tree.forEachProof((p) => {
      const d = source.next().value as WhitelistDevice;
      const key = checksumAddress(d.deviceKey);
      const leafAt = 2 * p.leafAt;
      jsonProof.update(p);
      csvProof.update(p);
      json.write(
        `    {\n      "deviceId": ${JSON.stringify(d.deviceId)},\n      "deviceKey": "${key}",\n` +
          `      "deviceType": ${d.deviceType},\n      "index": ${p.index},\n      "leaf": "0x`,
      );
      json.copy(p.leafHex, leafAt, leafAt + 2 * NODE_BYTES);
      const last = p.index + 1 < count ? "\n    },\n" : "\n    }\n";
      if (p.nodes.length === 0) json.write(`",\n      "proof": []${last}`);
      else {
        json.write('",\n      "proof": [');
        json.copy(jsonProof.text, jsonProof.start, jsonProof.end);
        json.write(`\n      ]${last}`);
      }
      csv.write(`${p.index},${d.deviceId},${key},${d.deviceType},0x`);
      csv.copy(p.leafHex, leafAt, leafAt + 2 * NODE_BYTES);
      csv.write(",");
      csv.copy(csvProof.text, csvProof.start, csvProof.end);
      csv.write("\n");
    });
    json.write("  ]\n}\n");
  } finally {
    tree.close();
    try {
      json.close();
    } finally {
      csv.close();
    }
  }
}

/**
 * Streams the devices of a CSV file whose header names `deviceId`, `deviceKey` and `deviceType` (a
 * whitelist CSV, or a plain device list), one line at a time, in bounded memory.
 */
export function* readWhitelistDevices(file: string): Generator<WhitelistDevice> {
  let columns: { id: number; key: number; type: number } | undefined;
  let line = 0;
  for (const text of readLines(file)) {
    line++;
    if (text.trim() === "") continue;
    const cells = text.split(",");
    if (columns === undefined) {
      const names = cells.map((c) => c.trim());
      const id = names.indexOf("deviceId");
      const key = names.indexOf("deviceKey");
      const type = names.indexOf("deviceType");
      if (id < 0 || key < 0 || type < 0)
        throw new Error(`${file}: line 1 must name deviceId, deviceKey and deviceType`);
      columns = { id, key, type };
      continue;
    }
    const deviceType = Number(cells[columns.type]);
    if (!Number.isInteger(deviceType) || deviceType < 0 || deviceType > 0xffffffff)
      throw new Error(`${file}: line ${line}: device type "${cells[columns.type]}" is not a uint32`);
    yield { deviceId: cells[columns.id], deviceKey: cells[columns.key], deviceType };
  }
}

/** The lines of a file, read in 1 MiB blocks. */
function* readLines(file: string): Generator<string> {
  const fd = fs.openSync(file, "r");
  try {
    const block = Buffer.allocUnsafe(1 << 20);
    const decoder = new StringDecoder("utf8");
    let rest = "";
    for (;;) {
      const read = fs.readSync(fd, block, 0, block.length, null);
      if (read === 0) break;
      const lines = (rest + decoder.write(block.subarray(0, read))).split(/\r?\n/);
      rest = lines.pop() ?? "";
      yield* lines;
    }
    rest += decoder.end();
    if (rest !== "") yield rest;
  } finally {
    fs.closeSync(fd);
  }
}
