import fs from "node:fs";
import path from "node:path";

import type { Signer } from "ethers";
import { Wallet } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types";

import { DeviceRegistry__factory, ThingToken__factory } from "../typechain-types";
import type { DeviceRegistry, ThingToken } from "../typechain-types";
import { chainTime, gasOf } from "./chain/time";
import { Progress } from "./cli/progress";
import { loadSystem } from "../tasks/support/deployments";
import type { FleetDevice } from "./devices/fleet";
import { deviceIdOf, manufacturerIdOf, resolveDeviceId, writeFleetFiles } from "./devices/fleet";
import { keystoreFile, loadDeviceKey, randomDeviceKey, saveDeviceKey } from "./devices/keystore";
import { DEVICE_TYPES, deviceTypeName } from "./devices/types";
import { compact, identityClaimDigest, signActivation, signIdentityClaim, signKeyRotation } from "./eip712/device";
import { readDomain } from "./eip712/domain";
import { UserError } from "./errors";
import { writeWhitelist } from "./merkle/whitelist";
import type { Whitelist } from "./merkle/whitelist";
import { formatThing } from "./units";

export const STATUS_NAMES = ["unknown", "registered", "active", "revoked"] as const;
export type StatusName = (typeof STATUS_NAMES)[number];

export interface RegistryContext {
  registry: DeviceRegistry;
  token: ThingToken;
  address: string;
  chainId: bigint;
}

export async function connectRegistry(hre: HardhatRuntimeEnvironment, runner?: Signer): Promise<RegistryContext> {
  const system = await loadSystem(hre, ["ThingToken", "DeviceRegistry"]);
  const r = runner ?? hre.ethers.provider;
  return {
    registry: DeviceRegistry__factory.connect(system.addresses.DeviceRegistry, r),
    token: ThingToken__factory.connect(system.addresses.ThingToken, r),
    address: system.addresses.DeviceRegistry,
    chainId: system.chainId,
  };
}

// ------------------------------------------------------------------ manufacturers

export interface ManufacturerInfo {
  id: number;
  account: string;
  payout: string;
  defaultScore: number;
  active: boolean;
  credit: bigint;
}

export async function addManufacturer(
  hre: HardhatRuntimeEnvironment,
  admin: Signer,
  account: string,
  payout: string,
  defaultScore: number,
): Promise<ManufacturerInfo & { gasUsed: bigint; txHash: string }> {
  const { registry } = await connectRegistry(hre, admin);
  const adminAddress = await admin.getAddress();
  const networkAdmin = await registry.owner();
  if (networkAdmin !== adminAddress) {
    throw new UserError(
      `${adminAddress} is not the network admin (${networkAdmin}); pick the admin's account with --signer`,
    );
  }
  if (defaultScore > 1000) throw new UserError(`--score: ${defaultScore} is above 1000`);
  const existing = await registry.getManufacturer(account);
  if (existing.active) throw new UserError(`${account} is already an active manufacturer (id ${existing.id})`);
  const tx = await registry.addManufacturer(account, payout, defaultScore);
  const gasUsed = await gasOf(tx);
  return { ...(await manufacturerInfo(registry, account)), gasUsed, txHash: tx.hash };
}

export async function removeManufacturer(
  hre: HardhatRuntimeEnvironment,
  admin: Signer,
  account: string,
): Promise<ManufacturerInfo & { gasUsed: bigint; txHash: string }> {
  const { registry } = await connectRegistry(hre, admin);
  const adminAddress = await admin.getAddress();
  if ((await registry.owner()) !== adminAddress) throw new UserError(`${adminAddress} is not the network admin`);
  const existing = await registry.getManufacturer(account);
  if (!existing.active) throw new UserError(`${account} is not an active manufacturer`);
  const tx = await registry.removeManufacturer(account);
  const gasUsed = await gasOf(tx);
  return { ...(await manufacturerInfo(registry, account)), gasUsed, txHash: tx.hash };
}

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

