import fs from "node:fs";

import type { BaseWallet, Signer, TypedDataDomain } from "ethers";
import { ZeroAddress, formatUnits, getAddress, isAddress, isHexString, verifyTypedData } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types";

import type { DeviceRegistry, DeviceWallet, DeviceWalletFactory, ThingToken } from "../typechain-types";
import {
  DeviceRegistry__factory,
  DeviceWalletFactory__factory,
  DeviceWallet__factory,
  IERC20Metadata__factory,
  ThingToken__factory,
} from "../typechain-types";
import { chainTime, gasOf } from "./chain/time";
import { parseAmount } from "./cli/parse";
import { loadSystem } from "../tasks/support/deployments";
import { compact } from "./eip712/device";
import { readDomain } from "./eip712/domain";
import { EXECUTE_TYPES, packAuthorization, signDeviceTransfer, signExecute, sortOwners } from "./eip712/wallet";
import type { ExecuteMessage } from "./eip712/wallet";
import { UserError } from "./errors";
import { STATUS_NAMES } from "./registry";

/** The largest limit a wallet stores (72 bits, see SpendWindow.sol). */
export const MAX_LIMIT = (1n << 72n) - 1n;
export const MAX_OWNERS = 20;

export interface WalletContext {
  factory: DeviceWalletFactory;
  registry: DeviceRegistry;
  token: ThingToken;
  chainId: bigint;
}

export async function connectWallets(hre: HardhatRuntimeEnvironment, runner?: Signer): Promise<WalletContext> {
  const system = await loadSystem(hre, ["ThingToken", "DeviceRegistry", "DeviceWalletFactory"]);
  const r = runner ?? hre.ethers.provider;
  return {
    factory: DeviceWalletFactory__factory.connect(system.addresses.DeviceWalletFactory, r),
    registry: DeviceRegistry__factory.connect(system.addresses.DeviceRegistry, r),
    token: ThingToken__factory.connect(system.addresses.ThingToken, r),
    chainId: system.chainId,
  };
}

/** A wallet that must exist (have code) on this network, connected to `runner`. */
export async function connectWallet(
  hre: HardhatRuntimeEnvironment,
  address: string,
  runner?: Signer,
): Promise<DeviceWallet> {
  const ctx = await connectWallets(hre);
  const code = await hre.ethers.provider.getCode(address);
  if (code === "0x") {
    throw new UserError(`there is no device wallet at ${address} on network "${hre.network.name}"`);
  }
  const wallet = DeviceWallet__factory.connect(address, runner ?? hre.ethers.provider);
  const implementation = await ctx.factory.implementation();
  // An EIP-1167 clone with immutable args: the implementation address sits at bytes 10..30.
  if (!code.toLowerCase().includes(implementation.slice(2).toLowerCase())) {
    throw new UserError(`${address} is not a device wallet of this network's factory`);
  }
  return wallet;
}

// ------------------------------------------------------------------ assets and amounts

export interface Asset {
  /** address(0) for ETH. */
  address: string;
  symbol: string;
  decimals: number;
}

/** `eth`, `token` (the ThingToken) or an ERC-20 address. */
export async function resolveAsset(hre: HardhatRuntimeEnvironment, value: string): Promise<Asset> {
  const v = value.trim().toLowerCase();
  if (v === "eth") return { address: ZeroAddress, symbol: "ETH", decimals: 18 };
  const ctx = await connectWallets(hre);
  if (v === "token" || v === "thing") return { address: await ctx.token.getAddress(), symbol: "THING", decimals: 18 };
  if (!isAddress(value)) throw new UserError(`asset "${value}" is neither eth, token nor an ERC-20 address`);
  const address = getAddress(value);
  if ((await hre.ethers.provider.getCode(address)) === "0x") {
    throw new UserError(`asset ${address} has no contract code on network "${hre.network.name}"`);
  }
  const erc20 = IERC20Metadata__factory.connect(address, hre.ethers.provider);
  try {
    return { address, symbol: await erc20.symbol(), decimals: Number(await erc20.decimals()) };
  } catch {
    throw new UserError(`asset ${address} does not answer symbol() and decimals() like an ERC-20`);
  }
}

export function formatAmount(amount: bigint, asset: Pick<Asset, "symbol" | "decimals">): string {
  return `${formatUnits(amount, asset.decimals)} ${asset.symbol}`;
}

