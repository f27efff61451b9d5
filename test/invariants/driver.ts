/**
 * The one place the model-based test touches the contracts' API: the system fixture and one function per
 * operation, written against the API after issue 14's fixes (`maxFee` first on every fee-paying registry
 * call, device ids namespaced by manufacturer, whitelists keyed by (manufacturer, root), a committed report
 * count on every score update). Every function sends exactly one transaction
 * (or none) and returns its response; a refused call throws from gas estimation, so it is never mined.
 */
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import type { Signer, TransactionResponse, TypedDataDomain } from "ethers";
import { AbiCoder, MaxUint256, Signature, Wallet, ZeroAddress, ZeroHash, concat, keccak256, toUtf8Bytes } from "ethers";
import { ethers } from "hardhat";

import { deviceIdOf as fleetDeviceIdOf } from "../../src/devices/fleet";
import { readDomain } from "../../src/eip712/domain";
import { compact, signActivation, signActivationPayment, signKeyRotation } from "../../src/eip712/device";
import { signPermit } from "../../src/eip712/permit";
import { signReceipt } from "../../src/eip712/receipt";
import { packAuthorization, signDeviceTransfer, signExecute, sortOwners } from "../../src/eip712/wallet";
import { buildGroup } from "../../src/merkle/group";
import type { ClientGroup } from "../../src/merkle/group";
import { buildWhitelist } from "../../src/merkle/whitelist";
import type { Whitelist } from "../../src/merkle/whitelist";
import type {
  DeviceRegistry,
  DeviceWallet,
  DeviceWalletFactory,
  PaymentChannels,
  ThingToken,
} from "../../typechain-types";
import {
  ACTIVATION_FEE,
  ETH_LIMIT,
  ONE,
  REGISTRATION_FEE,
  TOKEN_LIMIT,
  WALLET_PERIOD,
  registryFixture,
} from "../shared/fixtures";
import type { RegistryFixture } from "../shared/fixtures";

export const DEADLINE = 4_102_444_800n;
/** Gas the owners sign for an execution's inner call. */
export const EXEC_GAS = 200_000n;

type Tx = Promise<TransactionResponse>;

/** The fees a caller saw: what it consents to pay per registration and per activation. */
export interface Fees {
  reg: bigint;
  act: bigint;
}

// ---------------------------------------------------------------- device ids and keys

/** A device's id: its manufacturer's id in the top 32 bits, then the low bits of keccak256(uid). */
export function deviceIdOf(manufacturerId: number, uid: string): string {
  return fleetDeviceIdOf(manufacturerId, uid);
}

const keyCache = new Map<string, Wallet>();
/** A device key, deterministic from a label (the uid, plus the rotation count). */
export function keyOf(label: string): Wallet {
  let w = keyCache.get(label);
  if (w === undefined) {
    w = new Wallet(keccak256(toUtf8Bytes(`model-device-key:${label}`)));
    keyCache.set(label, w);
  }
  return w;
}

/** The signer of a device key: one of the wallet's device keys, or a key made by {@link keyOf}. */
export function signerForKey(sys: { walletKeys: HardhatEthersSigner[] }, address: string): Signer {
  const own = sys.walletKeys.find((k) => k.address === address);
  if (own !== undefined) return own;
  for (const w of keyCache.values()) if (w.address === address) return w;
  throw new Error(`no signer for device key ${address}`);
}

/** A manufacturer's pool of devices: the uids only it may register. */
export interface PoolDevice {
  uid: string;
  maker: number;
}

export const POOL: PoolDevice[] = [
  ...Array.from({ length: 8 }, (_, i) => ({ uid: `A-${i}`, maker: 0 })),
  ...Array.from({ length: 4 }, (_, i) => ({ uid: `B-${i}`, maker: 1 })),
];

/** Whitelists the manufacturers may commit (their devices are not in POOL). */
export const WHITELIST_UIDS: string[][] = [
  ["A-WL-0", "A-WL-1", "A-WL-2", "A-WL-3"],
  ["B-WL-0", "B-WL-1"],
];

// ---------------------------------------------------------------- the system

