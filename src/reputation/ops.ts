import fs from "node:fs";

import type { BaseWallet, Signer, TypedDataDomain } from "ethers";
import { keccak256, toUtf8Bytes } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types";

import type { DeviceRegistry } from "../../typechain-types";
import { recoverSigner } from "../channels/verify";
import { chainTime, gasOf } from "../chain/time";
import { DEVICE_SIGNATURE_PATTERN, fullSignature } from "../eip712/device";
import { readDomain } from "../eip712/domain";
import { MAX_RATING, interactionClaimDigest, signInteractionClaim, signReport } from "../eip712/report";
import { UserError, ensure } from "../errors";
import type { HttpOptions } from "../http/service";
import { STATUS_NAMES } from "../registry";
import { registryAt } from "../chain/context";
import { loadSystem } from "../../tasks/support/deployments";
import { formatThing } from "../units";
import { AuditorService } from "./auditor";
import type { EpochResult, ReportBody } from "./auditor";
import { recomputeEpoch } from "./epoch";
import type { PublishedEpoch } from "./epoch";
import { checkModel, defaultModel } from "./model";
import type { ModelParams } from "./model";
import { ReportStore } from "./store";

export interface ReputationContext {
  registry: DeviceRegistry;
  domain: TypedDataDomain;
  epochLength: number;
}

export async function connectReputation(hre: HardhatRuntimeEnvironment, runner?: Signer): Promise<ReputationContext> {
  const registry = registryAt(await loadSystem(hre, ["DeviceRegistry"]), runner);
  return {
    registry,
    domain: await readDomain(registry),
    epochLength: Number(await registry.epochLength()),
  };
}

/** An interaction reference: 0x + 64 hex as is (a channel id, a transaction hash), any other text hashed. */
export function parseInteraction(value: string): string {
  ensure(value !== "", "--interaction: give a channel id, a transaction hash or a label");
  return /^0x[0-9a-fA-F]{64}$/.test(value) ? value.toLowerCase() : keccak256(toUtf8Bytes(value));
}

export function parseRating(value: string): number {
  const n = Number(value);
  ensure(
    /^\d+$/.test(value) && n <= MAX_RATING,
    `--rating: a whole number from 0 (failed) to ${MAX_RATING} (perfect), got "${value}"`,
  );
  return n;
}

async function activeDevice(ctx: ReputationContext, deviceId: string, role: string): Promise<{ key: string }> {
  const v = await ctx.registry.getDevice(deviceId);
  const status = STATUS_NAMES[Number(v.status)];
  ensure(status === "active", `${role} ${deviceId} is ${status === "unknown" ? "not registered" : status}, not active`);
  return { key: v.deviceKey };
}

export interface InteractionClaim {
  subjectId: string;
  reporterId: string;
  interaction: string;
  evidence: string;
}

/**
 * The subject's side of an interaction: it signs an identity claim over keccak256(reporterId, interaction),
 * which the reporter attaches to its report as evidence that the two devices dealt with each other.
 */
export async function claimInteraction(
  hre: HardhatRuntimeEnvironment,
  subject: BaseWallet,
  m: { subjectId: string; reporterId: string; interaction: string },
): Promise<InteractionClaim> {
  const ctx = await connectReputation(hre);
  ensure(m.subjectId !== m.reporterId, "a device cannot claim an interaction with itself");
  const { key } = await activeDevice(ctx, m.subjectId, "device");
  ensure(key === subject.address, `the keystore's key ${subject.address} is not device ${m.subjectId}'s key ${key}`);
  await activeDevice(ctx, m.reporterId, "reporter");
  return { ...m, evidence: await signInteractionClaim(subject, ctx.domain, m) };
}

/**
 * The reporter signs a report about the subject. Everything the auditor will check is checked here first
 * (both devices active, the keystore holds the reporter's key, the evidence is the subject's claim for
 * this reporter and interaction), so a report that leaves this function will not be refused for them.
 */
