import http from "node:http";
import type { AddressInfo } from "node:net";

/** Requests the warm-up sends by default: {@link warmShedPath}. */
export const DEFAULT_WARM_REQUESTS = 2_048;
/** The warm-up never holds a start-up longer than this: it is then cut short (the service starts anyway). */
const WARM_BOUND_MS = 5_000;

/** A route the warm-up may request: any the service would shed (not `/health` or `/metrics`). */
export interface WarmRoute {
  method: string;
  url: string;
}

/**
 * Warms the path of a shed answer over real sockets before a service listens: the service's own HTTP server
 * listens on a free port of 127.0.0.1 for the warm-up only, answers `requests` requests busy (503, while
 * `setShedAll(true)` holds) on `connections` connections opened at once (each kept alive for its share; the
 * services use 256, or their connection cap if lower), then closes that port and every connection.
 *
 * Why: a service restarted under load meets its clients' retries at once. At 2,048 clients that is ~1,800
 * requests to shed in its first second, and in a process whose code had never run, Node's connection, parser
 * and socket-write paths and Fastify's ran in V8's interpreter: busy answers' p99 was 239-444 ms (median of
 * eight runs 306 ms) against 170-310 ms (215 ms) after this warm-up, measured alternately on a quiet machine.
 * An in-process `inject` warm-up did not help: it skips the sockets and the parser, where the time goes.
 *
 * The requests touch no state and reach no handler, rate limiter or metric (the service skips them while
 * `setShedAll` holds). A failure or a warm-up longer than 5 s is not an error: the service starts unwarmed.
 * Returns how many requests were answered busy.
 */
export async function warmShedPath(
  server: http.Server,
  routes: WarmRoute[],
  setShedAll: (on: boolean) => void,
  { requests = DEFAULT_WARM_REQUESTS, connections = 256 }: { requests?: number; connections?: number } = {},
): Promise<number> {
  if (routes.length === 0 || requests <= 0 || connections <= 0) return 0;
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  let busy = 0;
  let cut = false;
  setShedAll(true);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
    const port = (server.address() as AddressInfo).port;
    const send = ({ method, url }: WarmRoute): Promise<void> =>
      new Promise((resolve) => {
        const request = http.request(
          { host: "127.0.0.1", port, path: url, method, agent, headers: { "content-type": "application/json" } },
          (response) => {
            if (response.statusCode === 503) busy++;
            response.resume();
            response.on("end", resolve);
            response.on("error", () => resolve());
          },
        );
        request.on("error", () => resolve());
        request.end(method === "GET" || method === "HEAD" ? undefined : "{}");
      });
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(() => ((cut = true), resolve()), WARM_BOUND_MS)));
    const all = (async () => {
      for (let sent = 0; sent < requests && !cut; sent += connections) {
        const round = Array.from({ length: Math.min(connections, requests - sent) }, (_, i) =>
          send(routes[(sent + i) % routes.length]),
        );
        await Promise.all(round);
      }
    })();
    await Promise.race([all, bound]);
    clearTimeout(timer);
  } catch {
    // Could not listen on 127.0.0.1 (or a request failed in a way not caught above): start unwarmed.
  } finally {
    agent.destroy();
    if (server.listening) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    }
    setShedAll(false);
  }
  return busy;
}
