import type { TypedDataDomain, TypedDataField } from "ethers";
import { AbiCoder, TypedDataEncoder, keccak256 } from "ethers";

import type { TypedDataSigner } from "./permit";
import { identityClaimDigest, signIdentityClaim } from "./device";

/**
 * Device reports, the only place they are built. A report is signed in the registry's EIP-712 domain
 * (see `registryDomain`), which binds the chain id and the registry's address: a report made for one
 * network or one registry recovers to a stranger's key on any other, and is refused as forged.
 */
export const REPORT_TYPES: Record<string, TypedDataField[]> = {
  DeviceReport: [
    { name: "reporterId", type: "bytes32" },
    { name: "subjectId", type: "bytes32" },
    { name: "interaction", type: "bytes32" },
    { name: "rating", type: "uint8" },
    { name: "timestamp", type: "uint64" },
  ],
};

/** The highest rating: 0 is a failed interaction, 100 a perfect one. */
export const MAX_RATING = 100;

export interface ReportMessage {
  reporterId: string;
  subjectId: string;
  /** What the two devices did together: a channel id, a transaction hash or a fresh random nonce. */
  interaction: string;
  rating: number;
  /** Seconds since the epoch, when the interaction ended. */
  timestamp: bigint;
}

export function signReport(reporter: TypedDataSigner, domain: TypedDataDomain, m: ReportMessage): Promise<string> {
  return reporter.signTypedData(domain, REPORT_TYPES, { ...m });
}

export function reportDigest(domain: TypedDataDomain, m: ReportMessage): string {
  return TypedDataEncoder.hash(domain, REPORT_TYPES, { ...m });
}

/**
 * The challenge a subject answers to prove it took part in an interaction with a reporter:
 * keccak256(abi.encode(reporterId, interaction)). The subject signs it as an ordinary identity claim
 * (`IdentityClaim(deviceId, challenge)` in the registry's domain, checkable on chain with
 * `isValidDeviceSignature`), so the evidence is good for this reporter and this interaction only.
 */
export function interactionChallenge(reporterId: string, interaction: string): string {
  return keccak256(AbiCoder.defaultAbiCoder().encode(["bytes32", "bytes32"], [reporterId, interaction]));
}

/** The subject's side of an interaction: its identity claim over {@link interactionChallenge}. */
export function signInteractionClaim(
  subject: TypedDataSigner,
  domain: TypedDataDomain,
  m: { subjectId: string; reporterId: string; interaction: string },
): Promise<string> {
  return signIdentityClaim(subject, domain, {
    deviceId: m.subjectId,
    challenge: interactionChallenge(m.reporterId, m.interaction),
  });
}

/** The digest the subject's interaction claim signs. */
export function interactionClaimDigest(
  domain: TypedDataDomain,
  m: { subjectId: string; reporterId: string; interaction: string },
): string {
  return identityClaimDigest(domain, {
    deviceId: m.subjectId,
    challenge: interactionChallenge(m.reporterId, m.interaction),
  });
}
