import type { Signer, Wallet } from "ethers";

import { registryAt, tokenAt } from "../chain/context";
import type { SystemContext } from "../chain/context";
import { gasOf, nextBlockTime } from "../chain/time";
import { readJsonFile } from "../cli/json";
import { manufacturerIdOf } from "../devices/fleet";
import { compact, signActivation } from "../eip712/device";
import { UserError } from "../errors";
import { treeWhitelistEntry } from "../merkle/lookup";
import type { Whitelist, WhitelistEntry, WhitelistManifest } from "../merkle/whitelist";
import { formatThing } from "../units";
import { registryDomain } from "./domain";
import { feeCeiling } from "./fees";
import { costPreview } from "./preview";
import type { CostPreview } from "../cli/preview";
import { deviceStatus } from "./status";
import type { DeviceInfo } from "./status";

export interface ActivateResult {
  deviceId: string;
  owner: string;
  fromWhitelist: boolean;
  feePaid: bigint;
  gasUsed: bigint;
  txHash: string;
}

/** What an activation sends to the registry, and the fee it pays. */
interface ActivationCall {
  data: string;
  fee: bigint;
}

/** The device's consent: `Activate(deviceId, owner, deadline)`, signed by its key. */
interface Consent {
  owner: string;
  deadline: bigint;
  signature: string;
}

/**
 * A device's entry in a whitelist file written by a Merkle registration, and the whitelist's root: from
 * the JSON's entries (`--proofs json`), or by index from its tree and device files (`--proofs tree`).
 */
function whitelistEntry(file: string, deviceId: string): { root: string; entry?: WhitelistEntry } {
  const whitelist = readJsonFile(file, "a whitelist with proofs (device:register --merkle)") as
    Whitelist | WhitelistManifest | null;
  if (whitelist?.kind !== "thingledger/whitelist") throw new UserError(`${file} is not a ThingLedger whitelist`);
  if ("entries" in whitelist && Array.isArray(whitelist.entries)) {
    const entry = whitelist.entries.find((e) => e.deviceId.toLowerCase() === deviceId.toLowerCase());
    return { root: whitelist.root, entry };
  }
  if (!("proofs" in whitelist) || whitelist.proofs !== "tree" || !/^0x[0-9a-fA-F]{64}$/.test(String(whitelist.root)))
    throw new UserError(`${file} is not a ThingLedger whitelist`);
  try {
    return { root: whitelist.root, entry: treeWhitelistEntry(file, whitelist, deviceId) };
  } catch (error) {
    throw new UserError((error as Error).message);
  }
}

async function fromWhitelist(
  ctx: SystemContext,
  device: Wallet,
  deviceId: string,
  whitelistFile: string,
  consent: Consent,
  maxFee: bigint | undefined,
): Promise<ActivationCall> {
  const registry = registryAt(ctx);
  const whitelist = whitelistEntry(whitelistFile, deviceId);
  const { entry } = whitelist;
  if (entry === undefined) throw new UserError(`device ${deviceId} is not in the whitelist ${whitelistFile}`);
  if (entry.deviceKey !== device.address) {
    throw new UserError(`the keystore's key ${device.address} is not the whitelisted key ${entry.deviceKey}`);
  }
  const committed = await registry.getWhitelist(manufacturerIdOf(deviceId), whitelist.root);
  if (committed.capacity === 0n)
    throw new UserError(`whitelist root ${whitelist.root} is not committed on this network`);
  if (committed.used >= committed.capacity)
    throw new UserError(`whitelist root ${whitelist.root} has no capacity left`);
  const fee = committed.activationFee;
  const data = registry.interface.encodeFunctionData("activateFromWhitelist", [
    feeCeiling("activation", fee, maxFee),
    whitelist.root,
    entry.deviceId,
    entry.deviceType,
    entry.proof,
    consent.owner,
    consent.deadline,
    ...compact(consent.signature),
  ]);
  return { data, fee };
}

