import { ponder } from "ponder:registry";
import type { Context, Event } from "ponder:registry";
import { activationDay, device, deviceOwnerChange, deviceStatusChange, whitelist } from "ponder:schema";
import { decodeFunctionData, recoverTypedDataAddress, toFunctionSelector } from "viem";
import type { AbiFunction } from "viem";

import { DeviceRegistry__factory, ThingToken__factory } from "../../src/chain/factories";
import { ACTIVATE_TYPES } from "../../src/eip712/device";
import { deviceLeaf, rootFromProof } from "../../src/merkle/whitelist";
import { deviceRef } from "../../src/reputation/packed";
import { utcDay } from "./api/params";

const abi = DeviceRegistry__factory.abi;
type Hex = `0x${string}`;
/** The registry's EIP-712 domain name (contracts/registry/DeviceRegistry.sol), version "1". */
const REGISTRY_DOMAIN_NAME = "ThingLedger DeviceRegistry";
/** Any of the registry's events: each carries its block, transaction and log. */
type AnyEvent = Event<"DeviceRegistry:DeviceActivated">;

/** The ERC-827 calls of the token that call the registry with data: the data's argument index in each. */
const ERC827_DATA_ARG: Record<string, number> = { approveAndCall: 2, transferAndCall: 2, transferFromAndCall: 3 };

/**
 * The registry call a transaction made: its own input when sent to the registry, or the data an ERC-827
 * call of the token (`approveAndCall`, `transferAndCall`, `transferFromAndCall`) passed on to it.
 */
function registryCallData(event: AnyEvent, context: Context): Hex | undefined {
  const to = event.transaction.to?.toLowerCase();
  const registry = context.contracts.DeviceRegistry.address.toLowerCase();
  if (to === registry) return event.transaction.input;
  if (to !== context.contracts.ThingToken.address.toLowerCase()) return undefined;
  try {
    const call = decodeFunctionData({ abi: ThingToken__factory.abi, data: event.transaction.input });
    const at = ERC827_DATA_ARG[call.functionName];
    const args = call.args as readonly unknown[];
    const target = String(args[at - 2]).toLowerCase();
    if (at !== undefined && target === registry) return args[at] as Hex;
  } catch {
    // Another token call.
  }
  return undefined;
}

/** The selectors of the registry's whitelist claims, searched for in a transaction's calldata. */
const CLAIM_SELECTORS = abi
  .filter((item) => item.type === "function" && ["registerFromWhitelist", "activateFromWhitelist"].includes(item.name))
  .map((item) => toFunctionSelector(item as AbiFunction).slice(2));
/** The most embedded calls tried per transaction (a hostile input full of selectors costs no more). */
const MAX_EMBEDDED_CALLS = 16;

/**
 * The registry calls a transaction may have made, most likely first: the one `registryCallData` finds,
 * then every whitelist claim embedded anywhere in its input (a relayer, a forwarder, a multicall or a
 * wallet passes the registry's calldata on inside its own).
 */
function candidateCalls(event: AnyEvent, context: Context): Hex[] {
  const calls: Hex[] = [];
  const direct = registryCallData(event, context);
  if (direct !== undefined) calls.push(direct);
  const input = event.transaction.input.slice(2).toLowerCase();
  for (const selector of CLAIM_SELECTORS) {
    for (let at = input.indexOf(selector); at >= 0; at = input.indexOf(selector, at + 2)) {
      if (calls.length > MAX_EMBEDDED_CALLS) return calls;
      if (at % 2 === 0 && at > 0) calls.push(`0x${input.slice(at)}`);
    }
  }
  return calls;
}

/** A device's key from its compact activation signature, as the registry recovers it. */
async function activationSigner(
  context: Context,
  message: { deviceId: Hex; owner: Hex; deadline: bigint },
  r: Hex,
  vs: Hex,
): Promise<Hex> {
  // ERC-2098: the top bit of vs is the parity, the rest is s.
  const parity = BigInt(vs) >> 255n;
  const s = BigInt(vs) & ((1n << 255n) - 1n);
  const signature = `${r}${s.toString(16).padStart(64, "0")}${(27n + parity).toString(16)}` as Hex;
  return recoverTypedDataAddress({
    domain: {
      name: REGISTRY_DOMAIN_NAME,
      version: "1",
      chainId: context.chain.id,
      verifyingContract: context.contracts.DeviceRegistry.address as Hex,
    },
    types: { Activate: ACTIVATE_TYPES.Activate.map(({ name, type }) => ({ name, type })) },
    primaryType: "Activate",
    message,
    signature,
  });
}

