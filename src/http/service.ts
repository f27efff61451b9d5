import { randomUUID } from "node:crypto";
import http from "node:http";
import { performance } from "node:perf_hooks";
import type { AddressInfo, Socket } from "node:net";

import rateLimit from "@fastify/rate-limit";
import Fastify, { LogController } from "fastify";
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

import { UserError } from "../errors";
import { classify, clientErrorAnswer, schemaError, utf8Only } from "./answers";
import type { HealthCheck } from "./answers";
import { Rejected } from "./errors";
import { DEFAULT_HEALTH_CACHE_MS, DEFAULT_LIMITS } from "./limits";
import type { HealthSources, HttpLimits, HttpOptions } from "./limits";
import type { ServiceMetrics } from "./metrics";
import { overload } from "./overload";
import type { ChainCall } from "../chain/mined";
import { boundedRead, timeBounded, isChainFault } from "./rpc";

export { Rejected } from "./errors";
export type { ErrorBody } from "./errors";
export { ChainUnavailable } from "./rpc";
export { DEFAULT_HEALTH_CACHE_MS, DEFAULT_LIMITS } from "./limits";
export type { HealthSources, HttpLimits, HttpOptions } from "./limits";

interface LoopState {
  everySeconds: number;
  watchedAt: number;
  lastRun?: number;
  lastOk?: number;
  lastError?: string;
}

/**
 * An off-chain HTTP service (the AS, the auditor), with one answer to every fault:
 * - bodies are strict JSON: unknown fields refused, no type coercion (`"90"` is not an integer), JSON only
 *   (415 otherwise), bounded in size (413), malformed or empty JSON 400;
 * - every error is answered as `{ error }` naming the problem: a {@link Rejected} with its status, a schema
 *   failure with 400 naming the field, a chain that cannot be read with 503 "chain unavailable" and
 *   Retry-After; anything else with 500 "internal error" and a request id that is in the log, never the
 *   internal message;
 * - slow and abusive clients are cut off ({@link HttpLimits});
 * - `GET /health` checks the chain, the database and the background loops (200 only when all are ok, 503
 *   otherwise) and `GET /metrics` serves Prometheus metrics.
 */
export abstract class HttpService<M extends ServiceMetrics = ServiceMetrics> {
  readonly app: FastifyInstance;
  readonly limits: HttpLimits;
  private readonly loops = new Map<string, LoopState>();
  /** The last probes of /health (chain and database), reused for `healthCacheMs`; shared while running. */
  private probes?: { at: number; result: Promise<{ rpc: HealthCheck; db: HealthCheck }> };

  protected constructor(
    readonly metrics: M,
    private readonly health: HealthSources,
    private readonly httpOptions: HttpOptions = {},
  ) {
    const given = Object.entries(httpOptions.limits ?? {}).filter(([, value]) => value !== undefined);
    const limits: HttpLimits = { ...DEFAULT_LIMITS, ...Object.fromEntries(given) };
    limits.headersTimeoutMs = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
    this.limits = limits;
    // Node checks request and header deadlines on a timer (30 s by default): check often enough to keep them.
    const checkEvery = Math.max(10, Math.min(1_000, Math.floor(limits.headersTimeoutMs / 4)));
    this.app = Fastify({
      ...(httpOptions.logger === undefined ? { logger: false } : { loggerInstance: httpOptions.logger }),
      // Per-request lines are too many under load: the error handler logs what matters, metrics count the rest.
      logController: new LogController({ disableRequestLogging: true }),
      genReqId: () => randomUUID(),
      requestIdHeader: false,
      bodyLimit: limits.bodyLimit,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      connectionTimeout: limits.idleTimeoutMs,
      http: {
        requestTimeout: limits.requestTimeoutMs,
        headersTimeout: limits.headersTimeoutMs,
        keepAliveTimeout: limits.keepAliveTimeoutMs,
        connectionsCheckingInterval: checkEvery,
      },
      clientErrorHandler: (error, socket) => this.clientError(error as Error & { code?: string }, socket),
      // Router errors (a bad percent-encoding, an overlong path parameter) get the same `{ error }` answers.
      frameworkErrors: (error, request, reply) => this.answer(error, request, reply),
      ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
      schemaErrorFormatter: schemaError,
    }) as unknown as FastifyInstance;
    this.app.server.maxConnections = limits.maxConnections;
    this.app.server.on("drop", () => metrics.droppedConnections.inc());
    const shed = (): void => void metrics.rejections.inc({ reason: "server_busy", status: 503 });
    void this.app.register(overload, { onShed: shed, ...httpOptions.overload });
    // JSON only: Fastify would also take text/plain as a string.
    this.app.removeContentTypeParser("text/plain");
    if (limits.rateLimit !== false) {
      const { max, windowMs } = limits.rateLimit;
      void this.app.register(rateLimit, {
        max,
        timeWindow: windowMs,
        errorResponseBuilder: (_request, context) =>
          new Rejected(
            429,
            `rate limit: at most ${context.max} requests per ${windowMs / 1000} s from one client; retry in ${context.after}`,
            "rate_limited",
          ),
      });
    }
    this.app.setErrorHandler((error: FastifyError, request, reply) => this.answer(error, request, reply));
    // JSON bodies are read as UTF-8: a body labelled with another charset would be misread, so it is refused.
    this.app.addHook("preParsing", utf8Only);
    this.app.setNotFoundHandler((request, reply) => {
      metrics.rejections.inc({ reason: "no_route", status: 404 });
      const error = `no route ${request.method} ${request.url.split("?")[0].slice(0, 200)}`;
      void reply.status(404).send({ error, reason: "no_route" });
    });
    this.app.addHook("onResponse", (request, reply, done) => {
      const route = request.routeOptions.url ?? "unmatched";
      metrics.requests.inc({ route, method: request.method, status: reply.statusCode });
      metrics.requestSeconds.observe({ route }, reply.elapsedTime / 1000);
      done();
    });
    this.app.get("/health", { config: { rateLimit: false } }, async (_request, reply) => {
      const report = await this.healthReport();
      void reply.status(report.ok ? 200 : 503);
      return report;
    });
    this.app.get("/metrics", { config: { rateLimit: false } }, async (_request, reply) => {
      void reply.header("content-type", metrics.registry.contentType);
      return metrics.registry.metrics();
    });
  }