export interface System extends RegistryFixture {
  channels: PaymentChannels;
  factory: DeviceWalletFactory;
  wallet: DeviceWallet;
  makers: { account: HardhatEthersSigner; payout: HardhatEthersSigner; id: number }[];
  auditor: HardhatEthersSigner;
  rogueAuditor: HardhatEthersSigner;
  server: HardhatEthersSigner;
  rogueServer: HardhatEthersSigner;
  carol: HardhatEthersSigner;
  walletOwners: HardhatEthersSigner[];
  /** The wallet device's two alternating keys (signers, so they can send their own spends). */
  walletKeys: HardhatEthersSigner[];
  walletDeviceId: string;
  clients: Wallet[];
  groups: ClientGroup[];
  whitelists: Whitelist[];
  /** Channels the fixture opened to `server` (alice: ETH, carol: THING), group 0. */
  initialChannels: {
    owner: string;
    payee: string;
    token: boolean;
    salt: bigint;
    openBlock: bigint;
    deposit: bigint;
    expiry: bigint;
  }[];
  registryDomain: TypedDataDomain;
  tokenDomain: TypedDataDomain;
  channelsDomain: TypedDataDomain;
  walletDomain: TypedDataDomain;
}

/**
 * Everything deployed once: the token, the registry (manufacturers A = `maker` and B, hostile, each with
 * 10,000 THING and a standing registry allowance; two auditors), the channels, the wallet factory and one
 * device wallet (owners: signers 15-17, threshold 2; device key signer 18) that owns its active device
 * and holds 10 ETH and 1,000 THING. alice keeps her standing registry allowance, carol one to the
 * channels: the victims' setting. A-0 and A-1 are active (owner bob), A-2 and B-0 registered; A's whitelist
 * is committed (activation fee 2 THING) and A-WL-0 registered from it. alice (ETH) and carol (THING) each
 * have a channel open to `server` for the client group 0.
 */
export async function systemFixture(): Promise<System> {
  const base = await registryFixture();
  const s = await ethers.getSigners();
  const [auditor, rogueAuditor, makerB, makerBPayout, server, rogueServer, carol] = s.slice(8, 15);
  const walletOwners = s.slice(15, 18);
  const walletKeys = s.slice(18, 20);
  const { token, registry, admin, maker, makerPayout, treasury } = base;
  const registryAddress = await registry.getAddress();
  const channels = await ethers.deployContract("PaymentChannels", [await token.getAddress()]);
  const factory = await ethers.deployContract("DeviceWalletFactory", [registryAddress]);
  await registry.connect(admin).addManufacturer(makerB.address, makerBPayout.address, 400);
  await token.transfer(makerB.address, 10_000n * ONE);
  await token.connect(makerB).approve(registryAddress, MaxUint256);
  for (const a of [base.bob, carol, base.relayer]) await token.transfer(a.address, 1_000n * ONE);
  await token.connect(carol).approve(await channels.getAddress(), MaxUint256);
  await registry.connect(admin).addAuditor(auditor.address);
  await registry.connect(admin).addAuditor(rogueAuditor.address);
  const makers = [
    { account: maker, payout: makerPayout, id: 1 },
    { account: makerB, payout: makerBPayout, id: 2 },
  ];
  const fees = { reg: REGISTRATION_FEE, act: ACTIVATION_FEE };
  for (const uid of ["A-0", "A-1"]) {
    await op.registerAndActivate(registry, maker, deviceIdOf(1, uid), keyOf(uid).address, base.bob.address, fees);
  }
  await op.registerDevice(registry, maker, deviceIdOf(1, "A-2"), keyOf("A-2").address, fees);

  // The device wallet, as walletFixture builds it.
  const walletDeviceId = deviceIdOf(1, "A-W");
  await op.registerDevice(registry, maker, walletDeviceId, walletKeys[0].address, fees);
  const config = {
    owners: sortOwners(walletOwners.map((o) => o.address)),
    threshold: 2,
    deviceId: walletDeviceId,
    deviceKey: walletKeys[0].address,
    period: WALLET_PERIOD,
    assets: [ZeroAddress, await token.getAddress()],
    limits: [ETH_LIMIT, TOKEN_LIMIT],
  };
  const walletAddress = await factory.predictWallet(config);
  const sig = await signActivation(walletKeys[0], base.domain, {
    deviceId: walletDeviceId,
    owner: walletAddress,
    deadline: DEADLINE,
  });
  await op.activateDevice(
    registry,
    base.alice,
    walletDeviceId,
    walletAddress,
    compact(sig) as [string, string],
    fees.act,
  );
  await factory.createWallet(config);
  const wallet = await ethers.getContractAt("DeviceWallet", walletAddress);
  await wallet.link();
  await treasury.sendTransaction({ to: walletAddress, value: 10n * ONE });
  await token.transfer(walletAddress, 1_000n * ONE);

  const clients = Array.from({ length: 4 }, (_, i) => new Wallet(keccak256(toUtf8Bytes(`model-client-${i}`))));
  const groups = [buildGroup(clients.slice(0, 3).map((c) => c.address)), buildGroup([clients[3].address])];
  const whitelists = WHITELIST_UIDS.map((uids, m) =>
    buildWhitelist(
      uids.map((uid) => ({ deviceId: deviceIdOf(m + 1, uid), deviceKey: keyOf(uid).address, deviceType: 1 })),
      m + 1,
    ),
  );
  await op.registerDevice(registry, makerB, deviceIdOf(2, "B-0"), keyOf("B-0").address, fees);
  await op.commitWhitelist(registry, maker, whitelists[0].root, whitelists[0].capacity, fees);
  const listed = whitelists[0].entries[0];
  await op.registerFromWhitelist(
    registry,
    treasury,
    whitelists[0].root,
    listed.deviceId,
    listed.deviceKey,
    listed.proof,
  );
  const initialChannels = [];
  for (const [owner, isToken, deposit] of [
    [base.alice, false, ONE],
    [carol, true, 20n * ONE],
  ] as const) {
    const expiry = BigInt((await ethers.provider.getBlock("latest"))!.timestamp) + 30n * 3600n;
    const tx = isToken
      ? await channels.connect(owner).openToken(server.address, deposit, expiry, groups[0].root, 0n)
      : await channels.connect(owner).openEth(server.address, expiry, groups[0].root, 0n, { value: deposit });
    const openBlock = BigInt((await tx.wait())!.blockNumber);
    initialChannels.push({
      owner: owner.address,
      payee: server.address,
      token: isToken,
      salt: 0n,
      openBlock,
      deposit,
      expiry,
    });
  }
  return {
    ...base,
    channels,
    factory,
    wallet,
    makers,
    auditor,
    rogueAuditor,
    server,
    rogueServer,
    carol,
    walletOwners,
    walletKeys,
    walletDeviceId,
    clients,
    groups,
    whitelists,
    initialChannels,
    registryDomain: base.domain,
    tokenDomain: await readDomain(token),
    channelsDomain: await readDomain(channels),
    walletDomain: await readDomain({ runner: ethers.provider, address: walletAddress }),
  };
}

