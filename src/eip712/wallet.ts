import type { TypedDataDomain, TypedDataField } from "ethers";
import { Signature, concat, getAddress } from "ethers";

import type { TypedDataSigner } from "./permit";

/**
 * Device-wallet messages, the only place they are built. Their domain is the wallet's own
 * (`readDomain(wallet)`): it binds the chain id and the wallet; owner executions bind the wallet's nonce,
 * device transfers the device's own nonce.
 */
export const EXECUTE_TYPES: Record<string, TypedDataField[]> = {
  Execute: [
    { name: "to", type: "address" },
    { name: "value", type: "uint256" },
    { name: "data", type: "bytes" },
    { name: "gasLimit", type: "uint256" },
    { name: "nonce", type: "uint256" },
  ],
};

export interface ExecuteMessage {
  to: string;
  value: bigint;
  data: string;
  gasLimit: bigint;
  nonce: bigint;
}

export const DEVICE_TRANSFER_TYPES: Record<string, TypedDataField[]> = {
  DeviceTransfer: [
    { name: "asset", type: "address" },
    { name: "to", type: "address" },
    { name: "amount", type: "uint256" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint256" },
  ],
};

export interface DeviceTransferMessage {
  asset: string;
  to: string;
  amount: bigint;
  nonce: bigint;
  deadline: bigint;
}

export function signExecute(owner: TypedDataSigner, domain: TypedDataDomain, m: ExecuteMessage): Promise<string> {
  return owner.signTypedData(domain, EXECUTE_TYPES, { ...m });
}

export function signDeviceTransfer(
  device: TypedDataSigner,
  domain: TypedDataDomain,
  m: DeviceTransferMessage,
): Promise<string> {
  return device.signTypedData(domain, DEVICE_TRANSFER_TYPES, { ...m });
}

/** Owners sorted as the wallet requires (strictly increasing addresses). */
export function sortOwners(owners: readonly string[]): string[] {
  return owners.map((o) => getAddress(o)).sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
}

/**
 * The `auth` argument of `execute`: each owner signature in compact (r, vs) form, ordered by signer
 * address, then the owners who did not sign, 20 bytes each, in order. `owners` is the whole owner set;
 * `signed` maps signer address to its 65-byte signature. Throws if a signer is not an owner.
 */
export function packAuthorization(owners: readonly string[], signed: Record<string, string>): string {
  const bySigner = new Map(Object.entries(signed).map(([k, v]) => [getAddress(k), v]));
  const set = sortOwners(owners);
  for (const signer of bySigner.keys()) {
    if (!set.includes(signer)) throw new Error(`${signer} signed but is not an owner`);
  }
  const signatures = sortOwners([...bySigner.keys()]).map((s) => {
    const sig = Signature.from(bySigner.get(s)!);
    return concat([sig.r, sig.yParityAndS]);
  });
  return concat([...signatures, ...set.filter((o) => !bySigner.has(o))]);
}
