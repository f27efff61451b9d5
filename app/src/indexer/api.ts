import { isDeviceIdHex } from "../../../src/devices/id";
import { UnexpectedShape, checkChannelPage, checkDeviceDetail, checkWalletDetail } from "./shapes";

/*
 * The indexer's REST routes (indexer/src/api/), typed as they answer: bigints (blocks, timestamps, types,
 * amounts) come as decimal strings. Every failure is an IndexerError with one plain sentence.
 */

export type DeviceStatus = "Registered" | "Active" | "Revoked";
export const STATUSES: readonly DeviceStatus[] = ["Registered", "Active", "Revoked"];

export interface IndexedDevice {
  id: string;
  manufacturerId: number;
  deviceKey: string;
  deviceType: string;
  whitelistRoot: string | null;
  metadataHash: string | null;
  status: DeviceStatus;
  owner: string | null;
  ref: string;
  score: number | null;
  trend: number | null;
  registeredBlock: string;
  registeredAt: string;
  activatedAt: string | null;
}

export interface StatusChange {
  id: string;
  status: DeviceStatus;
  by: string | null;
  reason: number | null;
  block: string;
  timestamp: string;
  txHash: string;
}

export interface OwnerChange {
  id: string;
  from: string | null;
  to: string;
  block: string;
  timestamp: string;
  txHash: string;
}

export interface ScoreChange {
  id: string;
  epoch: number;
  score: number;
  trend: number;
  auditor: string;
  block: string;
  timestamp: string;
}

