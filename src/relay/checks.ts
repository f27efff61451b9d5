import { Signature, ZeroHash, getAddress, verifyTypedData } from "ethers";
import type { TypedDataDomain, TypedDataField } from "ethers";

import type { DeviceRegistry, ThingToken } from "../../typechain-types";
import { plainReason } from "../chain/preflight";
import { describeRevert } from "../chain/revert";
import { DEADLINE_MARGIN } from "../chain/time";
import { ACTIVATE_TYPES, PAY_ACTIVATION_TYPES, compact } from "../eip712/device";
import { PERMIT_TYPES } from "../eip712/permit";
import { Rejected } from "../http/errors";
import type { ActivationPayload, RelayRequest } from "../registry/activation-link";
import { formatThing } from "../units";

/*
 * What a relayer checks before it spends gas on a relay request: each check is a pure function of the
 * request and what was read from the chain, and a failure is a {@link Rejected} with a stable `reason`.
 */

/** The relayer's own limits. */
export interface RelayPolicy {
  /** The most a request's `maxFee` may be (token units): the relayer relays activations up to this fee. */
  maxFee: bigint;
  /**
   * The most the relayer pays per gas (wei): refuse to send (503, retry later) while the network's gas price
   * is above it, and send with it as the transaction's fee cap; undefined: no cap.
   */
  maxGasPrice?: bigint;
}

/** What the relayer knows of its system: the chain, the contracts and their EIP-712 domains. */
export interface RelayTarget {
  chainId: bigint;
  registry: DeviceRegistry;
  registryAddress: string;
  token: ThingToken;
  registryDomain: TypedDataDomain;
  tokenDomain: TypedDataDomain;
}

/** The signer of a typed-data signature, or undefined when it is malformed (no signer at all). */
function signerOf(
  domain: TypedDataDomain,
  types: Record<string, TypedDataField[]>,
  value: Record<string, unknown>,
  signature: string,
): string | undefined {
  try {
    return verifyTypedData(domain, types, value, signature);
  } catch {
    return undefined;
  }
}

/** The request's own fields against the relayer's chain, registry and cap (no chain read). */
export function checkRequest(target: RelayTarget, request: RelayRequest, policy: RelayPolicy): void {
  if (BigInt(request.chainId) !== target.chainId)
    throw new Rejected(
      400,
      `the request is for chain ${request.chainId}, this relayer is on chain ${target.chainId}`,
      "wrong_chain",
    );
  // Compared as addresses: a mixed-case address with a wrong checksum is still the same address.
  if (request.registry !== undefined && request.registry.toLowerCase() !== target.registryAddress.toLowerCase())
    throw new Rejected(
      400,
      `the request is for registry ${request.registry}, this relayer relays to ${target.registryAddress}`,
      "wrong_registry",
    );
  const maxFee = BigInt(request.maxFee);
  if (maxFee > policy.maxFee)
    throw new Rejected(
      400,
      `the request's maximum fee ${formatThing(maxFee)} is above this relayer's cap of ${formatThing(policy.maxFee)}`,
      "fee_over_cap",
    );
}

/** The device's activation and the owner's consent and permit, each recovered to the party it must be. */
export function checkSignatures(
  target: RelayTarget,
  r: { request: RelayRequest; payload: ActivationPayload },
  deviceKey: string,
  permit: { nonce: bigint; allowance: bigint; fee: bigint },
): void {
  checkConsent(target, r, deviceKey);
  checkPermit(target, r, permit);
}

/**
 * The device's activation (signed by `deviceKey`) and the owner's payment consent: needs no chain read
 * but the device's key, so a forged request is refused before the relayer reads anything else.
 */
export function checkConsent(
  target: RelayTarget,
  r: { request: RelayRequest; payload: ActivationPayload },
  deviceKey: string,
): void {
  const { request, payload } = r;
  const owner = getAddress(payload.owner.toLowerCase());
  const maxFee = BigInt(request.maxFee);
  const ownerDeadline = BigInt(request.ownerDeadline);
  const activation = { deviceId: payload.deviceId, owner, deadline: payload.deadline };
  if (signerOf(target.registryDomain, ACTIVATE_TYPES, activation, payload.signature) !== deviceKey)
    throw new Rejected(
      400,
      `the activation is not signed by device ${payload.deviceId}'s key ${deviceKey} for owner ${owner} on this registry`,
      "bad_device_signature",
    );
  const consent = { deviceId: payload.deviceId, owner, maxFee, deadline: ownerDeadline };
  if (signerOf(target.registryDomain, PAY_ACTIVATION_TYPES, consent, request.consent) !== owner)
    throw new Rejected(
      400,
      `the payment consent is not signed by the owner ${owner} for this device, maximum fee and deadline on this registry`,
      "bad_consent",
    );
}

