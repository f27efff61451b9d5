import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import type { BaseWallet, Signer, TypedDataDomain } from "ethers";
import { formatEther, keccak256, parseEther, toUtf8Bytes } from "ethers";

import type { PaymentChannels } from "../../typechain-types";
import { channelsAt } from "../chain/context";
import type { SystemContext } from "../chain/context";
import { chainTime } from "../chain/time";
import { randomDeviceKey } from "../devices/keystore";
import { readDomain } from "../eip712/domain";
import { UserError } from "../errors";
import { buildGroup } from "../merkle/group";
import { AuthorizationServer } from "./as-server";
import { ChannelClient } from "./client";
import { SimulatedDevice } from "./device";
import { openedChannel } from "./key";
import type { CloseItem } from "./key";
import { AsStore } from "./store";
import { ReceiptVerifier } from "./verify";

export interface AccessSimulation {
  network: string;
  clients: number;
  slots: number;
  price: string;
  channelId: string;
  slotsBought: number;
  receipts: number;
  otpsAccepted: number;
  otpsRejected: number;
  gas: { open: bigint; close: bigint };
  /** With `close: false`: the channel and its best receipt, for the AS to close later (e.g. in a batch). */
  pendingClose?: CloseItem;
  balances: { owner: string; authorizationServer: string };
  paidToAs: string;
  refundedToOwner: string;
  seconds: number;
}

export interface AccessSimulationOptions {
  clients: number;
  slots: number;
  owner: Signer;
  as: Signer;
  price?: bigint;
  /** Keys that join the client group first (registered devices buying access, say); the rest are fresh. */
  clientKeys?: BaseWallet[];
  /** The registry id of the device sold (default: a made-up id for a simulated lock). */
  lockId?: string;
  /** Close the channel at the end (default true); false leaves it open and returns `pendingClose`. */
  close?: boolean;
  onSlot?: (done: number) => void;
}

/** The simulation's channel once opened: its clients (with their keys and proofs) and what the open cost. */
interface OpenedGroup {
  channels: PaymentChannels;
  clients: ChannelClient[];
  channelId: string;
  salt: bigint;
  price: bigint;
  gas: bigint;
}

/** The owner opens one ETH channel for a group of the given keys plus fresh ones, a day long. */
async function openGroupChannel(
  ctx: SystemContext,
  o: AccessSimulationOptions,
  asAddress: string,
  domain: TypedDataDomain,
): Promise<OpenedGroup> {
  const channels = channelsAt(ctx, o.owner);
  const price = o.price ?? parseEther("0.001");
  const given = o.clientKeys ?? [];
  if (given.length > o.clients) throw new UserError(`${given.length} client keys given for ${o.clients} clients`);
  const wallets = [...given, ...Array.from({ length: o.clients - given.length }, () => randomDeviceKey())];
  const group = buildGroup(wallets.map((w) => w.address));
  const deposit = price * BigInt(o.clients * o.slots);
  const expiry = (await chainTime(ctx.provider)) + 86_400n;
  const salt = BigInt(`0x${crypto.randomBytes(8).toString("hex")}`);
  const opened = await (await channels.openEth(asAddress, expiry, group.root, salt, { value: deposit })).wait();
  const { channelId, openBlock } = openedChannel(channels, opened);
  const params = {
    owner: await o.owner.getAddress(),
    token: false,
    clientRoot: group.root,
    salt: salt.toString(),
    openBlock: openBlock.toString(),
    channelId,
    deposit,
  };
  const clients = wallets.map((w) => new ChannelClient(w, params, group.proofs[w.address], domain));
  return { channels, clients, channelId, salt, price, gas: opened?.gasUsed ?? 0n };
}

/**
 * Each slot, the next client buys a code from the AS at `url`, uses it at the device and relays the device's
 * acknowledgement (so the AS may issue further codes); then a client replays the last code, which the device
 * refuses.
 */
