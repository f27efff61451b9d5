import { Wallet, getAddress, isAddress, isHexString, parseEther, verifyTypedData } from "ethers";
import type { TypedDataDomain } from "ethers";

import type { AccessGrant } from "../../../src/channels/as/types";
import { accessRequestOf, nextAmount } from "../../../src/channels/exchange";
import type { ChannelFile } from "../../../src/channels/open";
import { RECEIPT_TYPES, signReceipt } from "../../../src/eip712/receipt";
import { NotJsonError, UnreachableError, fetchJson } from "../../../src/http/client";
import type { JsonAnswer } from "../../../src/http/client";

/**
 * The client page's exchange, in the browser: the client key stays in this page's memory (an ethers Wallet,
 * never stored), the receipt is signed here with `signReceipt`, and the AS answers with the device's code.
 * Same checks as `ChannelClient` (src/channels/client.ts) before anything is signed: the AS's previous receipt
 * is this channel's, within the deposit, signed by a member of the group (the channel file lists them), and
 * the AS's price is within the client's maximum.
 */

/** The AS's answer, as one plain sentence for the page. */
export class AccessProblem extends Error {
  override readonly name = "AccessProblem";
}

/** A client key from what the user pasted: 0x and 64 hex digits. */
export function clientKeyFrom(text: string): Wallet {
  const key = text.trim();
  const hex = key.startsWith("0x") ? key : `0x${key}`;
  if (!isHexString(hex, 32)) throw new AccessProblem("A client key is 64 hex digits (a private key, 0x optional).");
  try {
    return new Wallet(hex);
  } catch {
    throw new AccessProblem("That is not a valid private key.");
  }
}

/** The channel file `channel:open --out` wrote, pasted or loaded: checked for the fields the exchange needs. */
export function channelFileFrom(text: string): ChannelFile {
  let file: Partial<ChannelFile>;
  try {
    file = JSON.parse(text) as Partial<ChannelFile>;
  } catch {
    throw new AccessProblem("The channel file is not JSON: paste the file channel:open --out wrote.");
  }
  const fields = ["channelId", "contract", "owner", "clientRoot", "salt", "openBlock", "deposit", "chainId"] as const;
  const missing = fields.filter((f) => typeof file[f] !== "string");
  if (missing.length > 0 || !Array.isArray(file.clients) || file.asset === undefined)
    throw new AccessProblem(
      `The channel file lacks ${[...missing, ...(Array.isArray(file.clients) ? [] : ["clients"])].join(", ") || "asset"}: paste the file channel:open --out wrote.`,
    );
  const bad = (what: string) =>
    new AccessProblem(`The channel file's ${what}: paste the file channel:open --out wrote.`);
  if (!isHexString(file.channelId, 32))
    throw bad(`channelId "${String(file.channelId).slice(0, 70)}" is not 32 bytes of hex`);
  if (!WEI.test(file.deposit!)) throw bad(`deposit "${file.deposit!.slice(0, 40)}" is not a whole number of wei`);
  for (const c of file.clients as unknown[]) {
    const client = (c ?? {}) as { address?: unknown; proof?: unknown };
    if (typeof client.address !== "string" || !isAddress(client.address))
      throw bad(`client "${String(client.address).slice(0, 50)}" is not an address`);
    if (!Array.isArray(client.proof) || !client.proof.every((h) => isHexString(h, 32)))
      throw bad(`proof of client ${client.address} is not a list of 32-byte hashes`);
  }
  return file as ChannelFile;
}

/** A whole number of wei (or a block), as the AS and channel files write them. */
const WEI = /^\d{1,78}$/;

/** The AS's answer to `route` is not the shape it documents: one line, and nothing of it shown or signed. */
function unexpected(route: string, why: string): AccessProblem {
  return new AccessProblem(`The AS answered something unexpected for ${route} (${why}): nothing was signed or shown.`);
}

/** GET /devices's answer: a list of `{ deviceId, price }`, each price a whole number of wei. */
function checkDevices(body: unknown): { deviceId: string; price: string }[] {
  if (!Array.isArray(body)) throw unexpected("/devices", "not a list");
  for (const d of body as unknown[]) {
    const e = (d ?? {}) as { deviceId?: unknown; price?: unknown };
    if (typeof e.deviceId !== "string" || !isHexString(e.deviceId, 32))
      throw unexpected("/devices", `an entry without a device id: ${JSON.stringify(d)?.slice(0, 80)}`);
    if (typeof e.price !== "string" || !WEI.test(e.price))
      throw unexpected(
        "/devices",
        `device ${e.deviceId}'s price "${String(e.price).slice(0, 40)}" is not a whole number of wei`,
      );
  }
  return body as { deviceId: string; price: string }[];
}

