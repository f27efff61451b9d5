/** The query of GET /devices, checked: every filter optional, `limit` 1-100 (default 25). */
export interface DeviceListQuery {
  manufacturer?: number;
  owner?: `0x${string}`;
  status?: "Registered" | "Active" | "Revoked";
  cursor?: `0x${string}`;
  limit: number;
}

/** What a bad request gets: one line that names the bad value and what is expected. */
export interface BadRequest {
  error: string;
}

export const MAX_LIMIT = 100;
const STATUSES = ["Registered", "Active", "Revoked"] as const;

/** A device id (32 bytes, hex), lower-cased as the indexer stores it, or the one-line refusal. */
export function deviceIdParam(value: string): `0x${string}` | BadRequest {
  if (!/^0x[0-9a-fA-F]{64}$/.test(value)) return { error: `device id "${value}" is not 32 bytes of hex (0x + 64)` };
  return value.toLowerCase() as `0x${string}`;
}

/** The GET /devices query from its search parameters, or the one-line refusal of the first bad one. */
export function deviceListQuery(params: URLSearchParams): DeviceListQuery | BadRequest {
  const known = new Set(["manufacturer", "owner", "status", "cursor", "limit"]);
  for (const key of params.keys())
    if (!known.has(key)) return { error: `unknown filter "${key}": expected ${[...known].join(", ")}` };
  const query: DeviceListQuery = { limit: 25 };
  const manufacturer = params.get("manufacturer");
  if (manufacturer !== null) {
    if (!/^\d{1,10}$/.test(manufacturer) || Number(manufacturer) > 0xffffffff)
      return { error: `manufacturer "${manufacturer}" is not a manufacturer id (0-4294967295)` };
    query.manufacturer = Number(manufacturer);
  }
  const owner = params.get("owner");
  if (owner !== null) {
    if (!/^0x[0-9a-fA-F]{40}$/.test(owner)) return { error: `owner "${owner}" is not an address (0x + 40 hex)` };
    query.owner = owner.toLowerCase() as `0x${string}`;
  }
  const status = params.get("status");
  if (status !== null) {
    const match = STATUSES.find((s) => s.toLowerCase() === status.toLowerCase());
    if (match === undefined) return { error: `status "${status}" is not one of ${STATUSES.join(", ")}` };
    query.status = match;
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
      return { error: `limit "${limit}" is not a whole number from 1 to ${MAX_LIMIT}` };
    query.limit = Number(limit);
  }
  return query;
}
