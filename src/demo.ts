import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import type { Signer } from "ethers";
import { Signature, formatEther, hexlify, parseEther, parseUnits, randomBytes } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types";

import { chainTime } from "./chain";
import { deployedOrDeploy } from "./deployments";
import { randomDeviceKey } from "./devices/keystore";
import type { System } from "./deployments";
import { compact, identityClaimDigest, signActivation, signIdentityClaim } from "./eip712/device";
import { readDomain } from "./eip712/domain";
import { signPermit } from "./eip712/permit";
import { buildWhitelist } from "./merkle/whitelist";
import { deviceIdOf } from "./devices/fleet";
import { deviceTypeName } from "./devices/types";
import { PaymentChannels__factory } from "../typechain-types";
import { submitCloses } from "./channels/key";
import { runAccessSimulation } from "./channels/simulation";
import { formatGas } from "./cli/output";
import { connectRegistry, validate } from "./registry";
import { claimInteraction, makeReport, openAuditor, submitReports, withdrawReward } from "./reputation/ops";
import { UserError } from "./errors";
import { connectToken, signerAt } from "./token";
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
  const { registry } = await connectRegistry(hre);
  const admin = await registry.owner();
  if (admin !== address) {
    throw new UserError(
      `the demo runs as the first account ${address}, but the registry's admin on network "${network}" is ${admin}: run it on a deployment whose DeviceRegistry.admin and ThingToken.treasury are that account`,
    );
  }
  const held = await (await connectToken(hre)).balanceOf(address);
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

