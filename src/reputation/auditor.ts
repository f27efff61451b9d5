import type { TypedDataDomain } from "ethers";
import { LRUCache } from "lru-cache";

import type { DeviceRegistry } from "../../typechain-types";
import { TtlCache } from "../http/cache";
import { AuditorMetrics } from "../http/metrics";
import { DatabaseLost } from "../db/files";
import { HttpService, Rejected } from "../http/service";
import type { HttpOptions } from "../http/service";
import { recoverSigner } from "../channels/verify";
import { DEVICE_SIGNATURE_PATTERN, fullSignature } from "../eip712/device";
import { MAX_RATING, interactionClaimDigest, reportDigest } from "../eip712/report";
import { UserError } from "../errors";
import { STATUS_NAMES } from "../registry";
import { buildEpoch, buildEpochColumns } from "./epoch";
import type { PublishedEpoch } from "./epoch";
import type { ModelParams } from "./model";
import { NotMined, scoresToSubmit, submitScores } from "./scores";
import { DuplicateReport } from "./store";
import type { EpochRecord, ReportStore, StoredReport } from "./store";

/** A report as it travels over HTTP and in report files. */
export interface ReportBody {
  reporterId: string;
  subjectId: string;
  interaction: string;
  rating: number;
  timestamp: number;
  signature: string;
  evidence: string;
}

export interface AuditorOptions {
  /** The registry, connected to the auditor's signer (it submits the scores). */
  registry: DeviceRegistry;
  /** The registry's EIP-712 domain (chain id and address): reports signed for any other are refused. */
  domain: TypedDataDomain;
  store: ReportStore;
  model: ModelParams;
  epochLength: number;
  /** Current time in seconds; defaults to the latest block's timestamp. */
  now?: () => Promise<number>;
  /** How far in the future a report's timestamp may be (device clocks drift). Default 300 s. */
  maxSkew?: number;
  /** Score entries per transaction. Default 200. */
  batchSize?: number;
  /** How long a score transaction may take to be mined before the run stops (it resumes on the next). Default 180 s. */
  minedTimeoutMs?: number;
  /** Limits, logger and health thresholds of the HTTP service (bodies default to 16 KiB here). */
  http?: HttpOptions;
  /** A device found unregistered on chain is refused from memory for this many seconds (no chain read). Default 15. */
  unknownDeviceTtl?: number;
  /** A registered device's status and key, read for the report check, are reused for this many seconds, so a
   * flood of reports (forged ones included) naming one device costs one read per period. A revocation or a
   * key rotation is therefore seen by the report check up to this late. Default 5; 0 reads every time. */
  knownDeviceTtl?: number;
}

export interface EpochResult {
  epoch: number;
  root: string;
  reports: number;
  subjects: number;
  submitted: number;
  /** Subjects left out: already scored this epoch, unchanged, revoked, or not auditable. */
  skipped: number;
  changed: number;
  rewarded: number;
  gasUsed: bigint;
  txHashes: string[];
}

/** A submitted epoch as served: published once read, built once a proof is asked for. */
interface CachedEpoch {
  published: PublishedEpoch;
}

const hex32 = { type: "string", pattern: "^0x[0-9a-fA-F]{64}$" } as const;
const signature = { type: "string", pattern: "^0x[0-9a-fA-F]{130}$" } as const;
/** The subject's identity claim: 65 bytes, or 64 in EIP-2098 form (as `isValidDeviceSignature` takes it). */
const claimSignature = { type: "string", pattern: DEVICE_SIGNATURE_PATTERN.source } as const;
export const REPORT_SCHEMA = {
  type: "object",
  required: ["reporterId", "subjectId", "interaction", "rating", "timestamp", "signature", "evidence"],
  additionalProperties: false,
  properties: {
    reporterId: hex32,
    subjectId: hex32,
    interaction: hex32,
    rating: { type: "integer", minimum: 0, maximum: MAX_RATING },
    timestamp: { type: "integer", minimum: 0, maximum: 2 ** 40 },
    signature,
    evidence: claimSignature,
  },
} as const;

/**
 * The auditor: takes device reports over HTTP, checks each (signature by the reporter's current key in
 * this registry's domain, reporter active, subject active, the subject's identity claim for this
 * interaction as evidence, no repeat, a sane timestamp) and stores it in SQLite. Each epoch it scores the
 * subjects from the reports in the model's window and submits them with the Merkle root of those reports
 * and their number (the registry bounds the epoch's rewards by it); it publishes each epoch's reports,
 * scores and proofs so that anyone can recompute root, report count and scores.
 */