interface ShownReceipt {
  channelId: string;
  amount: string;
  signer?: string;
  signature?: string;
}

/** GET /channels/:id/receipt's answer: the channel, an amount, and (past zero) its signer and signature. */
function checkReceipt(body: unknown): ShownReceipt {
  const r = (body ?? {}) as Record<string, unknown>;
  const route = "the channel's receipt";
  if (typeof r.channelId !== "string" || !isHexString(r.channelId, 32)) throw unexpected(route, "no channel id");
  if (typeof r.amount !== "string" || !WEI.test(r.amount)) throw unexpected(route, "an amount that is not wei");
  for (const f of ["signer", "signature"] as const)
    if (r[f] !== undefined && typeof r[f] !== "string") throw unexpected(route, `a ${f} that is not text`);
  return r as unknown as ShownReceipt;
}

/** The latest time a date can show, in seconds (JavaScript's limit). */
const LAST_TIME = 8_640_000_000_000;

/**
 * POST /access's answer, checked against what was asked: the device asked for, the amount the client signed, and
 * (when the AS names one) the channel; a code, a counter, a time the page can show.
 */
function checkGrant(body: unknown, asked: { deviceId: string; amount: bigint; channelId: string }): AccessGrant {
  const g = (body ?? {}) as Record<string, unknown>;
  const route = "/access";
  if (typeof g.otp !== "string" || g.otp === "") throw unexpected(route, "no code");
  if (!Number.isSafeInteger(g.counter) || (g.counter as number) < 0) throw unexpected(route, "no counter");
  if (!Number.isSafeInteger(g.expiresAt) || (g.expiresAt as number) < 0 || (g.expiresAt as number) > LAST_TIME)
    throw unexpected(route, `an expiry "${String(g.expiresAt).slice(0, 40)}" that is not a time in seconds`);
  const advance = g.advance as { base?: unknown; mac?: unknown } | undefined;
  if (advance !== undefined && (!Number.isSafeInteger(advance?.base) || typeof advance?.mac !== "string"))
    throw unexpected(route, "a malformed advance");
  const refuse = (why: string) =>
    new AccessProblem(`The AS's answer does not match the request: ${why}. No code is shown.`);
  if (typeof g.deviceId !== "string" || g.deviceId.toLowerCase() !== asked.deviceId.toLowerCase())
    throw refuse(`it is for device ${String(g.deviceId).slice(0, 70)}, not ${asked.deviceId}`);
  if (typeof g.amount !== "string" || !WEI.test(g.amount) || BigInt(g.amount) !== asked.amount)
    throw refuse(
      `it states the amount ${String(g.amount).slice(0, 40)}, not the ${asked.amount} wei the receipt signed`,
    );
  if (g.channelId !== undefined && String(g.channelId).toLowerCase() !== asked.channelId.toLowerCase())
    throw refuse(`it names channel ${String(g.channelId).slice(0, 70)}, not ${asked.channelId}`);
  return g as unknown as AccessGrant;
}

/** The AS's base URL, absolute: a relative one (the Vite proxy's `as`) is taken from the page. */
export function asBase(asUrl: string): string {
  const url = new URL(asUrl.endsWith("/") ? asUrl : `${asUrl}/`, window.location.href);
  url.search = "";
  url.hash = "";
  return url.toString().replace(/\/$/, "");
}

/** One request to the AS; no answer (or the proxy's empty 5xx when the AS behind it is down) is "unreachable". */
async function ask<T>(base: string, route: string, init?: RequestInit): Promise<JsonAnswer<T>> {
  const unreachable = () =>
    new AccessProblem(`The AS at ${base} is unreachable: check its URL and that it is running.`);
  try {
    const answer = await fetchJson<T>("AS", `${base}${route}`, { ...init, signal: AbortSignal.timeout(30_000) });
    if (answer.status >= 500 && answer.body.error === undefined) throw unreachable();
    return answer;
  } catch (error) {
    if (error instanceof UnreachableError) throw unreachable();
    if (error instanceof NotJsonError)
      throw error.status >= 500
        ? unreachable()
        : new AccessProblem(`${base} answered HTTP ${error.status} with no JSON: is it an AS?`);
    throw error;
  }
}

