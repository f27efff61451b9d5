import { deviceTypeName } from "../devices/types";

/*
 * A device's registry record by name, free of Node and of any provider: the tasks (./status) and the
 * browser app (which reads `getDevice` through viem) build it from the same `DeviceView`.
 */

export const STATUS_NAMES = ["unknown", "registered", "active", "revoked"] as const;
export type StatusName = (typeof STATUS_NAMES)[number];

export interface DeviceInfo {
  deviceId: string;
  status: StatusName;
  manufacturerId: number;
  manufacturer: string;
  owner: string;
  deviceKey: string;
  deviceType: number;
  deviceTypeName: string;
  metadataHash: string;
  score: number;
  trend: number;
}

/** The registry's `DeviceView` as ethers or viem decode it (numbers as bigint or number). */
export interface DeviceView {
  status: bigint | number;
  manufacturerId: bigint | number;
  manufacturer: string;
  owner: string;
  deviceKey: string;
  deviceType: bigint | number;
  metadataHash: string;
  score: bigint | number;
  trend: bigint | number;
}

/** `getDevice(deviceId)`'s answer with its status and type by name. */
export function deviceInfoOf(deviceId: string, v: DeviceView): DeviceInfo {
  return {
    deviceId,
    status: STATUS_NAMES[Number(v.status)],
    manufacturerId: Number(v.manufacturerId),
    manufacturer: v.manufacturer,
    owner: v.owner,
    deviceKey: v.deviceKey,
    deviceType: Number(v.deviceType),
    deviceTypeName: deviceTypeName(v.deviceType),
    metadataHash: v.metadataHash,
    score: Number(v.score),
    trend: Number(v.trend),
  };
}
