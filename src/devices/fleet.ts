import fs from "node:fs";
import path from "node:path";

import { parse as parseCsv } from "csv-parse/sync";
import { SigningKey, computeAddress, isHexString } from "ethers";

import { jsonErrorAt } from "../cli/json";
import { UserError } from "../errors";
import { DEVICE_TYPES, deviceTypeId } from "./types";
import { checkDeviceId, deviceIdOf, isDeviceIdHex, manufacturerIdOf } from "./id";

// The pure device-id functions live in ./id (the browser app imports them without this file's node:fs).
export { checkDeviceId, deviceIdOf, isDeviceIdHex, labelId, manufacturerIdOf } from "./id";

/** One device of a manufacturer's fleet file: no private key, ever. */
export interface FleetDevice {
  /** The raw unique id (serial number). It stays off chain: only its hash is registered. */
  uid: string;
  /** The on-chain id: the manufacturer id, then the low 224 bits of keccak256 of the raw id ({@link deviceIdOf}). */
  deviceId: string;
  /** The device's secp256k1 public key (0x04…, 65 bytes, or compressed, 33 bytes). */
  publicKey: string;
  /** The address derived from the public key: the device key on chain. */
  deviceKey: string;
  deviceType: number;
  /** Optional keccak256 of off-chain metadata. */
  metadataHash?: string;
  /** Line of the source file (1-based), for error messages. */
  line: number;
}

/** What {@link statusesOf} reads: the registry, or a stand-in for it. */
export interface StatusReader {
  getStatuses(deviceIds: string[]): Promise<bigint[]>;
}

/** How many ids {@link statusesOf} reads in one `getStatuses` call. */
export const STATUS_BATCH = 500;

/**
 * The registry statuses of `ids` (0 unknown), {@link STATUS_BATCH} ids a call so that a large fleet stays
 * under RPC limits (one `eth_call` for 100,000 ids would be refused, or time out, on most nodes).
 */
export async function statusesOf(registry: StatusReader, ids: readonly string[]): Promise<bigint[]> {
  const out: bigint[] = [];
  for (let i = 0; i < ids.length; i += STATUS_BATCH) {
    out.push(...(await registry.getStatuses(ids.slice(i, i + STATUS_BATCH))));
  }
  return out;
}

/** What {@link resolveDeviceId} may consult to find the manufacturer of a raw unique id. */
export interface DeviceLookup {
  /** A keystore directory: a keystore whose metadata names the uid gives its id (also before registration). */
  keystoreDir?: string;
  /** The registry: the manufacturer that registered the uid. */
  registry?: StatusReader & { manufacturerCount(): Promise<bigint> };
}

function idFromKeystores(dir: string, uid: string): string | undefined {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) return undefined;
  for (const name of fs.readdirSync(dir)) {
    if (!name.endsWith(".json")) continue;
    try {
      const meta = (JSON.parse(fs.readFileSync(path.join(dir, name), "utf8")) as Record<string, unknown>)[
        "x-thingledger"
      ] as { uid?: unknown; deviceId?: unknown } | undefined;
      if (meta?.uid === uid && typeof meta.deviceId === "string" && isDeviceIdHex(meta.deviceId)) {
        return meta.deviceId.toLowerCase();
      }
    } catch {
      // Not a keystore: ignored.
    }
  }
  return undefined;
}

/**
 * A device is named on the command line by its id (0x + 64 hex) or by its raw unique id. A raw id needs its
 * manufacturer: the keystore in `lookup.keystoreDir` that holds that uid, else the one manufacturer of the
 * registry that registered it (with a single manufacturer, that one's namespace even if unregistered).
 * 0x-hex of another length than 32 bytes is refused ({@link checkDeviceId}).
 */
export async function resolveDeviceId(value: string, lookup: DeviceLookup = {}): Promise<string> {
  if (isDeviceIdHex(value)) return value.toLowerCase();
  // 0x-hex of the wrong length is a mistyped id, not a raw unique id.
  if (/^0x[0-9a-fA-F]*$/.test(value)) checkDeviceId(value);
  if (lookup.keystoreDir !== undefined) {
    const fromKeystore = idFromKeystores(lookup.keystoreDir, value);
    if (fromKeystore !== undefined) return fromKeystore;
  }
  if (lookup.registry === undefined) {
    throw new UserError(`device "${value}": name it by its 0x id (a raw unique id needs its manufacturer)`);
  }
  const count = Number(await lookup.registry.manufacturerCount());
  const candidates = Array.from({ length: count }, (_, i) => deviceIdOf(i + 1, value));
  const statuses = await statusesOf(lookup.registry, candidates);
  const registered = candidates.filter((_, i) => statuses[i] !== 0n);
  if (registered.length === 1) return registered[0];
  if (registered.length === 0 && count === 1) return candidates[0];
  if (registered.length === 0) {
    throw new UserError(`device "${value}" is registered by none of the ${count} manufacturers; name it by its 0x id`);
  }
  throw new UserError(
    `device "${value}" is registered by manufacturers ${registered.map(manufacturerIdOf).join(", ")}; name it by its 0x id (${registered.join(", ")})`,
  );
}

