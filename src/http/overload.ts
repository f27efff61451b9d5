import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

export interface OverloadOptions {
  /**
   * Requests served at once, from the moment their body is in (just before their handler) to their answer
   * (including those waiting for a commit or an RPC). A request beyond it is answered 503 at once, before
   * any work is done. A request still sending its body does not count: one client dribbling bodies could
   * otherwise hold every slot for the request timeout (slow bodies are bounded by that timeout and by
   * the connection cap instead). 0 turns shedding off. Default {@link DEFAULT_MAX_IN_FLIGHT}.
   */
  maxInFlight?: number;
  /** Seconds a shed client is told to wait (`Retry-After`). Default 1. */
  retryAfter?: number;
  /** Paths never shed, so an operator can still see the service: default `/health` and `/metrics`. */
  exempt?: string[];
  /** Called for each shed request (the services count it in their `rejections` metric as `server_busy`). */
  onShed?: () => void;
}

export const DEFAULT_MAX_IN_FLIGHT = 256;

/**
 * Load shedding: beyond `maxInFlight` requests at once, the service answers `503 { error: "server busy,
 * retry in N s" }` with `Retry-After: N` immediately, instead of queueing work it cannot finish in time
 * (an overloaded queue makes every client wait: p99 grew past 10 s at 2,048 clients). A shed request
 * changes nothing. Registered on the root instance (not encapsulated), so it covers every route.
 */
function overloadPlugin(app: FastifyInstance, options: OverloadOptions, done: (error?: Error) => void): void {
  const max = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  const retryAfter = options.retryAfter ?? 1;
  const exempt = new Set(options.exempt ?? ["/health", "/metrics"]);
  const message = `server busy, retry in ${retryAfter} s`;
  let inFlight = 0;
  // Serialized once: the answer to a burst of shed requests costs no JSON work each.
  const busy = JSON.stringify({ error: message, reason: "server_busy" });
  const shed = (reply: FastifyReply): void => {
    options.onShed?.();
    void reply
      .code(503)
      .header("retry-after", String(retryAfter))
      .header("content-type", "application/json; charset=utf-8")
      .send(busy);
  };
  if (max > 0) {
    // Already full when the request arrives: shed before its body is read, parsed and validated (the
    // cheapest answer, so a burst of them is answered quickly). Node discards the unread body.
    app.addHook("onRequest", (request: FastifyRequest, reply: FastifyReply, next: () => void) => {
      if (inFlight >= max && !exempt.has(request.routeOptions.url ?? "")) return shed(reply);
      next();
    });
    app.addHook("preHandler", (request: FastifyRequest, reply: FastifyReply, next: () => void) => {
      if (exempt.has(request.routeOptions.url ?? "")) return next();
      if (inFlight >= max) return shed(reply);
      inFlight++;
      // Once per request: "finish" when the answer is sent ("close" may not come for an injected request),
      // "close" when the client went away first.
      let done = false;
      const release = (): void => {
        if (!done) inFlight--;
        done = true;
      };
      reply.raw.once("finish", release);
      reply.raw.once("close", release);
      next();
    });
  }
  done();
}

/** The plugin, marked to skip Fastify's encapsulation (what `fastify-plugin` does). */
export const overload = Object.assign(overloadPlugin, { [Symbol.for("skip-override")]: true });
