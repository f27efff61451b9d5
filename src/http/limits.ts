import type { Provider } from "ethers";
import type { FastifyBaseLogger } from "fastify";

import type { OverloadOptions } from "./overload";

/** Protection against slow and abusive clients. Every field has a default ({@link DEFAULT_LIMITS}). */
export interface HttpLimits {
  /** Largest request body, in bytes (413 above). */
  bodyLimit: number;
  /** Time to receive a whole request, headers and body (408 and the connection closed after). */
  requestTimeoutMs: number;
  /** Time to receive a request's headers (408 and closed after): a slowloris client is cut off. */
  headersTimeoutMs: number;
  /** How long an idle keep-alive connection stays open between requests. */
  keepAliveTimeoutMs: number;
  /** A connection with no traffic at all for this long is closed. */
  idleTimeoutMs: number;
  /** Open connections at most; more are closed as they arrive. */
  maxConnections: number;
  /** Requests per client (IP address) per window, 429 with Retry-After above; false: no limit. */
  rateLimit: { max: number; windowMs: number } | false;
  /** A chain read (RPC) that takes longer is abandoned: 503 "chain unavailable". */
  rpcTimeoutMs: number;
}

/**
 * The defaults of a service built in code (tests, benchmarks, embedding). No rate limit here: the serve
 * tasks turn one on (1000 requests per 10 s per client, `src/cli/http.ts`); behind a proxy every client
 * has the proxy's address.
 */
export const DEFAULT_LIMITS: HttpLimits = {
  bodyLimit: 16 * 1024,
  requestTimeoutMs: 10_000,
  headersTimeoutMs: 5_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 30_000,
  maxConnections: 4_096,
  rateLimit: false,
  rpcTimeoutMs: 5_000,
};

export interface HttpOptions {
  limits?: Partial<HttpLimits>;
  /** A pino logger (Fastify's); default: none (silent, as in tests). */
  logger?: FastifyBaseLogger;
  /** /health fails when the chain's head block is older than this many seconds; default: reported, not judged. */
  maxChainLagSeconds?: number;
  /** Also export the process's metrics (CPU, memory, event loop lag, GC); the serve tasks do. */
  processMetrics?: boolean;
  /** Load shedding: beyond `maxInFlight` requests at once, 503 "server busy" at once (src/http/overload.ts). */
  overload?: OverloadOptions;
  /**
   * /health reuses its probes (the database write and the chain read) for this many milliseconds, so a flood
   * of /health costs at most one probe per period; the loops and counts are always current. Default
   * {@link DEFAULT_HEALTH_CACHE_MS}; 0 probes on every call.
   */
  healthCacheMs?: number;
}

export const DEFAULT_HEALTH_CACHE_MS = 1_000;

/** What /health checks besides the background loops: the probes at most once per `healthCacheMs`, `extra` per request. */
export interface HealthSources {
  /** The chain connection; undefined: the service runs without a chain (reported, not a fault). */
  provider: () => Provider | null | undefined;
  /** A real write to the database; throws (or rejects) when it cannot write. */
  probeDb: () => void | Promise<void>;
  /** Service-specific fields of the answer (counts, kept in memory: called on every /health). */
  extra?: () => Record<string, unknown>;
}