export async function makeReport(
  hre: HardhatRuntimeEnvironment,
  reporter: BaseWallet,
  m: {
    reporterId: string;
    subjectId: string;
    interaction: string;
    rating: number;
    evidence: string;
    timestamp?: number;
  },
): Promise<ReportBody> {
  const ctx = await connectReputation(hre);
  ensure(m.reporterId !== m.subjectId, "a device cannot report on itself");
  ensure(
    DEVICE_SIGNATURE_PATTERN.test(m.evidence),
    "--evidence: the subject's claim signature, 0x + 130 hex (or 128 in EIP-2098 compact form)",
  );
  const { key } = await activeDevice(ctx, m.reporterId, "reporter");
  ensure(
    key === reporter.address,
    `the keystore's key ${reporter.address} is not reporter ${m.reporterId}'s key ${key}`,
  );
  const subject = await activeDevice(ctx, m.subjectId, "subject");
  ensure(
    recoverSigner(interactionClaimDigest(ctx.domain, m), fullSignature(m.evidence)) === subject.key,
    `--evidence is not subject ${m.subjectId}'s claim for reporter ${m.reporterId} and this interaction`,
  );
  const timestamp = m.timestamp ?? Number(await chainTime(hre.ethers.provider));
  const message = { ...m, timestamp: BigInt(timestamp) };
  const signature = await signReport(reporter, ctx.domain, message);
  return {
    reporterId: m.reporterId,
    subjectId: m.subjectId,
    interaction: m.interaction,
    rating: m.rating,
    timestamp,
    signature,
    evidence: m.evidence,
  };
}

export const REPORT_FILE_KIND = "thingledger.device-reports";

export function writeReportFile(file: string, reports: readonly ReportBody[]): void {
  fs.writeFileSync(file, `${JSON.stringify({ kind: REPORT_FILE_KIND, version: 1, reports }, null, 2)}\n`);
}

/** Reads a report file; every problem is named before anything is sent. */
export function readReportFile(file: string): ReportBody[] {
  ensure(fs.existsSync(file), `report file ${file} does not exist`);
  let parsed: { kind?: unknown; version?: unknown; reports?: unknown };
  try {
    parsed = JSON.parse(fs.readFileSync(file, "utf8")) as typeof parsed;
  } catch (error) {
    throw new UserError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
  ensure(
    parsed.kind === REPORT_FILE_KIND && parsed.version === 1,
    `${file} is not a ThingLedger report file (${REPORT_FILE_KIND} v1)`,
  );
  ensure(Array.isArray(parsed.reports) && parsed.reports.length > 0, `${file} holds no reports`);
  const hex = (v: unknown, bytes: number) =>
    typeof v === "string" && new RegExp(`^0x[0-9a-fA-F]{${bytes * 2}}$`).test(v);
  const problems: string[] = [];
  (parsed.reports as Record<string, unknown>[]).forEach((r, i) => {
    const at = `report ${i + 1}`;
    for (const field of ["reporterId", "subjectId", "interaction"])
      if (!hex(r?.[field], 32)) problems.push(`${at}: "${field}" must be 0x + 64 hex`);
    if (!hex(r?.signature, 65)) problems.push(`${at}: "signature" must be 0x + 130 hex`);
    if (typeof r?.evidence !== "string" || !DEVICE_SIGNATURE_PATTERN.test(r.evidence))
      problems.push(`${at}: "evidence" must be 0x + 130 hex (or 128 in EIP-2098 compact form)`);
    if (!Number.isInteger(r?.rating) || (r.rating as number) < 0 || (r.rating as number) > MAX_RATING)
      problems.push(`${at}: "rating" must be 0-${MAX_RATING}`);
    if (!Number.isInteger(r?.timestamp) || (r.timestamp as number) < 0)
      problems.push(`${at}: "timestamp" must be seconds`);
  });
  ensure(problems.length === 0, `${file}: ${problems.length} problem(s): ${problems.join("; ")}`);
  return parsed.reports as ReportBody[];
}

export interface SubmitOutcome {
  index: number;
  accepted: boolean;
  status: number;
  digest?: string;
  error?: string;
}

/** Posts reports to an auditor, one request each; the auditor's answer for each is kept. */
export async function submitReports(url: string, reports: readonly ReportBody[]): Promise<SubmitOutcome[]> {
  const base = url.replace(/\/+$/, "");
  const outcomes: SubmitOutcome[] = [];
  for (const [index, report] of reports.entries()) {
    let response: Response;
    try {
      response = await fetch(`${base}/reports`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(report),
      });
    } catch (error) {
      throw new UserError(`cannot reach the auditor at ${base}: ${(error as Error).message}`);
    }
    const body = (await response.json().catch(() => ({}))) as { digest?: string; error?: string };
    outcomes.push({ index, accepted: response.ok, status: response.status, digest: body.digest, error: body.error });
  }
  return outcomes;
}

