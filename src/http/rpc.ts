import { isError } from "ethers";

import { Rejected } from "./errors";

/** The chain cannot be read (the RPC is down, failing or hung): answered 503 with a Retry-After. */
export class ChainUnavailable extends Rejected {
  constructor(message: string) {
    super(503, `chain unavailable: ${message}`, "chain_unavailable");
  }
}

const TRANSPORT_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EPIPE",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/**
 * True when an error is the chain connection failing rather than a bug: an ethers network, timeout or
 * server error, a socket error, or Hardhat's "cannot connect to the network" (HH108). Looks through `cause`.
 */
export function isChainFault(error: unknown): boolean {
  for (let e = error, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    if (isError(e, "NETWORK_ERROR") || isError(e, "TIMEOUT") || isError(e, "SERVER_ERROR")) return true;
    const fields = e as { code?: unknown; number?: unknown; name?: unknown; cause?: unknown };
    if (typeof fields.code === "string" && TRANSPORT_CODES.has(fields.code)) return true;
    if (fields.name === "HardhatError" && fields.number === 108) return true;
    e = fields.cause;
  }
  return false;
}

/**
 * Runs a chain read with a time bound: when it fails or does not answer within `timeoutMs`, throws a
 * {@link ChainUnavailable} naming the call (never the provider's own text) and reports it to `onError`.
 * A read still pending after the bound is abandoned (its late result or error is dropped).
 */
export async function boundedRead<T>(
  call: string,
  read: () => Promise<T>,
  timeoutMs: number,
  onError: (kind: "timeout" | "error", error?: unknown) => void = () => undefined,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const pending = (async () => read())();
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new ChainUnavailable(`${call} got no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([pending, timeout]);
  } catch (error) {
    if (error instanceof ChainUnavailable) {
      pending.catch(() => undefined);
      onError("timeout");
      throw error;
    }
    if (error instanceof Rejected) throw error;
    onError("error", error);
    throw new ChainUnavailable(`${call} failed`);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs a chain call (a read or a send) with a time bound only: when it does not answer within `timeoutMs`,
 * throws a {@link ChainUnavailable} naming the call and reports it to `onTimeout`; its own errors (a revert
 * with its reason) pass through unchanged. A call still pending after the bound is abandoned.
 */
export async function timeBounded<T>(
  call: string,
  run: () => Promise<T>,
  timeoutMs: number,
  onTimeout: () => void = () => undefined,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const pending = (async () => run())();
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      pending.catch(() => undefined);
      onTimeout();
      reject(new ChainUnavailable(`${call} got no answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([pending, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