/** Parses `eth=1,token=100,0xAbc…=5` (option `--<option>`) into amounts in base units, each asset once. */
export async function parseAmounts(
  hre: HardhatRuntimeEnvironment,
  option: string,
  value: string,
): Promise<{ asset: Asset; amount: bigint }[]> {
  const out: { asset: Asset; amount: bigint }[] = [];
  for (const part of value.split(",").filter((p) => p.trim() !== "")) {
    const [name, amount] = part.split("=");
    if (amount === undefined) throw new UserError(`--${option}: "${part}" is not ASSET=AMOUNT (e.g. eth=0.5)`);
    const asset = await resolveAsset(hre, name);
    if (out.some((o) => o.asset.address === asset.address)) throw new UserError(`--${option}: ${name} is given twice`);
    out.push({ asset, amount: parseAmount(option, amount.trim(), asset.decimals) });
  }
  if (out.length === 0) throw new UserError(`--${option}: give at least one, e.g. eth=0.5`);
  return out;
}

/** Parses `eth=1,token=100,0xAbc…=5` into per-period limits in base units. */
export async function parseLimits(
  hre: HardhatRuntimeEnvironment,
  value: string,
): Promise<{ asset: Asset; limit: bigint }[]> {
  return (await parseAmounts(hre, "limits", value)).map(({ asset, amount }) => {
    checkLimit(amount, asset);
    return { asset, limit: amount };
  });
}

export function checkLimit(limit: bigint, asset: Asset): void {
  if (limit > MAX_LIMIT) {
    throw new UserError(
      `a limit of ${formatAmount(limit, asset)} is above the wallet's maximum of ${formatAmount(MAX_LIMIT, asset)} per period`,
    );
  }
}

// ------------------------------------------------------------------ owners

export function checkOwners(owners: string[], threshold: number): string[] {
  const sorted = sortOwners(owners);
  if (sorted.length === 0) throw new UserError("--owners: give at least one owner");
  if (sorted.length > MAX_OWNERS) throw new UserError(`--owners: at most ${MAX_OWNERS} owners, got ${sorted.length}`);
  if (new Set(sorted).size !== sorted.length) throw new UserError("--owners: an owner is listed twice");
  if (sorted.includes(ZeroAddress)) throw new UserError("--owners: the zero address cannot be an owner");
  if (!Number.isInteger(threshold) || threshold < 1 || threshold > sorted.length) {
    throw new UserError(`--threshold: must be between 1 and ${sorted.length} (the number of owners)`);
  }
  return sorted;
}

/**
 * The wallet's current owners. The wallet stores only their hash, so they are read from its events (the
 * last `OwnersChanged`, else the factory's `WalletCreated`) and checked against the hash.
 */
export async function walletOwners(hre: HardhatRuntimeEnvironment, wallet: DeviceWallet): Promise<string[]> {
  const changed = await wallet.queryFilter(wallet.filters.OwnersChanged(), 0);
  let owners: string[] | undefined;
  if (changed.length > 0) {
    owners = [...changed[changed.length - 1].args.owners];
  } else {
    const ctx = await connectWallets(hre);
    const created = await ctx.factory.queryFilter(ctx.factory.filters.WalletCreated(await wallet.getAddress()), 0);
    if (created.length > 0) owners = [...created[created.length - 1].args.owners];
  }
  if (owners === undefined || !(await wallet.isOwnerSet(owners))) {
    throw new UserError(`cannot find the owner set of wallet ${await wallet.getAddress()} in its events`);
  }
  return owners.map((o) => getAddress(o));
}

// ------------------------------------------------------------------ creation

export interface CreateWalletOptions {
  owners: string[];
  threshold: number;
  deviceId: string;
  /**
   * Defaults to the key the registry holds for the device; any other key is refused, because the wallet
   * lets its device spend only with the registry's key (a rotation in the registry stops the old key).
   */
  deviceKey?: string;
  period: number;
  limits: { asset: Asset; limit: bigint }[];
}

export interface CreateWalletResult {
  wallet: string;
  deviceId: string;
  deviceKey: string;
  owners: string[];
  threshold: number;
  period: number;
  limits: { asset: string; symbol: string; decimals: number; limit: bigint }[];
  /** True when the creator owned the device and handed its registry record to the wallet. */
  deviceTransferred: boolean;
  linked: boolean;
  gasUsed: bigint;
  /** What is left to do before the device can spend, if anything. */
  next?: string;
}

/**
 * Creates a device wallet at its predicted address. Every check runs before the first transaction. If
 * the creator owns the (active) device, its registry record is handed to the wallet and the wallet links,
 * so the device can spend at once.
 */
