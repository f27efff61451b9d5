import fs from "node:fs";
import path from "node:path";

import type { ContractTransactionResponse, Signer } from "ethers";
import { formatEther, getAddress } from "ethers";

import { channelsAt, tokenAt } from "../chain/context";
import type { SystemContext } from "../chain/context";
import { ensureWritable, writeJsonOutput } from "../cli/files";
import { ensure } from "../errors";
import { buildGroup } from "../merkle/group";
import { formatThing } from "../units";
import type { ClientGroup } from "../merkle/group";
import type { Asset } from "./info";
import { openedChannel } from "./key";

/** What `channel:open --out` writes: everything a client of the group needs (no secrets). */
export interface ChannelFile {
  version: 1;
  network: string;
  chainId: string;
  contract: string;
  channelId: string;
  owner: string;
  payee: string;
  asset: Asset;
  clientRoot: string;
  salt: string;
  openBlock: string;
  deposit: string;
  expiry: string;
  clients: { address: string; proof: string[] }[];
}

export interface OpenOptions {
  owner: Signer;
  payee: string;
  clients: string[];
  deposit: bigint;
  expiry: bigint;
  asset: Asset;
  salt: bigint;
  /** Write the channel file (a {@link ChannelFile}) here; it must not exist yet, unless `force`. */
  out?: string;
  force?: boolean;
}

export interface OpenResult {
  channelId: string;
  owner: string;
  payee: string;
  asset: Asset;
  clientRoot: string;
  clients: number;
  salt: bigint;
  openBlock: bigint;
  deposit: bigint;
  expiry: bigint;
  gasUsed: bigint;
  transaction: string;
  file?: string;
}

/** Sends the open: ETH with the deposit as value, ThingToken in one `approveAndCall`. Balances are checked first. */
async function sendOpen(
  ctx: SystemContext,
  o: OpenOptions,
  owner: string,
  clientRoot: string,
): Promise<ContractTransactionResponse> {
  const channels = channelsAt(ctx, o.owner);
  if (o.asset === "token") {
    const token = tokenAt(ctx, o.owner);
    const balance = await token.balanceOf(owner);
    ensure(
      balance >= o.deposit,
      `${owner} holds ${formatThing(balance)}, less than the deposit of ${formatThing(o.deposit)}`,
    );
    const data = channels.interface.encodeFunctionData("openToken", [o.payee, o.deposit, o.expiry, clientRoot, o.salt]);
    return token.approveAndCall(ctx.addresses.PaymentChannels, o.deposit, data);
  }
  const balance = await ctx.provider.getBalance(owner);
  ensure(
    balance > o.deposit,
    `${owner} holds ${formatEther(balance)} ETH, not enough for the deposit of ${formatEther(o.deposit)} ETH and gas`,
  );
  return channels.openEth(o.payee, o.expiry, clientRoot, o.salt, { value: o.deposit });
}

/** The channel file of an opened channel: its key, and each client's Merkle proof. */
function channelFile(ctx: SystemContext, opened: OpenResult, group: ClientGroup): ChannelFile {
  return {
    version: 1,
    network: ctx.network,
    chainId: ctx.chainId.toString(),
    contract: ctx.addresses.PaymentChannels,
    channelId: opened.channelId,
    owner: opened.owner,
    payee: opened.payee,
    asset: opened.asset,
    clientRoot: group.root,
    salt: opened.salt.toString(),
    openBlock: opened.openBlock.toString(),
    deposit: opened.deposit.toString(),
    expiry: opened.expiry.toString(),
    clients: group.clients.map((address) => ({ address, proof: group.proofs[address] })),
  };
}

/**
 * Opens a group channel for `clients`, paid by `owner` to the Authorization Server `payee`. With `out`, the
 * channel file for the clients is written there.
 */
export async function openChannel(ctx: SystemContext, o: OpenOptions): Promise<OpenResult> {
  const owner = await o.owner.getAddress();
  ensure(getAddress(o.payee) !== owner, "the Authorization Server must not be the owner itself");
  ensure(o.deposit < 1n << 96n, `the deposit ${o.deposit} exceeds 2^96 - 1 base units`);
  ensure(o.salt < 1n << 96n, `the salt ${o.salt} exceeds 2^96 - 1`);
  const group = buildGroup(o.clients);
  if (o.out !== undefined) {
    ensureWritable(o.out, { force: o.force ?? false, flag: "out" });
    fs.mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true });
  }
  const tx = await sendOpen(ctx, o, owner, group.root);
  const mined = await tx.wait();
  const opened = openedChannel(channelsAt(ctx), mined);
  const result: OpenResult = {
    channelId: opened.channelId,
    owner,
    payee: getAddress(o.payee),
    asset: o.asset,
    clientRoot: group.root,
    clients: group.clients.length,
    salt: o.salt,
    openBlock: opened.openBlock,
    deposit: opened.deposit,
    expiry: opened.expiry,
    gasUsed: mined?.gasUsed ?? 0n,
    transaction: tx.hash,
  };
  if (o.out !== undefined) {
    writeJsonOutput(o.out, channelFile(ctx, result, group), { force: true, flag: "out" });
    result.file = o.out;
  }
  return result;
}
