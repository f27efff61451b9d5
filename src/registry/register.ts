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
import { ensureWritable } from "../cli/files";
import { UserError } from "../errors";
import { whitelistFiles, writeWhitelist } from "../merkle/whitelist";
import type { ProofFormat, WhitelistFiles } from "../merkle/whitelist";
import { ensureCredit, feeCeiling } from "./fees";
import { activeManufacturerId } from "./manufacturers";

interface CommonOptions {
  showProgress?: boolean;
  /** Aborted (a Ctrl-C): the batches stop after the one in flight, and a {@link UserError} says where. */
  signal?: AbortSignal;
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
  /** Where the whitelist goes (its other files beside it: {@link whitelistFiles}); default: whitelist.json. */
  whitelistOut?: string;
  /**
   * How its proofs are written (see {@link ProofFormat}); default: `json` up to {@link JSON_PROOFS_UP_TO}
   * devices, `tree` above (a JSON with every proof as hex is about 1.9 KB a device).
   */
  proofs?: ProofFormat;
  /** Overwrite whitelist files that exist (`--force`); without it they are refused before anything is done. */
  force?: boolean;
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
  proofs?: ProofFormat;
  whitelistFiles?: WhitelistFiles;
}

/** One registration run: who registers which devices, at what fee, with what ceiling on it. */
export interface Run {
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
  const { run, id } = await startRun(ctx, manufacturer, devices, options);
  return options.merkle ? commitRoot(run, id, options) : registerInBatches(run, options);
}

/**
 * What every registration (and its dry run) checks first: the signer is an active manufacturer, every device
 * is in its namespace, and the fee is within the ceiling.
 */
export async function startRun(
  ctx: SystemContext,
  manufacturer: Signer,
  devices: readonly FleetDevice[],
  options: RegisterOptions,
): Promise<{ run: Run; id: number }> {
  const account = await manufacturer.getAddress();
  const id = await activeManufacturerId(ctx, account);
  const foreign = devices.find((d) => manufacturerIdOf(d.deviceId) !== id);
  if (foreign !== undefined) {
    throw new UserError(
      `line ${foreign.line}: device "${foreign.uid}" has id ${foreign.deviceId}, outside manufacturer ${id}'s namespace; nothing was sent`,
    );
  }
  const metadata = devices.find((d) => d.metadataHash !== undefined);
  if (options.merkle && metadata !== undefined) {
    throw new UserError(
      `line ${metadata.line}: a Merkle whitelist cannot carry metadataHash (its leaf is id, key, type); drop the column, or register without --merkle to store it; nothing was written or sent`,
    );
  }
  const fee = await registryAt(ctx).registrationFee();
  const maxFee = feeCeiling("registration", fee, options.maxFee);
  const run = { ctx, manufacturer, devices, fee, maxFee, base: { manufacturer: account, devices: devices.length } };
  return { run, id };
}

/** The most devices whose whitelist is written with `json` proofs by default. */
export const JSON_PROOFS_UP_TO = 10_000;