export class AuditorService extends HttpService<AuditorMetrics> {
  private readonly now: () => Promise<number>;
  /** Reports being checked right now, by digest and by interaction: a second copy in flight is a duplicate. */
  private readonly inFlight = new Set<string>();
  /**
   * Submitted epochs are final: each is read once, then served from memory (`GET /epochs/:n`). The last 16
   * used are kept, up to 2,000,000 reports in all. (Proofs do not use it: they are read from the epoch's
   * tree, see {@link proof}.)
   */
  private readonly epochCache = new LRUCache<number, CachedEpoch>({
    max: 16,
    maxSize: 2_000_000,
    sizeCalculation: (entry) => entry.published.reports.length + 1,
  });
  /** Devices' status and key as last read: unregistered ones for `unknownDeviceTtl`, registered ones for
   * `knownDeviceTtl`; one read per device at once. */
  private readonly devices: TtlCache<{ status: bigint; deviceKey: string }>;
  private clock?: { timestamp: number; at: number };
  private clockRead?: Promise<void>;

  constructor(private readonly options: AuditorOptions) {
    super(
      new AuditorMetrics({ processMetrics: options.http?.processMetrics }),
      {
        provider: () => options.registry.runner?.provider,
        probeDb: () => options.store.probeWrite(),
        extra: () => ({ reports: options.store.count(), epochs: options.store.epochs() }),
      },
      { ...options.http, limits: { bodyLimit: 16 * 1024, ...options.http?.limits } },
    );
    this.devices = new TtlCache((options.knownDeviceTtl ?? 5) * 1000);
    this.now =
      options.now ??
      (async () => {
        const provider = options.registry.runner?.provider;
        if (provider === null || provider === undefined) throw new Error("the auditor has no chain connection");
        const block = await this.readChain("getBlock", () => provider.getBlock("latest"));
        if (block === null) throw new Error("the chain has no latest block");
        return block.timestamp;
      });
    this.routes((app) => {
      app.post<{ Body: ReportBody }>("/reports", { schema: { body: REPORT_SCHEMA } }, async (request, reply) => {
        const stored = await this.accept(request.body);
        this.metrics.reportsAccepted.inc();
        void reply.status(201);
        return { accepted: true, digest: stored.digest };
      });
      app.get<{ Params: { epoch: string } }>("/epochs/:epoch", async (request) =>
        this.published(parseEpoch(request.params.epoch)),
      );
      app.get<{ Params: { epoch: string; digest: string } }>("/epochs/:epoch/proofs/:digest", async (request) =>
        this.proof(parseEpoch(request.params.epoch), request.params.digest),
      );
    });
  }

  /** Checks a report and stores it; throws a {@link Rejected} naming the first problem found. */
  async accept(body: ReportBody): Promise<StoredReport> {
    const report: StoredReport = {
      reporterId: body.reporterId.toLowerCase(),
      subjectId: body.subjectId.toLowerCase(),
      interaction: body.interaction.toLowerCase(),
      rating: body.rating,
      timestamp: body.timestamp,
      signature: body.signature.toLowerCase(),
      evidence: body.evidence.toLowerCase(),
      digest: "",
    };
    if (report.reporterId === report.subjectId) throw new Rejected(400, "a device cannot report on itself");
    report.digest = reportDigest(this.options.domain, { ...report, timestamp: BigInt(report.timestamp) });
    const pairKey = `${report.reporterId}${report.subjectId}${report.interaction}`;
    if (this.options.store.has(report) || this.inFlight.has(report.digest) || this.inFlight.has(pairKey))
      throw new Rejected(409, `duplicate: device ${report.reporterId} already reported on this interaction`);
    this.inFlight.add(report.digest).add(pairKey);
    try {
      await this.check(report);
      this.options.store.add(report);
      return report;
    } catch (error) {
      if (error instanceof DuplicateReport)
        throw new Rejected(409, `duplicate: device ${report.reporterId} already reported on this interaction`);
      if (error instanceof DatabaseLost)
        throw new Rejected(
          503,
          "the auditor stores no reports: its database was deleted or replaced while it ran; an operator must act",
          "store_lost",
        );
      if (/^SQLITE_/.test(String((error as { code?: unknown }).code)))
        throw new Rejected(503, "the auditor cannot write its database now; retry later", "store_unavailable");
      throw error;
    } finally {
      this.inFlight.delete(report.digest);
      this.inFlight.delete(pairKey);
    }
  }