export interface DeviceDetail {
  device: IndexedDevice;
  /** The device's wallets (owning it or linked to it), from an indexer that indexes them. */
  wallets?: { address: string }[];
  statusHistory: StatusChange[];
  ownerHistory: OwnerChange[];
  reputationHistory: ScoreChange[];
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface FleetStats {
  total: number;
  byStatus: Record<DeviceStatus, number>;
}

export interface DayCount {
  day: string;
  activations: number;
}

/** GET /devices's filters; each one left empty is left out. `type` and `whitelist` need an indexer that has them. */
export interface DeviceFilters {
  manufacturer?: string;
  owner?: string;
  status?: string;
  type?: string;
  whitelist?: string;
}
export const FILTER_KEYS = ["manufacturer", "owner", "status", "type", "whitelist"] as const;

/** A device wallet as GET /wallets/:address describes it (the fields this app shows). */
export interface WalletSummary {
  wallet: { address: string; deviceId?: string; threshold?: number; owners?: string[]; frozen?: boolean };
  allowances?: { asset: string; limit: string; available: string }[];
}

export interface WalletExecution {
  id: string;
  nonce: string;
  to: string;
  value: string;
  success: boolean;
  block: string;
  timestamp: string;
  txHash: string;
}

export interface WalletSpend {
  id: string;
  asset: string;
  to: string;
  amount: string;
  relayed: boolean;
  block: string;
  timestamp: string;
  txHash: string;
}

/** GET /wallets/:address with the first page of its owner executions and device spends, newest first. */
export interface WalletDetail extends WalletSummary {
  executions: Page<WalletExecution>;
  spends: Page<WalletSpend>;
}

export interface ChannelRow {
  id: string;
  owner: string;
  payee: string;
  token: boolean;
  deposit: string;
  expiry: string;
  status: string;
  /** What the AS was paid, and the owner got back, at the close (null while open). */
  paid?: string | null;
  refunded?: string | null;
}

export interface ChannelFilters {
  as?: string;
  owner?: string;
  status?: string;
}

/** Per asset: what an AS's closes paid it and refunded owners, and what its open channels still hold. */
export interface AssetRevenue {
  paid: string;
  refunded: string;
  closed: number;
  reclaimed: number;
  open: number;
  openDeposits: string;
}

export interface AsRevenue {
  as: string;
  eth: AssetRevenue;
  token: AssetRevenue;
}

export class IndexerError extends Error {
  constructor(
    message: string,
    /** The HTTP status, or null when the indexer did not answer at all. */
    readonly status: number | null,
    /** True when the indexer has no such route (an older indexer): the feature is not available. */
    readonly missingRoute = false,
  ) {
    super(message);
    this.name = "IndexerError";
  }
}

/** The indexer's base URL, absolute (a relative one, the Vite proxy's `indexer`, is taken from the page). */
export function indexerBase(indexerUrl: string): string {
  const url = new URL(indexerUrl.endsWith("/") ? indexerUrl : `${indexerUrl}/`, window.location.href);
  url.search = "";
  url.hash = "";
  return url.toString();
}

/**
 * GET `route` (with its query) from the indexer, as JSON; any failure an {@link IndexerError}. `check` (shapes.ts)
 * refuses an answer that is not the route's shape, in one line.
 */
export async function getJson<T>(
  indexerUrl: string,
  route: string,
  signal?: AbortSignal,
  check?: (body: unknown) => T,
): Promise<T> {
  const base = indexerBase(indexerUrl);
  const url = base + route.replace(/^\//, "");
  let response: Response;
  try {
    response = await fetch(url, { signal, headers: { accept: "application/json" } });
  } catch (error) {
    if ((error as Error).name === "AbortError") throw error;
    throw new IndexerError(`The indexer at ${base} is unreachable (${(error as Error).message}).`, null);
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (response.ok) {
    if (body === undefined) throw new IndexerError(`The indexer at ${base} did not answer JSON for ${route}.`, 200);
    if (check === undefined) return body as T;
    try {
      return check(body);
    } catch (error) {
      if (!(error instanceof UnexpectedShape)) throw error;
      throw new IndexerError(
        `The indexer answered something unexpected for ${route.split("?")[0]}: ${error.message}.`,
        response.status,
      );
    }
  }
  const said = (body as { error?: unknown } | undefined)?.error;
  // A route the indexer lacks: Hono's plain "404 Not Found", or a JSON "no route …" from a newer indexer.
  // The Vite proxy answers 5xx (with no JSON) when the indexer behind it is down.
  if (typeof said !== "string") {
    if (response.status === 404) throw new IndexerError(`The indexer has no route ${route.split("?")[0]}.`, 404, true);
    if (response.status >= 500)
      throw new IndexerError(`The indexer at ${base} is unreachable (HTTP ${response.status}).`, response.status);
    throw new IndexerError(`The indexer answered HTTP ${response.status} for ${route}.`, response.status);
  }
  const missing = response.status === 404 && said.startsWith("no route");
  throw new IndexerError(missing ? `The indexer has ${said}.` : `The indexer says: ${said}.`, response.status, missing);
}

const query = (params: Record<string, string | undefined>): string => {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v.trim() !== "") search.set(k, v.trim());
  const s = search.toString();
  return s === "" ? "" : `?${s}`;
};

export function fleetStats(indexerUrl: string, signal?: AbortSignal): Promise<FleetStats> {
  return getJson<FleetStats>(indexerUrl, "stats/fleet", signal);
}

export function deviceList(
  indexerUrl: string,
  filters: DeviceFilters,
  limit: number,
  cursor: string | null,
  signal?: AbortSignal,
): Promise<Page<IndexedDevice>> {
  const params = { ...filters, limit: String(limit), cursor: cursor ?? undefined };
  return getJson<Page<IndexedDevice>>(indexerUrl, `devices${query(params)}`, signal);
}

/** Activations per UTC day over the last `days` days; an indexer without the route throws with `missingRoute`. */
export function activationsPerDay(indexerUrl: string, days: number, signal?: AbortSignal): Promise<DayCount[]> {
  return getJson<DayCount[]>(indexerUrl, `stats/activations?days=${days}`, signal);
}

/** A device and its histories; a malformed id is refused here, before any request. */
export function deviceDetail(indexerUrl: string, deviceId: string, signal?: AbortSignal): Promise<DeviceDetail> {
  if (!isDeviceIdHex(deviceId))
    return Promise.reject(
      new IndexerError(`"${deviceId}" is not a device id: a device id is 0x and 64 hex digits (32 bytes).`, 400),
    );
  return getJson(indexerUrl, `devices/${deviceId.toLowerCase()}`, signal, checkDeviceDetail);
}

export function walletOf(indexerUrl: string, address: string, signal?: AbortSignal): Promise<WalletDetail> {
  return getJson(indexerUrl, `wallets/${address.toLowerCase()}`, signal, checkWalletDetail);
}

export function channelsOf(indexerUrl: string, owner: string, signal?: AbortSignal): Promise<Page<ChannelRow>> {
  const route = `channels${query({ owner: owner.toLowerCase(), limit: "25" })}`;
  return getJson(indexerUrl, route, signal, checkChannelPage);
}

/** Channels by AS and/or owner and status, a page at a time (GET /channels). */
export function channelList(
  indexerUrl: string,
  filters: ChannelFilters,
  limit: number,
  cursor: string | null,
  signal?: AbortSignal,
): Promise<Page<ChannelRow>> {
  const lower = (v?: string) => (v === undefined ? undefined : v.trim().toLowerCase());
  const params = {
    as: lower(filters.as),
    owner: lower(filters.owner),
    status: filters.status,
    limit: String(limit),
    cursor: cursor ?? undefined,
  };
  return getJson(indexerUrl, `channels${query(params)}`, signal, checkChannelPage);
}

export function asRevenue(indexerUrl: string, address: string, signal?: AbortSignal): Promise<AsRevenue> {
  return getJson<AsRevenue>(indexerUrl, `as/${address.trim().toLowerCase()}/revenue`, signal);
}

/** A unix time (seconds, as a decimal string) in UTC, to the minute. */
export function utcTime(seconds: string | number): string {
  return new Date(Number(seconds) * 1000).toISOString().slice(0, 16).replace("T", " ");
}

export interface IndexedWhitelist {
  root: string;
  capacity: number;
  used: number;
  closed: boolean;
}

export interface ManufacturerDetail {
  manufacturer: { id: number; account: string; payout: string; defaultScore: number; active: boolean };
  whitelists: IndexedWhitelist[];
}

/** A manufacturer and its whitelists (GET /manufacturers/:id); a malformed id is refused here, before any request. */
export function manufacturerDetail(indexerUrl: string, id: string, signal?: AbortSignal): Promise<ManufacturerDetail> {
  if (!/^[1-9][0-9]{0,9}$/.test(id) || Number(id) > 0xffffffff)
    return Promise.reject(new IndexerError(`"${id}" is not a manufacturer id (a number from 1).`, 400));
  return getJson<ManufacturerDetail>(indexerUrl, `manufacturers/${id}`, signal);
}