  /**
   * Declares the service's own routes. They are registered after the rate limiter (so it applies to them;
   * /health and /metrics are exempt) and run once the service starts (`listen`, `inject` or `ready`).
   */
  protected routes(define: (app: FastifyInstance) => void): void {
    void this.app.register(async (scope) => define(scope));
  }

  /** A chain read bounded by `rpcTimeoutMs`: a failure or a timeout is a 503 "chain unavailable", counted. */
  protected readChain<T>(call: string, read: () => Promise<T>): Promise<T> {
    return boundedRead(call, read, this.limits.rpcTimeoutMs, (kind, error) => {
      this.metrics.rpcErrors.inc({ call, kind });
      this.app.log.warn({ call, kind, err: error }, `chain read ${call}: ${kind}`);
    });
  }

  /** A chain call (a read or a send) bounded in time only: its own errors, a revert's reason, pass through. */
  protected readonly timedCall: ChainCall = (call, run) =>
    timeBounded(call, run, this.limits.rpcTimeoutMs, () => this.metrics.rpcErrors.inc({ call, kind: "timeout" }));

  /**
   * Declares a background loop that runs every `everySeconds`: /health reports it, and fails while its
   * last run failed or it has not finished a run for three periods (stuck, or stopped).
   */
  watchLoop(name: string, everySeconds: number): void {
    this.loops.set(name, { everySeconds, watchedAt: Date.now() });
  }

  /** Runs one pass of a watched loop, recording its outcome for /health, the metrics and the log. */
  async track<T>(name: string, run: () => Promise<T>): Promise<T> {
    let state = this.loops.get(name);
    if (state === undefined) {
      state = { everySeconds: 0, watchedAt: Date.now() };
      this.loops.set(name, state);
    }
    try {
      const result = await run();
      state.lastRun = state.lastOk = Date.now();
      state.lastError = undefined;
      this.metrics.loopRuns.inc({ loop: name, result: "ok" });
      return result;
    } catch (error) {
      state.lastRun = Date.now();
      state.lastError = this.publicMessage(error);
      this.metrics.loopRuns.inc({ loop: name, result: "error" });
      this.app.log.error({ err: error, loop: name }, `${name} loop failed`);
      throw error;
    } finally {
      this.metrics.loopLastRun.set({ loop: name }, Math.floor(Date.now() / 1000));
    }
  }

  /** The /health answer: `ok` only when the chain, the database and every watched loop are. */
  async healthReport(): Promise<{ ok: boolean } & Record<string, unknown>> {
    const ttl = this.httpOptions.healthCacheMs ?? DEFAULT_HEALTH_CACHE_MS;
    if (this.probes === undefined || performance.now() - this.probes.at >= ttl)
      this.probes = { at: performance.now(), result: this.probe() };
    const { rpc, db } = await this.probes.result;
    const loops: Record<string, unknown> = {};
    let loopsOk = true;
    for (const [name, s] of this.loops) {
      const since = Date.now() - (s.lastRun ?? s.watchedAt);
      const stale = s.everySeconds > 0 && since > 3 * s.everySeconds * 1000 + 5_000;
      const ok = s.lastError === undefined && !stale;
      loopsOk &&= ok;
      loops[name] = {
        ok,
        lastRun: s.lastRun === undefined ? null : new Date(s.lastRun).toISOString(),
        lastOk: s.lastOk === undefined ? null : new Date(s.lastOk).toISOString(),
        lastError: s.lastError ?? null,
        ...(stale ? { stale: `no run finished for ${Math.round(since / 1000)} s (every ${s.everySeconds} s)` } : {}),
      };
    }
    let extra: Record<string, unknown> = {};
    try {
      extra = this.health.extra?.() ?? {};
    } catch {
      // The database is broken: its counts are missing, and db says why.
    }
    return { ok: rpc.ok && db.ok && loopsOk, rpc, db, loops, ...extra };
  }

