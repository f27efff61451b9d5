import type { BadRequest } from "./params";
import { MAX_LIMIT, checkKeys, shown } from "./params";

type Hex = `0x${string}`;

/** A page request: a cursor (as the previous page's `nextCursor` gave it) and a limit 1-100 (default 25). */
export interface PageQuery {
  cursor?: string;
  limit: number;
}

/** The GET /channels query: by AS (payee) and/or owner, and status, a page at a time. */
export interface ChannelListQuery extends PageQuery {
  as?: Hex;
  owner?: Hex;
  status?: "Open" | "Closed" | "Reclaimed";
}

const CHANNEL_STATUSES = ["Open", "Closed", "Reclaimed"] as const;

/** An address (0x + 40 hex), lower-cased as the indexer stores it, or the one-line refusal naming `what`. */
export function addressParam(value: string, what = "address"): Hex | BadRequest {
  if (!/^0x[0-9a-fA-F]{40}$/.test(value)) return { error: `${what} ${shown(value)} is not an address (0x + 40 hex)` };
  return value.toLowerCase() as Hex;
}

/** A channel id (32 bytes, hex), lower-cased, or the one-line refusal. */
export function channelIdParam(value: string): Hex | BadRequest {
  if (!/^0x[0-9a-fA-F]{64}$/.test(value))
    return { error: `channel id ${shown(value)} is not 32 bytes of hex (0x + 64)` };
  return value.toLowerCase() as Hex;
}

/** Refuses any parameter outside `known`, and one given twice (as the device routes do). */
function unknownParam(params: URLSearchParams, known: readonly string[]): BadRequest | undefined {
  return checkKeys(params, known, "parameter");
}

/** `limit`, and a cursor checked by `cursor`, from the search parameters. */
function page(params: URLSearchParams, cursor: (value: string) => string | BadRequest): PageQuery | BadRequest {
  const query: PageQuery = { limit: 25 };
  const limit = params.get("limit");
  if (limit !== null) {
    if (!/^\d{1,3}$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_LIMIT)
      return { error: `limit ${shown(limit)} is not a whole number from 1 to ${MAX_LIMIT}` };
    query.limit = Number(limit);
  }
  const at = params.get("cursor");
  if (at !== null) {
    const checked = cursor(at);
    if (typeof checked === "object") return checked;
    query.cursor = checked;
  }
  return query;
}

/**
 * Digits of a Ponder event id, the checkpoint it encodes (`ponder/dist/esm/utils/checkpoint.js`): block
 * timestamp 10, chain id 16, block number 16, transaction index 16, event type 1, event index 16.
 */
export const EVENT_ID_DIGITS = 75;

/** An event cursor: the id of the last row seen, a whole checkpoint (a shorter number is no event's id). */
function eventCursor(value: string): string | BadRequest {
  return new RegExp(`^\\d{${EVENT_ID_DIGITS}}$`).test(value)
    ? value
    : { error: `cursor ${shown(value)} is not a cursor this route gave (an event id, ${EVENT_ID_DIGITS} digits)` };
}

/** GET /wallets/:address/{executions,spends}: `cursor` and `limit` only. */
export function eventPageQuery(params: URLSearchParams): PageQuery | BadRequest {
  return unknownParam(params, ["cursor", "limit"]) ?? page(params, eventCursor);
}

/** An epoch cursor (GET /auditors/:address): the last epoch seen, a uint32. */
function epochCursor(value: string): string | BadRequest {
  return /^\d{1,10}$/.test(value) && Number(value) <= 0xffffffff
    ? value
    : { error: `cursor ${shown(value)} is not an epoch (0-4294967295)` };
}

/** GET /auditors/:address: `cursor` (the last epoch seen) and `limit`. */
export function epochPageQuery(params: URLSearchParams): PageQuery | BadRequest {
  return unknownParam(params, ["cursor", "limit"]) ?? page(params, epochCursor);
}

/** GET /wallets/:address/periods: `cursor` (the `lastSpend` of the last period seen) and `limit`. */
export function periodPageQuery(params: URLSearchParams): PageQuery | BadRequest {
  return eventPageQuery(params);
}

/** GET /wallets/:address: `at`, the unix time to read "this period" at (default: the chain's latest block). */
export function walletQuery(params: URLSearchParams): { at?: bigint } | BadRequest {
  const unknown = unknownParam(params, ["at"]);
  if (unknown !== undefined) return unknown;
  const at = params.get("at");
  if (at === null) return {};
  if (!/^\d{1,12}$/.test(at)) return { error: `at ${shown(at)} is not a unix time in seconds` };
  return { at: BigInt(at) };
}

/** GET /channels: `as` and/or `owner` (one at least), `status`, `cursor` (a channel id) and `limit`. */
export function channelListQuery(params: URLSearchParams): ChannelListQuery | BadRequest {
  const unknown = unknownParam(params, ["as", "owner", "status", "cursor", "limit"]);
  if (unknown !== undefined) return unknown;
  const base = page(params, (v) => {
    const id = channelIdParam(v);
    return typeof id === "object" ? { error: `cursor: ${id.error}` } : id;
  });
  if ("error" in base) return base;
  const query: ChannelListQuery = { ...base };
  for (const key of ["as", "owner"] as const) {
    const value = params.get(key);
    if (value === null) continue;
    const address = addressParam(value, key);
    if (typeof address === "object") return address;
    query[key] = address;
  }
  if (query.as === undefined && query.owner === undefined)
    return { error: "name the channels: as=<AS address> and/or owner=<owner address>" };
  const status = params.get("status");
  if (status !== null) {
    const match = CHANNEL_STATUSES.find((s) => s.toLowerCase() === status.toLowerCase());
    if (match === undefined) return { error: `status ${shown(status)} is not one of ${CHANNEL_STATUSES.join(", ")}` };
    query.status = match;
  }
  return query;
}

/** A route that takes no parameters. */
export function noParams(params: URLSearchParams): BadRequest | undefined {
  for (const key of params.keys()) return { error: `unknown parameter ${shown(key)}: this route takes none` };
  return undefined;
}