/** Runs the network's lifecycle, as far as it exists, and reports each step with its gas. */
export async function runDemo(
  hre: HardhatRuntimeEnvironment,
  onStep: (step: DemoStep) => void = () => undefined,
): Promise<DemoResult> {
  const started = Date.now();
  const steps: DemoStep[] = [];
  const record = (title: string, detail: string, gasUsed: bigint): void => {
    const step = { step: steps.length + 1, title, detail, gasUsed };
    steps.push(step);
    onStep(step);
  };

  const system = await deployedOrDeploy(hre);
  const [treasury, operator, service, manufacturer, ownerA, ownerB, auditor] = await cast(hre);
  const token = await connectToken(hre, treasury);
  const tokenAddress = await token.getAddress();
  record(
    "Deploy the system",
    `ThingToken at ${tokenAddress}; fixed supply ${formatThing(await token.totalSupply())} held by the treasury ${await treasury.getAddress()}`,
    system.gasUsed,
  );

  const operatorAddress = await operator.getAddress();
  const sent = await (await token.transfer(operatorAddress, OPERATOR_THING)).wait();
  record(
    "Fund a device operator",
    `treasury sends ${formatThing(OPERATOR_THING)} to operator ${operatorAddress}`,
    sent?.gasUsed ?? 0n,
  );

  const serviceAddress = await service.getAddress();
  const allowance = parseUnits("250", 18);
  const deadline = (await chainTime(hre)) + 3600n;
  const nonce = await token.nonces(operatorAddress);
  const signature = await signPermit(operator, await readDomain(token), {
    owner: operatorAddress,
    spender: serviceAddress,
    value: allowance,
    nonce,
    deadline,
  });
  const { v, r, s } = Signature.from(signature);
  const permitted = await (
    await token.connect(service).permit(operatorAddress, serviceAddress, allowance, deadline, v, r, s)
  ).wait();
  record(
    "Operator signs a permit offline; the service submits it",
    `operator holds no ETH for this: the service relays the EIP-2612 permit for ${formatThing(allowance)}`,
    permitted?.gasUsed ?? 0n,
  );

  const pulled = await (await token.connect(service).transferFrom(operatorAddress, serviceAddress, allowance)).wait();
  record(
    "The service collects its payment",
    `service pulls ${formatThing(allowance)}; operator now holds ${formatThing(await token.balanceOf(operatorAddress))}`,
    pulled?.gasUsed ?? 0n,
  );

  // ---------------------------------------------------------------- device identity
  const { registry, address: registryAddress } = await connectRegistry(hre, treasury);
  const makerAddress = await manufacturer.getAddress();
  let makerInfo = await registry.getManufacturer(makerAddress);
  if (!makerInfo.active) {
    const added = await (await registry.addManufacturer(makerAddress, makerAddress, 600)).wait();
    makerInfo = await registry.getManufacturer(makerAddress);
    record(
      "The network admin admits a manufacturer",
      `manufacturer #${makerInfo.id} ${makerAddress}, default reputation 600/1000`,
      added?.gasUsed ?? 0n,
    );
  } else {
    record(
      "The network admin admits a manufacturer",
      `manufacturer #${makerInfo.id} ${makerAddress} was admitted by an earlier run on this network`,
      0n,
    );
  }
  const funded = await (await token.transfer(makerAddress, MANUFACTURER_THING)).wait();
  record(
    "Fund the manufacturer",
    `treasury sends ${formatThing(MANUFACTURER_THING)} for registration fees`,
    funded?.gasUsed ?? 0n,
  );

  const run = Date.now().toString(36);
  const fleet = Array.from({ length: 1000 }, (_, i) => {
    const wallet = randomDeviceKey();
    const uid = `DEMO-${run}-${String(i + 1).padStart(4, "0")}`;
    return { uid, wallet, deviceId: deviceIdOf(makerInfo.id, uid), deviceKey: wallet.address, deviceType: 1 + (i % 6) };
  });
  const whitelist = buildWhitelist(fleet, Number(makerInfo.id));
  const fee = await registry.registrationFee();
  const deposit = fee * BigInt(fleet.length);
  const credited = await (
    await token
      .connect(manufacturer)
      .approveAndCall(
        registryAddress,
        deposit,
        registry.interface.encodeFunctionData("depositFeeCredit", [makerAddress, deposit]),
      )
  ).wait();
  record(
    "The manufacturer prepays registration fees in one approveAndCall",
    `${formatThing(deposit)} of fee credit for ${fleet.length} devices; the registry learns the payer from the token`,
    credited?.gasUsed ?? 0n,
  );
  const committed = await (
    await registry
      .connect(manufacturer)
      .commitWhitelist(fee, await registry.activationFee(), whitelist.root, fleet.length)
  ).wait();
  record(
    "Register a fleet of 1,000 devices by Merkle root",
    `one root ${whitelist.root.slice(0, 18)}…, paid capacity ${fleet.length}; each device registers when it first presents its proof (depth ${whitelist.entries[0].proof.length})`,
    committed?.gasUsed ?? 0n,
  );

  const domain = await readDomain(registry);
  // The fee fixed for the root's devices when it was committed.
  const { activationFee } = await registry.getWhitelist(makerInfo.id, whitelist.root);
  /** The device signs Activate(deviceId, owner, deadline); the owner pays and proves the leaf in one approveAndCall. */
  const activateForOwner = async (index: number, owner: Signer): Promise<bigint> => {
    const ownerAddress = await owner.getAddress();
    const device = fleet[index];
    const entry = whitelist.entries[index];
    const until = (await chainTime(hre)) + 3600n;
    const signature = await signActivation(device.wallet, domain, {
      deviceId: device.deviceId,
      owner: ownerAddress,
      deadline: until,
    });
    const data = registry.interface.encodeFunctionData("activateFromWhitelist", [
      activationFee,
      whitelist.root,
      entry.deviceId,
      entry.deviceType,
      entry.proof,
      ownerAddress,
      until,
      ...compact(signature),
    ]);
    const activated = await (await token.connect(owner).approveAndCall(registryAddress, activationFee, data)).wait();
    return activated?.gasUsed ?? 0n;
  };
  for (const [index, owner] of [
    [0, ownerA],
    [1, ownerB],
  ] as const) {
    const ownerAddress = await owner.getAddress();
    await (await token.transfer(ownerAddress, OWNER_THING)).wait();
    const device = fleet[index];
    const gasUsed = await activateForOwner(index, owner);
    record(
      `Owner activates ${device.uid} (${deviceTypeName(device.deviceType)})`,
      `the device signed Activate(deviceId, owner, deadline) with its own key; owner ${ownerAddress} paid ${formatThing(activationFee)} and the whitelist proof in one transaction`,
      gasUsed,
    );
  }

  // Two more devices, for the reputation story: they will buy access from fleet[0] and report on it.
  const moreGas = (await activateForOwner(2, ownerA)) + (await activateForOwner(3, ownerA));
  record(
    `Owner activates ${fleet[2].uid} and ${fleet[3].uid}`,
    "the same way: each device signs its activation, the owner pays in one approveAndCall",
    moreGas,
  );

  const challenge = hexlify(randomBytes(32));
  const claim = { deviceId: fleet[0].deviceId, challenge };
  const claimSignature = await signIdentityClaim(fleet[0].wallet, domain, claim);
  const valid = await registry.isValidDeviceSignature(
    fleet[0].deviceId,
    identityClaimDigest(domain, claim),
    claimSignature,
  );
  const view = await registry.getDevice(fleet[0].deviceId);
  record(
    "A peer validates a device",
    `${fleet[0].uid}: status active, manufacturer #${view.manufacturerId}, reputation ${view.score}/1000; its signed answer to a fresh challenge ${valid ? "checks out" : "FAILS"} (a view: no gas)`,
    0n,
  );

  // ---------------------------------------------------------------- a device wallet
  // ownerB's device gets a wallet: ownerA, ownerB and the operator own it (2 of 3); the device spends alone
  // up to 0.05 ETH a day.
  const eth = await resolveAsset(hre, "eth");
  const walletOwners = [await ownerA.getAddress(), await ownerB.getAddress(), operatorAddress];
  const created = await createWallet(hre, ownerB, {
    owners: walletOwners,
    threshold: 2,
    deviceId: fleet[1].deviceId,
    period: 86_400,
    limits: [{ asset: eth, limit: parseEther("0.05") }],
  });
  // ownerA's fourth device gets one too, with its own limit.
  const second = await createWallet(hre, ownerA, {
    owners: walletOwners,
    threshold: 2,
    deviceId: fleet[3].deviceId,
    period: 86_400,
    limits: [{ asset: eth, limit: parseEther("0.02") }],
  });
  record(
    `Owners give ${fleet[1].uid} and ${fleet[3].uid} wallets of their own`,
    `wallets ${created.wallet} and ${second.wallet}: 2 of 3 owners each; each device key spends alone up to 0.05 / 0.02 ETH a day; each owner handed the device's registry record to its wallet, so a revocation stops its spending at once`,
    created.gasUsed + second.gasUsed,
  );
  const walletFunded = await fundWallet(hre, treasury, created.wallet, [{ asset: eth, amount: WALLET_ETH }]);
  const paid = await deviceSpend(hre, {
    wallet: created.wallet,
    device: fleet[1].wallet,
    asset: eth,
    to: serviceAddress,
    amount: parseEther("0.01"),
    relayer: service,
  });
  record(
    "The device pays for a service under its limit",
    `the wallet was funded with ${formatEther(WALLET_ETH)} ETH (gas ${formatGas(walletFunded.gasUsed)}); the device signed a 0.01 ETH transfer to the service, which relayed it (the device holds no ETH); ${hre.ethers.formatEther(paid.availableAfter)} ETH left today`,
    paid.gasUsed,
  );
  let refused = "";
  try {
    await deviceSpend(hre, {
      wallet: created.wallet,
      device: fleet[1].wallet,
      asset: eth,
      to: serviceAddress,
      amount: parseEther("0.05"),
      relayer: service,
    });
  } catch (error) {
    refused = (error as Error).message;
  }
  const proposal = await propose(hre, {
    wallet: created.wallet,
    to: serviceAddress,
    value: parseEther("0.05"),
    data: "0x",
    description: "pay the service 0.05 ETH",
  });
  await addSignature(hre, proposal, ownerA);
  await addSignature(hre, proposal, operator);
  const executed = await execute(hre, proposal, service);
  record(
    "The owners approve a larger spend",
    `the device alone cannot pay 0.05 ETH more today (${refused === "" ? "NOT refused" : "refused before sending"}); ownerA and the operator sign Execute(to, value, data, gasLimit, nonce ${executed.nonce}) and the service relays it: ${executed.success ? "paid" : "FAILED"}`,
    executed.gasUsed,
  );

  // ---------------------------------------------------------------- paid access through a group channel
  // The device sold is fleet[0] (a lock, say); three registered devices are among the clients.
  const lock = fleet[0];
  const riders = [fleet[1], fleet[2], fleet[3]];
  const simulation = await runAccessSimulation(hre, {
    clients: 4,
    slots: 3,
    owner: ownerA,
    as: service,
    clientKeys: riders.map((d) => d.wallet),
    lockId: lock.deviceId,
    close: false,
  });
  // A second owner's group buys access to the same lock from the same AS.
  const guests = await runAccessSimulation(hre, {
    clients: 2,
    slots: 2,
    owner: ownerB,
    as: service,
    lockId: lock.deviceId,
    close: false,
  });
  record(
    "Two owners open group channels for their client keys",
    `${simulation.clients} clients (three of them registered devices) and ${guests.clients} guests share one ETH deposit per group, for an Authorization Server selling access to ${lock.uid} (construction 3: a Merkle root of client keys)`,
    simulation.gas.open + guests.gas.open,
  );
  record(
    "Clients buy access slots; the device checks HOTP codes",
    `${simulation.slotsBought + guests.slotsBought} slots bought with signed cumulative receipts (each stored on disk before its code left the AS); the device accepted ${simulation.otpsAccepted + guests.otpsAccepted} codes and refused ${simulation.otpsRejected + guests.otpsRejected} replayed ones (off chain: no gas)`,
    0n,
  );

  // ---------------------------------------------------------------- reputation
  const { registry: adminRegistry } = await connectRegistry(hre, treasury);
  const auditorAddress = await auditor.getAddress();
  if (!(await adminRegistry.auditorInfo(auditorAddress)).active) {
    const admitted = await (await adminRegistry.addAuditor(auditorAddress)).wait();
    record("The network admin admits an auditor", `auditor ${auditorAddress}`, admitted?.gasUsed ?? 0n);
  } else {
    record("The network admin admits an auditor", `auditor ${auditorAddress}, admitted by an earlier run`, 0n);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-demo-auditor-"));
  const { service: auditorService, store } = await openAuditor(hre, auditor, path.join(dir, "auditor.sqlite"));
  try {
    const url = await auditorService.listen(0);
    const interaction = simulation.channelId;
    const reports = [];
    // Each rider asks the lock to confirm the interaction (the channel), then signs its rating.
    for (const [i, rider] of riders.entries()) {
      const claim = await claimInteraction(hre, lock.wallet, {
        subjectId: lock.deviceId,
        reporterId: rider.deviceId,
        interaction,
      });
      reports.push(
        await makeReport(hre, rider.wallet, {
          reporterId: rider.deviceId,
          subjectId: lock.deviceId,
          interaction,
          rating: [100, 90, 100][i],
          evidence: claim.evidence,
        }),
      );
    }
    // The lock reports on one rider that left it unlocked.
    const riderClaim = await claimInteraction(hre, fleet[2].wallet, {
      subjectId: fleet[2].deviceId,
      reporterId: lock.deviceId,
      interaction,
    });
    reports.push(
      await makeReport(hre, lock.wallet, {
        reporterId: lock.deviceId,
        subjectId: fleet[2].deviceId,
        interaction,
        rating: 20,
        evidence: riderClaim.evidence,
      }),
    );
    const outcomes = await submitReports(url, [...reports, reports[0]]);
    const accepted = outcomes.filter((o) => o.accepted).length;
    const replay = outcomes[outcomes.length - 1];
    record(
      "Devices report on each other to an auditor",
      `${accepted} EIP-712 reports about the channel ${interaction.slice(0, 10)}…, each with the other device's signed claim of the interaction as evidence; a replayed report is refused (${replay.status}: ${replay.error ?? "ACCEPTED"})`,
      0n,
    );
    const epoch = await auditorService.runEpoch();
    record(
      "The auditor scores the epoch",
      `epoch ${epoch.epoch}: ${epoch.reports} reports → ${epoch.submitted} scores in one transaction with the reports root ${epoch.root.slice(0, 10)}… (anyone can prove a report's inclusion and recompute); ${epoch.rewarded} rewarded`,
      epoch.gasUsed,
    );
    const seen = await Promise.all([lock, fleet[2]].map((d) => validate(hre, d.deviceId)));
    const trend = (t: number) => ["falling", "steady", "rising"][t + 1];
    record(
      "Validation shows the audited reputation",
      `${lock.uid}: ${seen[0].score}/1000 ${trend(seen[0].trend)}; ${fleet[2].uid}: ${seen[1].score}/1000 ${trend(seen[1].trend)} (a view: no gas)`,
      0n,
    );
    // The AS cashes both channels with their best receipts in one transaction.
    const pending = [simulation.pendingClose, guests.pendingClose].filter((p) => p !== undefined);
    const channels = PaymentChannels__factory.connect(system.addresses.PaymentChannels, service);
    const closed = await (await submitCloses(channels, pending)).wait();
    const events = await channels.queryFilter(
      channels.filters.ChannelClosed(),
      closed?.blockNumber,
      closed?.blockNumber,
    );
    const paidTotal = events.reduce((sum, e) => sum + e.args.paid, 0n);
    const refundedTotal = events.reduce((sum, e) => sum + e.args.refunded, 0n);
    record(
      "The AS closes both channels in one batch",
      `one closeBatch with each channel's best receipt: paid ${formatEther(paidTotal)} ETH once, owners refunded ${formatEther(refundedTotal)} ETH`,
      closed?.gasUsed ?? 0n,
    );
    const withdrawn = await withdrawReward(hre, auditor);
    record(
      "The auditor withdraws its reward",
      `${withdrawn.formatted} from the reward pool that registration and activation fees fill (pull payment)`,
      withdrawn.gasUsed,
    );
  } finally {
    await auditorService.stop();
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }

  return {
    network: hre.network.name,
    chainId: system.chainId,
    ephemeral: system.ephemeral,
    addresses: system.addresses,
    steps,
    totalGas: steps.reduce((sum, s) => sum + s.gasUsed, 0n),
    seconds: (Date.now() - started) / 1000,
  };
}