export interface DeliveredReport {
  report: ReportBody;
  /** The report file written, if any. */
  file?: string;
  /** The auditor it was sent to, if any, and the digest under which it stored it. */
  auditor?: string;
  digest?: string;
}

/**
 * Sends a signed report where it should go: a report file (`out`), an auditor (`auditor`), or both. At
 * least one is required; an auditor's refusal is an error naming its status and reason.
 */
export async function deliverReport(
  report: ReportBody,
  to: { out?: string; auditor?: string },
): Promise<DeliveredReport> {
  if (to.out !== undefined) writeReportFile(to.out, [report]);
  if (to.auditor === undefined) return { report, file: to.out };
  const [outcome] = await submitReports(to.auditor, [report]);
  ensure(outcome.accepted, `the auditor refused the report (${outcome.status}): ${outcome.error ?? "no reason given"}`);
  return { report, file: to.out, auditor: to.auditor, digest: outcome.digest };
}

export interface ReputationView {
  deviceId: string;
  status: string;
  score: number;
  trend: number;
  audited: boolean;
  /** The epoch of the last audit (when audited). */
  auditedEpoch?: number;
  currentEpoch: number;
}

/** A device's reputation as validation shows it: the audited score and trend, else its manufacturer's default. */
export async function showReputation(hre: HardhatRuntimeEnvironment, deviceId: string): Promise<ReputationView> {
  const { registry } = await connectReputation(hre);
  const [device, rep, epoch] = await Promise.all([
    registry.getDevice(deviceId),
    registry.reputationOf(deviceId),
    registry.currentEpoch(),
  ]);
  const status = STATUS_NAMES[Number(device.status)];
  ensure(status !== "unknown", `device ${deviceId} is not registered on this network`);
  return {
    deviceId,
    status,
    score: Number(device.score),
    trend: Number(device.trend),
    audited: rep.audited,
    auditedEpoch: rep.audited ? Number(rep.epoch) : undefined,
    currentEpoch: Number(epoch),
  };
}

/** The model for this registry's epoch length, with overrides (seconds). */
export function modelFor(epochLength: number, overrides: Partial<ModelParams> = {}): ModelParams {
  const model = { ...defaultModel(epochLength), ...overrides };
  try {
    checkModel(model);
  } catch (error) {
    throw new UserError((error as Error).message);
  }
  return model;
}

/** The auditor service for the current network, on the SQLite database `db`. */
export async function openAuditor(
  hre: HardhatRuntimeEnvironment,
  signer: Signer,
  db: string,
  model: Partial<ModelParams> = {},
  http?: HttpOptions,
): Promise<{
  service: AuditorService;
  store: ReportStore;
  auditor: string;
  registry: DeviceRegistry;
  model: ModelParams;
}> {
  const ctx = await connectReputation(hre, signer);
  const auditor = await signer.getAddress();
  let store: ReportStore;
  try {
    store = new ReportStore(db);
  } catch (error) {
    throw new UserError(`cannot open the auditor database ${db}: ${(error as Error).message}`);
  }
  const params = modelFor(ctx.epochLength, model);
  const service = new AuditorService({
    registry: ctx.registry,
    domain: ctx.domain,
    store,
    model: params,
    epochLength: ctx.epochLength,
    http,
  });
  return { service, store, auditor, registry: ctx.registry, model: params };
}

