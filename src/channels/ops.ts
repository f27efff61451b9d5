import fs from "node:fs";
import path from "node:path";

import type { Signer } from "ethers";
import { getAddress, isAddress, isHexString } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types";

import type { PaymentChannels } from "../../typechain-types";
import { PaymentChannels__factory, ThingToken__factory } from "../../typechain-types";
import { chainTime } from "../chain/time";
import { loadSystem } from "../../tasks/support/deployments";
import { readDomain } from "../eip712/domain";
import { UserError, ensure } from "../errors";
import { buildGroup, isMember } from "../merkle/group";
import { channelIdOf, closeOutcome, keyStruct, openedChannel, submitCloses } from "./key";
import type { CloseSkipReason } from "./key";
import type { ChannelKey, CloseItem } from "./key";
import { AsStore } from "./store";
import { ReceiptVerifier } from "./verify";

export type Asset = "eth" | "token";

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

export interface ChannelInfo extends ChannelKey {
  channelId: string;
  asset: Asset;
  status: "open" | "closed" | "reclaimed";
  deposit: bigint;
  expiry: bigint;
  /** For a closed channel: what the AS was paid and the owner refunded. */
  paid?: bigint;
  refunded?: bigint;
}

async function channelsContract(hre: HardhatRuntimeEnvironment, runner?: Signer) {
  const system = await loadSystem(hre, ["PaymentChannels", "ThingToken"]);
  return {
    system,
    channels: PaymentChannels__factory.connect(system.addresses.PaymentChannels, runner ?? hre.ethers.provider),
  };
}

/**
 * Reads a client list: a file (JSON array of addresses, `{ "clients": [...] }`, or one address per
 * line/comma) or a comma-separated list of addresses. Every problem is reported before anything is sent.
 */
export function readClients(value: string): string[] {
  let entries: unknown[];
  let where = "--clients";
  if (fs.existsSync(value)) {
    where = value;
    const text = fs.readFileSync(value, "utf8");
    if (/^\s*[[{]/.test(text)) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (error) {
        throw new UserError(`${value} is not valid JSON: ${(error as Error).message}`);
      }
      const list = Array.isArray(parsed) ? parsed : (parsed as { clients?: unknown }).clients;
      if (!Array.isArray(list)) throw new UserError(`${value}: expected an array of addresses or { "clients": [...] }`);
      entries = list;
    } else {
      entries = text.split(/[\s,]+/).filter((s) => s !== "");
    }
  } else {
    entries = value.split(",").map((s) => s.trim());
  }
  const problems: string[] = [];
  entries.forEach((entry, i) => {
    if (typeof entry !== "string" || !isAddress(entry))
      problems.push(`entry ${i + 1}: "${String(entry)}" is not an address`);
  });
  if (problems.length > 0) {
    if (where === "--clients" && entries.length === 1) {
      throw new UserError(`--clients: "${value}" is neither a file nor a comma-separated list of addresses`);
    }
    throw new UserError(`${where}: ${problems.length} problem(s): ${problems.slice(0, 5).join("; ")}`);
  }
  ensure(entries.length > 0, `${where} lists no clients`);
  const addresses = (entries as string[]).map((a) => getAddress(a));
  const seen = new Set<string>();
  for (const a of addresses) {
    ensure(!seen.has(a), `${where}: client ${a} is listed twice`);
    seen.add(a);
  }
  return addresses;
}

export interface OpenOptions {
  owner: Signer;
  payee: string;
  clients: string[];
  deposit: bigint;
  expiry: bigint;
  asset: Asset;
  salt: bigint;
  out?: string;
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

/** Opens a group channel: ETH with the deposit as value, ThingToken in one `approveAndCall`. */
export async function openChannel(hre: HardhatRuntimeEnvironment, o: OpenOptions): Promise<OpenResult> {
  const { system, channels } = await channelsContract(hre, o.owner);
  const owner = await o.owner.getAddress();
  ensure(getAddress(o.payee) !== owner, "--as: the Authorization Server must not be the owner itself");
  ensure(o.deposit < 1n << 96n, "--deposit: at most 2^96 - 1 base units");
  ensure(o.salt < 1n << 96n, "--salt: at most 2^96 - 1");
  const group = buildGroup(o.clients);
  if (o.out !== undefined) {
    ensure(!fs.existsSync(o.out), `--out: ${o.out} already exists; choose another file`);
    fs.mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true });
  }
  let tx;
  if (o.asset === "token") {
    const token = ThingToken__factory.connect(system.addresses.ThingToken, o.owner);
    const balance = await token.balanceOf(owner);
    ensure(balance >= o.deposit, `${owner} holds ${balance} token base units, less than the deposit ${o.deposit}`);
    const data = channels.interface.encodeFunctionData("openToken", [o.payee, o.deposit, o.expiry, group.root, o.salt]);
    tx = await token.approveAndCall(system.addresses.PaymentChannels, o.deposit, data);
  } else {
    const balance = await hre.ethers.provider.getBalance(owner);
    ensure(balance > o.deposit, `${owner} holds ${balance} wei, not enough for the deposit ${o.deposit} and gas`);
    tx = await channels.openEth(o.payee, o.expiry, group.root, o.salt, { value: o.deposit });
  }
  const mined = await tx.wait();
  const opened = openedChannel(channels, mined);
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
    const file: ChannelFile = {
      version: 1,
      network: hre.network.name,
      chainId: system.chainId.toString(),
      contract: system.addresses.PaymentChannels,
      channelId: opened.channelId,
      owner,
      payee: result.payee,
      asset: o.asset,
      clientRoot: group.root,
      salt: o.salt.toString(),
      openBlock: opened.openBlock.toString(),
      deposit: opened.deposit.toString(),
      expiry: opened.expiry.toString(),
      clients: group.clients.map((address) => ({ address, proof: group.proofs[address] })),
    };
    fs.writeFileSync(o.out, `${JSON.stringify(file, null, 2)}\n`);
    result.file = o.out;
  }
  return result;
}