/** A whitelist claim of one device: the root it was claimed from and the identity its leaf binds. */
interface Claim {
  root: Hex;
  identity: Identity;
}

/** The claim of `id` one call data makes, if it is a whitelist claim of that device whose proof holds. */
async function claimIn(context: Context, data: Hex, id: Hex): Promise<Claim | undefined> {
  try {
    const call = decodeFunctionData({ abi, data });
    let root: Hex;
    let deviceType: number;
    let deviceKey: Hex;
    let proof: readonly Hex[];
    if (call.functionName === "registerFromWhitelist") {
      let deviceId: Hex;
      [root, deviceId, deviceKey, deviceType, proof] = call.args;
      if (deviceId.toLowerCase() !== id.toLowerCase()) return undefined;
    } else if (call.functionName === "activateFromWhitelist") {
      const [, claimRoot, deviceId, type, claimProof, owner, deadline, r, vs] = call.args;
      if (deviceId.toLowerCase() !== id.toLowerCase()) return undefined;
      [root, deviceType, proof] = [claimRoot, type, claimProof];
      deviceKey = await activationSigner(context, { deviceId, owner, deadline }, r, vs);
    } else return undefined;
    const manufacturerId = Number(BigInt(id) >> 224n);
    const leaf = deviceLeaf({ deviceId: id.toLowerCase(), deviceKey, deviceType }, manufacturerId);
    if (rootFromProof(leaf, proof).toLowerCase() !== root.toLowerCase()) return undefined;
    return { root, identity: { id, manufacturerId, deviceKey, deviceType: BigInt(deviceType) } };
  } catch {
    return undefined; // Not a call this indexer decodes, or bytes that only looked like one.
  }
}

/**
 * The whitelist claim of `id` the event's transaction made, found in its calldata wherever the call sits
 * (sent to the registry, through the token's ERC-827 calls, or inside a relayer's or forwarder's own call):
 * a claim counts only when its Merkle proof binds the device to a root of its manufacturer this indexer
 * holds, open, with capacity left, so bytes that merely look like a claim change nothing.
 */
async function whitelistClaim(event: AnyEvent, context: Context, id: Hex): Promise<Claim | undefined> {
  for (const data of candidateCalls(event, context)) {
    const claim = await claimIn(context, data, id);
    if (claim === undefined) continue;
    const row = await context.db.find(whitelist, { manufacturerId: claim.identity.manufacturerId, root: claim.root });
    if (row !== null && row.used < row.capacity) return claim;
  }
  return undefined;
}

/** A device's identity as a registration gives it. */
interface Identity {
  id: Hex;
  manufacturerId: number;
  deviceKey: Hex;
  deviceType: bigint;
}

/**
 * Adds devices registered (or claimed) in the event's transaction, with their status history's first row,
 * and counts a whitelist's claim (`root`: the devices were claimed from it). One insert per table, however many devices the batch holds.
 * The inserts are plain (no `onConflictDoNothing`): the registry registers an id once, and on Postgres a conflict
 * check costs Ponder a lookup per row, a query per new device in live blocks (its cache then no longer holds the table).
 */
async function addDevices(
  event: AnyEvent,
  context: Context,
  identities: Identity[],
  root: Hex | null = null,
): Promise<void> {
  await context.db.insert(device).values(
    identities.map((d) => ({
      ...d,
      whitelistRoot: root,
      status: "Registered" as const,
      ref: deviceRef(d.id),
      registeredBlock: event.block.number,
      registeredAt: event.block.timestamp,
    })),
  );
  if (root !== null && identities.length > 0) {
    await context.db
      .update(whitelist, { manufacturerId: identities[0].manufacturerId, root })
      .set((row) => ({ used: row.used + identities.length }));
  }
  await context.db.insert(deviceStatusChange).values(
    identities.map((d) => ({
      // "-0-" sorts before an activation's "-1" of the same event (a device claimed from a whitelist at activation).
      id: `${event.id}-0-${d.id}`,
      deviceId: d.id,
      status: "Registered" as const,
      block: event.block.number,
      timestamp: event.block.timestamp,
      txHash: event.transaction.hash,
    })),
  );
}