interface RawRow {
  line: number;
  uid?: unknown;
  deviceId?: unknown;
  publicKey?: unknown;
  type?: unknown;
  metadataHash?: unknown;
}

/** The columns (CSV) and keys (JSON) a fleet file may have; any other is refused, not silently dropped. */
const FLEET_COLUMNS = ["uid", "publicKey", "type", "metadataHash", "deviceId", "deviceKey"];

function refuseUnknown(file: string, names: readonly string[], kind: "column" | "key", line: number): void {
  const unknown = names.filter((n) => !FLEET_COLUMNS.includes(n));
  if (unknown.length === 0) return;
  throw new UserError(
    `${file}: line ${line}: unknown ${kind}${unknown.length > 1 ? "s" : ""} ${unknown.map((n) => `"${n}"`).join(", ")} (known: ${FLEET_COLUMNS.join(", ")}); nothing was sent`,
  );
}

function csvRows(text: string, file: string): RawRow[] {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    // csv-parse: quoted fields may hold commas, quotes ("") and line breaks; `info.lines` is the line a
    // record ends on, the line a user looks at for a one-line record.
    records = parseCsv(text, {
      info: true,
      skip_empty_lines: true,
      trim: true,
      relax_column_count: true,
    }) as unknown as {
      record: string[];
      info: { lines: number };
    }[];
  } catch (error) {
    throw new UserError(`${file} is not a valid CSV file: ${(error as Error).message}`);
  }
  const header = records[0]?.record ?? [];
  const required = ["uid", "publicKey", "type"];
  const missing = required.filter((h) => !header.includes(h));
  if (missing.length > 0) {
    throw new UserError(
      `line 1: the CSV header must name the columns uid,publicKey,type[,metadataHash]; missing ${missing.join(", ")}`,
    );
  }
  refuseUnknown(file, header, "column", 1);
  return records.slice(1).map(({ record, info }) => {
    const row: Record<string, unknown> = { line: info.lines };
    header.forEach((h, j) => (row[h] = record[j]));
    return row as unknown as RawRow;
  });
}

function jsonRows(text: string, file: string): RawRow[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UserError(`${file} is not valid JSON: ${jsonErrorAt(text, error as Error)}`);
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { devices?: unknown }).devices;
  if (!Array.isArray(list)) {
    throw new UserError(`${file}: expected an array of devices, or { "devices": [...] }`);
  }
  // Line numbers of a JSON array: the line each object starts on.
  const starts: number[] = [];
  let depth = 0;
  let line = 1;
  for (const ch of text) {
    if (ch === "\n") line++;
    else if (ch === "{") {
      if (depth === (Array.isArray(parsed) ? 0 : 1)) starts.push(line);
      depth++;
    } else if (ch === "}") depth--;
    else if (ch === "[" && depth === 0 && !Array.isArray(parsed)) depth = 1;
  }
  return list.map((item: unknown, i) => {
    const line = starts[i] ?? i + 1;
    if (item !== null && typeof item === "object") refuseUnknown(file, Object.keys(item), "key", line);
    return { ...(item as object), line } as RawRow;
  });
}

/**
 * Reads and validates a fleet file (CSV with a header `uid,publicKey,type[,metadataHash]`, or JSON) of
 * manufacturer `manufacturerId`, whose namespace the ids are in. Every problem is reported with its line
 * number, all at once, before anything is sent.
 */
