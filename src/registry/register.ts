import fs from "node:fs";
import path from "node:path";

import type { Signer } from "ethers";

import { registryAt } from "../chain/context";
import type { SystemContext } from "../chain/context";
import type { DeviceRegistry } from "../../typechain-types";
import { gasOf } from "../chain/time";
import { Progress } from "../cli/progress";
import { manufacturerIdOf, statusesOf } from "../devices/fleet";
import type { FleetDevice } from "../devices/fleet";
import { UserError } from "../errors";
import { writeWhitelist } from "../merkle/whitelist";
import { ensureCredit, feeCeiling } from "./fees";
import { activeManufacturerId } from "./manufacturers";

interface CommonOptions {
  showProgress?: boolean;
  /** The most to pay per device; default: the current registration fee. */
  maxFee?: bigint;
}

/** Registers each device, `batchSize` a transaction. */
export interface BatchOptions extends CommonOptions {
  merkle: false;
  batchSize: number;
}

/** Commits one Merkle whitelist root; each device registers when it first presents its proof. */
export interface MerkleOptions extends CommonOptions {
  merkle: true;
  /** Where the whitelist with proofs goes (its .csv and .tree beside it); default: whitelist.json. */
  whitelistOut?: string;
  /** The highest activation fee to fix for the root's devices; default: the current activation fee. */
  maxActivationFee?: bigint;
}

export type RegisterOptions = BatchOptions | MerkleOptions;

export interface RegisterResult {
  manufacturer: string;
  mode: "batch" | "merkle";
  devices: number;
  registered: number;
  skipped: number;
  feesPaid: bigint;
  transactions: number;
  gasUsed: bigint;
  root?: string;
  whitelistFiles?: { json: string; csv: string; tree: string };
}

/** One registration run: who registers which devices, at what fee, with what ceiling on it. */
interface Run {
  ctx: SystemContext;
  manufacturer: Signer;
  devices: readonly FleetDevice[];
  fee: bigint;
  maxFee: bigint;
  base: Pick<RegisterResult, "manufacturer" | "devices">;
}

/**
 * Registers a fleet. Resumable: devices already registered are skipped, a committed whitelist root is
 * not committed again, so a re-run never charges twice. Fees are checked before anything is sent.
 */
export async function registerFleet(
  ctx: SystemContext,
  manufacturer: Signer,
  devices: readonly FleetDevice[],
  options: RegisterOptions,
): Promise<RegisterResult> {
  const account = await manufacturer.getAddress();
  const id = await activeManufacturerId(ctx, account);
  const foreign = devices.find((d) => manufacturerIdOf(d.deviceId) !== id);
  if (foreign !== undefined) {
    throw new UserError(
      `line ${foreign.line}: device "${foreign.uid}" has id ${foreign.deviceId}, outside manufacturer ${id}'s namespace; nothing was sent`,
    );
  }
  const fee = await registryAt(ctx).registrationFee();
  const maxFee = feeCeiling("registration", fee, options.maxFee);
  const run = { ctx, manufacturer, devices, fee, maxFee, base: { manufacturer: account, devices: devices.length } };
  return options.merkle ? commitRoot(run, id, options) : registerInBatches(run, options);
}

async function commitRoot(run: Run, id: number, options: MerkleOptions): Promise<RegisterResult> {
  const { ctx, manufacturer, devices, fee, maxFee, base } = run;
  const registry = registryAt(ctx, manufacturer);
  const maxActivationFee = feeCeiling("activation", await registry.activationFee(), options.maxActivationFee);
  const out = options.whitelistOut ?? "whitelist.json";
  const stem = out.replace(/\.json$/i, "");
  const files = { json: out, csv: `${stem}.csv`, tree: `${stem}.tree` };
  fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
  const { root } = writeWhitelist(() => devices, id, files);
  const result = { ...base, mode: "merkle" as const, root, whitelistFiles: files };
  if ((await registry.getWhitelist(id, root)).capacity > 0n) {
    return { ...result, registered: 0, skipped: devices.length, feesPaid: 0n, transactions: 0, gasUsed: 0n };
  }
  const known = await statusesOf(
    registry,
    devices.map((d) => d.deviceId),
  );
  const clash = devices.filter((_, i) => known[i] !== 0n);
  if (clash.length > 0) {
    throw new UserError(
      `line ${clash[0].line}: device "${clash[0].uid}" is already registered (${clash.length} in all); a whitelist must list new devices only`,
    );
  }
  const feesPaid = fee * BigInt(devices.length);
  const topUp = await ensureCredit(ctx, manufacturer, feesPaid);
  const gas = await gasOf(await registry.commitWhitelist(maxFee, maxActivationFee, root, devices.length));
  return {
    ...result,
    registered: devices.length,
    skipped: 0,
    feesPaid,
    transactions: topUp.txs + 1,
    gasUsed: topUp.gas + gas,
  };
}

async function registerInBatches(run: Run, options: BatchOptions): Promise<RegisterResult> {
  const { ctx, manufacturer, devices, fee, maxFee, base } = run;
  const registry = registryAt(ctx, manufacturer);
  const known = await statusesOf(
    registry,
    devices.map((d) => d.deviceId),
  );
  const pending = devices.filter((_, i) => known[i] === 0n);
  const feesPaid = fee * BigInt(pending.length);
  const topUp = pending.length > 0 ? await ensureCredit(ctx, manufacturer, feesPaid) : { gas: 0n, txs: 0 };
  let gasUsed = topUp.gas;
  let transactions = topUp.txs;
  const progress = new Progress("registering devices", pending.length, options.showProgress ?? true);
  let done = 0;
  try {
    for (let i = 0; i < pending.length; i += options.batchSize) {
      const chunk = pending.slice(i, i + options.batchSize);
      gasUsed += await gasOf(await sendBatch(registry, maxFee, chunk));
      transactions++;
      done = i + chunk.length;
      progress.update(done);
    }
  } catch (error) {
    // Registered batches stay registered (and paid); a re-run skips them and goes on from here.
    progress.stop(`interrupted after ${done} of ${pending.length} devices; re-run to resume`);
    throw error;
  }
  const skipped = devices.length - pending.length;
  return { ...base, mode: "batch", registered: pending.length, skipped, feesPaid, transactions, gasUsed };
}

/** One registration transaction: a single device with its metadata hash, or a batch. */
function sendBatch(registry: DeviceRegistry, maxFee: bigint, chunk: readonly FleetDevice[]) {
  const [one] = chunk;
  return chunk.length === 1 && one.metadataHash !== undefined
    ? registry.registerDevice(maxFee, one.deviceId, one.deviceKey, one.deviceType, one.metadataHash)
    : registry.registerDevices(
        maxFee,
        chunk.map((d) => d.deviceId),
        chunk.map((d) => d.deviceKey),
        chunk.map((d) => d.deviceType),
      );
}
