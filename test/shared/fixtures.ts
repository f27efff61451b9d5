import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import type { TypedDataDomain } from "ethers";
import { Wallet, ZeroAddress, ZeroHash, keccak256, toUtf8Bytes } from "ethers";
import { reset } from "@nomicfoundation/hardhat-network-helpers";
import { ethers } from "hardhat";

import type { SystemContext } from "../../src/chain/context";
import { keyStruct } from "../../src/channels/key";
import type { ChannelKey } from "../../src/channels/key";
import { deviceIdOf } from "../../src/devices/fleet";
import type { FleetDevice } from "../../src/devices/fleet";
import { readDomain } from "../../src/eip712/domain";
import { compact, signActivation } from "../../src/eip712/device";
import { sortOwners } from "../../src/eip712/wallet";
import type {
  DeviceRegistry,
  DeviceWallet,
  DeviceWalletFactory,
  IDeviceWalletFactory,
  IPaymentChannels,
  MockTokenReceiver,
  PaymentChannels,
  ReentrantCallee,
  ThingToken,
} from "../../typechain-types";

export const SUPPLY = 1_000_000_000n * 10n ** 18n;
export const ONE = 10n ** 18n;

export interface TokenFixture {
  token: ThingToken;
  treasury: HardhatEthersSigner;
  alice: HardhatEthersSigner;
  bob: HardhatEthersSigner;
  mallory: HardhatEthersSigner;
  receiver: MockTokenReceiver;
  reentrant: ReentrantCallee;
}

/**
 * Every fixture starts from a fresh chain, so that addresses, nonces and signatures (and with them the
 * calldata and the gas of every snapshot) do not depend on which tests ran before. `reset` also drops the
 * other fixtures' snapshots; they are rebuilt when next loaded.
 */
async function freshChain(): Promise<void> {
  await reset();
}

/** `count` test devices of the fixtures' maker as a fleet file lists them (lines from 2), from device `first`. */
export function fleetDevices(count: number, first: number): FleetDevice[] {
  return Array.from({ length: count }, (_, i) => {
    const d = testDevice(first + i);
    return { ...d, publicKey: d.wallet.signingKey.publicKey, deviceKey: d.wallet.address, line: i + 2 };
  });
}

/** The library's context for a registry fixture: its token and registry (the other contracts are not deployed). */
export async function registryContext(f: RegistryFixture): Promise<SystemContext> {
  return {
    provider: ethers.provider,
    network: "hardhat",
    chainId: f.chainId,
    ephemeral: true,
    addresses: {
      ThingToken: await f.token.getAddress(),
      DeviceRegistry: await f.registry.getAddress(),
      PaymentChannels: ZeroAddress,
      DeviceWalletFactory: ZeroAddress,
    },
  };
}

/** ThingToken with its supply at `treasury`, 1,000 THING each for alice and mallory, and two callees. */
export async function tokenFixture(): Promise<TokenFixture> {
  await freshChain();
  return deployToken();
}

async function deployToken(): Promise<TokenFixture> {
  const [treasury, alice, bob, mallory] = await ethers.getSigners();
  const token = await ethers.deployContract("ThingToken", [treasury.address, SUPPLY]);
  await token.transfer(alice.address, 1_000n * ONE);
  await token.transfer(mallory.address, 1_000n * ONE);
  const receiver = await ethers.deployContract("MockTokenReceiver", [await token.getAddress()]);
  const reentrant = await ethers.deployContract("ReentrantCallee", [await token.getAddress()]);
  return { token, treasury, alice, bob, mallory, receiver, reentrant };
}

export const REGISTRATION_FEE = ONE;
export const ACTIVATION_FEE = 2n * ONE;
export const DEFAULT_SCORE = 500;

/** A simulated device: its raw id stays off chain; its id is in its manufacturer's namespace (deviceIdOf). */
export interface TestDevice {
  uid: string;
  deviceId: string;
  wallet: Wallet;
  deviceType: number;
}

/** Device `i` of manufacturer `manufacturerId` (the fixtures' maker is 1). */
export function testDevice(i: number, deviceType = 1, manufacturerId = 1): TestDevice {
  const uid = `SN-TEST-${i}`;
  return {
    uid,
    deviceId: deviceIdOf(manufacturerId, uid),
    wallet: new Wallet(keccak256(toUtf8Bytes(`device-key-${i}`))),
    deviceType,
  };
}

