import type { Signer } from "ethers";
import { ZeroAddress } from "ethers";

import { registryAt } from "../chain/context";
import type { SystemContext } from "../chain/context";
import { gasOf } from "../chain/time";
import { UserError } from "../errors";

/**
 * The two steps that move a manufacturer to a new account (its key rotation): the current account proposes,
 * the new account accepts. The id, credit, payout, default score, devices and whitelists follow the id; the
 * old account loses every power. Every refusal the registry would make is checked first and reported in one
 * line, before a transaction is sent.
 */
export interface AccountProposal {
  id: number;
  account: string;
  /** The proposed account; the zero address when the pending proposal was cancelled. */
  newAccount: string;
  gasUsed: bigint;
  txHash: string;
}

export interface AccountChange {
  id: number;
  oldAccount: string;
  newAccount: string;
  payout: string;
  credit: bigint;
  gasUsed: bigint;
  txHash: string;
}

/** The active manufacturer `manufacturer` proposes `newAccount` (or, with the zero address, cancels). */
export async function proposeManufacturerAccount(
  ctx: SystemContext,
  manufacturer: Signer,
  newAccount: string,
): Promise<AccountProposal> {
  const registry = registryAt(ctx, manufacturer);
  const account = await manufacturer.getAddress();
  const current = await registry.getManufacturer(account);
  if (!current.active) {
    throw new UserError(
      current.id === 0n
        ? `${account} is not a manufacturer`
        : `${account} (manufacturer #${current.id}) was removed; only an active manufacturer moves its account`,
    );
  }
  if (newAccount !== ZeroAddress) {
    const taken = await registry.getManufacturer(newAccount);
    if (taken.id !== 0n) {
      throw new UserError(
        `${newAccount} is already manufacturer #${taken.id}${taken.active ? "" : " (removed)"}; propose an account with no manufacturer record`,
      );
    }
  }
  const tx = await registry.proposeManufacturerAccount(newAccount);
  const gasUsed = await gasOf(tx);
  return { id: Number(current.id), account, newAccount, gasUsed, txHash: tx.hash };
}

/** The proposed account `newAccount` takes over manufacturer `id`. */
export async function acceptManufacturerAccount(
  ctx: SystemContext,
  newAccount: Signer,
  id: number,
): Promise<AccountChange> {
  const registry = registryAt(ctx, newAccount);
  const address = await newAccount.getAddress();
  const pending = id === 0 ? ZeroAddress : await registry.pendingManufacturerAccount(id);
  if (pending === ZeroAddress) {
    throw new UserError(
      `manufacturer #${id} has no pending account change; its account runs manufacturer:propose-account first`,
    );
  }
  if (pending !== address) {
    throw new UserError(`${address} is not the account proposed for manufacturer #${id} (${pending} is)`);
  }
  const taken = await registry.getManufacturer(address);
  if (taken.id !== 0n) {
    throw new UserError(
      `${address} became manufacturer #${taken.id} since the proposal, so it cannot take over #${id}`,
    );
  }
  const oldAccount = await registry.manufacturerAccount(id);
  const tx = await registry.acceptManufacturerAccount(id);
  const gasUsed = await gasOf(tx);
  const m = await registry.getManufacturer(address);
  return { id, oldAccount, newAccount: address, payout: m.payout, credit: m.credit, gasUsed, txHash: tx.hash };
}