export async function createWallet(
  hre: HardhatRuntimeEnvironment,
  creator: Signer,
  o: CreateWalletOptions,
): Promise<CreateWalletResult> {
  const ctx = await connectWallets(hre, creator);
  const owners = checkOwners(o.owners, o.threshold);
  if (!Number.isInteger(o.period) || o.period < 1 || o.period > 0xffffffff) {
    throw new UserError("--period: must be between 1 second and 2^32 - 1 seconds");
  }
  const [deviceOwner, statusIndex] = await ctx.registry.ownerAndStatus(o.deviceId);
  const status = STATUS_NAMES[Number(statusIndex)];
  if (status === "unknown") throw new UserError(`device ${o.deviceId} is not registered on this network`);
  if (status === "revoked") throw new UserError(`device ${o.deviceId} is revoked: it cannot have a wallet`);
  const record = await ctx.registry.getDevice(o.deviceId);
  const deviceKey = o.deviceKey === undefined ? record.deviceKey : getAddress(o.deviceKey);
  if (deviceKey !== getAddress(record.deviceKey)) {
    throw new UserError(
      `--device-key: the registry holds ${record.deviceKey} for device ${o.deviceId}; a wallet's device key must be the registry's key, or the device can never spend`,
    );
  }
  const config = {
    owners,
    threshold: o.threshold,
    deviceId: o.deviceId,
    deviceKey,
    period: o.period,
    assets: o.limits.map((l) => l.asset.address),
    limits: o.limits.map((l) => l.limit),
  };
  const wallet = await ctx.factory.predictWallet(config);
  if ((await hre.ethers.provider.getCode(wallet)) !== "0x") {
    throw new UserError(`a wallet with this configuration already exists at ${wallet}`);
  }
  const creatorAddress = await creator.getAddress();
  let gasUsed = await gasOf(await ctx.factory.createWallet(config));
  let deviceTransferred = false;
  let linked = false;
  let next: string | undefined;
  if (status === "active" && getAddress(deviceOwner) === creatorAddress) {
    gasUsed += await gasOf(await ctx.registry.transferDevice(o.deviceId, wallet));
    deviceTransferred = true;
    gasUsed += await gasOf(await DeviceWallet__factory.connect(wallet, creator).link());
    linked = true;
  } else if (status === "active") {
    next = `the device's owner ${deviceOwner} must transfer it to the wallet (device:transfer --to ${wallet}) before the device can spend`;
  } else {
    next = `activate the device, then transfer it to the wallet (device:transfer --to ${wallet}) before the device can spend`;
  }
  return {
    wallet,
    deviceId: o.deviceId,
    deviceKey,
    owners,
    threshold: o.threshold,
    period: o.period,
    limits: o.limits.map((l) => ({
      asset: l.asset.address,
      symbol: l.asset.symbol,
      decimals: l.asset.decimals,
      limit: l.limit,
    })),
    deviceTransferred,
    linked,
    gasUsed,
    next,
  };
}

// ------------------------------------------------------------------ proposals

export const PROPOSAL_KIND = "thingledger.wallet-proposal";

/** An owner execution waiting for signatures: what `wallet:propose` writes and `wallet:sign` extends. */
export interface Proposal {
  kind: typeof PROPOSAL_KIND;
  version: 1;
  chainId: string;
  wallet: string;
  nonce: string;
  to: string;
  value: string;
  data: string;
  gasLimit: string;
  description: string;
  /** Owner address → 65-byte signature. */
  signatures: Record<string, string>;
}

export function proposalMessage(p: Proposal): ExecuteMessage {
  return { to: p.to, value: BigInt(p.value), data: p.data, gasLimit: BigInt(p.gasLimit), nonce: BigInt(p.nonce) };
}

export interface ProposeOptions {
  wallet: string;
  to: string;
  value: bigint;
  data: string;
  gasLimit?: bigint;
  nonce?: bigint;
  description: string;
}