export interface RegistryFixture extends TokenFixture {
  registry: DeviceRegistry;
  admin: HardhatEthersSigner;
  maker: HardhatEthersSigner;
  makerPayout: HardhatEthersSigner;
  makerId: bigint;
  relayer: HardhatEthersSigner;
  chainId: bigint;
  domain: TypedDataDomain;
}

/**
 * A registry with fees set, one admitted manufacturer ("maker") holding 10,000 THING with 100 THING of fee
 * credit, and alice (an owner) who approved the registry for activation fees.
 */
export const EPOCH_LENGTH = 86_400n;
export const AUDIT_REWARD = ONE / 10n;

export async function registryFixture(): Promise<RegistryFixture> {
  await freshChain();
  const base = await deployToken();
  const signers = await ethers.getSigners();
  const [admin, maker, makerPayout, relayer] = signers.slice(4, 8);
  const registry = await ethers.deployContract("DeviceRegistry", [
    admin.address,
    await base.token.getAddress(),
    REGISTRATION_FEE,
    ACTIVATION_FEE,
    EPOCH_LENGTH,
    AUDIT_REWARD,
  ]);
  const registryAddress = await registry.getAddress();
  await registry.connect(admin).addManufacturer(maker.address, makerPayout.address, DEFAULT_SCORE);
  await base.token.transfer(maker.address, 10_000n * ONE);
  await base.token.connect(maker).approve(registryAddress, ethers.MaxUint256);
  await registry.connect(maker).depositFeeCredit(maker.address, 100n * ONE);
  await base.token.connect(base.alice).approve(registryAddress, ethers.MaxUint256);
  const { chainId } = await ethers.provider.getNetwork();
  return {
    ...base,
    registry,
    admin,
    maker,
    makerPayout,
    makerId: 1n,
    relayer,
    chainId,
    domain: await readDomain(registry),
  };
}

export interface ChannelsFixture extends TokenFixture {
  channels: PaymentChannels;
  owner: HardhatEthersSigner;
  server: HardhatEthersSigner;
  clients: Wallet[];
  chainId: bigint;
  domain: TypedDataDomain;
}

/**
 * A `close` / `closeBatch` request: the channel's key (less the payee: the caller is the payee) and a receipt
 * for `amount`, its signature in compact form (r, vs), with the signer's membership proof.
 */
export function closeRequest(
  key: Omit<ChannelKey, "payee">,
  amount: bigint,
  [r, vs]: readonly [string, string],
  proof: readonly string[],
): IPaymentChannels.CloseRequestStruct {
  return { key: keyStruct(key), amount, r, vs, proof: [...proof] };
}

/** Payment channels over the fixture token; alice is the owner, bob the Authorization Server. */
export async function channelsFixture(): Promise<ChannelsFixture> {
  await freshChain();
  const base = await deployToken();
  const channels = await ethers.deployContract("PaymentChannels", [await base.token.getAddress()]);
  const { chainId } = await ethers.provider.getNetwork();
  const clients = Array.from({ length: 4 }, (_, i) => new Wallet(keccak256(toUtf8Bytes(`client-key-${i}`))));
  // The server already holds tokens, as a running AS would.
  await base.token.transfer(base.bob.address, ONE);
  return {
    ...base,
    channels,
    owner: base.alice,
    server: base.bob,
    clients,
    chainId,
    domain: await readDomain(channels),
  };
}

export interface WalletFixture extends Omit<RegistryFixture, "domain"> {
  factory: DeviceWalletFactory;
  wallet: DeviceWallet;
  config: IDeviceWalletFactory.WalletConfigStruct;
  owners: Wallet[];
  sortedOwners: string[];
  device: Wallet;
  deviceId: string;
  /** The wallet's EIP-712 domain. */
  domain: TypedDataDomain;
  registryDomain: TypedDataDomain;
  chainId: bigint;
}

export const WALLET_PERIOD = 86_400n;
export const ETH_LIMIT = 10n ** 18n;
export const TOKEN_LIMIT = 100n * ONE;

/**
 * A device wallet for an active registered device: 3 owners (threshold 2), the device key, a day's
 * period, limits of 1 ETH and 100 THING; funded with 10 ETH and 1,000 THING.
 */
