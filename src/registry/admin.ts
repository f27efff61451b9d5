import { ZeroAddress } from "ethers";
import type { Signer } from "ethers";

import { registryAt } from "../chain/context";
import type { SystemContext } from "../chain/context";
import { gasOf } from "../chain/time";
import { UserError } from "../errors";
import { formatThing } from "../units";

/** What a sent transaction cost, and which it was. */
interface Sent {
  gasUsed: bigint;
  txHash: string;
}

/** The registry's current admin (its owner, a two-step handover). */
async function requireAdmin(ctx: SystemContext, signer: Signer): Promise<string> {
  const me = await signer.getAddress();
  const admin = await registryAt(ctx).owner();
  if (admin !== me) throw new UserError(`${me} is not the network admin (${admin}); nothing was sent`);
  return me;
}

export type CreditWithdrawal = Sent & { id: number; account: string; payout: string; amount: bigint };

/**
 * A manufacturer (active or removed) withdraws its whole fee credit; the registry pays it to the
 * manufacturer's payout address.
 */
export async function withdrawFeeCredit(ctx: SystemContext, manufacturer: Signer): Promise<CreditWithdrawal> {
  const registry = registryAt(ctx, manufacturer);
  const account = await manufacturer.getAddress();
  const m = await registry.getManufacturer(account);
  if (m.id === 0n) throw new UserError(`${account} is not a manufacturer; nothing was sent`);
  if (m.credit === 0n) throw new UserError(`manufacturer #${m.id} (${account}) has no fee credit to withdraw`);
  const tx = await registry.withdrawFeeCredit();
  const gasUsed = await gasOf(tx);
  return { id: Number(m.id), account, payout: m.payout, amount: m.credit, gasUsed, txHash: tx.hash };
}

export type WhitelistClosure = Sent & { manufacturerId: number; root: string; used: number; unused: number };

/**
 * Closes a committed whitelist root (its manufacturer or the admin): devices not yet activated from it can
 * no longer register, and the unused capacity is released.
 */
/**
 * The manufacturer whose root `account` closes when none is named: its own, for an active manufacturer. The
 * admin closes any manufacturer's root, so it must name one.
 */
export async function closingManufacturerId(ctx: SystemContext, account: string): Promise<number> {
  const registry = registryAt(ctx);
  const m = await registry.getManufacturer(account);
  if (m.active) return Number(m.id);
  if ((await registry.owner()) === account) {
    throw new UserError(
      `${account} is the network admin, not a manufacturer: name the root's manufacturer with --manufacturer <id> (manufacturer:list shows the ids); nothing was sent`,
    );
  }
  throw new UserError(
    `${account} is neither an active manufacturer nor the network admin: only the root's manufacturer or the admin closes a whitelist; nothing was sent`,
  );
}

export async function closeWhitelist(
  ctx: SystemContext,
  signer: Signer,
  manufacturerId: number,
  root: string,
): Promise<WhitelistClosure> {
  const registry = registryAt(ctx, signer);
  const before = await registry.getWhitelist(manufacturerId, root);
  if (before.capacity === 0n) {
    throw new UserError(
      `whitelist root ${root} of manufacturer #${manufacturerId} is not open on "${ctx.network}" (never committed, or closed before any device used it)`,
    );
  }
  if (before.used === before.capacity) {
    throw new UserError(`whitelist root ${root} is already closed or full (${before.used} used); nothing to close`);
  }
  const tx = await registry.closeWhitelist(manufacturerId, root);
  const gasUsed = await gasOf(tx);
  const used = Number(before.used);
  return { manufacturerId, root, used, unused: Number(before.capacity) - used, gasUsed, txHash: tx.hash };
}

export interface Fees {
  registrationFee: bigint;
  activationFee: bigint;
}

export type FeeChange = Sent & { before: Fees; after: Fees };

/**
 * The admin sets the registration and activation fees (each within the contract's hard cap); a fee left
 * undefined keeps its current value. Roots already committed keep the activation fee they fixed.
 */
export async function setFees(ctx: SystemContext, admin: Signer, change: Partial<Fees>): Promise<FeeChange> {
  await requireAdmin(ctx, admin);
  const registry = registryAt(ctx, admin);
  const before = { registrationFee: await registry.registrationFee(), activationFee: await registry.activationFee() };
  const after = {
    registrationFee: change.registrationFee ?? before.registrationFee,
    activationFee: change.activationFee ?? before.activationFee,
  };
  const caps = {
    registrationFee: await registry.MAX_REGISTRATION_FEE(),
    activationFee: await registry.MAX_ACTIVATION_FEE(),
  };
  for (const which of ["registrationFee", "activationFee"] as const) {
    if (after[which] > caps[which]) {
      const name = which === "registrationFee" ? "registration" : "activation";
      throw new UserError(
        `a ${name} fee of ${formatThing(after[which])} is above the cap of ${formatThing(caps[which])}; nothing was sent`,
      );
    }
  }
  if (after.registrationFee === before.registrationFee && after.activationFee === before.activationFee) {
    throw new UserError(
      `the fees are already in force (registration ${formatThing(before.registrationFee)}, activation ${formatThing(before.activationFee)}): nothing sent`,
    );
  }
  const tx = await registry.setFees(after.registrationFee, after.activationFee);
  const gasUsed = await gasOf(tx);
  return { before, after, gasUsed, txHash: tx.hash };
}

export type AdminHandover = Sent & { admin: string; pendingAdmin: string };

/**
 * Step 1 of 2 of handing over the admin role (the registry is `Ownable2Step`): the admin names its
 * successor, who must accept; `ZeroAddress` cancels a pending handover. The admin keeps every power until
 * the acceptance.
 */
export async function proposeAdmin(ctx: SystemContext, admin: Signer, successor: string): Promise<AdminHandover> {
  const me = await requireAdmin(ctx, admin);
  if (successor === me) throw new UserError(`${successor} is already the network admin; nothing was sent`);
  const registry = registryAt(ctx, admin);
  if (successor === ZeroAddress && (await registry.pendingOwner()) === ZeroAddress) {
    throw new UserError("no admin handover is pending; nothing to cancel");
  }
  const tx = await registry.transferOwnership(successor);
  const gasUsed = await gasOf(tx);
  return { admin: me, pendingAdmin: await registry.pendingOwner(), gasUsed, txHash: tx.hash };
}

/** Step 2 of 2: the proposed successor accepts and becomes the admin; the old admin has no powers left. */
export async function acceptAdmin(ctx: SystemContext, successor: Signer): Promise<AdminHandover> {
  const registry = registryAt(ctx, successor);
  const me = await successor.getAddress();
  const pending = await registry.pendingOwner();
  if (pending !== me) {
    throw new UserError(
      pending === ZeroAddress
        ? `no admin handover is pending: the admin must run admin:transfer --to ${me} first`
        : `${me} is not the proposed admin (${pending} is); nothing was sent`,
    );
  }
  const tx = await registry.acceptOwnership();
  const gasUsed = await gasOf(tx);
  return { admin: await registry.owner(), pendingAdmin: ZeroAddress, gasUsed, txHash: tx.hash };
}
