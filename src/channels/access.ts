import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

import type { TypedDataDomain } from "ethers";
import type { Wallet } from "ethers";
import { formatEther, getAddress } from "ethers";

import { ensureWritable, writeJsonOutput } from "../cli/files";
import { readJsonFile } from "../cli/json";
import { parseAmount } from "../cli/parse";
import { labelId } from "../devices/fleet";
import { askJson } from "../http/client";
import { decryptKey, randomDeviceKey, saveKey } from "../devices/keystore";
import { UserError, ensure } from "../errors";
import type { AccessGrant } from "./as-server";
import { ChannelClient } from "./client";
import type { AccessOutcome, DeviceState } from "./device";
import type { ChannelFile } from "./open";

/** What `channel:clients` wrote: the clients file, and each new client's keystore. */
export interface ClientsResult {
  file: string;
  clients: { address: string; keystore?: string }[];
}

/**
 * Writes a clients file (a JSON array of addresses, what `channel:open --clients` takes). With `count`, that
 * many fresh client keys are made, each encrypted (ethers' JSON keystore under `password`) to
 * `keystores/<address>.json`; with `addresses`, those are listed instead. An existing clients file is
 * refused without `force` before any key is made; the clients file is written last, atomically.
 */
export function writeClients(o: {
  out: string;
  force: boolean;
  count?: number;
  addresses?: string[];
  keystores?: string;
  password?: string;
}): ClientsResult {
  ensure((o.count === undefined) !== (o.addresses === undefined), "give exactly one of --count or --addresses");
  ensureWritable(o.out, { force: o.force, flag: "out" });
  const clients: ClientsResult["clients"] = [];
  if (o.addresses !== undefined) {
    for (const address of o.addresses) clients.push({ address });
  } else {
    ensure(o.keystores !== undefined && o.password !== undefined, "--keystores: where to keep the new client keys");
    fs.mkdirSync(o.keystores, { recursive: true, mode: 0o700 });
    for (let i = 0; i < o.count!; i++) {
      const wallet = randomDeviceKey();
      const keystore = saveKey(path.join(o.keystores, `${wallet.address.toLowerCase()}.json`), wallet, o.password);
      clients.push({ address: wallet.address, keystore });
    }
  }
  fs.mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true, mode: 0o700 });
  writeJsonOutput(
    o.out,
    clients.map((c) => c.address),
    { force: o.force, flag: "out" },
  );
  return { file: o.out, clients };
}

/** A client's key from its ethers JSON keystore file; a wrong password or a corrupt file fails with one line. */
export function loadClientKey(file: string, password: string): Wallet {
  ensure(fs.existsSync(file), `--keystore: ${file} does not exist`);
  return decryptKey(`--keystore ${file}`, fs.readFileSync(file, "utf8"), password);
}

/** What `device:secret` wrote. The secret is in it only when asked for (`show`). */
export interface DeviceSecretResult {
  deviceId: string;
  label: string;
  price: string;
  devices: string;
  lock: string;
  secret?: string;
}

/**
 * Makes a device's HOTP secret (32 random bytes) and provisions both sides: the AS's devices file gains (or,
 * with `force`, replaces) the entry `{ deviceId, secret, price }`, and the lock's state file (what
 * `device:serve-lock` runs on: the secret and a fresh window) is written. Both files are 0600 and written
 * atomically; an existing entry or lock file is refused without `force`, before anything is written.
 */