/** Builds a proposal for the wallet's next nonce (or `nonce`); the inner call's gas is estimated if not given. */
export async function propose(hre: HardhatRuntimeEnvironment, o: ProposeOptions): Promise<Proposal> {
  const wallet = await connectWallet(hre, o.wallet);
  const current = await wallet.nonce();
  const nonce = o.nonce ?? current;
  if (nonce < current) throw new UserError(`--nonce: ${nonce} is already used (the wallet's nonce is ${current})`);
  if (!isHexString(o.data)) throw new UserError(`--data: "${o.data}" is not 0x-prefixed hex`);
  const balance = await hre.ethers.provider.getBalance(o.wallet);
  if (o.value > balance) {
    throw new UserError(
      `the wallet holds ${formatUnits(balance, 18)} ETH, less than the ${formatUnits(o.value, 18)} proposed`,
    );
  }
  let gasLimit = o.gasLimit;
  if (gasLimit === undefined) {
    let estimate: bigint;
    try {
      estimate = await hre.ethers.provider.estimateGas({ from: o.wallet, to: o.to, value: o.value, data: o.data });
    } catch (error) {
      throw new UserError(`the proposed call would fail from the wallet: ${shortReason(error)}`);
    }
    // The estimate includes the 21,000 of a transaction, which an inner call does not pay: a safe margin.
    gasLimit = o.data === "0x" && (await hre.ethers.provider.getCode(o.to)) === "0x" ? 0n : estimate;
  }
  const { chainId } = await hre.ethers.provider.getNetwork();
  return {
    kind: PROPOSAL_KIND,
    version: 1,
    chainId: chainId.toString(),
    wallet: getAddress(o.wallet),
    nonce: nonce.toString(),
    to: getAddress(o.to),
    value: o.value.toString(),
    data: o.data,
    gasLimit: gasLimit.toString(),
    description: o.description,
    signatures: {},
  };
}

function shortReason(error: unknown): string {
  const e = error as { shortMessage?: string; message?: string };
  return (e.shortMessage ?? e.message ?? String(error)).split("\n")[0];
}

export function writeProposal(file: string, p: Proposal): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(p, null, 2)}\n`);
  fs.renameSync(tmp, file);
}

/** Reads a proposal file; anything malformed fails with one line naming the problem. */
export function readProposal(file: string): Proposal {
  if (!fs.existsSync(file)) throw new UserError(`no proposal file at ${file}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (error) {
    throw new UserError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
  const p = parsed as Partial<Proposal>;
  if (typeof p !== "object" || p === null || p.kind !== PROPOSAL_KIND || p.version !== 1) {
    throw new UserError(`${file} is not a wallet proposal (kind "${PROPOSAL_KIND}", version 1)`);
  }
  for (const key of ["wallet", "to"] as const) {
    if (typeof p[key] !== "string" || !isAddress(p[key])) throw new UserError(`${file}: "${key}" is not an address`);
  }
  for (const key of ["chainId", "nonce", "value", "gasLimit"] as const) {
    if (typeof p[key] !== "string" || !/^\d+$/.test(p[key])) {
      throw new UserError(`${file}: "${key}" must be a whole number in a string`);
    }
  }
  if (typeof p.data !== "string" || !isHexString(p.data)) throw new UserError(`${file}: "data" is not 0x-prefixed hex`);
  if (typeof p.signatures !== "object" || p.signatures === null) {
    throw new UserError(`${file}: "signatures" must be an object of owner → signature`);
  }
  for (const owner of Object.keys(p.signatures)) {
    if (!isAddress(owner)) throw new UserError(`${file}: signature key "${owner}" is not an address`);
  }
  return { description: "", ...p } as Proposal;
}

/** Checks that each signature listed in a proposal is its owner's, over this proposal in the wallet's domain. */
function checkSignatures(p: Proposal, domain: TypedDataDomain, file: string): void {
  for (const [owner, signature] of Object.entries(p.signatures)) {
    let recovered: string;
    try {
      recovered = verifyTypedData(domain, EXECUTE_TYPES, proposalMessage(p), signature);
    } catch {
      throw new UserError(`${file}: the signature of ${owner} is malformed`);
    }
    if (getAddress(recovered) !== getAddress(owner)) {
      throw new UserError(`${file}: the signature listed for ${owner} was made by ${recovered}, or over other content`);
    }
  }
}

/** Checks a proposal against the network: right chain, wallet exists, nonce not used, signatures its owners'. */
async function checkProposal(hre: HardhatRuntimeEnvironment, p: Proposal, file: string): Promise<DeviceWallet> {
  const { chainId } = await hre.ethers.provider.getNetwork();
  if (BigInt(p.chainId) !== chainId) {
    throw new UserError(`${file} is for chain ${p.chainId}, but network "${hre.network.name}" is chain ${chainId}`);
  }
  const wallet = await connectWallet(hre, p.wallet);
  const current = await wallet.nonce();
  if (BigInt(p.nonce) < current) {
    throw new UserError(`${file} is stale: its nonce ${p.nonce} is already used (the wallet's nonce is ${current})`);
  }
  checkSignatures(p, await readDomain(wallet), file);
  return wallet;
}

