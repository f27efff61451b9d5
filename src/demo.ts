import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import type { Signer, TypedDataDomain } from "ethers";
import { Signature, formatEther, hexlify, parseEther, parseUnits, randomBytes } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types";

import { chainTime } from "./chain/time";
import { deployedOrDeploy, loadSystem } from "../tasks/support/deployments";
import { randomDeviceKey } from "./devices/keystore";
import type { System } from "../tasks/support/deployments";
import { compact, identityClaimDigest, signActivation, signIdentityClaim } from "./eip712/device";
import { readDomain } from "./eip712/domain";
import { signPermit } from "./eip712/permit";
import { buildWhitelist } from "./merkle/whitelist";
import { deviceIdOf } from "./devices/fleet";
import { deviceTypeName } from "./devices/types";
import type { DeviceRegistry, ThingToken } from "../typechain-types";
import { PaymentChannels__factory } from "../typechain-types";
import { submitCloses } from "./channels/key";
import { runAccessSimulation } from "./channels/simulation";
import { formatGas } from "./cli/output";
import { validate } from "./registry";
import { claimInteraction, makeReport, openAuditor, submitReports, withdrawReward } from "./reputation";
import { UserError } from "./errors";
import { registryAt, tokenAt } from "./chain/context";
import { signerAt } from "../tasks/support/signers";
import { formatThing } from "./units";
import { addSignature, createWallet, deviceSpend, execute, fundWallet, propose, resolveAsset } from "./wallets";

export interface DemoStep {
  step: number;
  title: string;
  detail: string;
  gasUsed: bigint;
}

export interface DemoResult {
  network: string;
  chainId: bigint;
  ephemeral: boolean;
  addresses: System["addresses"];
  steps: DemoStep[];
  totalGas: bigint;
  seconds: number;
}

/** THING the first account hands out: the operator, the manufacturer's fees, two owners' activations. */
const OPERATOR_THING = parseUnits("1000", 18);
const MANUFACTURER_THING = parseUnits("5000", 18);
const OWNER_THING = parseUnits("100", 18);
const DEMO_THING = OPERATOR_THING + MANUFACTURER_THING + 2n * OWNER_THING;
/** ETH the first account puts into the first device wallet. */
const WALLET_ETH = parseEther("0.1");
/** ETH each fresh cast member gets on a network without enough local accounts (a channel deposit and gas). */
const CAST_ETH = parseEther("0.03");
const CAST_SIZE = 7;

/**
 * The demo runs as the first account, which must be the registry's admin and hold the THING and ETH it
 * hands out. On a live network that is a deployment whose treasury and admin are the deployer; anything
 * else fails here, before a transaction, with what is missing.
 */