export async function runEpoch(
  hre: HardhatRuntimeEnvironment,
  signer: Signer,
  db: string,
  model: Partial<ModelParams> = {},
): Promise<EpochResult & { auditor: string }> {
  ensure(fs.existsSync(db), `auditor database ${db} does not exist (start auditor:serve with --db ${db} first)`);
  const { service, store, auditor } = await openAuditor(hre, signer, db, model);
  try {
    return { ...(await service.runEpoch()), auditor };
  } finally {
    store.close();
  }
}

export async function withdrawReward(
  hre: HardhatRuntimeEnvironment,
  signer: Signer,
): Promise<{ auditor: string; amount: bigint; formatted: string; gasUsed: bigint; txHash: string }> {
  const { registry } = await connectReputation(hre, signer);
  const auditor = await signer.getAddress();
  const info = await registry.auditorInfo(auditor);
  ensure(info.earned > 0n, `${auditor} has no auditor reward to withdraw`);
  const tx = await registry.withdrawAuditorReward();
  const gasUsed = await gasOf(tx);
  return { auditor, amount: info.earned, formatted: formatThing(info.earned), gasUsed, txHash: tx.hash };
}

export async function setAuditor(
  hre: HardhatRuntimeEnvironment,
  admin: Signer,
  auditor: string,
  admit: boolean,
): Promise<{ auditor: string; admitted: boolean; gasUsed: bigint; txHash: string }> {
  const { registry } = await connectReputation(hre, admin);
  const caller = await admin.getAddress();
  const owner = await registry.owner();
  ensure(caller === owner, `${caller} is not the network admin (${owner})`);
  const info = await registry.auditorInfo(auditor);
  ensure(info.active !== admit, `${auditor} is ${admit ? "already" : "not"} an auditor`);
  const tx = admit ? await registry.addAuditor(auditor) : await registry.removeAuditor(auditor);
  return { auditor, admitted: admit, gasUsed: await gasOf(tx), txHash: tx.hash };
}

/**
 * The admin sets how many changed scores an auditor can be rewarded for per epoch (0 to the registry's
 * `MAX_EPOCH_REWARDS`; a new auditor starts at `DEFAULT_EPOCH_REWARDS`).
 */
export async function setAuditorRewardCap(
  hre: HardhatRuntimeEnvironment,
  admin: Signer,
  auditor: string,
  maxRewardsPerEpoch: number,
): Promise<{ auditor: string; maxRewardsPerEpoch: number; previous: number; gasUsed: bigint; txHash: string }> {
  const { registry } = await connectReputation(hre, admin);
  const caller = await admin.getAddress();
  const owner = await registry.owner();
  ensure(caller === owner, `${caller} is not the network admin (${owner})`);
  const limit = await registry.MAX_EPOCH_REWARDS();
  ensure(BigInt(maxRewardsPerEpoch) <= limit, `--max: at most ${limit} rewards per epoch, got ${maxRewardsPerEpoch}`);
  const info = await registry.auditorInfo(auditor);
  ensure(info.active, `${auditor} is not an auditor`);
  const tx = await registry.setAuditorRewardCap(auditor, maxRewardsPerEpoch);
  return {
    auditor,
    maxRewardsPerEpoch,
    previous: Number(info.maxRewardsPerEpoch),
    gasUsed: await gasOf(tx),
    txHash: tx.hash,
  };
}

export interface EpochVerification {
  epoch: number;
  root: string;
  reports: number;
  scores: number;
  /** True when a `ScoresUpdated` event on chain carries this root for this epoch. */
  onChain: boolean;
  /** The report counts committed on chain with this root (each should equal `reports`). */
  committedReports: number[];
  ok: boolean;
  problems: string[];
}

/**
 * Anyone's check of an auditor's epoch: fetches what it published, recomputes every report's digest, the
 * reports root and every score, looks for the root in the chain's `ScoresUpdated` events, and checks that
 * the report count committed with it (the bound on the auditor's rewards) is the number of reports published.
 */
