import type { TypedDataDomain, TypedDataField } from "ethers";
import { Signature, TypedDataEncoder, concat, getAddress } from "ethers";

import type { TypedDataSigner } from "./permit";

/**
 * Device-wallet messages, the only place they are built. The domain binds the chain id and the wallet;
 * owner executions bind the wallet's nonce, device transfers the device's own nonce.
 */
export function walletDomain(chainId: bigint, wallet: string): TypedDataDomain {
  return { name: "ThingLedger DeviceWallet", version: "1", chainId, verifyingContract: wallet };
}

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

export function executeDigest(domain: TypedDataDomain, m: ExecuteMessage): string {
  return TypedDataEncoder.hash(domain, EXECUTE_TYPES, { ...m });
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
 * The `signatures` argument of `execute`: each owner signature in compact (r, vs) form, ordered by
 * signer address. `signed` maps signer address to its 65-byte signature.
 */
export function packSignatures(signed: Record<string, string>): string {
  const signers = sortOwners(Object.keys(signed));
  return concat(
    signers.map((s) => {
      const sig = Signature.from(signed[Object.keys(signed).find((k) => getAddress(k) === s)!]);
      return concat([sig.r, sig.yParityAndS]);
    }),
  );
}
