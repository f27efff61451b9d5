import type { BaseWallet, TypedDataDomain } from "ethers";

import type { DeviceRegistry } from "../../typechain-types";
import { registryAt } from "../chain/context";
import type { SystemContext } from "../chain/context";
import { chainTime } from "../chain/time";
import { recoverSigner } from "../channels/verify";
import { DEVICE_SIGNATURE_PATTERN, fullSignature } from "../eip712/device";
import { readDomain } from "../eip712/domain";
import { interactionClaimDigest, signInteractionClaim, signReport } from "../eip712/report";
import { ensure } from "../errors";
import { STATUS_NAMES } from "../registry";
import type { ReportBody } from "./auditor";

/** The registry (read-only) and the EIP-712 domain that reports and interaction claims are signed in. */
async function reportingDomain(ctx: SystemContext): Promise<{ registry: DeviceRegistry; domain: TypedDataDomain }> {
  const registry = registryAt(ctx);
  return { registry, domain: await readDomain(registry) };
}

/** The key of device `deviceId`, which must be active; `role` names it in the error. */
async function activeDeviceKey(registry: DeviceRegistry, deviceId: string, role: string): Promise<string> {
  const v = await registry.getDevice(deviceId);
  const status = STATUS_NAMES[Number(v.status)];
  ensure(status === "active", `${role} ${deviceId} is ${status === "unknown" ? "not registered" : status}, not active`);
  return v.deviceKey;
}

export interface InteractionClaim {
  subjectId: string;
  reporterId: string;
  interaction: string;
  evidence: string;
}

/**
 * The subject's side of an interaction: it signs an identity claim over keccak256(reporterId, interaction),
 * which the reporter attaches to its report as evidence that the two devices dealt with each other.
 */
export async function claimInteraction(
  ctx: SystemContext,
  subject: BaseWallet,
  m: { subjectId: string; reporterId: string; interaction: string },
): Promise<InteractionClaim> {
  const { registry, domain } = await reportingDomain(ctx);
  ensure(m.subjectId !== m.reporterId, "a device cannot claim an interaction with itself");
  const key = await activeDeviceKey(registry, m.subjectId, "device");
  ensure(key === subject.address, `the keystore's key ${subject.address} is not device ${m.subjectId}'s key ${key}`);
  await activeDeviceKey(registry, m.reporterId, "reporter");
  return { ...m, evidence: await signInteractionClaim(subject, domain, m) };
}

/** What a reporter states in a report; `timestamp` defaults to the chain's time. */
export interface ReportRequest {
  reporterId: string;
  subjectId: string;
  interaction: string;
  rating: number;
  /** The subject's claim for this reporter and interaction ({@link claimInteraction}). */
  evidence: string;
  timestamp?: number;
}

/**
 * The reporter signs a report about the subject. Everything the auditor will check is checked here first
 * (both devices active, the keystore holds the reporter's key, the evidence is the subject's claim for
 * this reporter and interaction), so a report that leaves this function will not be refused for them.
 */
export async function makeReport(ctx: SystemContext, reporter: BaseWallet, m: ReportRequest): Promise<ReportBody> {
  const { registry, domain } = await reportingDomain(ctx);
  ensure(m.reporterId !== m.subjectId, "a device cannot report on itself");
  ensure(
    DEVICE_SIGNATURE_PATTERN.test(m.evidence),
    "the evidence must be the subject's claim signature, 0x + 130 hex (or 128 in EIP-2098 compact form)",
  );
  const key = await activeDeviceKey(registry, m.reporterId, "reporter");
  ensure(
    key === reporter.address,
    `the keystore's key ${reporter.address} is not reporter ${m.reporterId}'s key ${key}`,
  );
  const subjectKey = await activeDeviceKey(registry, m.subjectId, "subject");
  ensure(
    recoverSigner(interactionClaimDigest(domain, m), fullSignature(m.evidence)) === subjectKey,
    `the evidence is not subject ${m.subjectId}'s claim for reporter ${m.reporterId} and this interaction`,
  );
  const timestamp = m.timestamp ?? Number(await chainTime(ctx.provider));
  const signature = await signReport(reporter, domain, { ...m, timestamp: BigInt(timestamp) });
  return {
    reporterId: m.reporterId,
    subjectId: m.subjectId,
    interaction: m.interaction,
    rating: m.rating,
    timestamp,
    signature,
    evidence: m.evidence,
  };
}