  private async check(r: StoredReport): Promise<void> {
    // Signatures first: a report that fails them costs no chain read.
    const signer = recoverSigner(r.digest, r.signature);
    if (signer === undefined) throw new Rejected(400, "the report signature is malformed or not canonical (high s)");
    const claimer = recoverSigner(interactionClaimDigest(this.options.domain, r), fullSignature(r.evidence));
    if (claimer === undefined) throw noEvidence(r);
    const now = await this.reportClock();
    const skew = this.options.maxSkew ?? 300;
    if (r.timestamp > now + skew) throw new Rejected(400, `timestamp ${r.timestamp} is in the future (now ${now})`);
    if (now - r.timestamp > this.options.model.horizon)
      throw new Rejected(
        400,
        `timestamp ${r.timestamp} is older than the model's horizon of ${this.options.model.horizon} s`,
      );
    // Then the reporter alone: a report from an unregistered, inactive or wrong-keyed reporter costs one read
    // (none for a reporter already known to be unregistered), not the subject's too.
    const reporter = await this.device(r.reporterId);
    const reporterStatus = STATUS_NAMES[Number(reporter.status)];
    if (reporterStatus === "unknown") throw new Rejected(403, `reporter ${r.reporterId} is not a registered device`);
    if (reporterStatus !== "active")
      throw new Rejected(403, `reporter ${r.reporterId} is ${reporterStatus}: only active devices may report`);
    if (signer !== reporter.deviceKey) {
      throw new Rejected(
        401,
        `the report is signed by ${signer}, not by reporter ${r.reporterId}'s key ${reporter.deviceKey} (forged, or signed for another chain or registry)`,
      );
    }
    const subject = await this.device(r.subjectId);
    const subjectStatus = STATUS_NAMES[Number(subject.status)];
    if (subjectStatus === "unknown") throw new Rejected(404, `subject ${r.subjectId} is not a registered device`);
    if (subjectStatus !== "active")
      throw new Rejected(409, `subject ${r.subjectId} is ${subjectStatus}: only active devices are scored`);
    if (claimer !== subject.deviceKey) throw noEvidence(r);
  }

  /**
   * Chain time for checking a report's timestamp: one block read serves every report for a second (plus the
   * wall time since), so a flood of reports does not cost a read each. Epochs read the chain afresh.
   */
  private async reportClock(): Promise<number> {
    if (this.options.now !== undefined) return this.options.now();
    const age = this.clock === undefined ? Infinity : Date.now() - this.clock.at;
    if (age > 1000) {
      this.clockRead ??= this.now()
        .then((timestamp) => void (this.clock = { timestamp, at: Date.now() }))
        .finally(() => (this.clockRead = undefined));
      await this.clockRead;
    }
    return this.clock!.timestamp + Math.floor((Date.now() - this.clock!.at) / 1000);
  }

  /**
   * A device's status and key on chain (concurrent reads of one id share one call); an unregistered one is
   * remembered as such for `unknownDeviceTtl`, a registered one for `knownDeviceTtl`.
   */
  private async device(id: string): Promise<{ status: bigint; deviceKey: string }> {
    const cached = this.devices.get(id);
    if (cached !== undefined) return cached;
    const { value } = await this.devices.shared(id, () =>
      this.readChain("getDevice", () => this.options.registry.getDevice(id)),
    );
    const unknown = STATUS_NAMES[Number(value.status)] === "unknown";
    const read = unknown ? { status: 0n, deviceKey: "" } : { status: value.status, deviceKey: value.deviceKey };
    this.devices.set(id, read, unknown ? (this.options.unknownDeviceTtl ?? 15) * 1000 : undefined);
    return read;
  }

  /**
   * Scores the current epoch from the stored reports and submits the changed scores with the reports root.
   * The epoch is recorded (its root and reports) before the first transaction is sent, and what lands is
   * added after: a crash or a refused batch in between leaves it pending, and the next run resumes it with
   * the same reports and root, so every root on chain keeps its proofs.
   */
  async runEpoch(): Promise<EpochResult> {
    const { registry, store } = this.options;
    // Every read is bounded by the RPC timeout: a hung RPC fails the run (503 chain unavailable), not stalls it.
    const read = <T>(call: string, fn: () => Promise<T>) => this.readChain(call, fn);
    const epoch = Number(await read("currentEpoch", () => registry.currentEpoch()));
    const recorded = store.epoch(epoch);
    if (recorded !== undefined && recorded.pending !== true)
      throw new UserError(`this auditor already submitted epoch ${epoch}`);
    const runner = registry.runner as { getAddress?: () => Promise<string> } | null;
    const auditor = (await runner?.getAddress?.()) ?? "";
    const info = await read("auditorInfo", () => registry.auditorInfo(auditor));
    if (!info.active) throw new UserError(`${auditor} is not an admitted auditor of this registry`);
    const { built, reference, model } = await this.epochToScore(epoch, recorded);
    const subjects = [...built.scores.values()];
    // Scores that an earlier, interrupted run landed are scored this epoch already: left out here.
    const entries = await scoresToSubmit(registry, subjects, epoch, read);
    if (recorded === undefined && entries.length > 0)
      store.saveEpoch(
        {
          ...{ epoch, reference, model, root: built.root, reports: built.count },
          ...{ scores: [], txHashes: [], gasUsed: "0", rewarded: 0, pending: true },
        },
        built.digests(),
      );
    const { batchSize = 200, minedTimeoutMs } = this.options;
    const batches = [registry, entries, epoch, built.root, built.count, batchSize] as const;
    const { failure, ...landed } = await submitScores(...batches, minedTimeoutMs, this.timedCall);
    if (recorded !== undefined || entries.length > 0) {
      const scores = entries.slice(0, landed.submitted);
      store.recordBatches(epoch, { ...landed, scores }, failure === undefined);
      this.epochCache.delete(epoch);
    }
    if (failure !== undefined) {
      const message = failure instanceof Error ? failure.message : String(failure);
      const then =
        failure instanceof NotMined
          ? message
          : `the chain refused a batch: ${message}; run the epoch again to submit the rest`;
      throw new UserError(`epoch ${epoch}: ${landed.submitted} of ${entries.length} scores submitted, then ${then}`);
    }
    return {
      epoch,
      root: built.root,
      reports: built.count,
      subjects: subjects.length,
      submitted: landed.submitted,
      skipped: subjects.length - entries.length,
      changed: landed.changed,
      rewarded: landed.rewarded,
      gasUsed: landed.gasUsed,
      txHashes: landed.txHashes,
    };
  }