/** Parses a channel id argument. */
export function parseChannelId(value: string): string {
  if (!isHexString(value, 32)) throw new UserError(`--channel: "${value}" is not a channel id (0x and 64 hex digits)`);
  return value.toLowerCase();
}

/** Finds a channel by id from its ChannelOpened log and its current state. */
export async function channelInfo(
  hre: HardhatRuntimeEnvironment,
  channelId: string,
  contract?: PaymentChannels,
): Promise<ChannelInfo> {
  const channels = contract ?? (await channelsContract(hre)).channels;
  const [log] = await channels.queryFilter(channels.filters.ChannelOpened(channelId));
  if (log === undefined) {
    throw new UserError(`no channel ${channelId} was ever opened on network "${hre.network.name}"`);
  }
  const key: ChannelKey = {
    owner: getAddress(log.args.owner),
    payee: getAddress(log.args.payee),
    token: log.args.token,
    clientRoot: log.args.clientRoot,
    salt: log.args.salt,
    openBlock: BigInt(log.blockNumber),
  };
  ensure(channelIdOf(key) === channelId, `channel ${channelId}: its ChannelOpened log does not match the id`);
  const state = await channels.getChannel(channelId);
  const info: ChannelInfo = {
    ...key,
    channelId,
    asset: key.token ? "token" : "eth",
    status: "open",
    deposit: state.deposit,
    expiry: state.expiry,
  };
  if (state.status !== 1n) {
    const [closed] = await channels.queryFilter(channels.filters.ChannelClosed(channelId));
    if (closed !== undefined) {
      info.status = "closed";
      info.paid = closed.args.paid;
      info.refunded = closed.args.refunded;
    } else {
      info.status = "reclaimed";
      const [reclaimed] = await channels.queryFilter(channels.filters.ChannelReclaimed(channelId));
      info.refunded = reclaimed?.args.refunded;
    }
    info.deposit = log.args.deposit;
    info.expiry = log.args.expiry;
  }
  return info;
}

export interface TopUpResult {
  channelId: string;
  added: bigint;
  deposit: bigint;
  expiry: bigint;
  gasUsed: bigint;
  transaction: string;
}