/** The AS's refusal in plain words, by its reason (src/channels/as-server.ts). */
function refusal(status: number, body: { error?: string; reason?: string }): AccessProblem {
  const said = body.error ?? `HTTP ${status}`;
  switch (body.reason) {
    case "insufficient_deposit":
      return new AccessProblem(`Not enough deposit left in the channel for this slot (402): ${said}`);
    case "window_full":
      return new AccessProblem(
        `The device has too many unused codes outstanding (429): use one at the device, or buy later. ${said}`,
      );
    case "channel_closed":
      return new AccessProblem(`The channel is closed: it can no longer pay for access. ${said}`);
    case "channel_expiring":
      return new AccessProblem(`The channel expires too soon to pay for access: ask its owner to extend it. ${said}`);
    case "not_member":
      return new AccessProblem(`This key is not in the channel's client group: ${said}`);
    case "unknown_device":
      return new AccessProblem(`The AS does not sell access to this device: ${said}`);
    default:
      return new AccessProblem(`The AS refused (${status}): ${said}`);
  }
}

export interface BuyInput {
  wallet: Wallet;
  channel: ChannelFile;
  domain: TypedDataDomain;
  asUrl: string;
  deviceId: string;
  /** The most the client pays for one slot, in ETH or THING (a decimal string). */
  maxPrice: string;
}

export interface Bought extends AccessGrant {
  price: string;
}

/** Buys one slot: reads the price and the previous receipt, checks both, signs the next receipt, trades it. */
export async function buySlot(input: BuyInput): Promise<Bought> {
  const { wallet, channel, domain } = input;
  const member = channel.clients.find((c) => getAddress(c.address) === wallet.address);
  if (member === undefined)
    throw new AccessProblem(
      `This key (${wallet.address}) is not in the channel's client group: the owner adds it when opening a channel.`,
    );
  let max: bigint;
  try {
    max = parseEther(input.maxPrice.trim());
  } catch {
    throw new AccessProblem(`"${input.maxPrice}" is not an amount: give the most you pay per slot, e.g. 0.001.`);
  }
  const base = asBase(input.asUrl);
  const devices = await ask<unknown>(base, "/devices");
  if (!devices.ok) throw refusal(devices.status, devices.body as { error?: string });
  const device = checkDevices(devices.body).find(
    (d) => d.deviceId.toLowerCase() === input.deviceId.trim().toLowerCase(),
  );
  if (device === undefined) throw new AccessProblem(`The AS does not sell access to device ${input.deviceId}.`);
  const price = BigInt(device.price);
  if (price > max)
    throw new AccessProblem(
      `The AS asks ${device.price} wei per slot, above your maximum of ${max} wei: nothing was signed.`,
    );

  const shown = await ask<unknown>(base, `/channels/${channel.channelId}/receipt`);
  if (!shown.ok) throw refusal(shown.status, shown.body as { error?: string });
  const deposit = BigInt(channel.deposit);
  const previous = checkPrevious(checkReceipt(shown.body), channel, domain, deposit);
  let amount: bigint;
  try {
    amount = nextAmount(previous, price, deposit);
  } catch (error) {
    throw new AccessProblem(`Not enough deposit left in the channel for this slot: ${(error as Error).message}.`);
  }
  const signature = await signReceipt(wallet, domain, { channelId: channel.channelId, cumulativeAmount: amount });
  const params = { ...channel, token: channel.asset === "token" };
  const answer = await ask<unknown>(base, "/access", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(accessRequestOf(params, device.deviceId, amount, signature, member.proof)),
  });
  if (!answer.ok) throw refusal(answer.status, answer.body as { error?: string });
  const grant = checkGrant(answer.body, { deviceId: device.deviceId, amount, channelId: channel.channelId });
  return { ...grant, price: device.price };
}

/** The AS's previous receipt, checked as `ChannelClient.checkPrevious` does; its amount. */
function checkPrevious(previous: ShownReceipt, channel: ChannelFile, domain: TypedDataDomain, deposit: bigint): bigint {
  if (previous.channelId.toLowerCase() !== channel.channelId.toLowerCase())
    throw new AccessProblem(`The AS showed a receipt of another channel (${previous.channelId}): nothing was signed.`);
  const amount = BigInt(previous.amount);
  if (amount === 0n) return 0n;
  const bad = (why: string) => new AccessProblem(`The AS's previous receipt ${why}: nothing was signed.`);
  if (amount > deposit) throw bad(`(${amount}) exceeds the deposit ${deposit}`);
  if (previous.signature === undefined || previous.signer === undefined) throw bad("is unsigned");
  let signer: string;
  try {
    signer = verifyTypedData(
      domain,
      RECEIPT_TYPES,
      { channelId: channel.channelId, cumulativeAmount: amount },
      previous.signature,
    );
  } catch {
    throw bad("has a malformed signature");
  }
  if (signer !== getAddress(previous.signer)) throw bad("is not signed by its stated signer");
  if (!channel.clients.some((c) => getAddress(c.address) === signer)) throw bad(`is signed by ${signer}, not a member`);
  return amount;
}