async function buySlots(
  url: string,
  group: OpenedGroup,
  device: { id: string; lock: SimulatedDevice },
  o: AccessSimulationOptions,
): Promise<{ bought: number; accepted: number; rejected: number }> {
  let accepted = 0;
  let rejected = 0;
  let bought = 0;
  let lastOtp = "";
  for (let slot = 0; slot < o.clients * o.slots; slot++) {
    const client = group.clients[slot % group.clients.length];
    const grant = await client.buy(url, device.id, group.price);
    bought++;
    const outcome = await client.redeem(url, device.lock, grant);
    if (outcome.relayError !== undefined) throw new Error(outcome.relayError);
    if (outcome.granted) accepted++;
    else rejected++;
    lastOtp = grant.otp;
    o.onSlot?.(bought);
  }
  if (!device.lock.present(lastOtp).granted) rejected++;
  return { bought, accepted, rejected };
}

/** The AS closes the channel with its best receipt, or (with `close: false`) hands that receipt back. */
async function settle(server: AuthorizationServer, close: boolean): Promise<{ gas: bigint; pendingClose?: CloseItem }> {
  const due = await server.dueChannels(Number.MAX_SAFE_INTEGER);
  if (close) return { gas: (await server.closeChannels(due)).gasUsed };
  const [{ channel, receipt }] = due;
  return {
    gas: 0n,
    pendingClose: { ...channel, amount: receipt.amount, signature: receipt.signature, proof: receipt.proof },
  };
}

/**
 * Runs the SOFIE scheme end to end on the system's network: an owner opens one ETH channel for a group
 * of `clients` fresh client keys; an Authorization Server (HTTP on loopback, SQLite on disk) trades
 * their receipts for HOTP codes; a constrained device checks each code; a replayed code is tried and
 * refused; the AS closes with the best receipt.
 */
export async function runAccessSimulation(
  ctx: SystemContext,
  options: AccessSimulationOptions,
): Promise<AccessSimulation> {
  const started = Date.now();
  const ownerAddress = await options.owner.getAddress();
  const asAddress = await options.as.getAddress();
  if (ownerAddress === asAddress)
    throw new UserError("the owner and the Authorization Server must be different accounts");
  const domain = await readDomain(channelsAt(ctx));
  const group = await openGroupChannel(ctx, options, asAddress, domain);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-sim-"));
  const store = new AsStore(path.join(dir, "as.sqlite"), { create: true });
  const server = new AuthorizationServer({
    channels: group.channels.connect(options.as),
    payee: asAddress,
    verifier: new ReceiptVerifier(domain),
    store,
    now: () => Math.floor(Date.now() / 1000),
  });
  const deviceId = options.lockId ?? keccak256(toUtf8Bytes(`SIM-LOCK-${group.salt}`));
  const secret = crypto.randomBytes(32).toString("hex");
  server.provisionDevice(deviceId, secret, group.price);
  const initial = { deviceId, secret, counter: 0, slotsGranted: 0 };
  const lock = new SimulatedDevice(path.join(dir, "device.json"), undefined, undefined, initial);
  try {
    const slots = await buySlots(await server.listen(0), group, { id: deviceId, lock }, options);
    const closed = await settle(server, options.close !== false);
    const [event] = await group.channels.queryFilter(group.channels.filters.ChannelClosed(group.channelId));
    return {
      network: ctx.network,
      clients: options.clients,
      slots: options.slots,
      price: formatEther(group.price),
      channelId: group.channelId,
      slotsBought: slots.bought,
      receipts: store.receiptCount(),
      otpsAccepted: slots.accepted,
      otpsRejected: slots.rejected,
      gas: { open: group.gas, close: closed.gas },
      pendingClose: closed.pendingClose,
      balances: {
        owner: formatEther(await ctx.provider.getBalance(ownerAddress)),
        authorizationServer: formatEther(await ctx.provider.getBalance(asAddress)),
      },
      paidToAs: formatEther(event?.args.paid ?? 0n),
      refundedToOwner: formatEther(event?.args.refunded ?? 0n),
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    await server.stop();
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
