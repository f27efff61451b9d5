import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import type { TypedDataDomain } from "ethers";
import { Wallet, keccak256, toUtf8Bytes } from "ethers";
import { reset } from "@nomicfoundation/hardhat-network-helpers";
import { ethers } from "hardhat";

import { registryDomain } from "../../src/eip712/device";
import { channelsDomain } from "../../src/eip712/receipt";
import type {
  DeviceRegistry,
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

/** A simulated device: its raw id stays off chain; its id is the hash. */
export interface TestDevice {
  uid: string;
  deviceId: string;
  wallet: Wallet;
  deviceType: number;
}

export function testDevice(i: number, deviceType = 1): TestDevice {
  const uid = `SN-TEST-${i}`;
  return {
    uid,
    deviceId: keccak256(toUtf8Bytes(uid)),
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
    domain: registryDomain(chainId, registryAddress),
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
    domain: channelsDomain(chainId, await channels.getAddress()),
  };
}