  /** The reports to score: a pending epoch's record (checked against its root), else the window's, as columns. */
  private async epochToScore(epoch: number, recorded: EpochRecord | undefined) {
    const { store, epochLength, model } = this.options;
    if (recorded !== undefined) {
      const { root, reports, scores } = buildEpoch(store.epochReports(epoch), recorded.reference, recorded.model);
      if (root !== recorded.root || reports.length !== recorded.reports)
        throw new UserError(
          `epoch ${epoch} was interrupted, and its stored reports no longer hash to the root recorded before it was sent (${recorded.root}): the database was changed`,
        );
      const built = { root, scores, count: reports.length, digests: () => reports.map((r) => r.digest) };
      return { built, reference: recorded.reference, model: recorded.model };
    }
    const reference = epoch * epochLength;
    const window = store.epochInput(reference - model.horizon, await this.now());
    if (window.rows.length === 0)
      throw new UserError(`no reports in the model's window: nothing to score in epoch ${epoch}`);
    const { root, order, scores } = buildEpochColumns(window, reference, model);
    const digests = () => store.digestsAt(Array.from(order, (i) => window.rows[i]));
    return { built: { root, scores, count: order.length, digests }, reference, model };
  }

  /** An epoch as published: its reports, model and scores, for anyone to recompute. */
  published(epoch: number): PublishedEpoch {
    return this.cachedEpoch(epoch).published;
  }

  private cachedEpoch(epoch: number): CachedEpoch {
    const cached = this.epochCache.get(epoch);
    if (cached !== undefined) return cached;
    const record = this.options.store.epoch(epoch);
    if (record === undefined) throw new Rejected(404, `this auditor submitted nothing in epoch ${epoch}`);
    const entry = {
      published: {
        epoch,
        reference: record.reference,
        root: record.root,
        model: record.model,
        reports: this.options.store.epochReports(epoch),
        scores: record.scores,
      },
    };
    this.epochCache.set(epoch, entry);
    return entry;
  }

  /**
   * A report's Merkle proof in an epoch's reports root, read by index from the epoch's tree (built once,
   * kept on disk beside the database): no request rebuilds or rescores an epoch, whichever epochs are asked.
   */
  proof(epoch: number, digest: string): { epoch: number; root: string; digest: string; proof: string[] } {
    if (!/^0x[0-9a-fA-F]{64}$/.test(digest))
      throw new Rejected(400, `"${digest}" is not a report digest (0x + 64 hex)`);
    const found = this.options.store.epochProof(epoch, digest);
    if (found === undefined) {
      if (!this.options.store.hasEpoch(epoch))
        throw new Rejected(404, `this auditor submitted nothing in epoch ${epoch}`);
      throw new Rejected(404, `report ${digest} was not used in epoch ${epoch}`);
    }
    return { epoch, root: found.root, digest: digest.toLowerCase(), proof: found.proof };
  }
}

function noEvidence(r: StoredReport): Rejected {
  return new Rejected(
    422,
    `no interaction evidence: "evidence" is not subject ${r.subjectId}'s identity claim for this reporter and interaction`,
  );
}

function parseEpoch(value: string): number {
  if (!/^[0-9]{1,10}$/.test(value)) throw new Rejected(400, `"${value}" is not an epoch number`);
  return Number(value);
}