/**
 * A device's identity as the chain holds it at the event's block: one RPC read, for when no log or call says it
 * (rare: a device claimed from a whitelist through a call the indexer cannot read). The block is given
 * explicitly, which is what Ponder would read anyway, so that Ponder does not profile the read: once a sampled
 * event made it, Ponder prefetched a `getDevice` for every later event of the handler, and a catch-up of 10,000
 * activations sent thousands of needless reads through its 20 requests/s per URL (77 s of its live blocks).
 */
async function readIdentity(event: AnyEvent, context: Context, id: Hex): Promise<Identity> {
  const registry = context.contracts.DeviceRegistry.address as Hex;
  const view = await context.client.readContract({
    abi,
    address: registry,
    functionName: "getDevice",
    args: [id],
    blockNumber: event.block.number,
  });
  return { id, manufacturerId: view.manufacturerId, deviceKey: view.deviceKey, deviceType: BigInt(view.deviceType) };
}

/** `registerDevices`' selector, without its 0x. */
const REGISTER_DEVICES = toFunctionSelector(
  abi.find((item) => item.type === "function" && item.name === "registerDevices") as AbiFunction,
).slice(2);

/**
 * The ids, keys and types of a `registerDevices(maxFee, ids, keys, types)` call, read from its ABI words
 * directly (following the arrays' offsets): viem's decoder checksums every address, one keccak per key,
 * which was three quarters of the indexer's handler time over a fleet registered in batches of 500.
 * Undefined for another call, or for words the registry's decoder would refuse (short data, dirty high bits).
 */
function decodeRegisterDevices(data: Hex): { ids: Hex[]; keys: Hex[]; types: number[] } | undefined {
  if (data.slice(2, 10).toLowerCase() !== REGISTER_DEVICES) return undefined;
  const body = data.slice(10).toLowerCase();
  const words = body.length / 64;
  if (!Number.isInteger(words) || !/^[0-9a-f]*$/.test(body)) return undefined;
  const word = (i: number): string => body.slice(i * 64, i * 64 + 64);
  /** The words of the array whose offset is head word `at`, each checked to have `zeros` leading zero digits. */
  const array = (at: number, zeros: number): string[] | undefined => {
    const offset = BigInt(`0x${word(at)}`);
    if (offset % 32n !== 0n || offset / 32n >= BigInt(words)) return undefined;
    const start = Number(offset / 32n);
    const length = BigInt(`0x${word(start)}`);
    if (length > BigInt(words - start - 1)) return undefined;
    const items: string[] = [];
    for (let i = 1; i <= Number(length); i++) {
      const w = word(start + i);
      if (!w.startsWith("0".repeat(zeros))) return undefined;
      items.push(w.slice(zeros));
    }
    return items;
  };
  if (words < 4) return undefined;
  const ids = array(1, 0);
  const keys = array(2, 24);
  const types = array(3, 56);
  if (ids === undefined || keys === undefined || types === undefined) return undefined;
  return {
    ids: ids.map((w) => `0x${w}` as Hex),
    keys: keys.map((w) => `0x${w}` as Hex),
    types: types.map((w) => parseInt(w, 16)),
  };
}

/**
 * The keys and types of a batch from the transaction's `registerDevices` call (sent to the registry, or
 * through the token's `approveAndCall`), when its ids are the event's; undefined when the call cannot be
 * decoded (a forwarder, a contract that batched several calls), and the devices are then read one by one.
 */
function batchFromCall(data: Hex | undefined, manufacturerId: number, ids: readonly Hex[]): Identity[] | undefined {
  if (data === undefined) return undefined;
  const call = decodeRegisterDevices(data);
  if (call === undefined || call.keys.length !== ids.length || call.types.length !== ids.length) return undefined;
  if (call.ids.length !== ids.length || call.ids.some((id, i) => id !== ids[i].toLowerCase())) return undefined;
  return ids.map((id, i) => ({ id, manufacturerId, deviceKey: call.keys[i], deviceType: BigInt(call.types[i]) }));
}

