import type { Signer } from "ethers";
import { formatEther } from "ethers";

import { randomDeviceKey } from "../devices/keystore";

import { UserError } from "../errors";
import { registryAt, tokenAt } from "../chain/context";
import { formatThing } from "../units";
import type { SystemContext } from "../chain/context";
import { CAST_ETH, CAST_SIZE, DEMO_THING, DemoRun, WALLET_ETH } from "./state";
import type { DemoResult, DemoStep, DemoSystem } from "./state";
import {
  activateMore,
  admitManufacturer,
  commitFleet,
  deployed,
  fundManufacturer,
  fundOperator,
  ownersActivate,
  peerValidates,
  permitOffline,
  prepayFees,
  serviceCollects,
} from "./identity";
import {
  admitAuditor,
  auditorWithdraws,
  buyAccess,
  closeChannels,
  createWallets,
  devicesReport,
  deviceSpends,
  openChannels,
  ownersApprove,
  scoreEpoch,
  showReputation,
} from "./services";

export type { DemoResult, DemoStep, DemoSystem } from "./state";

/**
 * The demo runs as the first account, which must be the registry's admin and hold the THING and ETH it
 * hands out. On a live network that is a deployment whose treasury and admin are the deployer; anything
 * else fails here, before a transaction, with what is missing.
 */
async function checkFirstAccount(ctx: SystemContext, first: Signer, castFromFunds: number): Promise<void> {
  const address = await first.getAddress();
  const network = ctx.network;
  const admin = await registryAt(ctx).owner();
  if (admin !== address) {
    throw new UserError(
      `the demo runs as the first account ${address}, but the registry's admin on network "${network}" is ${admin}: run it on a deployment whose DeviceRegistry.admin and ThingToken.treasury are that account`,
    );
  }
  const held = await tokenAt(ctx).balanceOf(address);
  if (held < DEMO_THING) {
    throw new UserError(
      `the demo hands out ${formatThing(DEMO_THING)} from ${address}, which holds ${formatThing(held)} on network "${network}": send it some (token:transfer from the treasury)`,
    );
  }
  const eth = await ctx.provider.getBalance(address);
  const needed = WALLET_ETH + BigInt(castFromFunds) * CAST_ETH;
  if (eth < needed) {
    throw new UserError(
      `the demo needs ${formatEther(needed)} ETH plus gas on ${address}, which holds ${formatEther(eth)} ETH on network "${network}"`,
    );
  }
}

/**
 * The demo's cast, once the first account is checked. On networks with enough local accounts (the
 * in-process network, a `hardhat node`) they are those accounts; otherwise fresh keys, each funded with
 * {@link CAST_ETH} by the first account.
 */
async function cast(ctx: SystemContext, signers: readonly Signer[]): Promise<Signer[]> {
  const funder = signers[0];
  if (funder === undefined) throw new UserError(`network "${ctx.network}" has no accounts to run the demo with`);
  await checkFirstAccount(ctx, funder, Math.max(0, CAST_SIZE - signers.length));
  if (signers.length >= CAST_SIZE) {
    return signers.slice(0, CAST_SIZE);
  }
  const extra: Signer[] = [];
  for (let i = signers.length; i < CAST_SIZE; i++) {
    const wallet = randomDeviceKey().connect(ctx.provider);
    await (await funder.sendTransaction({ to: wallet.address, value: CAST_ETH })).wait();
    extra.push(wallet);
  }
  return [...signers, ...extra];
}

const STEPS: readonly ((d: DemoRun) => Promise<void>)[] = [
  deployed,
  fundOperator,
  permitOffline,
  serviceCollects,
  admitManufacturer,
  fundManufacturer,
  prepayFees,
  commitFleet,
  ownersActivate,
  activateMore,
  peerValidates,
  createWallets,
  deviceSpends,
  ownersApprove,
  openChannels,
  buyAccess,
  admitAuditor,
  devicesReport,
  scoreEpoch,
  showReputation,
  closeChannels,
  auditorWithdraws,
];

/** Runs the network's lifecycle, as far as it exists, and reports each step with its gas. */
export async function runDemo(
  system: DemoSystem,
  accounts: readonly Signer[],
  onStep: (step: DemoStep) => void = () => undefined,
): Promise<DemoResult> {
  const started = Date.now();
  const [treasury, operator, service, manufacturer, ownerA, ownerB, auditor] = await cast(system, accounts);
  const people = { treasury, operator, service, manufacturer, ownerA, ownerB, auditor };
  const token = tokenAt(system, treasury);
  const registry = registryAt(system, treasury);
  const d = new DemoRun(system, people, token, registry, onStep);
  try {
    for (const step of STEPS) await step(d);
  } finally {
    for (const cleanup of d.cleanups.reverse()) await cleanup();
  }
  return {
    network: system.network,
    chainId: system.chainId,
    ephemeral: system.ephemeral,
    addresses: system.addresses,
    steps: d.steps,
    totalGas: d.steps.reduce((sum, s) => sum + s.gasUsed, 0n),
    seconds: (Date.now() - started) / 1000,
  };
}
