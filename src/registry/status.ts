import { registryAt } from "../chain/context";
import type { SystemContext } from "../chain/context";
import { checkDeviceId } from "../devices/id";
import { deviceInfoOf } from "./device-info";
import type { DeviceInfo } from "./device-info";

export { STATUS_NAMES, deviceInfoOf } from "./device-info";
export type { DeviceInfo, StatusName } from "./device-info";

/**
 * A device's registry record, with its status and type by name; an unregistered device is "unknown". An id
 * that is not 32 bytes (an address pasted by mistake) is a one-line {@link UserError}, not an ABI error.
 */
export async function deviceStatus(ctx: SystemContext, deviceId: string): Promise<DeviceInfo> {
  return deviceInfoOf(deviceId, await registryAt(ctx).getDevice(checkDeviceId(deviceId)));
}
