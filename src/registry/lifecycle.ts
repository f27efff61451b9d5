import fs from "node:fs";

import type { Signer } from "ethers";
import { Wallet } from "ethers";

import { registryAt } from "../chain/context";
import type { SystemContext } from "../chain/context";
import { gasOf, nextBlockTime } from "../chain/time";
import { keystoreFile, loadDeviceKey, randomDeviceKey, saveDeviceKey } from "../devices/keystore";
import { compact, signKeyRotation } from "../eip712/device";
import { UserError } from "../errors";
import { registryDomain } from "./domain";
import { deviceStatus } from "./status";

/** The owner of an active device hands it to `to`. */
export async function transferDevice(
  ctx: SystemContext,
  owner: Signer,
  deviceId: string,
  to: string,
): Promise<{ deviceId: string; from: string; to: string; gasUsed: bigint; txHash: string }> {
  const info = await deviceStatus(ctx, deviceId);
  const from = await owner.getAddress();
  if (info.status !== "active")
    throw new UserError(`device ${deviceId} is ${info.status}; only active devices can be transferred`);
  if (info.owner !== from) throw new UserError(`${from} does not own device ${deviceId} (its owner is ${info.owner})`);
  const tx = await registryAt(ctx, owner).transferDevice(deviceId, to);
  return { deviceId, from, to, gasUsed: await gasOf(tx), txHash: tx.hash };
}

/** Revokes a device for good: its manufacturer (while active) or the network admin. */
export async function revokeDevice(
  ctx: SystemContext,
  signer: Signer,
  deviceId: string,
  reason: number,
): Promise<{ deviceId: string; by: string; reason: number; gasUsed: bigint; txHash: string }> {
  const registry = registryAt(ctx, signer);
  const info = await deviceStatus(ctx, deviceId);
  const by = await signer.getAddress();
  if (info.status === "unknown") throw new UserError(`device ${deviceId} is not registered`);
  if (info.status === "revoked") throw new UserError(`device ${deviceId} is already revoked`);
  if (by !== (await registry.owner())) {
    if (by !== info.manufacturer) {
      throw new UserError(`${by} is neither the device's manufacturer (${info.manufacturer}) nor the network admin`);
    }
    if (!(await registry.getManufacturer(by)).active) {
      throw new UserError(`${by} was removed as a manufacturer: only the network admin can revoke its devices now`);
    }
  }
  const tx = await registry.revokeDevice(deviceId, reason);
  return { deviceId, by, reason, gasUsed: await gasOf(tx), txHash: tx.hash };
}

/**
 * Rotates a device's key: a fresh key signs its consent, the owner submits, and only after the rotation
 * is on chain is the device's keystore replaced (the old one is kept as `<file>.old`).
 */
export async function rotateKey(
  ctx: SystemContext,
  owner: Signer,
  deviceId: string,
  keystoreDir: string,
  password: string,
): Promise<{ deviceId: string; oldKey: string; newKey: string; gasUsed: bigint; txHash: string }> {
  const registry = registryAt(ctx, owner);
  const info = await deviceStatus(ctx, deviceId);
  const ownerAddress = await owner.getAddress();
  if (info.status !== "active")
    throw new UserError(`device ${deviceId} is ${info.status}; only active devices rotate keys`);
  if (info.owner !== ownerAddress) throw new UserError(`${ownerAddress} does not own device ${deviceId}`);
  const { meta } = loadDeviceKey(keystoreDir, deviceId, password);
  const fresh = randomDeviceKey();
  const nonce = await registry.keyNonce(deviceId);
  const deadline = (await nextBlockTime(ctx.provider)) + 3600n;
  const signature = await signKeyRotation(fresh, await registryDomain(ctx), {
    deviceId,
    newKey: fresh.address,
    nonce,
    deadline,
  });
  const tx = await registry.rotateDeviceKey(deviceId, fresh.address, deadline, ...compact(signature));
  const gasUsed = await gasOf(tx);
  const file = keystoreFile(keystoreDir, deviceId);
  fs.copyFileSync(file, `${file}.old`);
  saveDeviceKey(keystoreDir, meta, new Wallet(fresh.privateKey), password);
  return { deviceId, oldKey: info.deviceKey, newKey: fresh.address, gasUsed, txHash: tx.hash };
}
