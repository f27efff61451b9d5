import fs from "node:fs";

import { getAddress, isAddress, isHexString } from "ethers";

import type { Asset } from "../channels/info";
import { UserError, ensure } from "../errors";
import { readJsonFile } from "./json";

/** Parses a channel id argument (`--channel` unless `option` says otherwise). */
export function parseChannelId(value: string, option = "channel"): string {
  if (!isHexString(value, 32)) {
    throw new UserError(`--${option}: "${value}" is not a channel id (0x and 64 hex digits)`);
  }
  return value.toLowerCase();
}

/** Parses a comma-separated list of channel ids. */
export function parseChannelIds(value: string, option = "channel"): string[] {
  return value.split(",").map((id) => parseChannelId(id.trim(), option));
}

/** Parses the asset of a channel: `eth` or `token` (ThingToken). */
export function parseAsset(value: string, option = "asset"): Asset {
  if (value !== "eth" && value !== "token") throw new UserError(`--${option}: "${value}" is neither eth nor token`);
  return value;
}

/** The entries of a clients file: a JSON array of addresses, `{ "clients": [...] }`, or one address per line/comma. */
function clientsInFile(file: string): unknown[] {
  const text = fs.readFileSync(file, "utf8");
  if (!/^\s*[[{]/.test(text)) return text.split(/[\s,]+/).filter((s) => s !== "");
  const parsed = readJsonFile(file, 'a JSON array of client addresses or { "clients": [...] }');
  const list = Array.isArray(parsed) ? parsed : (parsed as { clients?: unknown }).clients;
  if (!Array.isArray(list)) throw new UserError(`${file}: expected an array of addresses or { "clients": [...] }`);
  return list;
}

/**
 * Reads `--clients`: a file (JSON array of addresses, `{ "clients": [...] }`, or one address per
 * line/comma) or a comma-separated list of addresses. Every problem is reported before anything is sent.
 */
export function readClients(value: string): string[] {
  const fromFile = fs.existsSync(value);
  const where = fromFile ? value : "--clients";
  const entries = fromFile ? clientsInFile(value) : value.split(",").map((s) => s.trim());
  const problems: string[] = [];
  entries.forEach((entry, i) => {
    if (typeof entry !== "string" || !isAddress(entry))
      problems.push(`entry ${i + 1}: "${String(entry)}" is not an address`);
  });
  if (problems.length > 0) {
    if (!fromFile && entries.length === 1) {
      throw new UserError(`--clients: "${value}" is neither a file nor a comma-separated list of addresses`);
    }
    throw new UserError(`${where}: ${problems.length} problem(s): ${problems.slice(0, 5).join("; ")}`);
  }
  ensure(entries.length > 0, `${where} lists no clients`);
  const addresses = (entries as string[]).map((a) => getAddress(a));
  const seen = new Set<string>();
  for (const a of addresses) {
    ensure(!seen.has(a), `${where}: client ${a} is listed twice`);
    seen.add(a);
  }
  return addresses;
}