/** The manufacturer id of `account`, which must be an active manufacturer (its namespace for device ids). */
export async function activeManufacturerId(hre: HardhatRuntimeEnvironment, account: string): Promise<number> {
  const { registry } = await connectRegistry(hre);
  const m = await registry.getManufacturer(account);
  if (!m.active) {
    throw new UserError(`${account} is not an active manufacturer: the network admin must run manufacturer:add first`);
  }
  return Number(m.id);
}

/**
 * A device named by its 0x id or its raw unique id (see `resolveDeviceId`): a raw id is looked up in the
 * keystores of `keystoreDir`, else among the registry's manufacturers.
 */
export async function resolveDevice(
  hre: HardhatRuntimeEnvironment,
  value: string,
  keystoreDir?: string,
): Promise<string> {
  const { registry } = await connectRegistry(hre);
  return resolveDeviceId(value, { keystoreDir, registry });
}

/** Reverts early, before anything is sent, when a fee is above what the user consented to with --max-fee. */
function checkMaxFee(what: string, fee: bigint, maxFee: bigint | undefined, flag = "--max-fee"): bigint {
  if (maxFee === undefined) return fee;
  if (fee > maxFee) {
    throw new UserError(
      `the ${what} fee is ${formatThing(fee)}, above ${flag} ${formatThing(maxFee)}; nothing was sent`,
    );
  }
  return maxFee;
}

export async function listManufacturers(hre: HardhatRuntimeEnvironment): Promise<ManufacturerInfo[]> {
  const { registry } = await connectRegistry(hre);
  const count = Number(await registry.manufacturerCount());
  const out: ManufacturerInfo[] = [];
  for (let id = 1; id <= count; id++) {
    out.push(await manufacturerInfo(registry, await registry.manufacturerAccount(id)));
  }
  return out;
}

// ------------------------------------------------------------------ simulated devices

export interface GeneratedFleet {
  count: number;
  csv: string;
  json: string;
  keystoreDir: string;
  devices: { uid: string; deviceId: string; deviceKey: string; deviceType: number }[];
}

/**
 * Generates `count` simulated devices of manufacturer `manufacturerId` (their ids are in its namespace): a
 * unique id, a fresh secp256k1 key and a type each. Writes the fleet file (public data only) and one
 * encrypted keystore per device under `outDir/keystore`.
 */
export function generateFleet(
  manufacturerId: number,
  count: number,
  outDir: string,
  password: string,
  deviceType?: number,
  showProgress = true,
): GeneratedFleet {
  const keystoreDir = path.join(outDir, "keystore");
  const types = Object.keys(DEVICE_TYPES).map(Number);
  const progress = new Progress("generating devices", count, showProgress);
  const devices: Omit<FleetDevice, "line">[] = [];
  for (let i = 0; i < count; i++) {
    const wallet = randomDeviceKey();
    const uid = `TL-${wallet.address.slice(2, 10).toUpperCase()}-${String(i + 1).padStart(6, "0")}`;
    const deviceId = deviceIdOf(manufacturerId, uid);
    saveDeviceKey(keystoreDir, { uid, deviceId }, new Wallet(wallet.privateKey), password);
    devices.push({
      uid,
      deviceId,
      publicKey: wallet.signingKey.publicKey,
      deviceKey: wallet.address,
      deviceType: deviceType ?? types[i % types.length],
    });
    progress.update(i + 1);
  }
  const files = writeFleetFiles(outDir, devices);
  return {
    count,
    ...files,
    keystoreDir,
    devices: devices.map((d) => ({
      uid: d.uid,
      deviceId: d.deviceId,
      deviceKey: d.deviceKey,
      deviceType: d.deviceType,
    })),
  };
}

// ------------------------------------------------------------------ registration

export interface RegisterOptions {
  merkle: boolean;
  batchSize: number;
  whitelistOut?: string;
  showProgress?: boolean;
  /** The most to pay per device (--max-fee); default: the current registration fee. */
  maxFee?: bigint;
  /** Merkle mode: the highest activation fee to fix for the root's devices (--max-activation-fee); default:
   * the current activation fee. */
  maxActivationFee?: bigint;
}

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

