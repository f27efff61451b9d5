import type { Signer } from "ethers";

import { registryAt, tokenAt } from "../chain/context";
import type { SystemContext } from "../chain/context";
import { gasOf } from "../chain/time";
import { UserError } from "../errors";
import { formatThing } from "../units";

/**
 * The most to pay for a `what` fee that is `fee` now: `maxFee`, the ceiling the payer consented to, or
 * by default the fee itself. A fee above the ceiling fails early, before anything is sent.
 */
export function feeCeiling(what: string, fee: bigint, maxFee: bigint | undefined): bigint {
  if (maxFee === undefined) return fee;
  if (fee > maxFee) {
    throw new UserError(
      `the ${what} fee is ${formatThing(fee)}, above the maximum ${what} fee of ${formatThing(maxFee)}; nothing was sent`,
    );
  }
  return maxFee;
}

/** Ensures the manufacturer's fee credit covers `amount`, topping it up in one approveAndCall if needed. */
export async function ensureCredit(
  ctx: SystemContext,
  manufacturer: Signer,
  amount: bigint,
): Promise<{ gas: bigint; txs: number }> {
  const registry = registryAt(ctx);
  const account = await manufacturer.getAddress();
  const { credit } = await registry.getManufacturer(account);
  if (credit >= amount) return { gas: 0n, txs: 0 };
  const shortfall = amount - credit;
  const token = tokenAt(ctx, manufacturer);
  const balance = await token.balanceOf(account);
  if (balance < shortfall) {
    throw new UserError(
      `registration fees of ${formatThing(amount)} need ${formatThing(shortfall)} more than the credit of ${formatThing(credit)}, but ${account} holds ${formatThing(balance)}; nothing was sent`,
    );
  }
  const data = registry.interface.encodeFunctionData("depositFeeCredit", [account, shortfall]);
  const tx = await token.approveAndCall(ctx.addresses.DeviceRegistry, shortfall, data);
  return { gas: await gasOf(tx), txs: 1 };
}
