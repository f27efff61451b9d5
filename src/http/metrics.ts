import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/**
 * Prometheus metrics of one HTTP service, in a registry of its own (not prom-client's global one, so a
 * process or a test can run many services). `GET /metrics` serves {@link ServiceMetrics.registry}.
 * Every name starts with `thingledger_<service>_`.
 */
export class ServiceMetrics {
  readonly registry = new Registry();
  /** Answered requests, by route, method and status. */
  readonly requests: Counter<"route" | "method" | "status">;
  /** Time from a request's arrival to its answer, by route. */
  readonly requestSeconds: Histogram<"route">;
  /** Requests refused (4xx) or failed (5xx), by a short reason (`invalid_body`, `rate_limited`, `chain_unavailable`, …). */
  readonly rejections: Counter<"reason" | "status">;
  /** Chain reads that failed or timed out, by call. */
  readonly rpcErrors: Counter<"call" | "kind">;
  /** Connections refused because the service holds `maxConnections` already. */
  readonly droppedConnections: Counter;
  /** Runs of a background loop (the AS's close loop, the auditor's epoch loop), by result. */
  readonly loopRuns: Counter<"loop" | "result">;
  /** When a loop last finished, in unix seconds. */
  readonly loopLastRun: Gauge<"loop">;

  constructor(
    readonly prefix: string,
    options: { processMetrics?: boolean } = {},
  ) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: `${prefix}http_requests_total`,
      help: "Answered HTTP requests",
      labelNames: ["route", "method", "status"],
      registers,
    });
    this.requestSeconds = new Histogram({
      name: `${prefix}http_request_duration_seconds`,
      help: "Time to answer an HTTP request",
      labelNames: ["route"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.rejections = new Counter({
      name: `${prefix}rejections_total`,
      help: "Requests answered with 4xx or 5xx, by reason",
      labelNames: ["reason", "status"],
      registers,
    });
    this.rpcErrors = new Counter({
      name: `${prefix}rpc_errors_total`,
      help: "Chain reads that failed (error) or did not answer in time (timeout)",
      labelNames: ["call", "kind"],
      registers,
    });
    this.droppedConnections = new Counter({
      name: `${prefix}dropped_connections_total`,
      help: "Connections refused at the connection cap",
      registers,
    });
    this.loopRuns = new Counter({
      name: `${prefix}loop_runs_total`,
      help: "Background loop runs, by loop and result (ok or error)",
      labelNames: ["loop", "result"],
      registers,
    });
    this.loopLastRun = new Gauge({
      name: `${prefix}loop_last_run_timestamp_seconds`,
      help: "When a background loop last finished (unix seconds)",
      labelNames: ["loop"],
      registers,
    });
    if (options.processMetrics === true) collectDefaultMetrics({ register: this.registry, prefix });
  }
}

/** The Authorization Server's metrics: the shared ones, exchanges, commits, outstanding codes and closes. */
export class AsMetrics extends ServiceMetrics {
  /** Receipts traded for an OTP. */
  readonly exchanges: Counter;
  /** Time to make a receipt durable (the group commit), before its OTP is released. */
  readonly commitSeconds: Histogram;
  /** Codes issued and not yet known to be used, by device (set by the HOTP window logic). */
  readonly outstandingCodes: Gauge<"device">;
  /** Channels closed with their best receipt. */
  readonly channelsClosed: Counter;
  /** Channels a close skipped, by reason (`closeOutcome`'s reasons). */
  readonly closesSkipped: Counter<"reason">;
  /** Requests for a channel not open on chain answered without a chain read of their own (cached, or joined). */
  readonly unknownChannelHits: Counter;

  constructor(options: { processMetrics?: boolean } = {}) {
    super("thingledger_as_", options);
    const registers = [this.registry];
    this.exchanges = new Counter({
      name: `${this.prefix}exchanges_total`,
      help: "Receipts traded for an OTP",
      registers,
    });
    this.commitSeconds = new Histogram({
      name: `${this.prefix}commit_duration_seconds`,
      help: "Time to make a receipt durable before its OTP is released",
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers,
    });
    this.outstandingCodes = new Gauge({
      name: `${this.prefix}outstanding_codes`,
      help: "OTP codes issued and not yet known to be used, by device",
      labelNames: ["device"],
      registers,
    });
    this.channelsClosed = new Counter({
      name: `${this.prefix}channels_closed_total`,
      help: "Channels closed with their best receipt",
      registers,
    });
    this.closesSkipped = new Counter({
      name: `${this.prefix}closes_skipped_total`,
      help: "Channels a close skipped, by reason",
      labelNames: ["reason"],
      registers,
    });
    this.unknownChannelHits = new Counter({
      name: `${this.prefix}unknown_channel_cache_hits_total`,
      help: "Requests for a channel not open on chain answered without a chain read",
      registers,
    });
  }
}

/** The auditor's metrics: the shared ones and accepted reports. */
export class AuditorMetrics extends ServiceMetrics {
  /** Reports checked and stored. */
  readonly reportsAccepted: Counter;

  constructor(options: { processMetrics?: boolean } = {}) {
    super("thingledger_auditor_", options);
    this.reportsAccepted = new Counter({
      name: `${this.prefix}reports_accepted_total`,
      help: "Reports checked and stored",
      registers: [this.registry],
    });
  }
}
