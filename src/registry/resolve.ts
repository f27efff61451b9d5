import { registryAt } from "../chain/context";
import type { SystemContext } from "../chain/context";
import { resolveDeviceId } from "../devices/fleet";

/**
 * A device named by its 0x id or its raw unique id (see `resolveDeviceId`): a raw id is looked up in the
 * keystores of `keystoreDir`, else among the registry's manufacturers.
 */
export function resolveDevice(ctx: SystemContext, value: string, keystoreDir?: string): Promise<string> {
  return resolveDeviceId(value, { keystoreDir, registry: registryAt(ctx) });
}