// ---------------------------------------------------------------- signed messages

export interface SignedPermit {
  owner: string;
  spender: string;
  value: bigint;
  deadline: bigint;
  v: number;
  r: string;
  s: string;
}

export async function permitBy(
  sys: System,
  signer: Signer,
  owner: string,
  spender: string,
  value: bigint,
  nonce: bigint,
): Promise<SignedPermit> {
  const sig = Signature.from(
    await signPermit(signer as Wallet, sys.tokenDomain, { owner, spender, value, nonce, deadline: DEADLINE }),
  );
  return { owner, spender, value, deadline: DEADLINE, v: sig.v, r: sig.r, s: sig.s };
}

/** No permit (v = 0): what a caller passes when it relies on a standing allowance. */
export const EMPTY_PERMIT = { deadline: DEADLINE, v: 0, r: ZeroHash, s: ZeroHash };

/** The owner's consent that a relayed activation of `deviceId` takes at most `maxFee` from it. */
export async function payActivationSig(sys: System, owner: Signer, deviceId: string, maxFee: bigint): Promise<string> {
  return signActivationPayment(owner as Wallet, sys.registryDomain, {
    deviceId,
    owner: await owner.getAddress(),
    maxFee,
    deadline: DEADLINE,
  });
}

export async function activationSig(
  sys: System,
  key: Signer,
  deviceId: string,
  owner: string,
): Promise<[string, string]> {
  return compact(await signActivation(key as Wallet, sys.registryDomain, { deviceId, owner, deadline: DEADLINE }));
}

export async function rotationSig(
  sys: System,
  newKey: Signer,
  deviceId: string,
  newKeyAddress: string,
  nonce: bigint,
): Promise<[string, string]> {
  return compact(
    await signKeyRotation(newKey as Wallet, sys.registryDomain, {
      deviceId,
      newKey: newKeyAddress,
      nonce,
      deadline: DEADLINE,
    }),
  );
}

export function channelIdOf(
  owner: string,
  payee: string,
  isToken: boolean,
  root: string,
  salt: bigint,
  openBlock: bigint,
): string {
  return keccak256(
    AbiCoder.defaultAbiCoder().encode(
      ["address", "address", "bool", "bytes32", "uint96", "uint64"],
      [owner, payee, isToken, root, salt, openBlock],
    ),
  );
}

