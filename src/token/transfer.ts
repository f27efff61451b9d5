import type { Signer } from "ethers";

import { tokenAt } from "../chain/context";
import type { SystemContext, SystemContract } from "../chain/context";
import { UserError } from "../errors";
import { formatThing } from "../units";

export interface BalanceResult {
  token: string;
  account: string;
  balance: bigint;
  formatted: string;
}

export async function balanceOf(ctx: SystemContext, account: string): Promise<BalanceResult> {
  const token = tokenAt(ctx);
  const balance = await token.balanceOf(account);
  return { token: await token.getAddress(), account, balance, formatted: formatThing(balance) };
}

export interface TransferResult {
  token: string;
  from: string;
  to: string;
  amount: bigint;
  txHash: string;
  gasUsed: bigint;
  balances: { from: bigint; to: bigint };
}

/** Where THING for each system contract goes instead of a plain transfer, which would trap it there. */
const INSTEAD: Record<SystemContract, string> = {
  ThingToken: "the token itself, which cannot send it back",
  DeviceRegistry: "the registry, which takes fees only through device:register",
  PaymentChannels: "the channels contract, which takes deposits only through channel:open or channel:topup",
  DeviceWalletFactory: "the wallet factory; fund a device wallet with wallet:fund",
};

/**
 * Sends `amount` THING from `from` to `to`. A transfer to one of the system's own contracts is refused
 * before sending: none of them can give back THING sent to it with a plain transfer.
 */
export async function transfer(ctx: SystemContext, from: Signer, to: string, amount: bigint): Promise<TransferResult> {
  const contract = (Object.keys(INSTEAD) as SystemContract[]).find(
    (name) => ctx.addresses[name].toLowerCase() === to.toLowerCase(),
  );
  if (contract !== undefined) {
    throw new UserError(`${to} is ${INSTEAD[contract]}: THING sent there would be trapped; nothing was sent`);
  }
  const token = tokenAt(ctx, from);
  const sender = await from.getAddress();
  const held = await token.balanceOf(sender);
  if (held < amount) {
    throw new UserError(`${sender} holds ${formatThing(held)}, less than the ${formatThing(amount)} to send`);
  }
  const tx = await token.transfer(to, amount);
  const receipt = await tx.wait();
  if (receipt === null || receipt.status !== 1) {
    throw new Error(`transfer ${tx.hash} failed`);
  }
  return {
    token: await token.getAddress(),
    from: sender,
    to,
    amount,
    txHash: tx.hash,
    gasUsed: receipt.gasUsed,
    balances: { from: await token.balanceOf(sender), to: await token.balanceOf(to) },
  };
}