/** The owner adds to the deposit and/or extends the expiry. */
export async function topUpChannel(
  hre: HardhatRuntimeEnvironment,
  o: { owner: Signer; channelId: string; amount: bigint; expiry?: bigint },
): Promise<TopUpResult> {
  const { system, channels } = await channelsContract(hre, o.owner);
  const info = await channelInfo(hre, o.channelId, channels);
  const owner = await o.owner.getAddress();
  ensure(info.status === "open", `channel ${o.channelId} is ${info.status}; only an open channel can be topped up`);
  ensure(info.owner === owner, `channel ${o.channelId} belongs to ${info.owner}, not to ${owner}`);
  const expiry = o.expiry ?? info.expiry;
  ensure(expiry >= info.expiry, `--extend: ${expiry} is before the channel's expiry ${info.expiry}`);
  ensure(o.amount > 0n || expiry > info.expiry, "nothing to do: give --amount, --extend, or both");
  ensure(info.deposit + o.amount < 1n << 96n, "--amount: the deposit would exceed 2^96 - 1 base units");
  let tx;
  if (info.token) {
    const token = ThingToken__factory.connect(system.addresses.ThingToken, o.owner);
    if (o.amount > 0n) {
      const balance = await token.balanceOf(owner);
      ensure(balance >= o.amount, `${owner} holds ${balance} token base units, less than ${o.amount}`);
      const allowance = await token.allowance(owner, system.addresses.PaymentChannels);
      if (allowance < o.amount) await (await token.approve(system.addresses.PaymentChannels, o.amount)).wait();
    }
    tx = await channels.topUp(keyStruct(info), info.payee, o.amount, expiry);
  } else {
    tx = await channels.topUp(keyStruct(info), info.payee, o.amount, expiry, { value: o.amount });
  }
  const mined = await tx.wait();
  const state = await channels.getChannel(o.channelId);
  return {
    channelId: o.channelId,
    added: o.amount,
    deposit: state.deposit,
    expiry: state.expiry,
    gasUsed: mined?.gasUsed ?? 0n,
    transaction: tx.hash,
  };
}

export interface ReclaimResult {
  channelId: string;
  refunded: bigint;
  gasUsed: bigint;
  transaction: string;
}

/** After expiry without a close, the owner takes the deposit back. */
export async function reclaimChannel(
  hre: HardhatRuntimeEnvironment,
  o: { owner: Signer; channelId: string },
): Promise<ReclaimResult> {
  const { channels } = await channelsContract(hre, o.owner);
  const info = await channelInfo(hre, o.channelId, channels);
  const owner = await o.owner.getAddress();
  ensure(info.status === "open", `channel ${o.channelId} is already ${info.status}`);
  ensure(info.owner === owner, `channel ${o.channelId} belongs to ${info.owner}, not to ${owner}`);
  const now = await chainTime(hre.ethers.provider);
  ensure(now > info.expiry, `channel ${o.channelId} expires at ${info.expiry}; chain time is ${now}: wait`);
  const tx = await channels.reclaim(keyStruct(info), info.payee);
  const mined = await tx.wait();
  return { channelId: o.channelId, refunded: info.deposit, gasUsed: mined?.gasUsed ?? 0n, transaction: tx.hash };
}

/** A receipt to close with, as a file or from the AS's database. */
export interface ReceiptInput {
  channelId: string;
  amount: bigint;
  signature: string;
  proof: string[];
}