export function createDeviceSecret(o: {
  device: string;
  price: string;
  devices: string;
  lock: string;
  force: boolean;
  show?: boolean;
}): DeviceSecretResult {
  ensure(o.device.trim() !== "", "--device: give the device's id or label, e.g. LOCK-1");
  const deviceId = labelId(o.device);
  parseAmount("price", o.price);
  let entries: { deviceId?: unknown }[] = [];
  if (fs.existsSync(o.devices)) {
    const parsed = readJsonFile(o.devices, "a JSON array of { deviceId, secret, price }");
    ensure(Array.isArray(parsed), `${o.devices}: expected a JSON array of { deviceId, secret, price }`);
    entries = parsed as { deviceId?: unknown }[];
  }
  const same = (e: { deviceId?: unknown }) => typeof e.deviceId === "string" && labelId(e.deviceId) === deviceId;
  ensure(
    o.force || !entries.some(same),
    `--devices: ${o.devices} already has device ${o.device}; pass --force to give it a new secret`,
  );
  ensureWritable(o.lock, { force: o.force, flag: "lock" });
  const secret = crypto.randomBytes(32).toString("hex");
  const entry = { deviceId: o.device, secret, price: o.price };
  const updated = entries.some(same) ? entries.map((e) => (same(e) ? entry : e)) : [...entries, entry];
  const state: DeviceState = { deviceId, secret, counter: 0, used: [], slotsGranted: 0 };
  fs.mkdirSync(path.dirname(path.resolve(o.lock)), { recursive: true, mode: 0o700 });
  fs.mkdirSync(path.dirname(path.resolve(o.devices)), { recursive: true, mode: 0o700 });
  writeJsonOutput(o.lock, state, { force: true, flag: "lock", mode: 0o600 });
  writeJsonOutput(o.devices, updated, { force: true, flag: "devices", mode: 0o600 });
  return {
    deviceId,
    label: o.device,
    price: o.price,
    devices: o.devices,
    lock: o.lock,
    ...(o.show === true ? { secret } : {}),
  };
}

/** Reads a channel file (`channel:open --out`) and finds `address`'s Merkle proof in it. */
export function readChannelFile(file: string, address: string): { channel: ChannelFile; proof: string[] } {
  const channel = readJsonFile(file, "a channel file written by channel:open --out") as ChannelFile;
  ensure(
    typeof channel === "object" && channel !== null && Array.isArray(channel.clients),
    `${file} is not a channel file (channel:open --out writes one)`,
  );
  const mine = channel.clients.find((c) => getAddress(c.address) === getAddress(address));
  ensure(mine !== undefined, `client ${address} is not in the group of channel ${channel.channelId} (${file})`);
  return { channel, proof: mine.proof };
}

/** What `access:buy` did: the code bought, and with a lock what the lock answered. */
export interface BuyResult {
  deviceId: string;
  client: string;
  channelId: string;
  asset: ChannelFile["asset"];
  otp: string;
  counter: number;
  amount: string;
  price: string;
  expiresAt: number;
  advance?: AccessGrant["advance"];
  /** With a lock: its answer, or `error` when the code could not be presented (it is paid: present it by hand). */
  lock?: { url: string; granted: boolean; reason?: string; relayError?: string; error?: string };
}

/**
 * The price the AS quotes for a code of `deviceId` (its `GET /devices`), once the client agreed to it:
 * at most `maxPrice`, or approved by `approvePrice`; otherwise a one-line refusal, before anything is signed.
 */
async function agreedPrice(o: {
  asUrl: string;
  device: string;
  deviceId: string;
  asset: string;
  maxPrice?: bigint;
  approvePrice?: (price: bigint) => Promise<boolean>;
}): Promise<bigint> {
  const { asUrl } = o;
  const devices = await askJson<{ deviceId: string; price: string }[]>("AS", `${asUrl}/devices`);
  ensure(
    Array.isArray(devices),
    `the AS at ${asUrl} answered GET /devices with something other than a list of devices`,
  );
  const offered = devices.find((d) => typeof d?.deviceId === "string" && d.deviceId.toLowerCase() === o.deviceId);
  ensure(offered !== undefined, `the AS at ${asUrl} does not sell access to device ${o.device}`);
  ensure(
    typeof offered.price === "string" && /^[0-9]{1,78}$/.test(offered.price),
    `the AS at ${asUrl} quotes no valid price for device ${o.device}; nothing was signed`,
  );
  const price = BigInt(offered.price);
  const unit = o.asset === "token" ? "THING" : "ETH";
  const asking = `the AS at ${asUrl} asks ${formatEther(price)} ${unit} for a code of device ${o.device}`;
  if (o.maxPrice !== undefined)
    ensure(price <= o.maxPrice, `${asking}, above --max-price ${formatEther(o.maxPrice)} ${unit}; nothing was signed`);
  else if (o.approvePrice === undefined)
    throw new UserError(`${asking}: pass --max-price ${formatEther(price)} (or more) to pay it; nothing was signed`);
  else if (!(await o.approvePrice(price))) throw new UserError(`${asking}: not approved, nothing was signed`);
  return price;
}