/** Ensures the manufacturer's credit covers `amount`, topping it up in one approveAndCall if needed. */
async function ensureCredit(
  ctx: RegistryContext,
  manufacturer: Signer,
  amount: bigint,
): Promise<{ gas: bigint; txs: number }> {
  const account = await manufacturer.getAddress();
  const { credit } = await ctx.registry.getManufacturer(account);
  if (credit >= amount) return { gas: 0n, txs: 0 };
  const shortfall = amount - credit;
  const balance = await ctx.token.balanceOf(account);
  if (balance < shortfall) {
    throw new UserError(
      `registration fees of ${formatThing(amount)} need ${formatThing(shortfall)} more than the credit of ${formatThing(credit)}, but ${account} holds ${formatThing(balance)}; nothing was sent`,
    );
  }
  const data = ctx.registry.interface.encodeFunctionData("depositFeeCredit", [account, shortfall]);
  const tx = await ctx.token.connect(manufacturer).approveAndCall(ctx.address, shortfall, data);
  return { gas: await gasOf(tx), txs: 1 };
}

async function statuses(registry: DeviceRegistry, ids: readonly string[]): Promise<bigint[]> {
  const out: bigint[] = [];
  for (let i = 0; i < ids.length; i += 500) {
    out.push(...(await registry.getStatuses(ids.slice(i, i + 500))));
  }
  return out;
}

/**
 * Registers a fleet. Resumable: devices already registered are skipped, a committed whitelist root is
 * not committed again, so a re-run never charges twice. Fees are checked before anything is sent.
 */