export function readFleetFile(file: string, manufacturerId: number): FleetDevice[] {
  if (!fs.existsSync(file)) {
    throw new UserError(`fleet file ${file} does not exist`);
  }
  if (!fs.statSync(file).isFile()) throw new UserError(`fleet file ${file} is a folder, not a CSV or JSON file`);
  const text = fs.readFileSync(file, "utf8");
  const rows = path.extname(file).toLowerCase() === ".json" ? jsonRows(text, file) : csvRows(text, file);
  const problems: string[] = [];
  const devices: FleetDevice[] = [];
  const seen = new Map<string, number>();
  const seenKeys = new Map<string, number>();
  for (const row of rows) {
    const at = `line ${row.line}`;
    const uid = typeof row.uid === "string" ? row.uid.trim() : "";
    if (uid === "") {
      problems.push(`${at}: uid is missing`);
      continue;
    }
    const pub = typeof row.publicKey === "string" ? row.publicKey.trim() : "";
    let deviceKey: string | undefined;
    if (!isHexString(pub)) {
      problems.push(`${at}: publicKey "${pub}" is not hex (0x…)`);
    } else if (pub.length !== 2 + 130 && pub.length !== 2 + 66) {
      problems.push(
        `${at}: publicKey has ${(pub.length - 2) / 2} bytes; a secp256k1 public key has 65 (0x04…) or 33 (compressed)`,
      );
    } else {
      try {
        deviceKey = computeAddress(SigningKey.computePublicKey(pub, false));
      } catch {
        problems.push(`${at}: publicKey is not a point on secp256k1`);
      }
    }
    const typeValue = typeof row.type === "number" ? row.type : typeof row.type === "string" ? row.type.trim() : "";
    const deviceType = deviceTypeId(typeValue);
    if (deviceType === undefined) {
      problems.push(
        `${at}: unknown device type "${typeValue}" (known: ${Object.entries(DEVICE_TYPES)
          .map(([id, n]) => `${id}=${n}`)
          .join(", ")})`,
      );
    }
    const metadata =
      typeof row.metadataHash === "string" && row.metadataHash.trim() !== "" ? row.metadataHash.trim() : undefined;
    if (metadata !== undefined && !/^0x[0-9a-fA-F]{64}$/.test(metadata)) {
      problems.push(`${at}: metadataHash must be 0x followed by 64 hex digits`);
    }
    const deviceId = deviceIdOf(manufacturerId, uid);
    if (typeof row.deviceId === "string" && row.deviceId.toLowerCase() !== deviceId) {
      problems.push(
        `${at}: deviceId ${row.deviceId} is not manufacturer ${manufacturerId}'s id for uid "${uid}" (${deviceId}); was the fleet generated for manufacturer ${manufacturerIdOf(row.deviceId)}?`,
      );
    }
    const firstLine = seen.get(deviceId);
    if (firstLine !== undefined) {
      problems.push(`${at}: duplicate uid "${uid}" (first on line ${firstLine})`);
    } else {
      seen.set(deviceId, row.line);
    }
    if (deviceKey !== undefined) {
      const keyLine = seenKeys.get(deviceKey);
      if (keyLine !== undefined) problems.push(`${at}: duplicate publicKey (first on line ${keyLine})`);
      else seenKeys.set(deviceKey, row.line);
    }
    if (deviceKey !== undefined && deviceType !== undefined && firstLine === undefined) {
      devices.push({ uid, deviceId, publicKey: pub, deviceKey, deviceType, metadataHash: metadata, line: row.line });
    }
  }
  if (problems.length > 0) {
    const shown = problems.slice(0, 20);
    const more = problems.length > shown.length ? `\n  … and ${problems.length - shown.length} more` : "";
    throw new UserError(`${file}: ${problems.length} problem(s), nothing was sent:\n  ${shown.join("\n  ")}${more}`);
  }
  if (devices.length === 0) {
    throw new UserError(`${file} lists no devices`);
  }
  return devices;
}

/** Writes a fleet as CSV (uid,publicKey,type) and JSON. */
export function writeFleetFiles(
  dir: string,
  devices: readonly Omit<FleetDevice, "line">[],
): { csv: string; json: string } {
  fs.mkdirSync(dir, { recursive: true });
  const csv = path.join(dir, "devices.csv");
  const json = path.join(dir, "devices.json");
  fs.writeFileSync(
    csv,
    `uid,publicKey,type\n${devices.map((d) => `${d.uid},${d.publicKey},${d.deviceType}`).join("\n")}\n`,
  );
  fs.writeFileSync(
    json,
    `${JSON.stringify(
      devices.map((d) => ({
        uid: d.uid,
        deviceId: d.deviceId,
        publicKey: d.publicKey,
        deviceKey: d.deviceKey,
        type: d.deviceType,
      })),
      null,
      2,
    )}\n`,
  );
  return { csv, json };
}