export interface SignResult {
  file: string;
  wallet: string;
  signer: string;
  signatures: number;
  threshold: number;
  ready: boolean;
}

/** Adds `owner`'s signature to a proposal (in memory), after checking it against the network. */
export async function addSignature(
  hre: HardhatRuntimeEnvironment,
  p: Proposal,
  owner: Signer,
  label = "the proposal",
): Promise<SignResult> {
  const wallet = await checkProposal(hre, p, label);
  const signer = getAddress(await owner.getAddress());
  const owners = await walletOwners(hre, wallet);
  if (!owners.includes(signer)) throw new UserError(`${signer} is not an owner of wallet ${p.wallet}`);
  if (Object.keys(p.signatures).some((k) => getAddress(k) === signer)) {
    throw new UserError(`${signer} has already signed ${label}`);
  }
  p.signatures[signer] = await signExecute(owner, await readDomain(wallet), proposalMessage(p));
  const threshold = Number(await wallet.threshold());
  const signatures = Object.keys(p.signatures).filter((k) => owners.includes(getAddress(k))).length;
  return { file: label, wallet: p.wallet, signer, signatures, threshold, ready: signatures >= threshold };
}

/** Adds one owner's signature to a proposal file. */
export async function signProposal(hre: HardhatRuntimeEnvironment, file: string, owner: Signer): Promise<SignResult> {
  const p = readProposal(file);
  const result = await addSignature(hre, p, owner, file);
  writeProposal(file, p);
  return result;
}

export interface ExecResult {
  wallet: string;
  nonce: bigint;
  to: string;
  value: bigint;
  /** Whether the inner call succeeded; the nonce is spent either way. */
  success: boolean;
  gasUsed: bigint;
  txHash: string;
}

/** Executes a proposal file that carries the threshold's signatures; `relayer` pays the gas. */
export async function executeProposal(
  hre: HardhatRuntimeEnvironment,
  file: string,
  relayer: Signer,
): Promise<ExecResult> {
  return execute(hre, readProposal(file), relayer, file);
}

/** Executes a proposal (in memory) that carries the threshold's signatures. */
export async function execute(
  hre: HardhatRuntimeEnvironment,
  p: Proposal,
  relayer: Signer,
  file = "the proposal",
): Promise<ExecResult> {
  const wallet = (await checkProposal(hre, p, file)).connect(relayer);
  const current = await wallet.nonce();
  if (BigInt(p.nonce) !== current) {
    throw new UserError(
      `${file} has nonce ${p.nonce}, but the wallet's next nonce is ${current}: execute that one first`,
    );
  }
  const owners = await walletOwners(hre, wallet);
  const threshold = Number(await wallet.threshold());
  const valid = Object.entries(p.signatures).filter(([k]) => owners.includes(getAddress(k)));
  if (valid.length < threshold) {
    throw new UserError(`${file} has ${valid.length} owner signature(s); the wallet needs ${threshold}`);
  }
  // Exactly the threshold's signatures, the lowest signer addresses first.
  const chosen = Object.fromEntries(valid.sort(([a], [b]) => (BigInt(a) < BigInt(b) ? -1 : 1)).slice(0, threshold));
  const m = proposalMessage(p);
  const tx = await wallet.execute(m.to, m.value, m.data, m.gasLimit, packAuthorization(owners, chosen));
  const receipt = await tx.wait();
  if (receipt === null || receipt.status !== 1) throw new Error(`transaction ${tx.hash} failed`);
  const executed = receipt.logs
    .map((l) => (getAddress(l.address) === p.wallet ? wallet.interface.parseLog(l) : null))
    .find((l) => l?.name === "Executed");
  return {
    wallet: p.wallet,
    nonce: m.nonce,
    to: m.to,
    value: m.value,
    success: executed?.args.success === true,
    gasUsed: receipt.gasUsed,
    txHash: tx.hash,
  };
}

/** What the owners are asked to do; exactly one of a call (`to`), an ERC-20 transfer, `rotateKey`, `unfreeze`. */
export interface ProposalAction {
  to?: string;
  value?: bigint;
  data?: string;
  /** With `amount` (a decimal string): transfer this ERC-20 (`token` or an address) to `to`. */
  asset?: string;
  amount?: string;
  rotateKey?: string;
  unfreeze?: boolean;
}