export async function registerFleet(
  hre: HardhatRuntimeEnvironment,
  manufacturer: Signer,
  devices: readonly FleetDevice[],
  options: RegisterOptions,
): Promise<RegisterResult> {
  const ctx = await connectRegistry(hre, manufacturer);
  const account = await manufacturer.getAddress();
  const m = await ctx.registry.getManufacturer(account);
  if (!m.active) {
    throw new UserError(`${account} is not an active manufacturer: the network admin must run manufacturer:add first`);
  }
  const foreign = devices.find((d) => manufacturerIdOf(d.deviceId) !== Number(m.id));
  if (foreign !== undefined) {
    throw new UserError(
      `line ${foreign.line}: device "${foreign.uid}" has id ${foreign.deviceId}, outside manufacturer ${m.id}'s namespace; nothing was sent`,
    );
  }
  const fee = await ctx.registry.registrationFee();
  const maxFee = checkMaxFee("registration", fee, options.maxFee);
  if (!options.merkle && options.maxActivationFee !== undefined) {
    throw new UserError("--max-activation-fee applies to --merkle only (a whitelist root fixes its activation fee)");
  }
  const maxActivationFee = options.merkle
    ? checkMaxFee("activation", await ctx.registry.activationFee(), options.maxActivationFee, "--max-activation-fee")
    : 0n;
  const base = { manufacturer: account, devices: devices.length };
  if (options.merkle) {
    const out = options.whitelistOut ?? "whitelist.json";
    const stem = out.replace(/\.json$/i, "");
    const files = { json: out, csv: `${stem}.csv`, tree: `${stem}.tree` };
    fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
    const whitelist = writeWhitelist(() => devices, Number(m.id), files);
    const committed = await ctx.registry.getWhitelist(m.id, whitelist.root);
    if (committed.capacity > 0n) {
      return {
        ...base,
        mode: "merkle",
        registered: 0,
        skipped: devices.length,
        feesPaid: 0n,
        transactions: 0,
        gasUsed: 0n,
        root: whitelist.root,
        whitelistFiles: files,
      };
    }
    const known = await statuses(
      ctx.registry,
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
    const tx = await ctx.registry.commitWhitelist(maxFee, maxActivationFee, whitelist.root, devices.length);
    const gas = await gasOf(tx);
    return {
      ...base,
      mode: "merkle",
      registered: devices.length,
      skipped: 0,
      feesPaid,
      transactions: topUp.txs + 1,
      gasUsed: topUp.gas + gas,
      root: whitelist.root,
      whitelistFiles: files,
    };
  }

  const known = await statuses(
    ctx.registry,
    devices.map((d) => d.deviceId),
  );
  const pending = devices.filter((_, i) => known[i] === 0n);
  const feesPaid = fee * BigInt(pending.length);
  const topUp = pending.length > 0 ? await ensureCredit(ctx, manufacturer, feesPaid) : { gas: 0n, txs: 0 };
  let gasUsed = topUp.gas;
  let transactions = topUp.txs;
  const progress = new Progress("registering devices", pending.length, options.showProgress ?? true);
  for (let i = 0; i < pending.length; i += options.batchSize) {
    const chunk = pending.slice(i, i + options.batchSize);
    const tx =
      chunk.length === 1 && chunk[0].metadataHash !== undefined
        ? await ctx.registry.registerDevice(
            maxFee,
            chunk[0].deviceId,
            chunk[0].deviceKey,
            chunk[0].deviceType,
            chunk[0].metadataHash,
          )
        : await ctx.registry.registerDevices(
            maxFee,
            chunk.map((d) => d.deviceId),
            chunk.map((d) => d.deviceKey),
            chunk.map((d) => d.deviceType),
          );
    gasUsed += await gasOf(tx);
    transactions++;
    progress.update(i + chunk.length);
  }
  return {
    ...base,
    mode: "batch",
    registered: pending.length,
    skipped: devices.length - pending.length,
    feesPaid,
    transactions,
    gasUsed,
  };
}

// ------------------------------------------------------------------ activation and lifecycle

export interface DeviceInfo {
  deviceId: string;
  status: StatusName;
  manufacturerId: number;
  manufacturer: string;
  owner: string;
  deviceKey: string;
  deviceType: number;
  deviceTypeName: string;
  metadataHash: string;
  score: number;
  trend: number;
}

export async function deviceStatus(hre: HardhatRuntimeEnvironment, deviceId: string): Promise<DeviceInfo> {
  const { registry } = await connectRegistry(hre);
  const v = await registry.getDevice(deviceId);
  return {
    deviceId,
    status: STATUS_NAMES[Number(v.status)],
    manufacturerId: Number(v.manufacturerId),
    manufacturer: v.manufacturer,
    owner: v.owner,
    deviceKey: v.deviceKey,
    deviceType: Number(v.deviceType),
    deviceTypeName: deviceTypeName(v.deviceType),
    metadataHash: v.metadataHash,
    score: Number(v.score),
    trend: Number(v.trend),
  };
}

function readWhitelist(file: string): Whitelist {
  if (!fs.existsSync(file)) throw new UserError(`whitelist file ${file} does not exist`);
  try {
    const w = JSON.parse(fs.readFileSync(file, "utf8")) as Whitelist;
    if (w.kind !== "thingledger/whitelist") throw new Error("not a ThingLedger whitelist");
    return w;
  } catch (error) {
    throw new UserError(`${file}: ${(error as Error).message}`);
  }
}

export interface ActivateResult {
  deviceId: string;
  owner: string;
  fromWhitelist: boolean;
  feePaid: bigint;
  gasUsed: bigint;
  txHash: string;
}

/**
 * The device (its keystore) signs `Activate(deviceId, owner, deadline)`; the owner submits it, paying the
 * fee in the same transaction through approveAndCall. A device not yet registered is registered from its
 * whitelist proof when `whitelistFile` is given. The fee is the device's (a whitelist root's fixed fee, or
 * the current one); `maxFee` (--max-fee) is the most the owner consents to, by default that fee.
 */
export async function activate(
  hre: HardhatRuntimeEnvironment,
  owner: Signer,
  device: Wallet,
  deviceId: string,
  whitelistFile?: string,
  maxFee?: bigint,
): Promise<ActivateResult> {
  const ctx = await connectRegistry(hre, owner);
  const ownerAddress = await owner.getAddress();
  const info = await deviceStatus(hre, deviceId);
  const deadline = (await chainTime(hre.ethers.provider)) + 3600n;
  const signature = await signActivation(device, await readDomain(ctx.registry), {
    deviceId,
    owner: ownerAddress,
    deadline,
  });
  let data: string;
  let fee: bigint;
  if (info.status === "unknown") {
    if (whitelistFile === undefined) {
      throw new UserError(
        `device ${deviceId} is not registered; pass --whitelist FILE if it is in a committed whitelist`,
      );
    }
    const whitelist = readWhitelist(whitelistFile);
    const entry = whitelist.entries.find((e) => e.deviceId.toLowerCase() === deviceId.toLowerCase());
    if (entry === undefined) throw new UserError(`device ${deviceId} is not in the whitelist ${whitelistFile}`);
    if (entry.deviceKey !== device.address) {
      throw new UserError(`the keystore's key ${device.address} is not the whitelisted key ${entry.deviceKey}`);
    }
    const committed = await ctx.registry.getWhitelist(manufacturerIdOf(deviceId), whitelist.root);
    if (committed.capacity === 0n)
      throw new UserError(`whitelist root ${whitelist.root} is not committed on this network`);
    if (committed.used >= committed.capacity)
      throw new UserError(`whitelist root ${whitelist.root} has no capacity left`);
    fee = committed.activationFee;
    data = ctx.registry.interface.encodeFunctionData("activateFromWhitelist", [
      checkMaxFee("activation", fee, maxFee),
      whitelist.root,
      entry.deviceId,
      entry.deviceType,
      entry.proof,
      ownerAddress,
      deadline,
      ...compact(signature),
    ]);
  } else {
    if (info.status !== "registered")
      throw new UserError(`device ${deviceId} is ${info.status}, not waiting for activation`);
    if (info.deviceKey !== device.address) {
      throw new UserError(`the keystore's key ${device.address} is not the registered key ${info.deviceKey}`);
    }
    fee = await ctx.registry.activationFeeOf(deviceId);
    data = ctx.registry.interface.encodeFunctionData("activateDevice", [
      checkMaxFee("activation", fee, maxFee),
      deviceId,
      ownerAddress,
      deadline,
      ...compact(signature),
    ]);
  }
  const balance = await ctx.token.balanceOf(ownerAddress);
  if (balance < fee) {
    throw new UserError(
      `the activation fee is ${formatThing(fee)} but the owner ${ownerAddress} holds ${formatThing(balance)}`,
    );
  }
  // With a standing allowance the owner calls the registry directly (cheapest); otherwise one
  // approveAndCall approves the fee and calls the registry, which learns the real payer from the token.
  const allowance = await ctx.token.allowance(ownerAddress, ctx.address);
  const tx =
    allowance >= fee
      ? await owner.sendTransaction({ to: ctx.address, data })
      : await ctx.token.approveAndCall(ctx.address, fee, data);
  const gasUsed = await gasOf(tx);
  return {
    deviceId,
    owner: ownerAddress,
    fromWhitelist: info.status === "unknown",
    feePaid: fee,
    gasUsed,
    txHash: tx.hash,
  };
}

export interface ValidateResult extends DeviceInfo {
  valid: boolean;
  challenge?: string;
  claimValid?: boolean;
}

/** Validates a device: its record, and, with a challenge, a fresh identity claim signed by its key. */
export async function validate(
  hre: HardhatRuntimeEnvironment,
  deviceId: string,
  claim?: { challenge: string; device: Wallet },
): Promise<ValidateResult> {
  const info = await deviceStatus(hre, deviceId);
  const result: ValidateResult = { ...info, valid: info.status === "active" };
  if (claim !== undefined) {
    const ctx = await connectRegistry(hre);
    const domain = await readDomain(ctx.registry);
    const message = { deviceId, challenge: claim.challenge };
    const signature = await signIdentityClaim(claim.device, domain, message);
    result.challenge = claim.challenge;
    result.claimValid = await ctx.registry.isValidDeviceSignature(
      deviceId,
      identityClaimDigest(domain, message),
      signature,
    );
    result.valid = result.valid && result.claimValid;
  }
  return result;
}

export async function transferDevice(
  hre: HardhatRuntimeEnvironment,
  owner: Signer,
  deviceId: string,
  to: string,
): Promise<{ deviceId: string; from: string; to: string; gasUsed: bigint; txHash: string }> {
  const { registry } = await connectRegistry(hre, owner);
  const info = await deviceStatus(hre, deviceId);
  const from = await owner.getAddress();
  if (info.status !== "active")
    throw new UserError(`device ${deviceId} is ${info.status}; only active devices can be transferred`);
  if (info.owner !== from) throw new UserError(`${from} does not own device ${deviceId} (its owner is ${info.owner})`);
  const tx = await registry.transferDevice(deviceId, to);
  return { deviceId, from, to, gasUsed: await gasOf(tx), txHash: tx.hash };
}

export async function revokeDevice(
  hre: HardhatRuntimeEnvironment,
  signer: Signer,
  deviceId: string,
  reason: number,
): Promise<{ deviceId: string; by: string; reason: number; gasUsed: bigint; txHash: string }> {
  const { registry } = await connectRegistry(hre, signer);
  const info = await deviceStatus(hre, deviceId);
  const by = await signer.getAddress();
  if (info.status === "unknown") throw new UserError(`device ${deviceId} is not registered`);
  if (info.status === "revoked") throw new UserError(`device ${deviceId} is already revoked`);
  if (by !== (await registry.owner())) {
    if (by !== info.manufacturer) {
      throw new UserError(`${by} is neither the device's manufacturer (${info.manufacturer}) nor the network admin`);
    }
    if (!(await registry.getManufacturer(by)).active) {
      throw new UserError(`${by} was removed as a manufacturer: only the network admin can revoke its devices now`);
    }
  }
  const tx = await registry.revokeDevice(deviceId, reason);
  return { deviceId, by, reason, gasUsed: await gasOf(tx), txHash: tx.hash };
}

/**
 * Rotates a device's key: a fresh key signs its consent, the owner submits, and only after the rotation
 * is on chain is the device's keystore replaced (the old one is kept as `<file>.old`).
 */
export async function rotateKey(
  hre: HardhatRuntimeEnvironment,
  owner: Signer,
  deviceId: string,
  keystoreDir: string,
  password: string,
): Promise<{ deviceId: string; oldKey: string; newKey: string; gasUsed: bigint; txHash: string }> {
  const ctx = await connectRegistry(hre, owner);
  const info = await deviceStatus(hre, deviceId);
  const ownerAddress = await owner.getAddress();
  if (info.status !== "active")
    throw new UserError(`device ${deviceId} is ${info.status}; only active devices rotate keys`);
  if (info.owner !== ownerAddress) throw new UserError(`${ownerAddress} does not own device ${deviceId}`);
  const { meta } = loadDeviceKey(keystoreDir, deviceId, password);
  const fresh = randomDeviceKey();
  const nonce = await ctx.registry.keyNonce(deviceId);
  const deadline = (await chainTime(hre.ethers.provider)) + 3600n;
  const signature = await signKeyRotation(fresh, await readDomain(ctx.registry), {
    deviceId,
    newKey: fresh.address,
    nonce,
    deadline,
  });
  const tx = await ctx.registry.rotateDeviceKey(deviceId, fresh.address, deadline, ...compact(signature));
  const gasUsed = await gasOf(tx);
  const file = keystoreFile(keystoreDir, deviceId);
  fs.copyFileSync(file, `${file}.old`);
  saveDeviceKey(keystoreDir, meta, new Wallet(fresh.privateKey), password);
  return { deviceId, oldKey: info.deviceKey, newKey: fresh.address, gasUsed, txHash: tx.hash };
}