async function commitRoot(run: Run, id: number, options: MerkleOptions): Promise<RegisterResult> {
  const { ctx, manufacturer, devices, fee, maxFee, base } = run;
  const registry = registryAt(ctx, manufacturer);
  const proofs = options.proofs ?? (devices.length <= JSON_PROOFS_UP_TO ? "json" : "tree");
  const files = whitelistFiles(options.whitelistOut ?? "whitelist.json", proofs);
  const maxActivationFee = feeCeiling("activation", await registry.activationFee(), options.maxActivationFee);
  // The files are built beside their places and moved there only once the root is committed (or was
  // already): a refused or failed run writes nothing.
  // (Only the files of the format are named: the ones it leaves out are not staged.)
  const staged = stagedFiles(files as Record<keyof WhitelistFiles, string>);
  try {
    const { root } = writeWhitelist(() => devices, id, staged.paths, proofs);
    // A re-run writes the same three files again (the same devices give the same root, byte for byte):
    // nothing is lost. Any other file in their places needs --force.
    if (whitelistRoot(files.json) !== root) {
      for (const file of Object.values(files)) {
        ensureWritable(file, { force: options.force ?? false, flag: "whitelist-out" });
      }
    }
    const result = { ...base, mode: "merkle" as const, root, proofs, whitelistFiles: files };
    if ((await registry.getWhitelist(id, root)).capacity > 0n) {
      staged.commit();
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
    stopIfInterrupted(options, "before anything was sent: no whitelist committed, nothing charged");
    const topUp = await ensureCredit(ctx, manufacturer, feesPaid);
    stopIfInterrupted(options, "after the fee credit top-up, before the commit: the root is not committed");
    const gas = await gasOf(await registry.commitWhitelist(maxFee, maxActivationFee, root, devices.length));
    staged.commit();
    return {
      ...result,
      registered: devices.length,
      skipped: 0,
      feesPaid,
      transactions: topUp.txs + 1,
      gasUsed: topUp.gas + gas,
    };
  } finally {
    staged.discard();
  }
}

/** The root an existing whitelist file names (it is near the start), or undefined. */
function whitelistRoot(file: string): string | undefined {
  if (!fs.existsSync(file)) return undefined;
  const fd = fs.openSync(file, "r");
  try {
    const head = Buffer.alloc(4096);
    const read = fs.readSync(fd, head, 0, head.length, 0);
    return /"root": "(0x[0-9a-f]{64})"/.exec(head.subarray(0, read).toString("utf8"))?.[1];
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Temporary paths beside `files` (a folder is created if needed): `commit` renames them over the real
 * ones, `discard` removes what was not committed (and a folder it created, if left empty).
 */
function stagedFiles<K extends string>(files: Record<K, string>) {
  const dir = path.dirname(path.resolve(Object.values<string>(files)[0]));
  const created = fs.mkdirSync(dir, { recursive: true });
  const suffix = `.tmp-${process.pid}-${Date.now()}`;
  const paths = Object.fromEntries(Object.entries<string>(files).map(([k, f]) => [k, `${f}${suffix}`])) as Record<
    K,
    string
  >;
  let committed = false;
  return {
    paths,
    commit() {
      for (const [k, f] of Object.entries<string>(files)) fs.renameSync(paths[k as K], f);
      committed = true;
    },
    discard() {
      if (committed) return;
      for (const f of Object.values<string>(paths)) fs.rmSync(f, { force: true });
      if (created !== undefined && fs.readdirSync(created).length === 0) fs.rmdirSync(created);
    },
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
  stopIfInterrupted(options, "before anything was sent: nothing registered, nothing charged");
  const topUp = pending.length > 0 ? await ensureCredit(ctx, manufacturer, feesPaid) : { gas: 0n, txs: 0 };
  let gasUsed = topUp.gas;
  let transactions = topUp.txs;
  const progress = new Progress("registering devices", pending.length, options.showProgress ?? true);
  let done = 0;
  try {
    for (const chunk of batchesOf(pending, options.batchSize)) {
      if (options.signal?.aborted === true)
        throw new UserError(
          `interrupted: ${done} of ${pending.length} devices registered, the rest not sent; re-run the same command to resume`,
        );
      gasUsed += await gasOf(await sendBatch(registry, maxFee, chunk));
      transactions++;
      done += chunk.length;
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

/** Throws the interruption's one line (Ctrl-C: `options.signal` aborted), saying `where` the run stopped. */
function stopIfInterrupted(options: CommonOptions, where: string): void {
  if (options.signal?.aborted === true) throw new UserError(`interrupted ${where}; re-run the same command to resume`);
}

/**
 * The transactions of a batch registration: devices without a metadata hash `size` a transaction, each
 * device with one in its own (the batch call stores no metadata; `registerDevice` does).
 */
export function batchesOf(pending: readonly FleetDevice[], size: number): FleetDevice[][] {
  const plain = pending.filter((d) => d.metadataHash === undefined);
  const batches: FleetDevice[][] = [];
  for (let i = 0; i < plain.length; i += size) batches.push(plain.slice(i, i + size));
  for (const d of pending) if (d.metadataHash !== undefined) batches.push([d]);
  return batches;
}

/** The calldata of one registration transaction ({@link sendBatch}'s), for an estimate. */
export function batchCalldata(registry: DeviceRegistry, maxFee: bigint, chunk: readonly FleetDevice[]): string {
  const [one] = chunk;
  return chunk.length === 1 && one.metadataHash !== undefined
    ? registry.interface.encodeFunctionData("registerDevice", [
        maxFee,
        one.deviceId,
        one.deviceKey,
        one.deviceType,
        one.metadataHash,
      ])
    : registry.interface.encodeFunctionData("registerDevices", [
        maxFee,
        chunk.map((d) => d.deviceId),
        chunk.map((d) => d.deviceKey),
        chunk.map((d) => d.deviceType),
      ]);
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
