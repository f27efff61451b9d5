import http from "node:http";

import type {
  FastifyError,
  FastifyInstance,
  FastifyRequest,
  FastifySchemaValidationError,
  preParsingHookHandler,
} from "fastify";

import { Rejected } from "./errors";
import type { HttpLimits } from "./limits";
import { ChainUnavailable, isChainFault } from "./rpc";

export type HealthCheck = { ok: boolean } & Record<string, unknown>;

export interface Answer {
  status: number;
  message: string;
  reason: string;
}

/** A metrics label from a status: 402 → "payment_required". */
export function statusReason(status: number): string {
  return (http.STATUS_CODES[status] ?? String(status)).toLowerCase().replace(/[^a-z0-9]+/g, "_");
}

/** The answer to an error (`app` for its limits): ours with its status, a schema failure 400, a chain fault 503,
 * Fastify's client errors as they are, anything else 500 "internal error". */
export function classify(
  error: FastifyError & { validation?: unknown },
  request: FastifyRequest,
  app: FastifyInstance,
  bodyLimit: number,
): Answer {
  if (error instanceof Rejected)
    return { status: error.status, message: error.message, reason: error.reason ?? statusReason(error.status) };
  if (error.validation !== undefined)
    return { status: 400, message: error.message, reason: `invalid_${error.validationContext ?? "request"}` };
  switch (error.code) {
    case "FST_ERR_CTP_INVALID_JSON_BODY":
      return { status: 400, message: "the body is not valid JSON", reason: "bad_json" };
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return { status: 400, message: "the body is empty: send a JSON object", reason: "empty_body" };
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE": {
      const type = request.headers["content-type"];
      const shown =
        type === undefined || type === "" ? "a body without a content-type" : `content-type "${type.slice(0, 100)}"`;
      return {
        status: 415,
        message: `${shown} is not accepted: send the body as application/json`,
        reason: "unsupported_media_type",
      };
    }
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return {
        status: 413,
        message: `the body is larger than ${bodyLimit} bytes`,
        reason: "body_too_large",
      };
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return { status: 400, message: "the body's length does not match its Content-Length", reason: "bad_length" };
    case "FST_ERR_BAD_URL":
      return { status: 400, message: "the URL is malformed (a bad %-escape in its path)", reason: "bad_url" };
    case "FST_ERR_MAX_PARAM_LENGTH":
      return {
        status: 414,
        message: `a path parameter is longer than ${app.initialConfig.maxParamLength ?? 100} characters`,
        reason: "uri_too_long",
      };
  }
  if (isChainFault(error))
    return { status: 503, message: new ChainUnavailable("the RPC failed").message, reason: "chain_unavailable" };
  // Fastify's own client errors (bad URL, bad header, …) carry fixed messages: pass them on.
  if (
    typeof error.code === "string" &&
    error.code.startsWith("FST_") &&
    error.statusCode !== undefined &&
    error.statusCode >= 400 &&
    error.statusCode < 500
  )
    return { status: error.statusCode, message: error.message, reason: statusReason(error.statusCode) };
  return { status: 500, message: "internal error", reason: "internal" };
}

/** The answer to an error before a request reaches Fastify (a timeout, malformed HTTP). */
export function clientErrorAnswer(code: string | undefined, limits: HttpLimits): Answer {
  let status: number;
  let message: string;
  let reason: string;
  if (code === "ERR_HTTP_REQUEST_TIMEOUT") {
    status = 408;
    message = `the request was not received in time (headers within ${limits.headersTimeoutMs} ms, all within ${limits.requestTimeoutMs} ms)`;
    reason = "request_timeout";
  } else if (code === "HPE_HEADER_OVERFLOW") {
    status = 431;
    message = "the request's headers are too large";
    reason = statusReason(status);
  } else {
    status = 400;
    message = "malformed HTTP request";
    reason = statusReason(status);
  }
  return { status, message, reason };
}

/** A schema failure as one line naming the field (and an unknown property). */
export function schemaError(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const first = errors[0];
  const where = `${dataVar}${first.instancePath}`;
  const extra = (first.params as { additionalProperty?: string }).additionalProperty;
  return new Error(`${where} ${first.message ?? "is invalid"}${extra === undefined ? "" : ` ("${extra}")`}`);
}

/**
 * Refuses a body labelled with a charset other than UTF-8 (415). A callback hook, not an async one: it runs
 * on every request, and a promise per request costs.
 */
export const utf8Only: preParsingHookHandler = (request, _reply, payload, done) => {
  const type = request.headers["content-type"];
  if (type === undefined || type === "application/json") return done(null, payload); // the common case, at once
  const charset = /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(type)?.[1];
  if (charset !== undefined && !/^utf-?8$/i.test(charset))
    done(
      new Rejected(
        415,
        `charset "${charset.slice(0, 40)}" is not accepted: send the body as UTF-8 JSON`,
        "unsupported_media_type",
      ),
    );
  else done(null, payload);
};