/** Turns an action into the call the wallet makes, with a description for the owners. */
export async function resolveAction(
  hre: HardhatRuntimeEnvironment,
  wallet: string,
  a: ProposalAction,
): Promise<{ to: string; value: bigint; data: string; description: string }> {
  const iface = DeviceWallet__factory.createInterface();
  const modes = [a.rotateKey !== undefined, a.unfreeze === true, a.asset !== undefined].filter(Boolean).length;
  if (modes > 1) throw new UserError("give only one of --rotate-key, --unfreeze and --asset");
  if (a.rotateKey !== undefined) {
    // The wallet lets its device spend only with the registry's key: the device's key is rotated in the
    // registry first (by the wallet, its owner), then set here.
    const deviceId = await (await connectWallet(hre, wallet)).deviceId();
    const registryKey = (await (await connectWallets(hre)).registry.getDevice(deviceId)).deviceKey;
    if (getAddress(registryKey) !== getAddress(a.rotateKey)) {
      throw new UserError(
        `--rotate-key: the registry holds ${registryKey} as the key of device ${deviceId}; rotate the key in the registry first, then set that key in the wallet`,
      );
    }
    const data = iface.encodeFunctionData("setDeviceKey", [a.rotateKey]);
    return { to: wallet, value: 0n, data, description: `set the device key to ${a.rotateKey}, the registry's key` };
  }
  if (a.unfreeze === true) {
    const data = iface.encodeFunctionData("setFrozen", [false]);
    return { to: wallet, value: 0n, data, description: "unfreeze the device key" };
  }
  if (a.to === undefined) throw new UserError("--to is required for a call or a transfer");
  if (a.asset !== undefined) {
    if (a.amount === undefined) throw new UserError("--asset needs --amount");
    const asset = await resolveAsset(hre, a.asset);
    if (asset.address === ZeroAddress) throw new UserError("for ETH use --value, not --asset eth");
    const amount = parseAmount("amount", a.amount, asset.decimals);
    const data = IERC20Metadata__factory.createInterface().encodeFunctionData("transfer", [a.to, amount]);
    return { to: asset.address, value: 0n, data, description: `transfer ${formatAmount(amount, asset)} to ${a.to}` };
  }
  const value = a.value ?? 0n;
  const data = a.data ?? "0x";
  const description = `call ${a.to}${value > 0n ? ` with ${formatUnits(value, 18)} ETH` : ""}${data === "0x" ? "" : ` (data ${data.slice(0, 10)}…)`}`;
  return { to: a.to, value, data, description };
}

/** A proposal to set the device's per-period limit of one asset (`limit` a decimal string; 0 stops it). */
export async function proposeLimit(
  hre: HardhatRuntimeEnvironment,
  wallet: string,
  assetName: string,
  limitText: string,
): Promise<Proposal> {
  const asset = await resolveAsset(hre, assetName);
  const limit = /^0+(\.0+)?$/.test(limitText) ? 0n : parseAmount("limit", limitText, asset.decimals);
  checkLimit(limit, asset);
  return propose(hre, {
    wallet,
    to: wallet,
    value: 0n,
    data: DeviceWallet__factory.createInterface().encodeFunctionData("setAllowance", [asset.address, limit]),
    description: `set the device's ${asset.symbol} limit to ${formatAmount(limit, asset)} per period`,
  });
}

// ------------------------------------------------------------------ the device

export interface DeviceSpendOptions {
  wallet: string;
  device: BaseWallet;
  asset: Asset;
  to: string;
  amount: bigint;
  /** When given, the device signs and this account submits; otherwise the device sends itself. */
  relayer?: Signer;
}

export interface DeviceSpendResult {
  wallet: string;
  asset: string;
  symbol: string;
  decimals: number;
  to: string;
  amount: bigint;
  relayed: boolean;
  availableAfter: bigint;
  gasUsed: bigint;
  txHash: string;
}

