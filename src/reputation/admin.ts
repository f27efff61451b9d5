import type { Signer } from "ethers";

import type { DeviceRegistry } from "../../typechain-types";
import { registryAt } from "../chain/context";
import type { SystemContext } from "../chain/context";
import { gasOf } from "../chain/time";
import { ensure } from "../errors";

/** The registry connected to `admin`, which must be the network admin (the registry's owner). */
async function asAdmin(ctx: SystemContext, admin: Signer): Promise<DeviceRegistry> {
  const registry = registryAt(ctx, admin);
  const caller = await admin.getAddress();
  const owner = await registry.owner();
  ensure(caller === owner, `${caller} is not the network admin (${owner})`);
  return registry;
}

/** The network admin admits (`admit`) or removes an auditor; removal returns its unused budget to the pool. */
export async function setAuditor(
  ctx: SystemContext,
  admin: Signer,
  auditor: string,
  admit: boolean,
): Promise<{ auditor: string; admitted: boolean; gasUsed: bigint; txHash: string }> {
  const registry = await asAdmin(ctx, admin);
  const info = await registry.auditorInfo(auditor);
  ensure(info.active !== admit, `${auditor} is ${admit ? "already" : "not"} an auditor`);
  const tx = admit ? await registry.addAuditor(auditor) : await registry.removeAuditor(auditor);
  return { auditor, admitted: admit, gasUsed: await gasOf(tx), txHash: tx.hash };
}

/**
 * The admin sets how many changed scores an auditor can be rewarded for per epoch (0 to the registry's
 * `MAX_EPOCH_REWARDS`; a new auditor starts at `DEFAULT_EPOCH_REWARDS`).
 */
export async function setAuditorRewardCap(
  ctx: SystemContext,
  admin: Signer,
  auditor: string,
  maxRewardsPerEpoch: number,
): Promise<{ auditor: string; maxRewardsPerEpoch: number; previous: number; gasUsed: bigint; txHash: string }> {
  const registry = await asAdmin(ctx, admin);
  const limit = await registry.MAX_EPOCH_REWARDS();
  ensure(
    BigInt(maxRewardsPerEpoch) <= limit,
    `an auditor's reward cap is at most ${limit} rewards per epoch, got ${maxRewardsPerEpoch}`,
  );
  const info = await registry.auditorInfo(auditor);
  ensure(info.active, `${auditor} is not an auditor`);
  const tx = await registry.setAuditorRewardCap(auditor, maxRewardsPerEpoch);
  return {
    auditor,
    maxRewardsPerEpoch,
    previous: Number(info.maxRewardsPerEpoch),
    gasUsed: await gasOf(tx),
    txHash: tx.hash,
  };
}
