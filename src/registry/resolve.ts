import { registryAt } from "../chain/context";
import type { SystemContext } from "../chain/context";
import { resolveDeviceId } from "../devices/fleet";
import { isDeviceIdHex } from "../devices/id";

/**
 * A device named by its 0x id or its raw unique id (see `resolveDeviceId`): a raw id is looked up in the
 * keystores of `keystoreDir`, else among the registry's manufacturers. A 0x id needs neither, so the
 * registry's contract (its ABI parsed, ~20 ms) is made only for a raw id.
 */
export function resolveDevice(ctx: SystemContext, value: string, keystoreDir?: string): Promise<string> {
  if (isDeviceIdHex(value)) return resolveDeviceId(value);
  return resolveDeviceId(value, { keystoreDir, registry: registryAt(ctx) });
}