/** The owner's permit for the owner's token nonce, unless a standing allowance already covers the fee. */
export function checkPermit(
  target: RelayTarget,
  r: { request: RelayRequest; payload: ActivationPayload },
  permit: { nonce: bigint; allowance: bigint; fee: bigint },
): void {
  const { request, payload } = r;
  const owner = getAddress(payload.owner.toLowerCase());
  const message = {
    owner,
    spender: target.registryAddress,
    value: BigInt(request.maxFee),
    nonce: permit.nonce,
    deadline: BigInt(request.ownerDeadline),
  };
  // A permit already used (its nonce spent) is fine when the allowance it gave is still there.
  if (signerOf(target.tokenDomain, PERMIT_TYPES, message, request.permit) !== owner && permit.allowance < permit.fee)
    throw new Rejected(
      400,
      `the permit is not signed by the owner ${owner} for the registry, the maximum fee, nonce ${permit.nonce} and the deadline, and no allowance covers the fee`,
      "bad_permit",
    );
}

/** Both deadlines leave {@link DEADLINE_MARGIN} after `next` (the next block's earliest time). */
export function checkDeadlines(payload: ActivationPayload, ownerDeadline: bigint, next: bigint): void {
  for (const [deadline, what, fix] of [
    [payload.deadline, "the device's activation expires", "ask the device for a fresh link"],
    [ownerDeadline, "the owner's permit and consent expire", "the owner signs again"],
  ] as const)
    if (deadline < next + DEADLINE_MARGIN)
      throw new Rejected(
        400,
        `${what} at ${deadline}, less than ${DEADLINE_MARGIN} s after the next block (time ${next}): ${fix}`,
        "expired",
      );
}

/** The fee against the owner's ceiling and balance. */
export function checkFee(fee: bigint, maxFee: bigint, balance: bigint, owner: string): void {
  if (fee > maxFee)
    throw new Rejected(
      409,
      `the activation fee ${formatThing(fee)} is above the owner's maximum fee of ${formatThing(maxFee)}`,
      "fee_above_max",
    );
  if (balance < fee)
    throw new Rejected(
      409,
      `the activation fee is ${formatThing(fee)} but the owner ${owner} holds ${formatThing(balance)}`,
      "insufficient_balance",
    );
}

/** The registry's errors a simulation can end in, by the `reason` the relayer answers with. */
const REVERT_REASONS: Record<string, string> = {
  UnexpectedDeviceStatus: "wrong_status",
  SignatureExpired: "expired",
  FeeAboveMax: "fee_above_max",
  InvalidDeviceSignature: "bad_device_signature",
  InvalidOwnerConsent: "bad_consent",
  ERC20InsufficientBalance: "insufficient_balance",
  ERC20InsufficientAllowance: "bad_permit",
};

/** A failed simulation as a 409 naming the contract's error, or undefined when it was no refusal (a fault). */
export function simulationRefusal(error: unknown): Rejected | undefined {
  const named = describeRevert(error);
  const why = named ?? plainReason(error);
  if (why === undefined) return undefined;
  const reason = (named === undefined ? undefined : REVERT_REASONS[named.split("(")[0]]) ?? "would_revert";
  return new Rejected(409, `the registry would refuse it, so nothing was sent: ${why}`, reason);
}

/** `activateDeviceWithPermit`'s arguments for a checked request. */
export function relayArgs(request: RelayRequest, payload: ActivationPayload) {
  const [r, vs] = compact(payload.signature);
  let permit = { v: 0, r: ZeroHash, s: ZeroHash };
  try {
    permit = Signature.from(request.permit);
  } catch {
    // Not a signature at all: sent as no permit (v 0), which the checks allowed only under a standing allowance.
  }
  return [
    BigInt(request.maxFee),
    payload.deviceId,
    getAddress(payload.owner.toLowerCase()),
    payload.deadline,
    r,
    vs,
    BigInt(request.ownerDeadline),
    permit.v,
    permit.r,
    permit.s,
    request.consent,
  ] as const;
}
