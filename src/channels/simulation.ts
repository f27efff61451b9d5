import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import type { BaseWallet, Signer } from "ethers";
import { formatEther, keccak256, parseEther, toUtf8Bytes } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types";

import { PaymentChannels__factory } from "../../typechain-types";
import { chainTime } from "../chain/time";
import { loadSystem } from "../../tasks/support/deployments";
import { readDomain } from "../eip712/domain";
import { randomDeviceKey } from "../devices/keystore";
import { UserError } from "../errors";
import { buildGroup } from "../merkle/group";
import { AuthorizationServer } from "./as-server";
import { ChannelClient } from "./client";
import { openedChannel } from "./key";
import type { CloseItem } from "./key";
import { SimulatedDevice } from "./device";
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

/**
 * Runs the SOFIE scheme end to end on the current network: an owner opens one ETH channel for a group
 * of `clients` fresh client keys; an Authorization Server (HTTP on loopback, SQLite on disk) trades
 * their receipts for HOTP codes; a constrained device checks each code; a replayed code is tried and
 * refused; the AS closes with the best receipt.
 */
export async function runAccessSimulation(
  hre: HardhatRuntimeEnvironment,
  options: {
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
  },
): Promise<AccessSimulation> {
  const started = Date.now();
  const system = await loadSystem(hre, ["PaymentChannels"]);
  const ownerAddress = await options.owner.getAddress();
  const asAddress = await options.as.getAddress();
  if (ownerAddress === asAddress)
    throw new UserError("the owner and the Authorization Server must be different accounts");
  const channels = PaymentChannels__factory.connect(system.addresses.PaymentChannels, options.owner);
  const price = options.price ?? parseEther("0.001");
  const given = options.clientKeys ?? [];
  if (given.length > options.clients)
    throw new UserError(`${given.length} client keys given for ${options.clients} clients`);
  const wallets = [...given, ...Array.from({ length: options.clients - given.length }, () => randomDeviceKey())];
  const group = buildGroup(wallets.map((w) => w.address));
  const deposit = price * BigInt(options.clients * options.slots);
  const expiry = (await chainTime(hre.ethers.provider)) + 86_400n;
  const salt = BigInt(`0x${crypto.randomBytes(8).toString("hex")}`);
  const opened = await (await channels.openEth(asAddress, expiry, group.root, salt, { value: deposit })).wait();
  const { channelId, openBlock } = openedChannel(channels, opened);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-sim-"));
  const domain = await readDomain(channels);
  const store = new AsStore(path.join(dir, "as.sqlite"), { create: true });
  const server = new AuthorizationServer({
    channels: channels.connect(options.as),
    payee: asAddress,
    verifier: new ReceiptVerifier(domain),
    store,
    now: () => Math.floor(Date.now() / 1000),
  });
  const deviceId = options.lockId ?? keccak256(toUtf8Bytes(`SIM-LOCK-${salt}`));
  const secret = crypto.randomBytes(32).toString("hex");
  server.provisionDevice(deviceId, secret, price);
  const device = new SimulatedDevice(path.join(dir, "device.json"), undefined, undefined, {
    deviceId,
    secret,
    counter: 0,
    slotsGranted: 0,
  });
  const params = {
    owner: ownerAddress,
    token: false,
    clientRoot: group.root,
    salt: salt.toString(),
    openBlock: openBlock.toString(),
    channelId,
    deposit,
  };
  const clients = wallets.map((w) => new ChannelClient(w, params, group.proofs[w.address], domain));
  let accepted = 0;
  let rejected = 0;
  let bought = 0;
  try {
    const url = await server.listen(0);
    let lastOtp = "";
    for (let slot = 0; slot < options.clients * options.slots; slot++) {
      const client = clients[slot % clients.length];
      const grant = await client.buy(url, deviceId, price);
      bought++;
      // The client uses the code and relays the device's acknowledgement, so the AS may issue further codes.
      const outcome = await client.redeem(url, device, grant);
      if (outcome.relayError !== undefined) throw new Error(outcome.relayError);
      if (outcome.granted) accepted++;
      else rejected++;
      lastOtp = grant.otp;
      options.onSlot?.(bought);
    }
    // A client tries to reuse a code: the device refuses it.
    if (!device.present(lastOtp).granted) rejected++;
    const due = await server.dueChannels(Number.MAX_SAFE_INTEGER);
    let pendingClose: CloseItem | undefined;
    let closeGas = 0n;
    if (options.close === false) {
      const [{ channel, receipt }] = due;
      pendingClose = { ...channel, amount: receipt.amount, signature: receipt.signature, proof: receipt.proof };
    } else {
      closeGas = (await server.closeChannels(due)).gasUsed;
    }
    const [event] = await channels.queryFilter(channels.filters.ChannelClosed(channelId));
    return {
      network: hre.network.name,
      clients: options.clients,
      slots: options.slots,
      price: formatEther(price),
      channelId,
      slotsBought: bought,
      receipts: store.receiptCount(),
      otpsAccepted: accepted,
      otpsRejected: rejected,
      gas: { open: opened?.gasUsed ?? 0n, close: closeGas },
      pendingClose,
      balances: {
        owner: formatEther(await hre.ethers.provider.getBalance(ownerAddress)),
        authorizationServer: formatEther(await hre.ethers.provider.getBalance(asAddress)),
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