ponder.on("DeviceRegistry:DeviceRegistered", async ({ event, context }) => {
  // The log names everything a registration sets: no read needed.
  const { deviceId: id, manufacturerId, deviceKey, deviceType } = event.args;
  const any = event as unknown as AnyEvent;
  const claim = await whitelistClaim(any, context, id);
  await addDevices(any, context, [{ id, manufacturerId, deviceKey, deviceType: BigInt(deviceType) }], claim?.root);
});

ponder.on("DeviceRegistry:DevicesRegistered", async ({ event, context }) => {
  const any = event as unknown as AnyEvent;
  const ids = event.args.deviceIds;
  let identities = batchFromCall(registryCallData(any, context), event.args.manufacturerId, ids);
  if (identities === undefined) {
    identities = [];
    for (const id of ids) identities.push(await readIdentity(any, context, id));
  }
  await addDevices(any, context, identities);
});

ponder.on("DeviceRegistry:DeviceActivated", async ({ event, context }) => {
  const id = event.args.deviceId;
  // A device claimed from a whitelist at activation was never registered on its own.
  if ((await context.db.find(device, { id })) === null) {
    const claim = await whitelistClaim(event, context, id);
    await addDevices(event, context, [claim?.identity ?? (await readIdentity(event, context, id))], claim?.root);
  }
  await context.db
    .update(device, { id })
    .set({ status: "Active", owner: event.args.owner, activatedAt: event.block.timestamp });
  const at = { block: event.block.number, timestamp: event.block.timestamp, txHash: event.transaction.hash };
  await context.db.insert(deviceStatusChange).values({ id: `${event.id}-1`, deviceId: id, status: "Active", ...at });
  await context.db.insert(deviceOwnerChange).values({ id: event.id, deviceId: id, to: event.args.owner, ...at });
  await context.db
    .insert(activationDay)
    .values({ day: utcDay(event.block.timestamp), activations: 1 })
    .onConflictDoUpdate((row) => ({ activations: row.activations + 1 }));
});

ponder.on("DeviceRegistry:DeviceTransferred", async ({ event, context }) => {
  const id = event.args.deviceId;
  await context.db.update(device, { id }).set({ owner: event.args.to });
  await context.db.insert(deviceOwnerChange).values({
    id: event.id,
    deviceId: id,
    from: event.args.from,
    to: event.args.to,
    block: event.block.number,
    timestamp: event.block.timestamp,
    txHash: event.transaction.hash,
  });
});

ponder.on("DeviceRegistry:DeviceRevoked", async ({ event, context }) => {
  const id = event.args.deviceId;
  await context.db.update(device, { id }).set({ status: "Revoked" });
  await context.db.insert(deviceStatusChange).values({
    id: event.id,
    deviceId: id,
    status: "Revoked",
    by: event.args.by,
    reason: event.args.reason,
    block: event.block.number,
    timestamp: event.block.timestamp,
    txHash: event.transaction.hash,
  });
});

ponder.on("DeviceRegistry:DeviceKeyRotated", async ({ event, context }) => {
  await context.db.update(device, { id: event.args.deviceId }).set({ deviceKey: event.args.newKey });
});

ponder.on("DeviceRegistry:DeviceMetadataSet", async ({ event, context }) => {
  // Set at registration, in the same transaction and after its DeviceRegistered.
  await context.db.update(device, { id: event.args.deviceId }).set({ metadataHash: event.args.metadataHash });
});

ponder.on("DeviceRegistry:WhitelistCommitted", async ({ event, context }) => {
  await context.db.insert(whitelist).values({
    manufacturerId: event.args.manufacturerId,
    root: event.args.root,
    capacity: event.args.capacity,
    used: 0,
    closed: false,
  });
});

ponder.on("DeviceRegistry:WhitelistClosed", async ({ event, context }) => {
  // The registry cuts the capacity to what was used: the unused part is gone for good.
  await context.db
    .update(whitelist, { manufacturerId: event.args.manufacturerId, root: event.args.root })
    .set((row) => ({ closed: true, capacity: row.capacity - event.args.unusedCapacity }));
});