export async function walletFixture(): Promise<WalletFixture> {
  const base = await registryFixture();
  const factory = await ethers.deployContract("DeviceWalletFactory", [await base.registry.getAddress()]);
  const owners = [0, 1, 2].map((i) => new Wallet(keccak256(toUtf8Bytes(`wallet-owner-${i}`)), ethers.provider));
  const sortedOwners = sortOwners(owners.map((o) => o.address));
  const device = testDevice(900);
  await base.registry
    .connect(base.maker)
    .registerDevice(REGISTRATION_FEE, device.deviceId, device.wallet.address, 1, ZeroHash);
  const config = {
    owners: sortedOwners,
    threshold: 2,
    deviceId: device.deviceId,
    deviceKey: device.wallet.address,
    period: WALLET_PERIOD,
    assets: [ZeroAddress, await base.token.getAddress()],
    limits: [ETH_LIMIT, TOKEN_LIMIT],
  };
  // The wallet owns its device: alice activates the device for the wallet's (predicted) address.
  const walletAddress = await factory.predictWallet(config);
  const activation = await signActivation(device.wallet, base.domain, {
    deviceId: device.deviceId,
    owner: walletAddress,
    deadline: 4_102_444_800n,
  });
  const [r, vs] = compact(activation);
  await base.registry
    .connect(base.alice)
    .activateDevice(ACTIVATION_FEE, device.deviceId, walletAddress, 4_102_444_800n, r, vs);
  await factory.createWallet(config);
  const wallet = await ethers.getContractAt("DeviceWallet", walletAddress);
  await wallet.link();
  await base.treasury.sendTransaction({ to: await wallet.getAddress(), value: 10n * ONE });
  await base.token.connect(base.treasury).transfer(await wallet.getAddress(), 1_000n * ONE);
  for (const o of owners) await base.treasury.sendTransaction({ to: o.address, value: ONE });
  await base.treasury.sendTransaction({ to: device.wallet.address, value: ONE });
  const { chainId } = await ethers.provider.getNetwork();
  return {
    ...base,
    factory,
    wallet,
    config,
    owners,
    sortedOwners,
    device: device.wallet.connect(ethers.provider),
    deviceId: device.deviceId,
    domain: await readDomain(wallet),
    registryDomain: base.domain,
    chainId,
  };
}

export interface ReputationFixture extends RegistryFixture {
  /** 200 active devices owned by alice (ids from testDevice(1000 + i)). */
  devices: string[];
  auditor: HardhatEthersSigner;
  epoch: bigint;
}

/**
 * A registry with 200 active devices (their fees fill the reward pool with 600 THING) and one admitted
 * auditor (signer 8).
 */
export async function reputationFixture(): Promise<ReputationFixture> {
  const base = await registryFixture();
  const signers = await ethers.getSigners();
  const auditor = signers[8];
  const devices: string[] = [];
  for (let i = 0; i < 200; i++) {
    const d = testDevice(1000 + i);
    await base.registry
      .connect(base.maker)
      .registerAndActivate(
        REGISTRATION_FEE + ACTIVATION_FEE,
        d.deviceId,
        d.wallet.address,
        1,
        ZeroHash,
        base.alice.address,
      );
    devices.push(d.deviceId);
  }
  await base.registry.connect(base.admin).addAuditor(auditor.address);
  return { ...base, devices, auditor, epoch: await base.registry.currentEpoch() };
}

export interface AuditorFixture extends RegistryFixture {
  /** Four active devices owned by alice. */
  devices: TestDevice[];
  /** Registered, never activated. */
  dormant: TestDevice;
  /** Activated, then revoked by its manufacturer. */
  revoked: TestDevice;
  /** Never registered. */
  stranger: TestDevice;
  auditor: HardhatEthersSigner;
}

/** A registry with four active devices, a dormant, a revoked one and one admitted auditor (signer 8). */
export async function auditorFixture(): Promise<AuditorFixture> {
  const base = await registryFixture();
  const auditor = (await ethers.getSigners())[8];
  const devices = [0, 1, 2, 3].map((i) => testDevice(2000 + i));
  const revoked = testDevice(2010);
  for (const d of [...devices, revoked]) {
    await base.registry
      .connect(base.maker)
      .registerAndActivate(
        REGISTRATION_FEE + ACTIVATION_FEE,
        d.deviceId,
        d.wallet.address,
        1,
        ZeroHash,
        base.alice.address,
      );
  }
  await base.registry.connect(base.maker).revokeDevice(revoked.deviceId, 1);
  const dormant = testDevice(2011);
  await base.registry
    .connect(base.maker)
    .registerDevice(REGISTRATION_FEE, dormant.deviceId, dormant.wallet.address, 1, ZeroHash);
  await base.registry.connect(base.admin).addAuditor(auditor.address);
  return { ...base, devices, dormant, revoked, stranger: testDevice(2012), auditor };
}
