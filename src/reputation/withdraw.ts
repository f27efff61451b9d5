import type { Signer } from "ethers";

import { registryAt } from "../chain/context";
import type { SystemContext } from "../chain/context";
import { gasOf } from "../chain/time";
import { ensure } from "../errors";
import { formatThing } from "../units";

/** An auditor pulls the rewards it earned. */
export async function withdrawReward(
  ctx: SystemContext,
  signer: Signer,
): Promise<{ auditor: string; amount: bigint; formatted: string; gasUsed: bigint; txHash: string }> {
  const registry = registryAt(ctx, signer);
  const auditor = await signer.getAddress();
  const info = await registry.auditorInfo(auditor);
  ensure(info.earned > 0n, `${auditor} has no auditor reward to withdraw`);
  const tx = await registry.withdrawAuditorReward();
  const gasUsed = await gasOf(tx);
  return { auditor, amount: info.earned, formatted: formatThing(info.earned), gasUsed, txHash: tx.hash };
}