export async function receiptSig(
  sys: System,
  client: Wallet,
  channelId: string,
  amount: bigint,
): Promise<[string, string]> {
  return compact(await signReceipt(client, sys.channelsDomain, { channelId, cumulativeAmount: amount }));
}

/**
 * `auth` for `execute`: the signatures of `signers` over the message at `nonce`, ordered by signer, then
 * the owners who did not sign. Legitimate sets go through `packAuthorization`; a set with a non-owner (a
 * forgery) is packed the same way by hand, since the helper refuses it.
 */
export async function executeAuth(
  sys: System,
  signers: Signer[],
  to: string,
  value: bigint,
  data: string,
  nonce: bigint,
): Promise<string> {
  const m = { to, value, data, gasLimit: EXEC_GAS, nonce };
  const sigs: Record<string, string> = {};
  for (const s of signers) sigs[await s.getAddress()] = await signExecute(s as Wallet, sys.walletDomain, m);
  const owners = sortOwners(sys.walletOwners.map((o) => o.address));
  if (Object.keys(sigs).every((a) => owners.includes(a))) return packAuthorization(owners, sigs);
  const signed = sortOwners(Object.keys(sigs)).map((a) => concat(compact(sigs[a])));
  return concat([...signed, ...owners.filter((o) => !(o in sigs))]);
}

export async function deviceTransferSig(
  sys: System,
  key: Signer,
  asset: string,
  to: string,
  amount: bigint,
  nonce: bigint,
): Promise<[string, string]> {
  const sig = await signDeviceTransfer(key as Wallet, sys.walletDomain, {
    asset,
    to,
    amount,
    nonce,
    deadline: DEADLINE,
  });
  return compact(sig);
}

// ---------------------------------------------------------------- operations: token

