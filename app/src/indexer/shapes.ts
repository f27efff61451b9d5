import type { DeviceDetail, Page, WalletDetail, ChannelRow } from "./api";
import { STATUSES } from "./api";

/*
 * The indexer's answers checked at the boundary, before a page reads them: a field of the wrong kind (a time
 * that is not one, an error body sent with HTTP 200) is one line, "the indexer answered something unexpected",
 * never a JavaScript error from deep in a page. Only the fields the pages read are checked.
 */

/** Why an answer is not the shape its route documents; api.ts turns it into an IndexerError. */
export class UnexpectedShape extends Error {
  override readonly name = "UnexpectedShape";
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const show = (v: unknown) => (JSON.stringify(v) ?? String(v)).slice(0, 60);

function obj(v: unknown, what: string): Obj {
  if (!isObj(v)) throw new UnexpectedShape(`${what} is not an object: ${show(v)}`);
  return v;
}

function list(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw new UnexpectedShape(`${what} is not a list: ${show(v)}`);
  return v;
}

function text(o: Obj, key: string, what: string, nullable = false): void {
  const v = o[key];
  if (typeof v === "string" || (nullable && v === null)) return;
  throw new UnexpectedShape(`${what}'s ${key} is ${show(v)}, not text`);
}

/** A whole number as a decimal string (blocks, amounts). */
function decimal(o: Obj, key: string, what: string): void {
  if (typeof o[key] !== "string" || !/^\d{1,78}$/.test(o[key]))
    throw new UnexpectedShape(`${what}'s ${key} is ${show(o[key])}, not a number`);
}

/** Unix seconds as a decimal string, within what a date can show (to the year 275760). */
function time(o: Obj, key: string, what: string, nullable = false): void {
  const v = o[key];
  if (nullable && v === null) return;
  if (typeof v !== "string" || !/^\d{1,13}$/.test(v) || Number(v) > 8_640_000_000_000)
    throw new UnexpectedShape(`${what}'s ${key} is ${show(v)}, not a time`);
}

function status(o: Obj, what: string): void {
  if (!(STATUSES as readonly unknown[]).includes(o.status))
    throw new UnexpectedShape(`${what}'s status is ${show(o.status)}, not one of ${STATUSES.join(", ")}`);
}

function num(o: Obj, key: string, what: string, nullable = false): void {
  const v = o[key];
  if ((nullable && v === null) || (typeof v === "number" && Number.isFinite(v))) return;
  throw new UnexpectedShape(`${what}'s ${key} is ${show(v)}, not a number`);
}

function page(v: unknown, what: string, item: (o: Obj, what: string) => void): void {
  const p = obj(v, what);
  for (const i of list(p.items, `${what}'s items`)) item(obj(i, `an item of ${what}`), `an item of ${what}`);
  if (p.nextCursor !== null && typeof p.nextCursor !== "string")
    throw new UnexpectedShape(`${what}'s nextCursor is not text`);
}

/** GET /devices/:id: the device, its three histories, its wallets. */
export function checkDeviceDetail(body: unknown): DeviceDetail {
  const b = obj(body, "the answer");
  const d = obj(b.device, "the device");
  for (const k of ["id", "deviceKey", "deviceType"]) text(d, k, "the device");
  for (const k of ["owner", "whitelistRoot", "metadataHash"]) text(d, k, "the device", true);
  status(d, "the device");
  num(d, "manufacturerId", "the device");
  num(d, "score", "the device", true);
  num(d, "trend", "the device", true);
  decimal(d, "registeredBlock", "the device");
  time(d, "registeredAt", "the device");
  time(d, "activatedAt", "the device", true);
  for (const s of list(b.statusHistory, "the status history")) {
    const o = obj(s, "a status change");
    status(o, "a status change");
    decimal(o, "block", "a status change");
    time(o, "timestamp", "a status change");
    text(o, "by", "a status change", true);
  }
  for (const s of list(b.ownerHistory, "the owner history")) {
    const o = obj(s, "an owner change");
    text(o, "to", "an owner change");
    text(o, "from", "an owner change", true);
    decimal(o, "block", "an owner change");
    time(o, "timestamp", "an owner change");
  }
  for (const s of list(b.reputationHistory, "the reputation history")) {
    const o = obj(s, "a score change");
    for (const k of ["score", "epoch"]) num(o, k, "a score change");
    time(o, "timestamp", "a score change");
  }
  if (b.wallets !== undefined)
    for (const w of list(b.wallets, "the device's wallets")) text(obj(w, "a wallet"), "address", "a wallet");
  return b as unknown as DeviceDetail;
}

/** GET /wallets/:address: the wallet, its allowances, and pages of executions and spends. */
export function checkWalletDetail(body: unknown): WalletDetail {
  const b = obj(body, "the answer");
  const w = obj(b.wallet, "the wallet");
  text(w, "address", "the wallet");
  if (w.owners !== undefined && !list(w.owners, "the wallet's owners").every((o) => typeof o === "string"))
    throw new UnexpectedShape("the wallet's owners are not addresses");
  if (b.allowances !== undefined)
    for (const a of list(b.allowances, "the allowances")) {
      const o = obj(a, "an allowance");
      for (const k of ["asset", "limit", "available"]) text(o, k, "an allowance");
    }
  page(b.executions, "the executions", (o, what) => {
    decimal(o, "block", what);
    time(o, "timestamp", what);
  });
  page(b.spends, "the spends", (o, what) => {
    decimal(o, "block", what);
    time(o, "timestamp", what);
  });
  return b as unknown as WalletDetail;
}

/** GET /channels: a page of channels. */
export function checkChannelPage(body: unknown): Page<ChannelRow> {
  page(body, "the channels", (o, what) => {
    for (const k of ["id", "owner", "payee", "status", "deposit"]) text(o, k, what);
  });
  return body as Page<ChannelRow>;
}
