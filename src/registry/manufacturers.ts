import type { Signer } from "ethers";

import type { DeviceRegistry } from "../../typechain-types";
import { registryAt } from "../chain/context";
import type { SystemContext } from "../chain/context";
import { gasOf } from "../chain/time";
import { UserError } from "../errors";

/** The highest reputation score, and so the highest default score of a manufacturer's devices. */
export const MAX_SCORE = 1000;

export interface ManufacturerInfo {
  id: number;
  account: string;
  payout: string;
  defaultScore: number;
  active: boolean;
  credit: bigint;
}

export type ManufacturerChange = ManufacturerInfo & { gasUsed: bigint; txHash: string };

async function manufacturerInfo(registry: DeviceRegistry, account: string): Promise<ManufacturerInfo> {
  const m = await registry.getManufacturer(account);
  return {
    id: Number(m.id),
    account: m.account,
    payout: m.payout,
    defaultScore: Number(m.defaultScore),
    active: m.active,
    credit: m.credit,
  };
}

/** The registry connected to `admin`, which must be the network admin. */
async function asAdmin(ctx: SystemContext, admin: Signer): Promise<DeviceRegistry> {
  const registry = registryAt(ctx, admin);
  const adminAddress = await admin.getAddress();
  const networkAdmin = await registry.owner();
  if (networkAdmin !== adminAddress) {
    throw new UserError(`${adminAddress} is not the network admin (${networkAdmin})`);
  }
  return registry;
}

/** The network admin admits `account` as a manufacturer, its fee credit withdrawable to `payout`. */
export async function addManufacturer(
  ctx: SystemContext,
  admin: Signer,
  account: string,
  payout: string,
  defaultScore: number,
): Promise<ManufacturerChange> {
  const registry = await asAdmin(ctx, admin);
  if (defaultScore > MAX_SCORE) throw new UserError(`a default score of ${defaultScore} is above ${MAX_SCORE}`);
  const existing = await registry.getManufacturer(account);
  if (existing.active) throw new UserError(`${account} is already an active manufacturer (id ${existing.id})`);
  const tx = await registry.addManufacturer(account, payout, defaultScore);
  const gasUsed = await gasOf(tx);
  return { ...(await manufacturerInfo(registry, account)), gasUsed, txHash: tx.hash };
}

/** The network admin removes a manufacturer; its devices and its credit stay. */
export async function removeManufacturer(
  ctx: SystemContext,
  admin: Signer,
  account: string,
): Promise<ManufacturerChange> {
  const registry = await asAdmin(ctx, admin);
  const existing = await registry.getManufacturer(account);
  if (!existing.active) throw new UserError(`${account} is not an active manufacturer`);
  const tx = await registry.removeManufacturer(account);
  const gasUsed = await gasOf(tx);
  return { ...(await manufacturerInfo(registry, account)), gasUsed, txHash: tx.hash };
}

/** The manufacturer id of `account`, which must be an active manufacturer (its namespace for device ids). */
export async function activeManufacturerId(ctx: SystemContext, account: string): Promise<number> {
  const m = await registryAt(ctx).getManufacturer(account);
  if (!m.active) {
    throw new UserError(`${account} is not an active manufacturer: the network admin must run manufacturer:add first`);
  }
  return Number(m.id);
}

/** Every manufacturer ever admitted, by id, removed ones included. */
export async function listManufacturers(ctx: SystemContext): Promise<ManufacturerInfo[]> {
  const registry = registryAt(ctx);
  const count = Number(await registry.manufacturerCount());
  const out: ManufacturerInfo[] = [];
  for (let id = 1; id <= count; id++) {
    out.push(await manufacturerInfo(registry, await registry.manufacturerAccount(id)));
  }
  return out;
}