/** The device spends under its limits. What the wallet would refuse is refused here first, naming why. */
export async function deviceSpend(hre: HardhatRuntimeEnvironment, o: DeviceSpendOptions): Promise<DeviceSpendResult> {
  const wallet = await connectWallet(hre, o.wallet);
  const config = await wallet.deviceConfig();
  if (getAddress(config.deviceKey) !== o.device.address) {
    throw new UserError(`the key ${o.device.address} is not this wallet's device key (${config.deviceKey})`);
  }
  if (config.frozen) throw new UserError(`the device key of wallet ${o.wallet} is frozen by its owners`);
  const ctx = await connectWallets(hre);
  const deviceId = await wallet.deviceId();
  const [owner, statusIndex, registryKey] = await ctx.registry.ownerStatusAndKey(deviceId);
  const status = STATUS_NAMES[Number(statusIndex)];
  if (status !== "active") throw new UserError(`device ${deviceId} is ${status} in the registry: it cannot spend`);
  if (getAddress(owner) !== o.wallet) {
    throw new UserError(`device ${deviceId} is owned by ${owner} in the registry, not by the wallet: it cannot spend`);
  }
  if (getAddress(registryKey) !== o.device.address) {
    throw new UserError(
      `the registry holds ${registryKey} as the key of device ${deviceId}, not ${o.device.address}: after a rotation the owners set the new key in the wallet (wallet:propose --rotate-key ${registryKey})`,
    );
  }
  const allowance = await wallet.allowance(o.asset.address);
  if (allowance.limit === 0n) throw new UserError(`${o.asset.symbol} is not an asset this device may spend`);
  if (o.amount > allowance.available) {
    throw new UserError(
      `${formatAmount(o.amount, o.asset)} is above what the device may spend now (${formatAmount(allowance.available, o.asset)} of ${formatAmount(allowance.limit, o.asset)} per period)`,
    );
  }
  const cap = await wallet.transferCap(o.asset.address);
  if (config.capsEnabled && cap !== 0n && o.amount > cap) {
    throw new UserError(
      `${formatAmount(o.amount, o.asset)} is above the per-transfer cap of ${formatAmount(cap, o.asset)}`,
    );
  }
  if (config.allowlistEnabled && !(await wallet.isRecipientAllowed(o.to))) {
    throw new UserError(`${o.to} is not on the wallet's recipient allow-list`);
  }
  const held =
    o.asset.address === ZeroAddress
      ? await hre.ethers.provider.getBalance(o.wallet)
      : await IERC20Metadata__factory.connect(o.asset.address, hre.ethers.provider).balanceOf(o.wallet);
  if (held < o.amount)
    throw new UserError(
      `the wallet holds ${formatAmount(held, o.asset)}, less than ${formatAmount(o.amount, o.asset)}`,
    );

  let tx;
  if (o.relayer === undefined) {
    const device = o.device.connect(hre.ethers.provider);
    if ((await hre.ethers.provider.getBalance(device.address)) === 0n) {
      throw new UserError(`the device key ${device.address} has no ETH for gas: fund it, or use a relayer (--relayer)`);
    }
    tx = await wallet.connect(device).deviceTransfer(o.asset.address, o.to, o.amount);
  } else {
    const deadline = (await chainTime(hre.ethers.provider)) + 3600n;
    const signature = await signDeviceTransfer(o.device, await readDomain(wallet), {
      asset: o.asset.address,
      to: o.to,
      amount: o.amount,
      nonce: allowance.nonce,
      deadline,
    });
    const [r, vs] = compact(signature);
    tx = await wallet.connect(o.relayer).deviceTransferBySig(o.asset.address, o.to, o.amount, deadline, r, vs);
  }
  const gasUsed = await gasOf(tx);
  return {
    wallet: o.wallet,
    asset: o.asset.address,
    symbol: o.asset.symbol,
    decimals: o.asset.decimals,
    to: o.to,
    amount: o.amount,
    relayed: o.relayer !== undefined,
    availableAfter: (await wallet.allowance(o.asset.address)).available,
    gasUsed,
    txHash: tx.hash,
  };
}

export interface FreezeResult {
  wallet: string;
  by: string;
  gasUsed: bigint;
}

/** Any single owner freezes the device key at once. */
export async function freezeDevice(
  hre: HardhatRuntimeEnvironment,
  address: string,
  owner: Signer,
): Promise<FreezeResult> {
  const wallet = (await connectWallet(hre, address)).connect(owner);
  const owners = await walletOwners(hre, wallet);
  const by = getAddress(await owner.getAddress());
  if (!owners.includes(by)) throw new UserError(`${by} is not an owner of wallet ${address}`);
  if ((await wallet.deviceConfig()).frozen)
    throw new UserError(`the device key of wallet ${address} is already frozen`);
  return { wallet: address, by, gasUsed: await gasOf(await wallet.freezeDevice(owners)) };
}

// ------------------------------------------------------------------ funding

