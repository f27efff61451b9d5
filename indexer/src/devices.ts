import { ponder } from "ponder:registry";
import type { Context, Event } from "ponder:registry";
import { activationDay, device, deviceOwnerChange, deviceStatusChange, whitelist } from "ponder:schema";
import { decodeFunctionData, recoverTypedDataAddress } from "viem";

import { DeviceRegistry__factory, ThingToken__factory } from "../../src/chain/factories";
import { ACTIVATE_TYPES } from "../../src/eip712/device";
import { deviceRef } from "../../src/reputation/packed";
import { utcDay } from "./api/params";

const abi = DeviceRegistry__factory.abi;
type Hex = `0x${string}`;
/** The registry's EIP-712 domain name (contracts/registry/DeviceRegistry.sol), version "1". */
const REGISTRY_DOMAIN_NAME = "ThingLedger DeviceRegistry";
/** Any of the registry's events: each carries its block, transaction and log. */
type AnyEvent = Event<"DeviceRegistry:DeviceActivated">;

/**
 * The registry call a transaction made: its own input when sent to the registry, or the data an ERC-827
 * `approveAndCall` of the token passed on to it (how an owner pays and activates in one transaction).
 */
function registryCallData(event: AnyEvent, context: Context): Hex | undefined {
  const to = event.transaction.to?.toLowerCase();
  const registry = context.contracts.DeviceRegistry.address.toLowerCase();
  if (to === registry) return event.transaction.input;
  if (to !== context.contracts.ThingToken.address.toLowerCase()) return undefined;
  try {
    const call = decodeFunctionData({ abi: ThingToken__factory.abi, data: event.transaction.input });
    if (call.functionName === "approveAndCall" && call.args[0].toLowerCase() === registry) return call.args[2];
  } catch {
    // Another token call.
  }
  return undefined;
}

/** The whitelist root a transaction claimed a device from, when it called the registry's whitelist functions. */
function claimedRoot(event: AnyEvent, context: Context): Hex | null {
  const data = registryCallData(event, context);
  if (data === undefined) return null;
  try {
    const call = decodeFunctionData({ abi, data });
    if (call.functionName === "registerFromWhitelist") return call.args[0];
    if (call.functionName === "activateFromWhitelist") return call.args[1];
  } catch {
    // Not a registry call this indexer decodes (a forwarder, an ERC-827 call through the token).
  }
  return null;
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
 * and counts a whitelist's claim. One insert per table, however many devices the batch holds.
 */
async function addDevices(event: AnyEvent, context: Context, identities: Identity[]): Promise<void> {
  const root = claimedRoot(event, context);
  await context.db
    .insert(device)
    .values(
      identities.map((d) => ({
        ...d,
        whitelistRoot: root,
        status: "Registered" as const,
        ref: deviceRef(d.id),
        registeredBlock: event.block.number,
        registeredAt: event.block.timestamp,
      })),
    )
    .onConflictDoNothing();
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

/** A device's identity as the chain holds it at the event's block: one RPC read, for when no log or call says it. */
async function readIdentity(context: Context, id: Hex): Promise<Identity> {
  const registry = context.contracts.DeviceRegistry.address as Hex;
  const view = await context.client.readContract({ abi, address: registry, functionName: "getDevice", args: [id] });
  return { id, manufacturerId: view.manufacturerId, deviceKey: view.deviceKey, deviceType: BigInt(view.deviceType) };
}

/**
 * The keys and types of a batch from the transaction's `registerDevices` call (sent to the registry, or
 * through the token's `approveAndCall`), when its ids are the event's; undefined when the call cannot be
 * decoded (a forwarder, a contract that batched several calls), and the devices are then read one by one.
 */
function batchFromCall(data: Hex | undefined, manufacturerId: number, ids: readonly Hex[]): Identity[] | undefined {
  if (data === undefined) return undefined;
  try {
    const call = decodeFunctionData({ abi, data });
    if (call.functionName !== "registerDevices") return undefined;
    const [, callIds, keys, types] = call.args;
    if (callIds.length !== ids.length || callIds.some((id, i) => id.toLowerCase() !== ids[i].toLowerCase()))
      return undefined;
    return ids.map((id, i) => ({ id, manufacturerId, deviceKey: keys[i], deviceType: BigInt(types[i]) }));
  } catch {
    return undefined;
  }
}

ponder.on("DeviceRegistry:DeviceRegistered", async ({ event, context }) => {
  // The log names everything a registration sets: no read needed.
  const { deviceId: id, manufacturerId, deviceKey, deviceType } = event.args;
  await addDevices(event as unknown as AnyEvent, context, [
    { id, manufacturerId, deviceKey, deviceType: BigInt(deviceType) },
  ]);
});

ponder.on("DeviceRegistry:DevicesRegistered", async ({ event, context }) => {
  const any = event as unknown as AnyEvent;
  const ids = event.args.deviceIds;
  let identities = batchFromCall(registryCallData(any, context), event.args.manufacturerId, ids);
  if (identities === undefined) {
    identities = [];
    for (const id of ids) identities.push(await readIdentity(context, id));
  }
  await addDevices(any, context, identities);
});

/**
 * A device claimed from a whitelist at activation, from the transaction's `activateFromWhitelist` call: its type
 * from the arguments, its key recovered from the device's signature (as the registry recovers it); undefined
 * when the call cannot be decoded.
 */
async function claimFromCall(event: AnyEvent, context: Context, id: Hex): Promise<Identity | undefined> {
  const data = registryCallData(event, context);
  if (data === undefined) return undefined;
  try {
    const call = decodeFunctionData({ abi, data });
    if (call.functionName !== "activateFromWhitelist") return undefined;
    const [, , deviceId, deviceType, , owner, deadline, r, vs] = call.args;
    if (deviceId.toLowerCase() !== id.toLowerCase()) return undefined;
    // ERC-2098: the top bit of vs is the parity, the rest is s.
    const parity = BigInt(vs) >> 255n;
    const s = BigInt(vs) & ((1n << 255n) - 1n);
    const signature = `${r}${s.toString(16).padStart(64, "0")}${(27n + parity).toString(16)}` as Hex;
    const deviceKey = await recoverTypedDataAddress({
      domain: {
        name: REGISTRY_DOMAIN_NAME,
        version: "1",
        chainId: context.chain.id,
        verifyingContract: context.contracts.DeviceRegistry.address as Hex,
      },
      types: { Activate: ACTIVATE_TYPES.Activate.map(({ name, type }) => ({ name, type })) },
      primaryType: "Activate",
      message: { deviceId, owner, deadline },
      signature,
    });
    return { id, manufacturerId: Number(BigInt(id) >> 224n), deviceKey, deviceType: BigInt(deviceType) };
  } catch {
    return undefined;
  }
}

ponder.on("DeviceRegistry:DeviceActivated", async ({ event, context }) => {
  const id = event.args.deviceId;
  // A device claimed from a whitelist at activation was never registered on its own.
  if ((await context.db.find(device, { id })) === null)
    await addDevices(event, context, [(await claimFromCall(event, context, id)) ?? (await readIdentity(context, id))]);
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
  await context.db
    .update(whitelist, { manufacturerId: event.args.manufacturerId, root: event.args.root })
    .set({ closed: true });
});
