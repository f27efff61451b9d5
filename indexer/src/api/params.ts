/** The query of GET /devices, checked: every filter optional, `limit` 1-100 (default 25). */
export interface DeviceListQuery {
  manufacturer?: number;
  owner?: `0x${string}`;
  status?: "Registered" | "Active" | "Revoked";
  /** The device type (uint32), as registered. */
  type?: bigint;
  /** The whitelist root the devices were claimed from. */
  whitelist?: `0x${string}`;
  cursor?: `0x${string}`;
  limit: number;
}

/** What a bad request gets: one line that names the bad value and what is expected. */
export interface BadRequest {
  error: string;
}

export const MAX_LIMIT = 100;
/** The most days GET /stats/activations answers at once. */
export const MAX_DAYS = 366;
const STATUSES = ["Registered", "Active", "Revoked"] as const;
const DAY_SECONDS = 86_400;

/**
 * A caller's value as an error line may quote it: JSON-escaped (a newline, a quote or a control character
 * cannot break the line or the message) and cut to 40 characters (a 10 KB value is not echoed back).
 */
export function shown(value: string): string {
  const cut = value.length > 40 ? `${value.slice(0, 40)}…` : value;
  return JSON.stringify(cut);
}

/** The query's keys once each, all known; or the refusal of the first unknown or repeated one. */
export function checkKeys(params: URLSearchParams, known: readonly string[], noun = "filter"): BadRequest | undefined {
  const seen = new Set<string>();
  for (const key of params.keys()) {
    if (!known.includes(key))
      return {
        error: `unknown ${noun} ${shown(key)}: ${known.length === 0 ? "this route takes none" : `expected ${known.join(", ")}`}`,
      };
    if (seen.has(key)) return { error: `${noun} "${key}" is given more than once` };
    seen.add(key);
  }
  return undefined;
}

/** A device id (32 bytes, hex), lower-cased as the indexer stores it, or the one-line refusal. */
export function deviceIdParam(value: string): `0x${string}` | BadRequest {
  if (!/^0x[0-9a-fA-F]{64}$/.test(value))
    return { error: `device id ${shown(value)} is not 32 bytes of hex (0x + 64)` };
  return value.toLowerCase() as `0x${string}`;
}

/** The GET /devices query from its search parameters, or the one-line refusal of the first bad one. */
export function deviceListQuery(params: URLSearchParams): DeviceListQuery | BadRequest {
  const bad = checkKeys(params, ["manufacturer", "owner", "status", "type", "whitelist", "cursor", "limit"]);
  if (bad !== undefined) return bad;
  const query: DeviceListQuery = { limit: 25 };
  const manufacturer = params.get("manufacturer");
  if (manufacturer !== null) {
    if (!/^\d{1,10}$/.test(manufacturer) || Number(manufacturer) > 0xffffffff)
      return { error: `manufacturer ${shown(manufacturer)} is not a manufacturer id (0-4294967295)` };
    query.manufacturer = Number(manufacturer);
  }
  const owner = params.get("owner");
  if (owner !== null) {
    if (!/^0x[0-9a-fA-F]{40}$/.test(owner)) return { error: `owner ${shown(owner)} is not an address (0x + 40 hex)` };
    query.owner = owner.toLowerCase() as `0x${string}`;
  }
  const status = params.get("status");
  if (status !== null) {
    const match = STATUSES.find((s) => s.toLowerCase() === status.toLowerCase());
    if (match === undefined) return { error: `status ${shown(status)} is not one of ${STATUSES.join(", ")}` };
    query.status = match;
  }
  const type = params.get("type");
  if (type !== null) {
    if (!/^\d{1,10}$/.test(type) || Number(type) > 0xffffffff)
      return { error: `type ${shown(type)} is not a device type (0-4294967295)` };
    query.type = BigInt(type);
  }
  const whitelist = params.get("whitelist");
  if (whitelist !== null) {
    if (!/^0x[0-9a-fA-F]{64}$/.test(whitelist))
      return { error: `whitelist ${shown(whitelist)} is not a whitelist root (0x + 64 hex)` };
    query.whitelist = whitelist.toLowerCase() as `0x${string}`;
  }
  const cursor = params.get("cursor");
  if (cursor !== null) {
    const id = deviceIdParam(cursor);
    if (typeof id === "object") return { error: `cursor: ${id.error}` };
    query.cursor = id;
  }
  const limit = params.get("limit");
  if (limit !== null) {
    if (!/^\d{1,3}$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_LIMIT)
      return { error: `limit ${shown(limit)} is not a whole number from 1 to ${MAX_LIMIT}` };
    query.limit = Number(limit);
  }
  return query;
}

/** The UTC day (YYYY-MM-DD) a block timestamp (seconds) falls in. */
export function utcDay(timestamp: bigint | number): string {
  return new Date(Number(timestamp) * 1000).toISOString().slice(0, 10);
}

/** A YYYY-MM-DD day that exists, as its midnight UTC in seconds, or undefined. */
function dayStart(value: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return undefined;
  const ms = Date.parse(`${value}T00:00:00Z`);
  if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== value) return undefined;
  return ms / 1000;
}

/** The days GET /stats/activations answers, oldest first: from `from` to `to`, both YYYY-MM-DD inclusive. */
export interface DayRange {
  from: string;
  to: string;
  days: string[];
}

/**
 * The GET /stats/activations query: `days=N` (1-366, the N UTC days ending with `today`), or `from` and/or
 * `to` (YYYY-MM-DD, inclusive; `to` defaults to today, `from` to 29 days before `to`); default the last 30 days.
 */
export function activationRange(params: URLSearchParams, today: string): DayRange | BadRequest {
  const bad = checkKeys(params, ["days", "from", "to"]);
  if (bad !== undefined) return bad;
  const days = params.get("days");
  const fromValue = params.get("from");
  const toValue = params.get("to");
  if (days !== null && (fromValue !== null || toValue !== null))
    return { error: `give either days or from/to, not both` };
  let last = dayStart(today)!;
  let first: number;
  if (toValue !== null) {
    const to = dayStart(toValue);
    if (to === undefined) return { error: `to ${shown(toValue)} is not a day (YYYY-MM-DD)` };
    last = to;
  }
  if (days !== null) {
    if (!/^\d{1,3}$/.test(days) || Number(days) < 1 || Number(days) > MAX_DAYS)
      return { error: `days ${shown(days)} is not a whole number from 1 to ${MAX_DAYS}` };
    first = last - (Number(days) - 1) * DAY_SECONDS;
  } else if (fromValue !== null) {
    const from = dayStart(fromValue);
    if (from === undefined) return { error: `from ${shown(fromValue)} is not a day (YYYY-MM-DD)` };
    first = from;
  } else first = last - 29 * DAY_SECONDS;
  if (first > last) return { error: `from ${shown(fromValue ?? "")} is after to ${utcDay(last)}` };
  if ((last - first) / DAY_SECONDS + 1 > MAX_DAYS) return { error: `from-to spans more than ${MAX_DAYS} days` };
  const list: string[] = [];
  for (let t = first; t <= last; t += DAY_SECONDS) list.push(utcDay(t));
  return { from: list[0], to: list[list.length - 1], days: list };
}
