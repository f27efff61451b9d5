import type { AddressInfo } from "node:net";

import Fastify from "fastify";
import type { FastifyInstance } from "fastify";

import { overload } from "./overload";
import type { OverloadOptions } from "./overload";

/** An error the client caused: answered with its 4xx status and a message naming the problem; nothing changed. */
export class Rejected extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * An off-chain HTTP service (the AS, the auditor). Unknown body fields are refused, not silently dropped
 * (Fastify's default); every error is answered as `{ error }`: a {@link Rejected} with its status, a
 * schema failure with 400, anything else with 500.
 */
export abstract class HttpService {
  readonly app: FastifyInstance;

  protected constructor(options: { bodyLimit?: number; overload?: OverloadOptions } = {}) {
    this.app = Fastify({
      logger: false,
      ...(options.bodyLimit === undefined ? {} : { bodyLimit: options.bodyLimit }),
      ajv: { customOptions: { removeAdditional: false } },
    });
    void this.app.register(overload, options.overload ?? {});
    this.app.setErrorHandler((error: Error & { validation?: unknown }, _request, reply) => {
      const status = error instanceof Rejected ? error.status : error.validation !== undefined ? 400 : 500;
      void reply.status(status).send({ error: error.message });
    });
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
