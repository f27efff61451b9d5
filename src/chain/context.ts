import type { ContractRunner, Provider } from "ethers";

import {
  DeviceRegistry__factory,
  DeviceWalletFactory__factory,
  PaymentChannels__factory,
  ThingToken__factory,
} from "./factories";
import type { DeviceRegistry, DeviceWalletFactory, PaymentChannels, ThingToken } from "../../typechain-types";

/** Every contract of the system, with its Ignition future id in the address book. */
export const SYSTEM_CONTRACTS = {
  ThingToken: "ThingToken#ThingToken",
  DeviceRegistry: "DeviceRegistry#DeviceRegistry",
  PaymentChannels: "PaymentChannels#PaymentChannels",
  DeviceWalletFactory: "DeviceWallets#DeviceWalletFactory",
} as const;

export type SystemContract = keyof typeof SYSTEM_CONTRACTS;
export const ALL_CONTRACTS = Object.keys(SYSTEM_CONTRACTS) as SystemContract[];
export type SystemAddresses = Record<SystemContract, string>;

/**
 * What every function of the library needs to reach the system: a provider, the network's name (for
 * messages) and chain id, and the system's addresses. Hardhat tasks build one from `hre`
 * (`tasks/support/context.ts`); a script, the indexer or the browser app build one from any ethers provider
 * and an address book. Signing functions take a `Signer` beside it.
 */
export interface SystemContext {
  readonly provider: Provider;
  readonly network: string;
  readonly chainId: bigint;
  readonly addresses: SystemAddresses;
  /** True on the in-process network, where each run deploys a fresh system that vanishes after it. */
  readonly ephemeral: boolean;
}

/** The token, read-only or with `runner` to send transactions. */
export function tokenAt(ctx: SystemContext, runner?: ContractRunner): ThingToken {
  return ThingToken__factory.connect(ctx.addresses.ThingToken, runner ?? ctx.provider);
}

/** The device registry, read-only or with `runner` to send transactions. */
export function registryAt(ctx: SystemContext, runner?: ContractRunner): DeviceRegistry {
  return DeviceRegistry__factory.connect(ctx.addresses.DeviceRegistry, runner ?? ctx.provider);
}

/** The payment channels, read-only or with `runner` to send transactions. */
export function channelsAt(ctx: SystemContext, runner?: ContractRunner): PaymentChannels {
  return PaymentChannels__factory.connect(ctx.addresses.PaymentChannels, runner ?? ctx.provider);
}

/** The device wallet factory, read-only or with `runner` to send transactions. */
export function walletFactoryAt(ctx: SystemContext, runner?: ContractRunner): DeviceWalletFactory {
  return DeviceWalletFactory__factory.connect(ctx.addresses.DeviceWalletFactory, runner ?? ctx.provider);
}

/**
 * A context for a system whose addresses are known (a script, a test, the indexer, the browser app). Without
 * `network`, the chain's well-known name, or "chain <id>" for one ethers does not know (ethers says "unknown").
 */
export async function contextFor(
  provider: Provider,
  addresses: SystemAddresses,
  network?: string,
): Promise<SystemContext> {
  const { chainId, name } = await provider.getNetwork();
  const known = name !== "" && name !== "unknown" ? name : `chain ${chainId}`;
  return { provider, network: network ?? known, chainId, addresses, ephemeral: false };
}