  /** The costly checks of /health: a chain read and a real database write. */
  private async probe(): Promise<{ rpc: HealthCheck; db: HealthCheck }> {
    const rpc = await this.rpcHealth();
    let db: HealthCheck;
    try {
      await this.health.probeDb();
      db = { ok: true, writable: true };
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      db = {
        ok: false,
        writable: false,
        error:
          code === "STORE_LOST"
            ? "the database was deleted, replaced or could not be synced while running: nothing more is written until an operator restarts the service on the right database"
            : `the database cannot be written${typeof code === "string" && /^(SQLITE_[A-Z_]+|ENOENT)$/.test(code) ? ` (${code})` : ""}`,
      };
      this.app.log.error({ err: error }, "health: database write probe failed");
    }
    return { rpc, db };
  }

  private async rpcHealth(): Promise<HealthCheck> {
    const provider = this.health.provider();
    if (provider === null || provider === undefined) return { ok: true, configured: false };
    try {
      const block = await this.readChain("getBlock", () => provider.getBlock("latest"));
      if (block === null) return { ok: false, reachable: true, error: "the chain has no latest block" };
      const lagSeconds = Math.floor(Date.now() / 1000) - block.timestamp;
      const max = this.httpOptions.maxChainLagSeconds;
      const behind = max !== undefined && max > 0 && lagSeconds > max;
      return {
        ok: !behind,
        reachable: true,
        head: block.number,
        lagSeconds,
        ...(behind ? { error: `the head block is ${lagSeconds} s old (at most ${max})` } : {}),
      };
    } catch (error) {
      return { ok: false, reachable: false, error: this.publicMessage(error) };
    }
  }

  /** A message fit for a client: ours (a Rejected or a UserError), or a generic one (the detail is logged). */
  private publicMessage(error: unknown): string {
    if (error instanceof Rejected) return error.message;
    if (isChainFault(error)) return "chain unavailable";
    // Ours, but it may quote a provider's error: its "(code=…, version=…)" detail stays in the log.
    if (error instanceof UserError)
      return error.message.replace(/\s*\((?:action|argument|code|info|reason|transaction)=.*$/s, "").slice(0, 300);
    return "failed (see the service log)";
  }

  /** Every error's answer, `{ error }` with its status: from a handler, a hook, or the router. */
  private answer(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
    const answer = classify(error, request, this.app, this.limits.bodyLimit);
    this.metrics.rejections.inc({ reason: answer.reason, status: answer.status });
    if (answer.status === 500) {
      request.log.error({ err: error, reqId: request.id, url: request.url }, "internal error");
      void reply
        .status(500)
        .send({ error: `internal error (request ${request.id})`, reason: answer.reason, requestId: request.id });
      return;
    }
    if (answer.status === 503) {
      request.log.warn({ reqId: request.id, url: request.url }, answer.message);
      void reply.header("retry-after", "5");
    } else request.log.debug({ reqId: request.id, url: request.url, status: answer.status }, answer.message);
    void reply.status(answer.status).send({ error: answer.message, reason: answer.reason });
  }

  /** Errors before a request reaches Fastify (timeouts, malformed HTTP): answered, counted, the socket closed. */
  private clientError(error: Error & { code?: string }, socket: Socket): void {
    if (error.code === "ECONNRESET" || socket.destroyed) return;
    const { status, message, reason } = clientErrorAnswer(error.code, this.limits);
    this.metrics.rejections.inc({ reason, status });
    this.app.log.debug({ code: error.code, remote: socket.remoteAddress }, message);
    const body = JSON.stringify({ error: message, reason });
    if (socket.writable)
      socket.write(
        `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`,
      );
    socket.destroy();
  }

  /** Listens on `host:port` (port 0: any free port) and returns the service's URL. */
  async listen(port: number, host = "127.0.0.1"): Promise<string> {
    // A deep accept queue: with Node's default (511) a burst of new connections overflows it and the
    // kernel drops SYNs, which clients retry only after 1, 3, 7 s (the kernel caps it at somaxconn).
    await this.app.listen({ port, host, backlog: 4096 });
    const address = this.app.server.address() as AddressInfo;
    return `http://${host}:${address.port}`;
  }

  async stop(): Promise<void> {
    await this.app.close();
  }
}
