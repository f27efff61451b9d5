import type { TypedDataDomain, TypedDataField } from "ethers";
import { Signature, TypedDataEncoder } from "ethers";

import type { TypedDataSigner } from "./permit";

/**
 * The device registry's EIP-712 messages, the only place they are built. Their domain is the registry's
 * own (`readDomain(registry)`): it binds the chain id and the registry's address, so a signature for one
 * chain or one registry is useless on another.
 */
export const ACTIVATE_TYPES: Record<string, TypedDataField[]> = {
  Activate: [
    { name: "deviceId", type: "bytes32" },
    { name: "owner", type: "address" },
    { name: "deadline", type: "uint256" },
  ],
};

/** The owner's consent that a relayer's {activateDeviceWithPermit} takes this device's fee from it. */
export const PAY_ACTIVATION_TYPES: Record<string, TypedDataField[]> = {
  PayActivation: [
    { name: "deviceId", type: "bytes32" },
    { name: "owner", type: "address" },
    { name: "maxFee", type: "uint256" },
    { name: "deadline", type: "uint256" },
  ],
};

export const ROTATE_KEY_TYPES: Record<string, TypedDataField[]> = {
  RotateKey: [
    { name: "deviceId", type: "bytes32" },
    { name: "newKey", type: "address" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint256" },
  ],
};

export const IDENTITY_CLAIM_TYPES: Record<string, TypedDataField[]> = {
  IdentityClaim: [
    { name: "deviceId", type: "bytes32" },
    { name: "challenge", type: "bytes32" },
  ],
};

export interface ActivateMessage {
  deviceId: string;
  owner: string;
  deadline: bigint;
}

export interface PayActivationMessage {
  deviceId: string;
  /** The account that pays and becomes the owner: the signer itself, named so that an account whose
   * signature another account also accepts (an EOA and its ERC-1271 wallet) cannot be charged instead. */
  owner: string;
  maxFee: bigint;
  deadline: bigint;
}

export interface RotateKeyMessage {
  deviceId: string;
  newKey: string;
  nonce: bigint;
  deadline: bigint;
}

export interface IdentityClaimMessage {
  deviceId: string;
  challenge: string;
}

/** The device signs its activation for `owner`: the owner is bound, so a front-runner cannot change it. */
export function signActivation(device: TypedDataSigner, domain: TypedDataDomain, m: ActivateMessage): Promise<string> {
  return device.signTypedData(domain, ACTIVATE_TYPES, { ...m });
}

/**
 * The owner consents to pay at most `maxFee` for activating this one device, when someone else (a relayer)
 * submits the activation. Its permit, if it needs one, is for `maxFee` too. A permit names no device, so it
 * alone is not consent: see
 * `IDeviceRegistry.activateDeviceWithPermit`.
 */
export function signActivationPayment(
  owner: TypedDataSigner,
  domain: TypedDataDomain,
  m: PayActivationMessage,
): Promise<string> {
  return owner.signTypedData(domain, PAY_ACTIVATION_TYPES, { ...m });
}

/** The new device key consents to becoming the device's key. */
export function signKeyRotation(
  newKey: TypedDataSigner,
  domain: TypedDataDomain,
  m: RotateKeyMessage,
): Promise<string> {
  return newKey.signTypedData(domain, ROTATE_KEY_TYPES, { ...m });
}

/** The device answers a peer's challenge: "I am device X". */
export function signIdentityClaim(
  device: TypedDataSigner,
  domain: TypedDataDomain,
  m: IdentityClaimMessage,
): Promise<string> {
  return device.signTypedData(domain, IDENTITY_CLAIM_TYPES, { ...m });
}

/** The digest {signIdentityClaim} signs, as the registry's `identityClaimDigest` computes it. */
export function identityClaimDigest(domain: TypedDataDomain, m: IdentityClaimMessage): string {
  return TypedDataEncoder.hash(domain, IDENTITY_CLAIM_TYPES, { ...m });
}

/** A device signature as `isValidDeviceSignature` takes it: 65 bytes (r, s, v) or 64 bytes (EIP-2098 r, vs). */
export const DEVICE_SIGNATURE_PATTERN = /^0x(?:[0-9a-fA-F]{128}|[0-9a-fA-F]{130})$/;

/**
 * A device signature (an identity claim) in its 65-byte (r, s, v) form: a 64-byte EIP-2098 (r, vs) one is
 * expanded, anything else comes back unchanged, so that the caller's own checks (length, v, high s) refuse
 * it exactly as they refuse a bad 65-byte signature.
 */
export function fullSignature(signature: string): string {
  if (!/^0x[0-9a-fA-F]{128}$/.test(signature)) return signature;
  return Signature.from(signature).serialized;
}

/**
 * A 65-byte signature as the EIP-2098 compact pair (r, vs) that the registry's state-changing calls take:
 * `vs` carries the y-parity in its top bit.
 */
export function compact(signature: string): [string, string] {
  const sig = Signature.from(signature);
  return [sig.r, sig.yParityAndS];
}