async function checkFirstAccount(hre: HardhatRuntimeEnvironment, first: Signer, castFromFunds: number): Promise<void> {
  const address = await first.getAddress();
  const network = hre.network.name;
  const admin = await registryAt(await loadSystem(hre)).owner();
  if (admin !== address) {
    throw new UserError(
      `the demo runs as the first account ${address}, but the registry's admin on network "${network}" is ${admin}: run it on a deployment whose DeviceRegistry.admin and ThingToken.treasury are that account`,
    );
  }
  const held = await tokenAt(await loadSystem(hre)).balanceOf(address);
  if (held < DEMO_THING) {
    throw new UserError(
      `the demo hands out ${formatThing(DEMO_THING)} from ${address}, which holds ${formatThing(held)} on network "${network}": send it some (token:transfer from the treasury)`,
    );
  }
  const eth = await hre.ethers.provider.getBalance(address);
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
async function cast(hre: HardhatRuntimeEnvironment): Promise<Signer[]> {
  const funder = await signerAt(hre, 0);
  const signers = await hre.ethers.getSigners();
  await checkFirstAccount(hre, funder, Math.max(0, CAST_SIZE - signers.length));
  if (signers.length >= CAST_SIZE) {
    return signers.slice(0, CAST_SIZE);
  }
  const extra: Signer[] = [];
  for (let i = signers.length; i < CAST_SIZE; i++) {
    const wallet = randomDeviceKey().connect(hre.ethers.provider);
    await (await funder.sendTransaction({ to: wallet.address, value: CAST_ETH })).wait();
    extra.push(wallet);
  }
  return [...signers, ...extra];
}

/** A fleet device: its key, unique id and type. */
interface FleetDevice {
  uid: string;
  wallet: ReturnType<typeof randomDeviceKey>;
  deviceId: string;
  deviceKey: string;
  deviceType: number;
}

type Simulation = Awaited<ReturnType<typeof runAccessSimulation>>;

/**
 * One run of the demo: the cast and contracts every step uses, the steps recorded so far, and what earlier
 * steps leave for later ones (set by the step that makes it, before any step that reads it).
 */
class DemoRun {
  readonly steps: DemoStep[] = [];
  /** Run after the last step, or after a failing one: what the steps opened. */
  readonly cleanups: (() => Promise<void>)[] = [];
  makerInfo!: Awaited<ReturnType<DeviceRegistry["getManufacturer"]>>;
  fleet!: FleetDevice[];
  whitelist!: ReturnType<typeof buildWhitelist>;
  domain!: TypedDataDomain;
  activationFee!: bigint;
  wallet!: string;
  simulation!: Simulation;
  guests!: Simulation;
  auditorUrl!: string;
  auditorService!: Awaited<ReturnType<typeof openAuditor>>["service"];

  constructor(
    readonly hre: HardhatRuntimeEnvironment,
    readonly system: System,
    readonly cast: Cast,
    readonly token: ThingToken,
    readonly registry: DeviceRegistry,
    private readonly onStep: (step: DemoStep) => void,
  ) {}

  record(title: string, detail: string, gasUsed: bigint): void {
    const step = { step: this.steps.length + 1, title, detail, gasUsed };
    this.steps.push(step);
    this.onStep(step);
  }
}

interface Cast {
  treasury: Signer;
  operator: Signer;
  service: Signer;
  manufacturer: Signer;
  ownerA: Signer;
  ownerB: Signer;
  auditor: Signer;
}

// ---------------------------------------------------------------- the token

async function deployed(d: DemoRun): Promise<void> {
  d.record(
    "Deploy the system",
    `ThingToken at ${await d.token.getAddress()}; fixed supply ${formatThing(await d.token.totalSupply())} held by the treasury ${await d.cast.treasury.getAddress()}`,
    d.system.gasUsed,
  );
}

async function fundOperator(d: DemoRun): Promise<void> {
  const operator = await d.cast.operator.getAddress();
  const sent = await (await d.token.transfer(operator, OPERATOR_THING)).wait();
  d.record(
    "Fund a device operator",
    `treasury sends ${formatThing(OPERATOR_THING)} to operator ${operator}`,
    sent?.gasUsed ?? 0n,
  );
}

const ALLOWANCE = parseUnits("250", 18);

async function permitOffline(d: DemoRun): Promise<void> {
  const operator = await d.cast.operator.getAddress();
  const service = await d.cast.service.getAddress();
  const deadline = (await chainTime(d.hre.ethers.provider)) + 3600n;
  const nonce = await d.token.nonces(operator);
  const signature = await signPermit(d.cast.operator, await readDomain(d.token), {
    owner: operator,
    spender: service,
    value: ALLOWANCE,
    nonce,
    deadline,
  });
  const { v, r, s } = Signature.from(signature);
  const permitted = await (
    await d.token.connect(d.cast.service).permit(operator, service, ALLOWANCE, deadline, v, r, s)
  ).wait();
  d.record(
    "Operator signs a permit offline; the service submits it",
    `operator holds no ETH for this: the service relays the EIP-2612 permit for ${formatThing(ALLOWANCE)}`,
    permitted?.gasUsed ?? 0n,
  );
}

async function serviceCollects(d: DemoRun): Promise<void> {
  const operator = await d.cast.operator.getAddress();
  const service = await d.cast.service.getAddress();
  const pulled = await (await d.token.connect(d.cast.service).transferFrom(operator, service, ALLOWANCE)).wait();
  d.record(
    "The service collects its payment",
    `service pulls ${formatThing(ALLOWANCE)}; operator now holds ${formatThing(await d.token.balanceOf(operator))}`,
    pulled?.gasUsed ?? 0n,
  );
}

// ---------------------------------------------------------------- device identity

async function admitManufacturer(d: DemoRun): Promise<void> {
  const maker = await d.cast.manufacturer.getAddress();
  d.makerInfo = await d.registry.getManufacturer(maker);
  if (d.makerInfo.active) {
    d.record(
      "The network admin admits a manufacturer",
      `manufacturer #${d.makerInfo.id} ${maker} was admitted by an earlier run on this network`,
      0n,
    );
    return;
  }
  const added = await (await d.registry.addManufacturer(maker, maker, 600)).wait();
  d.makerInfo = await d.registry.getManufacturer(maker);
  d.record(
    "The network admin admits a manufacturer",
    `manufacturer #${d.makerInfo.id} ${maker}, default reputation 600/1000`,
    added?.gasUsed ?? 0n,
  );
}

async function fundManufacturer(d: DemoRun): Promise<void> {
  const funded = await (await d.token.transfer(await d.cast.manufacturer.getAddress(), MANUFACTURER_THING)).wait();
  d.record(
    "Fund the manufacturer",
    `treasury sends ${formatThing(MANUFACTURER_THING)} for registration fees`,
    funded?.gasUsed ?? 0n,
  );
}

/** A fleet of 1,000 fresh devices with unique ids of this run, and its whitelist. */
function makeFleet(d: DemoRun): void {
  const run = Date.now().toString(36);
  d.fleet = Array.from({ length: 1000 }, (_, i) => {
    const wallet = randomDeviceKey();
    const uid = `DEMO-${run}-${String(i + 1).padStart(4, "0")}`;
    const deviceId = deviceIdOf(d.makerInfo.id, uid);
    return { uid, wallet, deviceId, deviceKey: wallet.address, deviceType: 1 + (i % 6) };
  });
  d.whitelist = buildWhitelist(d.fleet, Number(d.makerInfo.id));
}

async function prepayFees(d: DemoRun): Promise<void> {
  makeFleet(d);
  const maker = await d.cast.manufacturer.getAddress();
  const deposit = (await d.registry.registrationFee()) * BigInt(d.fleet.length);
  const data = d.registry.interface.encodeFunctionData("depositFeeCredit", [maker, deposit]);
  const registry = await d.registry.getAddress();
  const credited = await (await d.token.connect(d.cast.manufacturer).approveAndCall(registry, deposit, data)).wait();
  d.record(
    "The manufacturer prepays registration fees in one approveAndCall",
    `${formatThing(deposit)} of fee credit for ${d.fleet.length} devices; the registry learns the payer from the token`,
    credited?.gasUsed ?? 0n,
  );
}

async function commitFleet(d: DemoRun): Promise<void> {
  const fee = await d.registry.registrationFee();
  const committed = await (
    await d.registry
      .connect(d.cast.manufacturer)
      .commitWhitelist(fee, await d.registry.activationFee(), d.whitelist.root, d.fleet.length)
  ).wait();
  d.record(
    "Register a fleet of 1,000 devices by Merkle root",
    `one root ${d.whitelist.root.slice(0, 18)}…, paid capacity ${d.fleet.length}; each device registers when it first presents its proof (depth ${d.whitelist.entries[0].proof.length})`,
    committed?.gasUsed ?? 0n,
  );
  d.domain = await readDomain(d.registry);
  // The fee fixed for the root's devices when it was committed.
  d.activationFee = (await d.registry.getWhitelist(d.makerInfo.id, d.whitelist.root)).activationFee;
}

/** The device signs Activate(deviceId, owner, deadline); the owner pays and proves the leaf in one approveAndCall. */
async function activateForOwner(d: DemoRun, index: number, owner: Signer): Promise<bigint> {
  const ownerAddress = await owner.getAddress();
  const entry = d.whitelist.entries[index];
  const until = (await chainTime(d.hre.ethers.provider)) + 3600n;
  const signature = await signActivation(d.fleet[index].wallet, d.domain, {
    deviceId: d.fleet[index].deviceId,
    owner: ownerAddress,
    deadline: until,
  });
  const data = d.registry.interface.encodeFunctionData("activateFromWhitelist", [
    d.activationFee,
    d.whitelist.root,
    entry.deviceId,
    entry.deviceType,
    entry.proof,
    ownerAddress,
    until,
    ...compact(signature),
  ]);
  const registry = await d.registry.getAddress();
  const activated = await (await d.token.connect(owner).approveAndCall(registry, d.activationFee, data)).wait();
  return activated?.gasUsed ?? 0n;
}

async function ownersActivate(d: DemoRun): Promise<void> {
  for (const [index, owner] of [
    [0, d.cast.ownerA],
    [1, d.cast.ownerB],
  ] as const) {
    const ownerAddress = await owner.getAddress();
    await (await d.token.transfer(ownerAddress, OWNER_THING)).wait();
    const device = d.fleet[index];
    const gasUsed = await activateForOwner(d, index, owner);
    d.record(
      `Owner activates ${device.uid} (${deviceTypeName(device.deviceType)})`,
      `the device signed Activate(deviceId, owner, deadline) with its own key; owner ${ownerAddress} paid ${formatThing(d.activationFee)} and the whitelist proof in one transaction`,
      gasUsed,
    );
  }
}

/** Two more devices, for the reputation story: they will buy access from fleet[0] and report on it. */
async function activateMore(d: DemoRun): Promise<void> {
  const gasUsed = (await activateForOwner(d, 2, d.cast.ownerA)) + (await activateForOwner(d, 3, d.cast.ownerA));
  d.record(
    `Owner activates ${d.fleet[2].uid} and ${d.fleet[3].uid}`,
    "the same way: each device signs its activation, the owner pays in one approveAndCall",
    gasUsed,
  );
}

async function peerValidates(d: DemoRun): Promise<void> {
  const device = d.fleet[0];
  const claim = { deviceId: device.deviceId, challenge: hexlify(randomBytes(32)) };
  const signature = await signIdentityClaim(device.wallet, d.domain, claim);
  const digest = identityClaimDigest(d.domain, claim);
  const valid = await d.registry.isValidDeviceSignature(device.deviceId, digest, signature);
  const view = await d.registry.getDevice(device.deviceId);
  d.record(
    "A peer validates a device",
    `${device.uid}: status active, manufacturer #${view.manufacturerId}, reputation ${view.score}/1000; its signed answer to a fresh challenge ${valid ? "checks out" : "FAILS"} (a view: no gas)`,
    0n,
  );
}

// ---------------------------------------------------------------- device wallets

/**
 * ownerB's device gets a wallet: ownerA, ownerB and the operator own it (2 of 3); the device spends alone
 * up to 0.05 ETH a day. ownerA's fourth device gets one too, with its own limit.
 */
async function createWallets(d: DemoRun): Promise<void> {
  const eth = await resolveAsset(d.system, "eth");
  const { ownerA, ownerB, operator } = d.cast;
  const owners = [await ownerA.getAddress(), await ownerB.getAddress(), await operator.getAddress()];
  const walletFor = (creator: Signer, device: FleetDevice, limit: string) =>
    createWallet(d.system, creator, {
      owners,
      threshold: 2,
      deviceId: device.deviceId,
      period: 86_400,
      limits: [{ asset: eth, limit: parseEther(limit) }],
    });
  const created = await walletFor(ownerB, d.fleet[1], "0.05");
  const second = await walletFor(ownerA, d.fleet[3], "0.02");
  d.wallet = created.wallet;
  d.record(
    `Owners give ${d.fleet[1].uid} and ${d.fleet[3].uid} wallets of their own`,
    `wallets ${created.wallet} and ${second.wallet}: 2 of 3 owners each; each device key spends alone up to 0.05 / 0.02 ETH a day; each owner handed the device's registry record to its wallet, so a revocation stops its spending at once`,
    created.gasUsed + second.gasUsed,
  );
}

/** The wallet's device pays the service `amount` ETH, relayed by the service. */
async function devicePays(d: DemoRun, amount: string) {
  return deviceSpend(d.system, {
    wallet: d.wallet,
    device: d.fleet[1].wallet,
    asset: await resolveAsset(d.system, "eth"),
    to: await d.cast.service.getAddress(),
    amount: parseEther(amount),
    relayer: d.cast.service,
  });
}

async function deviceSpends(d: DemoRun): Promise<void> {
  const eth = await resolveAsset(d.system, "eth");
  const funded = await fundWallet(d.system, d.cast.treasury, d.wallet, [{ asset: eth, amount: WALLET_ETH }]);
  const paid = await devicePays(d, "0.01");
  d.record(
    "The device pays for a service under its limit",
    `the wallet was funded with ${formatEther(WALLET_ETH)} ETH (gas ${formatGas(funded.gasUsed)}); the device signed a 0.01 ETH transfer to the service, which relayed it (the device holds no ETH); ${formatEther(paid.availableAfter)} ETH left today`,
    paid.gasUsed,
  );
}

async function ownersApprove(d: DemoRun): Promise<void> {
  let refused = "";
  try {
    await devicePays(d, "0.05");
  } catch (error) {
    refused = (error as Error).message;
  }
  const proposal = await propose(d.system, {
    wallet: d.wallet,
    to: await d.cast.service.getAddress(),
    value: parseEther("0.05"),
    data: "0x",
    description: "pay the service 0.05 ETH",
  });
  await addSignature(d.system, proposal, d.cast.ownerA);
  await addSignature(d.system, proposal, d.cast.operator);
  const executed = await execute(d.system, proposal, d.cast.service);
  d.record(
    "The owners approve a larger spend",
    `the device alone cannot pay 0.05 ETH more today (${refused === "" ? "NOT refused" : "refused before sending"}); ownerA and the operator sign Execute(to, value, data, gasLimit, nonce ${executed.nonce}) and the service relays it: ${executed.success ? "paid" : "FAILED"}`,
    executed.gasUsed,
  );
}

// ---------------------------------------------------------------- paid access through group channels

/**
 * The device sold is fleet[0] (a lock, say); three registered devices are among the clients. A second
 * owner's group buys access to the same lock from the same AS.
 */
async function openChannels(d: DemoRun): Promise<void> {
  const lock = d.fleet[0];
  const common = { as: d.cast.service, lockId: lock.deviceId, close: false };
  const riders = d.fleet.slice(1, 4).map((device) => device.wallet);
  d.simulation = await runAccessSimulation(d.system, {
    ...common,
    clients: 4,
    slots: 3,
    owner: d.cast.ownerA,
    clientKeys: riders,
  });
  d.guests = await runAccessSimulation(d.system, { ...common, clients: 2, slots: 2, owner: d.cast.ownerB });
  d.record(
    "Two owners open group channels for their client keys",
    `${d.simulation.clients} clients (three of them registered devices) and ${d.guests.clients} guests share one ETH deposit per group, for an Authorization Server selling access to ${lock.uid} (construction 3: a Merkle root of client keys)`,
    d.simulation.gas.open + d.guests.gas.open,
  );
}

async function buyAccess(d: DemoRun): Promise<void> {
  const [a, b] = [d.simulation, d.guests];
  d.record(
    "Clients buy access slots; the device checks HOTP codes",
    `${a.slotsBought + b.slotsBought} slots bought with signed cumulative receipts (each stored on disk before its code left the AS); the device accepted ${a.otpsAccepted + b.otpsAccepted} codes and refused ${a.otpsRejected + b.otpsRejected} replayed ones (off chain: no gas)`,
    0n,
  );
}

// ---------------------------------------------------------------- reputation

/** Admits the auditor (once per network) and starts its service on a scratch database, stopped at the end. */
async function admitAuditor(d: DemoRun): Promise<void> {
  const auditor = await d.cast.auditor.getAddress();
  if (!(await d.registry.auditorInfo(auditor)).active) {
    const admitted = await (await d.registry.addAuditor(auditor)).wait();
    d.record("The network admin admits an auditor", `auditor ${auditor}`, admitted?.gasUsed ?? 0n);
  } else {
    d.record("The network admin admits an auditor", `auditor ${auditor}, admitted by an earlier run`, 0n);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-demo-auditor-"));
  const { service, store } = await openAuditor(d.system, d.cast.auditor, path.join(dir, "auditor.sqlite"));
  d.cleanups.push(async () => {
    await service.stop();
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  d.auditorService = service;
  d.auditorUrl = await service.listen(0);
}

/** `reporter` asks `subject` to confirm the interaction, then signs its rating of it. */
async function report(d: DemoRun, reporter: FleetDevice, subject: FleetDevice, rating: number) {
  const interaction = d.simulation.channelId;
  const claim = await claimInteraction(d.system, subject.wallet, {
    subjectId: subject.deviceId,
    reporterId: reporter.deviceId,
    interaction,
  });
  return makeReport(d.system, reporter.wallet, {
    reporterId: reporter.deviceId,
    subjectId: subject.deviceId,
    interaction,
    rating,
    evidence: claim.evidence,
  });
}

/** The three riders rate the lock; the lock reports on one rider that left it unlocked. */
async function devicesReport(d: DemoRun): Promise<void> {
  const [lock, ...riders] = d.fleet.slice(0, 4);
  const reports = [];
  for (const [i, rider] of riders.entries()) reports.push(await report(d, rider, lock, [100, 90, 100][i]));
  reports.push(await report(d, lock, d.fleet[2], 20));
  const outcomes = await submitReports(d.auditorUrl, [...reports, reports[0]]);
  const accepted = outcomes.filter((o) => o.accepted).length;
  const replay = outcomes[outcomes.length - 1];
  d.record(
    "Devices report on each other to an auditor",
    `${accepted} EIP-712 reports about the channel ${d.simulation.channelId.slice(0, 10)}…, each with the other device's signed claim of the interaction as evidence; a replayed report is refused (${replay.status}: ${replay.error ?? "ACCEPTED"})`,
    0n,
  );
}

async function scoreEpoch(d: DemoRun): Promise<void> {
  const epoch = await d.auditorService.runEpoch();
  d.record(
    "The auditor scores the epoch",
    `epoch ${epoch.epoch}: ${epoch.reports} reports → ${epoch.submitted} scores in one transaction with the reports root ${epoch.root.slice(0, 10)}… (anyone can prove a report's inclusion and recompute); ${epoch.rewarded} rewarded`,
    epoch.gasUsed,
  );
}

async function showReputation(d: DemoRun): Promise<void> {
  const [lock, rider] = [d.fleet[0], d.fleet[2]];
  const seen = await Promise.all([lock, rider].map((device) => validate(d.system, device.deviceId)));
  const trend = (t: number) => ["falling", "steady", "rising"][t + 1];
  d.record(
    "Validation shows the audited reputation",
    `${lock.uid}: ${seen[0].score}/1000 ${trend(seen[0].trend)}; ${rider.uid}: ${seen[1].score}/1000 ${trend(seen[1].trend)} (a view: no gas)`,
    0n,
  );
}

/** The AS cashes both channels with their best receipts in one transaction. */
async function closeChannels(d: DemoRun): Promise<void> {
  const pending = [d.simulation.pendingClose, d.guests.pendingClose].filter((p) => p !== undefined);
  const channels = PaymentChannels__factory.connect(d.system.addresses.PaymentChannels, d.cast.service);
  const closed = await (await submitCloses(channels, pending)).wait();
  const events = await channels.queryFilter(channels.filters.ChannelClosed(), closed?.blockNumber, closed?.blockNumber);
  const paid = events.reduce((sum, e) => sum + e.args.paid, 0n);
  const refunded = events.reduce((sum, e) => sum + e.args.refunded, 0n);
  d.record(
    "The AS closes both channels in one batch",
    `one closeBatch with each channel's best receipt: paid ${formatEther(paid)} ETH once, owners refunded ${formatEther(refunded)} ETH`,
    closed?.gasUsed ?? 0n,
  );
}

async function auditorWithdraws(d: DemoRun): Promise<void> {
  const withdrawn = await withdrawReward(d.system, d.cast.auditor);
  d.record(
    "The auditor withdraws its reward",
    `${withdrawn.formatted} from the reward pool that registration and activation fees fill (pull payment)`,
    withdrawn.gasUsed,
  );
}

/** The demo's story, in order: each step does its part on chain (or off) and records what it showed. */
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
  hre: HardhatRuntimeEnvironment,
  onStep: (step: DemoStep) => void = () => undefined,
): Promise<DemoResult> {
  const started = Date.now();
  const system = await deployedOrDeploy(hre);
  const [treasury, operator, service, manufacturer, ownerA, ownerB, auditor] = await cast(hre);
  const people = { treasury, operator, service, manufacturer, ownerA, ownerB, auditor };
  const token = tokenAt(system, treasury);
  const registry = registryAt(system, treasury);
  const d = new DemoRun(hre, system, people, token, registry, onStep);
  try {
    for (const step of STEPS) await step(d);
  } finally {
    for (const cleanup of d.cleanups.reverse()) await cleanup();
  }
  return {
    network: hre.network.name,
    chainId: system.chainId,
    ephemeral: system.ephemeral,
    addresses: system.addresses,
    steps: d.steps,
    totalGas: d.steps.reduce((sum, s) => sum + s.gasUsed, 0n),
    seconds: (Date.now() - started) / 1000,
  };
}
