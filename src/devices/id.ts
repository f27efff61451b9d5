import { keccak256, toUtf8Bytes } from "ethers";

import { UserError } from "../errors";

/*
 * Device ids, free of Node: the browser app imports this module; ./fleet (which reads files) re-exports it.
 */

const UID_BITS = 224n;
const UID_MASK = (1n << UID_BITS) - 1n;
const MAX_MANUFACTURER_ID = 2n ** 32n - 1n;

/**
 * A device's on-chain id: its manufacturer's id in the top 32 bits, the low 224 bits of keccak256(uid)
 * below. The registry refuses an id outside the registering manufacturer's namespace, so no manufacturer
 * can take another's device ids. The only definition of device ids in this code base.
 */
export function deviceIdOf(manufacturerId: number | bigint, uid: string): string {
  const m = BigInt(manufacturerId);
  if (m < 1n || m > MAX_MANUFACTURER_ID) throw new UserError(`manufacturer id ${m} is not 1 to 2^32 - 1`);
  const low = BigInt(keccak256(toUtf8Bytes(uid))) & UID_MASK;
  return `0x${((m << UID_BITS) | low).toString(16).padStart(64, "0")}`;
}

/** The manufacturer whose namespace a device id is in (its top 32 bits). */
export function manufacturerIdOf(deviceId: string): number {
  return Number(BigInt(deviceId) >> UID_BITS);
}

/** A 0x-prefixed 32-byte hex id. */
export function isDeviceIdHex(value: string): boolean {
  return /^0x[0-9a-fA-F]{64}$/.test(value);
}

/** `deviceId` itself if it is a device id (0x and 64 hex digits); otherwise a one-line {@link UserError}. */
export function checkDeviceId(deviceId: string): string {
  if (isDeviceIdHex(deviceId)) return deviceId;
  const hexBytes = /^0x[0-9a-fA-F]*$/.test(deviceId) ? ` (${(deviceId.length - 2) / 2} bytes)` : "";
  throw new UserError(`"${deviceId}" is not a device id${hexBytes}: a device id is 0x and 64 hex digits (32 bytes)`);
}

/**
 * An off-chain label that is not a registry device (the AS's HOTP locks): 0x + 64 hex as is, any other
 * text hashed with keccak256.
 */
export function labelId(value: string): string {
  return isDeviceIdHex(value) ? value.toLowerCase() : keccak256(toUtf8Bytes(value));
}
