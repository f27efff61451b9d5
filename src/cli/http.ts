import { parseCount } from "./parse";
import { UserError } from "../errors";

/** The HTTP limit flags of `as:serve` and `auditor:serve`, as Hardhat passes them (strings, or absent). */
export interface HttpFlags {
  rateLimit?: string;
  rateWindow?: string;
  maxConnections?: string;
  bodyLimit?: string;
  requestTimeout?: string;
  headersTimeout?: string;
  keepAliveTimeout?: string;
  rpcTimeout?: string;
  maxLag?: string;
  healthCache?: string;
  logLevel?: string;
}

/** The options built from {@link HttpFlags}: `HttpOptions` without the logger, and the log level. */
export interface ParsedHttpFlags {
  limits: {
    rateLimit: { max: number; windowMs: number } | false;
    maxConnections?: number;
    bodyLimit?: number;
    requestTimeoutMs?: number;
    headersTimeoutMs?: number;
    keepAliveTimeoutMs?: number;
    rpcTimeoutMs?: number;
  };
  maxChainLagSeconds?: number;
  healthCacheMs?: number;
  logLevel: string;
}

const FLAGS: [keyof HttpFlags, string][] = [
  ["rateLimit", "Requests per client (IP) per --rate-window, 429 above; 0 turns the limit off (default 1000)"],
  ["rateWindow", "The rate limit's window in seconds (default 10)"],
  ["maxConnections", "Open connections at most; more are closed on arrival (default 4096)"],
  ["bodyLimit", "Largest request body in bytes, 413 above (default 16384)"],
  ["requestTimeout", "Milliseconds to receive a whole request, 408 and closed after (default 10000)"],
  ["headersTimeout", "Milliseconds to receive a request's headers, 408 and closed after (default 5000)"],
  ["keepAliveTimeout", "Milliseconds an idle keep-alive connection stays open (default 5000)"],
  ["rpcTimeout", "Milliseconds a chain read may take before the request gets 503 chain unavailable (default 5000)"],
  ["maxLag", "GET /health fails when the chain head is older than this many seconds; 0: not judged (default 0)"],
  ["healthCache", "Milliseconds GET /health reuses its RPC and database probes; 0: probe on every call (default 1000)"],
  ["logLevel", "pino log level on stderr: fatal, error, warn, info, debug, trace or silent (default info)"],
];

/** What a task definition offers to declare an optional flag (Hardhat's, or any CLI framework's). */
interface FlagDeclarer {
  addOptionalParam(name: string, description?: string): unknown;
}

/** Adds the HTTP limit flags to a serve task. */
export function withHttpFlags<T extends FlagDeclarer>(definition: T): T {
  for (const [name, help] of FLAGS) definition.addOptionalParam(name, help);
  return definition;
}

/** The per-client rate limit of the serve tasks unless told otherwise. */
export const SERVE_RATE_LIMIT = { max: 1_000, windowMs: 10_000 };

const LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

/** Parses the HTTP limit flags; absent ones keep the library's defaults, and the rate limit is on (1000 per 10 s). */
export function parseHttpFlags(flags: HttpFlags): ParsedHttpFlags {
  const optional = (name: keyof HttpFlags, min = 1): number | undefined =>
    flags[name] === undefined
      ? undefined
      : parseCount(
          name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`),
          flags[name]!,
          min,
        );
  const max = optional("rateLimit", 0) ?? SERVE_RATE_LIMIT.max;
  const window = optional("rateWindow") ?? SERVE_RATE_LIMIT.windowMs / 1000;
  const logLevel = flags.logLevel ?? "info";
  if (!LEVELS.includes(logLevel)) throw new UserError(`--log-level: "${logLevel}" is not one of ${LEVELS.join(", ")}`);
  const lag = optional("maxLag", 0);
  return {
    limits: {
      rateLimit: max === 0 ? false : { max, windowMs: window * 1000 },
      maxConnections: optional("maxConnections"),
      bodyLimit: optional("bodyLimit", 256),
      requestTimeoutMs: optional("requestTimeout"),
      headersTimeoutMs: optional("headersTimeout"),
      keepAliveTimeoutMs: optional("keepAliveTimeout"),
      rpcTimeoutMs: optional("rpcTimeout"),
    },
    maxChainLagSeconds: lag === 0 ? undefined : lag,
    healthCacheMs: optional("healthCache", 0),
    logLevel,
  };
}
