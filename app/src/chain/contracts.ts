import type { Address, Hex, PublicClient, TypedDataDomain } from "viem";

import { DeviceRegistry__factory, ThingToken__factory } from "../../../src/chain/factories";
import { checkDeviceId } from "../../../src/devices/id";
import { checkStatedDomain, statedDomain } from "../../../src/eip712/domain";
import { deviceInfoOf } from "../../../src/registry/device-info";
import type { DeviceInfo } from "../../../src/registry/device-info";

/** The ABIs, from the project's TypeChain factories (typed `as const`, so viem infers every call). */
export const registryAbi = DeviceRegistry__factory.abi;
export const tokenAbi = ThingToken__factory.abi;

/** A device's record by name (`getDevice`); a malformed id is a one-line error before any call. */
export async function readDevice(client: PublicClient, registry: Address, deviceId: string): Promise<DeviceInfo> {
  const id = checkDeviceId(deviceId.trim()) as Hex;
  const view = await client.readContract({
    address: registry,
    abi: registryAbi,
    functionName: "getDevice",
    args: [id],
  });
  return deviceInfoOf(id, view);
}

/**
 * A contract's EIP-712 domain as it states it (ERC-5267), in viem's shape. It must name that contract and the
 * chain the app reads: a contract stating another's domain (a token's, say) would have the owner sign a
 * permit valid somewhere else than the page shows.
 */
export async function readDomain(client: PublicClient, address: Address): Promise<TypedDataDomain> {
  const [[fields, name, version, chainId, verifyingContract, salt, extensions], chain] = await Promise.all([
    client.readContract({ address, abi: registryAbi, functionName: "eip712Domain" }),
    client.getChainId(),
  ]);
  const d = statedDomain(address, { fields, name, version, chainId, verifyingContract, salt, extensions });
  checkStatedDomain(address, chain, d);
  return {
    ...(d.name != null && { name: d.name }),
    ...(d.version != null && { version: d.version }),
    ...(d.chainId != null && { chainId: BigInt(d.chainId) }),
    ...(d.verifyingContract != null && { verifyingContract: d.verifyingContract as Address }),
    ...(d.salt != null && { salt: d.salt as Hex }),
  };
}

/** The latest block's time, the clock every deadline is measured against. */
export async function chainNow(client: PublicClient): Promise<bigint> {
  return (await client.getBlock()).timestamp;
}
