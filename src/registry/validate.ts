import type { Wallet } from "ethers";

import { registryAt } from "../chain/context";
import type { SystemContext } from "../chain/context";
import { identityClaimDigest, signIdentityClaim } from "../eip712/device";
import { registryDomain } from "./domain";
import { deviceStatus } from "./status";
import type { DeviceInfo } from "./status";

export interface ValidateResult extends DeviceInfo {
  valid: boolean;
  challenge?: string;
  claimValid?: boolean;
}

/** Validates a device: its record, and, with a challenge, a fresh identity claim signed by its key. */
export async function validate(
  ctx: SystemContext,
  deviceId: string,
  claim?: { challenge: string; device: Wallet },
): Promise<ValidateResult> {
  const info = await deviceStatus(ctx, deviceId);
  const result: ValidateResult = { ...info, valid: info.status === "active" };
  if (claim !== undefined) {
    const domain = await registryDomain(ctx);
    const message = { deviceId, challenge: claim.challenge };
    const signature = await signIdentityClaim(claim.device, domain, message);
    result.challenge = claim.challenge;
    result.claimValid = await registryAt(ctx).isValidDeviceSignature(
      deviceId,
      identityClaimDigest(domain, message),
      signature,
    );
    result.valid = result.valid && result.claimValid;
  }
  return result;
}