export interface FundResult {
  wallet: string;
  from: string;
  sent: { asset: string; symbol: string; decimals: number; amount: bigint; txHash: string }[];
  gasUsed: bigint;
}

async function balanceOf(hre: HardhatRuntimeEnvironment, asset: Asset, account: string): Promise<bigint> {
  return asset.address === ZeroAddress
    ? hre.ethers.provider.getBalance(account)
    : IERC20Metadata__factory.connect(asset.address, hre.ethers.provider).balanceOf(account);
}

/**
 * Sends ETH and tokens from `funder` to an existing device wallet. Every balance is checked before the
 * first transfer, so a shortfall sends nothing.
 */
export async function fundWallet(
  hre: HardhatRuntimeEnvironment,
  funder: Signer,
  address: string,
  amounts: { asset: Asset; amount: bigint }[],
): Promise<FundResult> {
  const wallet = await connectWallet(hre, address);
  const to = await wallet.getAddress();
  const from = getAddress(await funder.getAddress());
  for (const { asset, amount } of amounts) {
    const held = await balanceOf(hre, asset, from);
    if (held < amount) {
      throw new UserError(
        `${from} holds ${formatAmount(held, asset)}, less than the ${formatAmount(amount, asset)} to send`,
      );
    }
  }
  const sent: FundResult["sent"] = [];
  let gasUsed = 0n;
  for (const { asset, amount } of amounts) {
    const tx =
      asset.address === ZeroAddress
        ? await funder.sendTransaction({ to, value: amount })
        : await IERC20Metadata__factory.connect(asset.address, funder).transfer(to, amount);
    gasUsed += await gasOf(tx);
    sent.push({ asset: asset.address, symbol: asset.symbol, decimals: asset.decimals, amount, txHash: tx.hash });
  }
  return { wallet: to, from, sent, gasUsed };
}

// ------------------------------------------------------------------ status

export interface WalletStatus {
  wallet: string;
  deviceId: string;
  deviceStatus: string;
  deviceOwnedByWallet: boolean;
  owners: string[];
  threshold: number;
  nonce: bigint;
  deviceKey: string;
  /** The key the registry holds for the device: the device spends only while it equals `deviceKey`. */
  registryKey: string;
  period: number;
  frozen: boolean;
  linked: boolean;
  balances: { asset: string; symbol: string; decimals: number; balance: bigint }[];
  allowances: {
    asset: string;
    symbol: string;
    decimals: number;
    limit: bigint;
    spentCurrentPeriod: bigint;
    spentPreviousPeriod: bigint;
    available: bigint;
    relayNonce: bigint;
  }[];
}

/** Everything about a wallet; allowances for ETH, the ThingToken and any `extraAssets`. */
export async function walletStatus(
  hre: HardhatRuntimeEnvironment,
  address: string,
  extraAssets: Asset[] = [],
): Promise<WalletStatus> {
  const wallet = await connectWallet(hre, address);
  const ctx = await connectWallets(hre);
  const deviceId = await wallet.deviceId();
  const [owner, statusIndex, registryKey] = await ctx.registry.ownerStatusAndKey(deviceId);
  const config = await wallet.deviceConfig();
  const assets = [await resolveAsset(hre, "eth"), await resolveAsset(hre, "token"), ...extraAssets];
  const balances = [];
  const allowances = [];
  for (const asset of assets) {
    const balance = await balanceOf(hre, asset, address);
    balances.push({ asset: asset.address, symbol: asset.symbol, decimals: asset.decimals, balance });
    const a = await wallet.allowance(asset.address);
    if (a.limit > 0n) {
      allowances.push({
        asset: asset.address,
        symbol: asset.symbol,
        decimals: asset.decimals,
        limit: a.limit,
        spentCurrentPeriod: a.spentCurrentPeriod,
        spentPreviousPeriod: a.spentPreviousPeriod,
        available: a.available,
        relayNonce: a.nonce,
      });
    }
  }
  return {
    wallet: getAddress(address),
    deviceId,
    deviceStatus: STATUS_NAMES[Number(statusIndex)],
    deviceOwnedByWallet: getAddress(owner) === getAddress(address),
    owners: await walletOwners(hre, wallet),
    threshold: Number(await wallet.threshold()),
    nonce: await wallet.nonce(),
    deviceKey: config.deviceKey,
    registryKey,
    period: Number(config.period),
    frozen: config.frozen,
    linked: config.linked,
    balances,
    allowances,
  };
}