/**
 * Buys one access slot of `device` from the AS at `asUrl` with `wallet`, a client of the channel in
 * `channelFile`: the price is the AS's (`GET /devices`), the previous cumulative receipt is the AS's best one
 * (checked by {@link ChannelClient} before signing previous + price), so a re-run continues where the group
 * left off. With `lockUrl`, the code (and the AS's advance) is presented to that lock (`device:serve-lock`)
 * and the lock's acknowledgement relayed to the AS. Every refusal is one line naming its status and reason.
 */
export async function buyAccess(o: {
  wallet: Wallet;
  channelFile: string;
  asUrl: string;
  device: string;
  domain: TypedDataDomain;
  lockUrl?: string;
  /**
   * The most this purchase may pay for the code, in the channel's asset: the AS quotes the price, and a
   * hostile AS (or one in the middle) could quote the whole deposit, which the client would sign away in
   * one cumulative receipt. A higher price is refused before anything is signed. Without it, `approvePrice`
   * is asked (a terminal's confirmation); without either, the purchase is refused.
   */
  maxPrice?: bigint;
  approvePrice?: (price: bigint) => Promise<boolean>;
}): Promise<BuyResult> {
  const asUrl = o.asUrl.replace(/\/+$/, "");
  const deviceId = labelId(o.device);
  const { channel, proof } = readChannelFile(o.channelFile, o.wallet.address);
  const price = await agreedPrice({ ...o, asUrl, deviceId, asset: channel.asset });
  const client = new ChannelClient(
    o.wallet,
    {
      owner: channel.owner,
      token: channel.asset === "token",
      clientRoot: channel.clientRoot,
      salt: channel.salt,
      openBlock: channel.openBlock,
      channelId: channel.channelId,
      deposit: BigInt(channel.deposit),
    },
    proof,
    o.domain,
  );
  let grant: AccessGrant;
  try {
    grant = await client.buy(asUrl, deviceId, price, { timeoutMs: 30_000, redeliverTimeoutMs: 10_000 });
  } catch (error) {
    throw new UserError((error as Error).message.replace(/^AS refused/, "the AS refused"));
  }
  const result: BuyResult = {
    deviceId,
    client: o.wallet.address,
    channelId: channel.channelId,
    asset: channel.asset,
    otp: grant.otp,
    counter: grant.counter,
    amount: grant.amount,
    price: price.toString(),
    expiresAt: grant.expiresAt,
    ...(grant.advance === undefined ? {} : { advance: grant.advance }),
  };
  if (o.lockUrl !== undefined) result.lock = await presentToLock(o.lockUrl, grant, client, asUrl, deviceId);
  return result;
}

/**
 * Presents a bought code to a lock (`device:serve-lock`), and relays the lock's acknowledgement to the AS. A
 * lock that cannot be reached costs nothing: the code is paid for, and returned with the reason.
 */
async function presentToLock(
  url: string,
  grant: AccessGrant,
  client: ChannelClient,
  asUrl: string,
  deviceId: string,
): Promise<NonNullable<BuyResult["lock"]>> {
  const lockUrl = url.replace(/\/+$/, "");
  let outcome: AccessOutcome;
  try {
    outcome = await askJson<AccessOutcome>(
      "lock",
      `${lockUrl}/present`,
      {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ otp: grant.otp, ...(grant.advance === undefined ? {} : { advance: grant.advance }) }),
      },
      (status) => status === 200 || status === 403,
    );
  } catch (error) {
    return { url: lockUrl, granted: false, error: (error as Error).message };
  }
  const lock: NonNullable<BuyResult["lock"]> = {
    url: lockUrl,
    granted: outcome.granted,
    ...(outcome.reason === undefined ? {} : { reason: outcome.reason }),
  };
  try {
    await client.acknowledge(asUrl, deviceId, outcome.counter, outcome.ack, outcome.next, outcome.challenge);
  } catch (error) {
    lock.relayError = (error as Error).message;
  }
  return lock;
}