export async function verifyPublishedEpoch(
  hre: HardhatRuntimeEnvironment,
  url: string,
  epoch: number,
): Promise<EpochVerification> {
  const ctx = await connectReputation(hre);
  const base = url.replace(/\/+$/, "");
  let published: PublishedEpoch;
  try {
    const response = await fetch(`${base}/epochs/${epoch}`);
    const body = (await response.json()) as PublishedEpoch & { error?: string };
    ensure(response.ok, `the auditor at ${base} answered ${response.status}: ${body.error ?? "no reason given"}`);
    published = body;
  } catch (error) {
    if (error instanceof UserError) throw error;
    throw new UserError(`cannot fetch epoch ${epoch} from the auditor at ${base}: ${(error as Error).message}`);
  }
  const check = recomputeEpoch(published, ctx.domain);
  const events = await ctx.registry.queryFilter(ctx.registry.filters.ScoresUpdated(undefined, epoch));
  const withRoot = events.filter((e) => e.args.reportsRoot.toLowerCase() === published.root.toLowerCase());
  const onChain = withRoot.length > 0;
  const committedReports = withRoot.map((e) => Number(e.args.reportCount));
  const problems = [...check.problems];
  if (!onChain) problems.push(`no ScoresUpdated event of epoch ${epoch} carries root ${published.root}`);
  for (const count of new Set(committedReports))
    if (count !== published.reports.length)
      problems.push(
        `root ${published.root} was committed on chain with ${count} report(s), but ${published.reports.length} are published`,
      );
  return {
    epoch,
    root: published.root,
    reports: published.reports.length,
    scores: published.scores.length,
    onChain,
    committedReports,
    ok: problems.length === 0,
    problems,
  };
}

export interface ServeAuditorOptions {
  signer: Signer;
  port: number;
  host: string;
  db: string;
  model: Partial<ModelParams>;
  /** Score each epoch automatically, looking at the chain's epoch this often (seconds). */
  autoPollSeconds?: number;
  log: (line: string) => void;
  /** HTTP limits, logger and health thresholds. */
  http?: HttpOptions;
}

export interface RunningAuditor {
  url: string;
  auditor: string;
  db: string;
  reports: number;
  model: ModelParams;
  auto: boolean;
  stop: () => Promise<void>;
}

/**
 * Starts the auditor for the current network. With `autoPollSeconds`, it scores and submits each epoch
 * once the chain enters it (the reports of the epoch before are all in by then).
 */
export async function serveAuditor(hre: HardhatRuntimeEnvironment, o: ServeAuditorOptions): Promise<RunningAuditor> {
  const { service, store, auditor, registry, model } = await openAuditor(hre, o.signer, o.db, o.model, o.http);
  if (!(await registry.auditorInfo(auditor)).active)
    o.log(`${auditor} is not an admitted auditor yet: reports are taken, but epochs cannot be submitted`);
  let url: string;
  try {
    url = await service.listen(o.port, o.host);
  } catch (error) {
    store.close();
    throw new UserError(`cannot listen on ${o.host}:${o.port}: ${(error as Error).message}`);
  }
  let timer: NodeJS.Timeout | undefined;
  if (o.autoPollSeconds !== undefined) {
    let busy = false;
    // Scores an epoch when the chain enters it, so that the reports of the epoch before are all in.
    let seen = Number(await registry.currentEpoch());
    // Each pass is tracked: /health reports its last run and error, the metrics count its results.
    service.watchLoop("epoch", o.autoPollSeconds);
    timer = setInterval(() => {
      if (busy) return;
      busy = true;
      service
        .track("epoch", async () => {
          const epoch = Number(await registry.currentEpoch());
          if (epoch <= seen) return;
          seen = epoch;
          if (store.epoch(epoch) !== undefined || store.count() === 0) return;
          const r = await service.runEpoch();
          o.log(
            `epoch ${r.epoch}: ${r.submitted} score(s) from ${r.reports} report(s), root ${r.root}, gas ${r.gasUsed}`,
          );
        })
        .catch((error: Error) => o.log(`epoch run failed: ${error.message}`))
        .finally(() => (busy = false));
    }, o.autoPollSeconds * 1000);
  }
  return {
    url,
    auditor,
    db: o.db,
    reports: store.count(),
    model,
    auto: o.autoPollSeconds !== undefined,
    stop: async () => {
      if (timer !== undefined) clearInterval(timer);
      await service.stop();
      store.close();
    },
  };
}
