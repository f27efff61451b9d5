import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import type { Signer } from "ethers";
import { formatEther, parseEther } from "ethers";

import { PaymentChannels__factory } from "../chain/factories";
import { submitCloses } from "../channels/key";
import { runAccessSimulation } from "../channels/simulation";
import { formatGas } from "../cli/output";
import { validate } from "../registry";
import { claimInteraction, makeReport, openAuditor, submitReports, withdrawReward } from "../reputation";

import { WALLET_ETH } from "./state";
import type { FleetDevice, DemoRun } from "./state";
import { addSignature, createWallet, deviceSpend, execute, fundWallet, propose, resolveAsset } from "../wallets";

// ---------------------------------------------------------------- device wallets

/**
 * ownerB's device gets a wallet: ownerA, ownerB and the operator own it (2 of 3); the device spends alone
 * up to 0.05 ETH a day. ownerA's fourth device gets one too, with its own limit.
 */
export async function createWallets(d: DemoRun): Promise<void> {
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

export async function deviceSpends(d: DemoRun): Promise<void> {
  const eth = await resolveAsset(d.system, "eth");
  const funded = await fundWallet(d.system, d.cast.treasury, d.wallet, [{ asset: eth, amount: WALLET_ETH }]);
  const paid = await devicePays(d, "0.01");
  d.record(
    "The device pays for a service under its limit",
    `the wallet was funded with ${formatEther(WALLET_ETH)} ETH (gas ${formatGas(funded.gasUsed)}); the device signed a 0.01 ETH transfer to the service, which relayed it (the device holds no ETH); ${formatEther(paid.availableAfter)} ETH left today`,
    paid.gasUsed,
  );
}

export async function ownersApprove(d: DemoRun): Promise<void> {
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
export async function openChannels(d: DemoRun): Promise<void> {
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

export async function buyAccess(d: DemoRun): Promise<void> {
  const [a, b] = [d.simulation, d.guests];
  d.record(
    "Clients buy access slots; the device checks HOTP codes",
    `${a.slotsBought + b.slotsBought} slots bought with signed cumulative receipts (each stored on disk before its code left the AS); the device accepted ${a.otpsAccepted + b.otpsAccepted} codes and refused ${a.otpsRejected + b.otpsRejected} replayed ones (off chain: no gas)`,
    0n,
  );
}

// ---------------------------------------------------------------- reputation

/** Admits the auditor (once per network) and starts its service on a scratch database, stopped at the end. */
export async function admitAuditor(d: DemoRun): Promise<void> {
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
export async function devicesReport(d: DemoRun): Promise<void> {
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

export async function scoreEpoch(d: DemoRun): Promise<void> {
  const epoch = await d.auditorService.runEpoch();
  d.record(
    "The auditor scores the epoch",
    `epoch ${epoch.epoch}: ${epoch.reports} reports → ${epoch.submitted} scores in one transaction with the reports root ${epoch.root.slice(0, 10)}… (anyone can prove a report's inclusion and recompute); ${epoch.rewarded} rewarded`,
    epoch.gasUsed,
  );
}

export async function showReputation(d: DemoRun): Promise<void> {
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
export async function closeChannels(d: DemoRun): Promise<void> {
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

export async function auditorWithdraws(d: DemoRun): Promise<void> {
  const withdrawn = await withdrawReward(d.system, d.cast.auditor);
  d.record(
    "The auditor withdraws its reward",
    `${withdrawn.formatted} from the reward pool that registration and activation fees fill (pull payment)`,
    withdrawn.gasUsed,
  );
}

/** The demo's story, in order: each step does its part on chain (or off) and records what it showed. */