export const op = {
  transfer: (t: ThingToken, from: Signer, to: string, amount: bigint): Tx => t.connect(from).transfer(to, amount),
  approve: (t: ThingToken, owner: Signer, spender: string, amount: bigint): Tx =>
    t.connect(owner).approve(spender, amount),
  transferFrom: (t: ThingToken, spender: Signer, from: string, to: string, amount: bigint): Tx =>
    t.connect(spender).transferFrom(from, to, amount),
  permit: (t: ThingToken, relayer: Signer, p: SignedPermit): Tx =>
    t.connect(relayer).permit(p.owner, p.spender, p.value, p.deadline, p.v, p.r, p.s),
  transferAndCall: (t: ThingToken, from: Signer, to: string, amount: bigint, data: string): Tx =>
    t.connect(from).transferAndCall(to, amount, data),
  transferFromAndCall: (t: ThingToken, spender: Signer, from: string, to: string, amount: bigint): Tx =>
    t.connect(spender).transferFromAndCall(from, to, amount, "0x"),
  sendEth: (from: Signer, to: string, value: bigint): Tx => from.sendTransaction({ to, value }),

  // ---------------------------------------------------------------- registry: admin and credit
  setFees: (r: DeviceRegistry, admin: Signer, reg: bigint, act: bigint): Tx => r.connect(admin).setFees(reg, act),
  addManufacturer: (r: DeviceRegistry, admin: Signer, account: string, payout: string): Tx =>
    r.connect(admin).addManufacturer(account, payout, 400),
  removeManufacturer: (r: DeviceRegistry, admin: Signer, account: string): Tx =>
    r.connect(admin).removeManufacturer(account),
  depositCredit: (r: DeviceRegistry, payer: Signer, account: string, amount: bigint): Tx =>
    r.connect(payer).depositFeeCredit(account, amount),
  depositCreditAndCall: (sys: System, payer: Signer, account: string, amount: bigint): Tx =>
    sys.token
      .connect(payer)
      .approveAndCall(
        sys.registry.target,
        amount,
        sys.registry.interface.encodeFunctionData("depositFeeCredit", [account, amount]),
      ),
  depositCreditWithPermit: (r: DeviceRegistry, payer: Signer, account: string, p: SignedPermit): Tx =>
    r.connect(payer).depositFeeCreditWithPermit(account, p.value, p.deadline, p.v, p.r, p.s),
  withdrawCredit: (r: DeviceRegistry, maker: Signer): Tx => r.connect(maker).withdrawFeeCredit(),
  setPayout: (r: DeviceRegistry, caller: Signer, payout: string): Tx => r.connect(caller).setPayout(payout),
  proposeManufacturerAccount: (r: DeviceRegistry, caller: Signer, account: string): Tx =>
    r.connect(caller).proposeManufacturerAccount(account),
  acceptManufacturerAccount: (r: DeviceRegistry, caller: Signer, id: number): Tx =>
    r.connect(caller).acceptManufacturerAccount(id),

  // ---------------------------------------------------------------- registry: devices
  // Every fee-paying call takes the caller's `maxFee` first: `seen` holds the fees the caller saw and
  // consents to (per device; registerAndActivate: registration plus activation).
  registerDevice: (r: DeviceRegistry, maker: Signer, id: string, key: string, seen: Fees): Tx =>
    r.connect(maker).registerDevice(seen.reg, id, key, 1, ZeroHash),
  registerDevices: (r: DeviceRegistry, maker: Signer, ids: string[], keys: string[], seen: Fees): Tx =>
    r.connect(maker).registerDevices(
      seen.reg,
      ids,
      keys,
      ids.map(() => 1),
    ),
  registerAndActivate: (r: DeviceRegistry, maker: Signer, id: string, key: string, owner: string, seen: Fees): Tx =>
    r.connect(maker).registerAndActivate(seen.reg + seen.act, id, key, 1, ZeroHash, owner),
  // Roots are keyed by (manufacturer, root); a claim's root is looked up under the manufacturer its id names.
  commitWhitelist: (r: DeviceRegistry, maker: Signer, root: string, capacity: number, seen: Fees): Tx =>
    r.connect(maker).commitWhitelist(seen.reg, seen.act, root, capacity),
  closeWhitelist: (r: DeviceRegistry, caller: Signer, manufacturerId: number, root: string): Tx =>
    r.connect(caller).closeWhitelist(manufacturerId, root),
  registerFromWhitelist: (
    r: DeviceRegistry,
    caller: Signer,
    root: string,
    id: string,
    key: string,
    proof: string[],
  ): Tx => r.connect(caller).registerFromWhitelist(root, id, key, 1, proof),
  activateFromWhitelist: (
    r: DeviceRegistry,
    caller: Signer,
    root: string,
    id: string,
    proof: string[],
    owner: string,
    sig: [string, string],
    maxFee: bigint,
  ): Tx => r.connect(caller).activateFromWhitelist(maxFee, root, id, 1, proof, owner, DEADLINE, ...sig),
  activateDevice: (
    r: DeviceRegistry,
    caller: Signer,
    id: string,
    owner: string,
    sig: [string, string],
    maxFee: bigint,
  ): Tx => r.connect(caller).activateDevice(maxFee, id, owner, DEADLINE, ...sig),
  activateDeviceWithPermit: (
    r: DeviceRegistry,
    relayer: Signer,
    id: string,
    owner: string,
    sig: [string, string],
    p: { deadline: bigint; v: number; r: string; s: string },
    maxFee: bigint,
    consent: string,
  ): Tx =>
    r
      .connect(relayer)
      .activateDeviceWithPermit(maxFee, id, owner, DEADLINE, ...sig, p.deadline, p.v, p.r, p.s, consent),
  transferDevice: (r: DeviceRegistry, owner: Signer, id: string, to: string): Tx =>
    r.connect(owner).transferDevice(id, to),
  revokeDevice: (r: DeviceRegistry, caller: Signer, id: string): Tx => r.connect(caller).revokeDevice(id, 1),
  rotateDeviceKey: (r: DeviceRegistry, owner: Signer, id: string, newKey: string, sig: [string, string]): Tx =>
    r.connect(owner).rotateDeviceKey(id, newKey, DEADLINE, ...sig),
  rotateDeviceKeyData: (r: DeviceRegistry, id: string, newKey: string, sig: [string, string]): string =>
    r.interface.encodeFunctionData("rotateDeviceKey", [id, newKey, DEADLINE, ...sig]),
  transferDeviceData: (r: DeviceRegistry, id: string, to: string): string =>
    r.interface.encodeFunctionData("transferDevice", [id, to]),

  // ---------------------------------------------------------------- reputation
  addAuditor: (r: DeviceRegistry, admin: Signer, a: string): Tx => r.connect(admin).addAuditor(a),
  removeAuditor: (r: DeviceRegistry, admin: Signer, a: string): Tx => r.connect(admin).removeAuditor(a),
  updateScores: (
    r: DeviceRegistry,
    auditor: Signer,
    updates: { deviceId: string; score: number; trend: number }[],
    epoch: bigint,
    root: string,
    reportCount: number,
  ): Tx =>
    updates.length === 1
      ? r
          .connect(auditor)
          .updateScore(updates[0].deviceId, updates[0].score, updates[0].trend, epoch, root, reportCount)
      : r.connect(auditor).updateScores(updates, epoch, root, reportCount),
  setAuditorRewardCap: (r: DeviceRegistry, admin: Signer, a: string, cap: bigint): Tx =>
    r.connect(admin).setAuditorRewardCap(a, cap),
  withdrawAuditorReward: (r: DeviceRegistry, auditor: Signer): Tx => r.connect(auditor).withdrawAuditorReward(),

  // ---------------------------------------------------------------- channels
  openEth: (
    c: PaymentChannels,
    owner: Signer,
    payee: string,
    expiry: bigint,
    root: string,
    salt: bigint,
    value: bigint,
  ): Tx => c.connect(owner).openEth(payee, expiry, root, salt, { value }),
  openToken: (
    c: PaymentChannels,
    owner: Signer,
    payee: string,
    deposit: bigint,
    expiry: bigint,
    root: string,
    salt: bigint,
  ): Tx => c.connect(owner).openToken(payee, deposit, expiry, root, salt),
  openTokenAndCall: (
    sys: System,
    owner: Signer,
    payee: string,
    deposit: bigint,
    expiry: bigint,
    root: string,
    salt: bigint,
  ): Tx =>
    sys.token
      .connect(owner)
      .approveAndCall(
        sys.channels.target,
        deposit,
        sys.channels.interface.encodeFunctionData("openToken", [payee, deposit, expiry, root, salt]),
      ),
  openTokenWithPermit: (
    c: PaymentChannels,
    owner: Signer,
    payee: string,
    deposit: bigint,
    expiry: bigint,
    root: string,
    salt: bigint,
    p: SignedPermit,
  ): Tx => c.connect(owner).openTokenWithPermit(payee, deposit, expiry, root, salt, p.deadline, p.v, p.r, p.s),
  topUp: (c: PaymentChannels, owner: Signer, ch: ChannelRef, amount: bigint, newExpiry: bigint): Tx =>
    c.connect(owner).topUp(channelKeyOf(ch), ch.payee, amount, newExpiry, { value: ch.token ? 0n : amount }),
  close: (c: PaymentChannels, payee: Signer, q: CloseRequest): Tx => c.connect(payee).close(toContract(q)),
  closeBatch: (c: PaymentChannels, payee: Signer, qs: CloseRequest[]): Tx =>
    c.connect(payee).closeBatch(qs.map(toContract)),
  reclaim: (c: PaymentChannels, owner: Signer, ch: ChannelRef): Tx =>
    c.connect(owner).reclaim(channelKeyOf(ch), ch.payee),

  // ---------------------------------------------------------------- wallet
  execute: (w: DeviceWallet, relayer: Signer, to: string, value: bigint, data: string, auth: string): Tx =>
    w.connect(relayer).execute(to, value, data, EXEC_GAS, auth),
  deviceTransfer: (w: DeviceWallet, key: Signer, asset: string, to: string, amount: bigint): Tx =>
    w.connect(key).deviceTransfer(asset, to, amount),
  deviceTransferBySig: (
    w: DeviceWallet,
    relayer: Signer,
    asset: string,
    to: string,
    amount: bigint,
    sig: [string, string],
  ): Tx => w.connect(relayer).deviceTransferBySig(asset, to, amount, DEADLINE, ...sig),
  freeze: (w: DeviceWallet, caller: Signer, owners: string[]): Tx => w.connect(caller).freezeDevice(owners),
};

/** A channel as the commands name it. */
interface ChannelRef {
  owner: string;
  payee: string;
  token: boolean;
  root: string;
  salt: bigint;
  openBlock: bigint;
}

/** The contract's `ChannelKey` of a channel (less the payee). */
function channelKeyOf(ch: ChannelRef) {
  return { owner: ch.owner, token: ch.token, clientRoot: ch.root, salt: ch.salt, openBlock: ch.openBlock };
}

/** The contract's `CloseRequest` for a flat request. */
function toContract(q: CloseRequest) {
  const { amount, r, vs, proof, ...key } = q;
  return { key, amount, r, vs, proof };
}

export interface CloseRequest {
  owner: string;
  token: boolean;
  clientRoot: string;
  salt: bigint;
  openBlock: bigint;
  amount: bigint;
  r: string;
  vs: string;
  proof: string[];
}
