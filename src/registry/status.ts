import { registryAt } from "../chain/context";
import type { SystemContext } from "../chain/context";
import { checkDeviceId } from "../devices/fleet";
import { deviceTypeName } from "../devices/types";

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

/**
 * A device's registry record, with its status and type by name; an unregistered device is "unknown". An id
 * that is not 32 bytes (an address pasted by mistake) is a one-line {@link UserError}, not an ABI error.
 */
export async function deviceStatus(ctx: SystemContext, deviceId: string): Promise<DeviceInfo> {
  const v = await registryAt(ctx).getDevice(checkDeviceId(deviceId));
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