async function ofRegistered(
  ctx: SystemContext,
  device: Wallet,
  info: DeviceInfo,
  consent: Consent,
  maxFee: bigint | undefined,
): Promise<ActivationCall> {
  const registry = registryAt(ctx);
  if (info.status !== "registered") {
    throw new UserError(`device ${info.deviceId} is ${info.status}, not waiting for activation`);
  }
  if (info.deviceKey !== device.address) {
    throw new UserError(`the keystore's key ${device.address} is not the registered key ${info.deviceKey}`);
  }
  const fee = await registry.activationFeeOf(info.deviceId);
  const data = registry.interface.encodeFunctionData("activateDevice", [
    feeCeiling("activation", fee, maxFee),
    info.deviceId,
    consent.owner,
    consent.deadline,
    ...compact(consent.signature),
  ]);
  return { data, fee };
}

/**
 * The device (its keystore) signs `Activate(deviceId, owner, deadline)`; the owner submits it, paying the
 * fee in the same transaction through approveAndCall. A device not yet registered is registered from its
 * whitelist proof when `whitelistFile` is given. The fee is the device's (a whitelist root's fixed fee, or
 * the current one); `maxFee` is the most the owner consents to, by default that fee.
 */
export async function activate(
  ctx: SystemContext,
  owner: Signer,
  device: Wallet,
  deviceId: string,
  whitelistFile?: string,
  maxFee?: bigint,
): Promise<ActivateResult> {
  const plan = await planActivation(ctx, owner, device, deviceId, whitelistFile, maxFee);
  const { to, data, fee } = plan;
  const token = tokenAt(ctx, owner);
  const tx = plan.viaAllowance ? await owner.sendTransaction({ to, data }) : await token.approveAndCall(to, fee, data);
  const gasUsed = await gasOf(tx);
  return { deviceId, owner: plan.ownerAddress, fromWhitelist: plan.fromRoot, feePaid: fee, gasUsed, txHash: tx.hash };
}

/** {@link activate}'s dry run: its fee and the gas of the one transaction it would send; nothing is sent. */
export async function previewActivation(
  ctx: SystemContext,
  owner: Signer,
  device: Wallet,
  deviceId: string,
  whitelistFile?: string,
  maxFee?: bigint,
): Promise<CostPreview & { deviceId: string; owner: string }> {
  const plan = await planActivation(ctx, owner, device, deviceId, whitelistFile, maxFee);
  const { to, data, fee } = plan;
  const gas = () =>
    plan.viaAllowance ? owner.estimateGas({ to, data }) : tokenAt(ctx, owner).approveAndCall.estimateGas(to, fee, data);
  const preview = await costPreview(ctx.provider, fee, [["activation", gas]]);
  return { ...preview, deviceId, owner: plan.ownerAddress };
}

/** What an activation sends, from whom, and how it pays (after every check, before anything is sent). */
async function planActivation(
  ctx: SystemContext,
  owner: Signer,
  device: Wallet,
  deviceId: string,
  whitelistFile: string | undefined,
  maxFee: bigint | undefined,
): Promise<ActivationCall & { to: string; viaAllowance: boolean; ownerAddress: string; fromRoot: boolean }> {
  const ownerAddress = await owner.getAddress();
  const info = await deviceStatus(ctx, deviceId);
  const deadline = (await nextBlockTime(ctx.provider)) + 3600n;
  const signature = await signActivation(device, await registryDomain(ctx), {
    deviceId,
    owner: ownerAddress,
    deadline,
  });
  const consent = { owner: ownerAddress, deadline, signature };
  const fromRoot = info.status === "unknown";
  let call: ActivationCall;
  if (!fromRoot) call = await ofRegistered(ctx, device, info, consent, maxFee);
  else if (whitelistFile !== undefined)
    call = await fromWhitelist(ctx, device, deviceId, whitelistFile, consent, maxFee);
  else throw new UserError(`device ${deviceId} is not registered, and no whitelist was given to register it from`);
  const { data, fee } = call;
  const token = tokenAt(ctx, owner);
  const balance = await token.balanceOf(ownerAddress);
  if (balance < fee) {
    throw new UserError(
      `the activation fee is ${formatThing(fee)} but the owner ${ownerAddress} holds ${formatThing(balance)}`,
    );
  }
  // With a standing allowance the owner calls the registry directly (cheapest); otherwise one
  // approveAndCall approves the fee and calls the registry, which learns the real payer from the token.
  const to = ctx.addresses.DeviceRegistry;
  const viaAllowance = (await token.allowance(ownerAddress, to)) >= fee;
  return { to, data, fee, viaAllowance, ownerAddress, fromRoot };
}