export function readReceiptFile(file: string): ReceiptInput {
  ensure(fs.existsSync(file), `receipt file ${file} does not exist`);
  let raw: { channelId?: unknown; amount?: unknown; signature?: unknown; proof?: unknown };
  try {
    raw = JSON.parse(fs.readFileSync(file, "utf8")) as typeof raw;
  } catch (error) {
    throw new UserError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
  ensure(
    typeof raw.channelId === "string" && isHexString(raw.channelId, 32),
    `${file}: "channelId" must be 0x + 64 hex`,
  );
  ensure(typeof raw.amount === "string" && /^\d+$/.test(raw.amount), `${file}: "amount" must be a decimal string`);
  ensure(typeof raw.signature === "string" && isHexString(raw.signature, 65), `${file}: "signature" must be 65 bytes`);
  ensure(
    Array.isArray(raw.proof) && raw.proof.every((p) => typeof p === "string" && isHexString(p, 32)),
    `${file}: "proof" must be an array of 32-byte hex strings`,
  );
  return {
    channelId: raw.channelId.toLowerCase(),
    amount: BigInt(raw.amount),
    signature: raw.signature,
    proof: raw.proof as string[],
  };
}

/** The best receipt of each open channel in an AS database (all of them, or `only`). */
export function receiptsFromDb(db: string, only?: string[]): ReceiptInput[] {
  ensure(fs.existsSync(db), `AS database ${db} does not exist`);
  const store = new AsStore(db);
  try {
    const best = store.bestReceipts();
    const closed = new Set(
      store
        .channels()
        .filter((c) => c.closed)
        .map((c) => c.channelId),
    );
    const ids = only ?? [...best.keys()].filter((id) => !closed.has(id));
    return ids.map((id) => {
      const r = best.get(id);
      ensure(r !== undefined, `AS database ${db} holds no receipt for channel ${id}`);
      return { channelId: id, amount: r.amount, signature: r.signature, proof: r.proof };
    });
  } finally {
    store.close();
  }
}

export interface CloseResult {
  closed: { channelId: string; paid: bigint; refunded: bigint; asset: Asset }[];
  /** Channels a batch close skipped (they changed between the checks and the block, e.g. reclaimed). */
  skipped: { channelId: string; reason: CloseSkipReason }[];
  gasUsed: bigint;
  transaction: string;
}

/**
 * The AS closes channels with their receipts: one `close`, or one `closeBatch` for several. Every receipt
 * is checked first (the caller is the payee, the channel open and unexpired, the amount within the
 * deposit, the signer in the group), so a bad one sends nothing.
 */
export async function closeChannels(
  hre: HardhatRuntimeEnvironment,
  o: { payee: Signer; receipts: ReceiptInput[] },
): Promise<CloseResult> {
  ensure(o.receipts.length > 0, "no receipts to close with");
  const { channels } = await channelsContract(hre, o.payee);
  const payee = await o.payee.getAddress();
  const verifier = new ReceiptVerifier(await readDomain(channels));
  const now = await chainTime(hre.ethers.provider);
  const requests: (ChannelInfo & CloseItem)[] = [];
  const seen = new Set<string>();
  for (const r of o.receipts) {
    ensure(!seen.has(r.channelId), `channel ${r.channelId} is listed twice`);
    seen.add(r.channelId);
    const info = await channelInfo(hre, r.channelId, channels);
    ensure(info.status === "open", `channel ${r.channelId} is already ${info.status}`);
    ensure(info.payee === payee, `channel ${r.channelId} pays ${info.payee}; only that account can close it`);
    ensure(now <= info.expiry, `channel ${r.channelId} expired at ${info.expiry}; the owner can only reclaim it now`);
    ensure(r.amount <= info.deposit, `channel ${r.channelId}: receipt ${r.amount} exceeds the deposit ${info.deposit}`);
    const signer = verifier.recover(r.channelId, r.amount, r.signature);
    ensure(signer !== undefined, `channel ${r.channelId}: the receipt's signature is malformed or not canonical`);
    ensure(
      isMember(info.clientRoot, signer, r.proof),
      `channel ${r.channelId}: receipt signer ${signer} is not in the group (wrong proof, amount or channel)`,
    );
    requests.push({ ...info, amount: r.amount, signature: r.signature, proof: r.proof });
  }
  const tx = await submitCloses(channels, requests);
  const mined = await tx.wait();
  // What settled is read from the receipt: a batch skips a channel that changed after the checks above.
  const outcome = closeOutcome(channels, mined);
  const assetOf = new Map(requests.map((q) => [q.channelId.toLowerCase(), q.asset]));
  return {
    closed: outcome.closed.map((c) => ({ ...c, asset: assetOf.get(c.channelId.toLowerCase())! })),
    skipped: outcome.skipped,
    gasUsed: mined?.gasUsed ?? 0n,
    transaction: tx.hash,
  };
}

/** Closes with the best receipts in an AS database, and marks those channels closed in it. Run it while
 * that AS is stopped (a running AS closes due channels itself). */
export async function closeFromDb(
  hre: HardhatRuntimeEnvironment,
  o: { payee: Signer; db: string; only?: string[] },
): Promise<CloseResult> {
  const receipts = receiptsFromDb(o.db, o.only);
  ensure(receipts.length > 0, `AS database ${o.db} holds no receipts of open channels`);
  const result = await closeChannels(hre, { payee: o.payee, receipts });
  const store = new AsStore(o.db);
  try {
    const closed = new Set(result.closed.map((c) => c.channelId));
    for (const c of store.channels()) if (closed.has(c.channelId)) store.saveChannel({ ...c, closed: true });
  } finally {
    store.close();
  }
  return result;
}
