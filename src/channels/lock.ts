import fs from "node:fs";
import type { AddressInfo } from "node:net";

import Fastify from "fastify";
import type { FastifyError } from "fastify";

import { UserError, ensure } from "../errors";
import { CHALLENGE_PATTERN, DEFAULT_WINDOW } from "./hotp";
import { SimulatedDevice } from "./device";
import type { DeviceAdvance } from "./device";

export interface LockOptions {
  /** The lock's state file (`device:secret --lock`): its secret and window, rewritten on every use. */
  file: string;
  port: number;
  host: string;
  /** The device's HOTP window W (at least the AS's `--hotp-window`). */
  window?: number;
}

export interface RunningLock {
  url: string;
  deviceId: string;
  /** The window base when the lock started: every code below it is spent. */
  counter: number;
  stop: () => Promise<void>;
}

const presentSchema = {
  body: {
    type: "object",
    required: ["otp"],
    additionalProperties: false,
    properties: {
      otp: { type: "string", maxLength: 16 },
      advance: {
        type: "object",
        required: ["base", "mac"],
        additionalProperties: false,
        properties: { base: { type: "integer", minimum: 0 }, mac: { type: "string", pattern: "^[0-9a-f]{32}$" } },
      },
      challenge: { type: "string", pattern: CHALLENGE_PATTERN },
    },
  },
};

/**
 * A simulated lock (`device:serve-lock`): a {@link SimulatedDevice} on its state file behind HTTP on loopback.
 * `POST /present { otp, advance?, challenge? }` answers 200 `{ granted: true, … }` (the lock opens) or 403
 * `{ granted: false, reason, error, … }`, both with the device's acknowledgement (`counter`, `ack`, `next`) for
 * the client to relay to the AS; `GET /ack?challenge=…` gives the acknowledgement alone. The device checks
 * only HMACs and has its window on disk before it answers, so a code is never accepted twice, also after
 * a restart.
 */
export async function startLock(o: LockOptions): Promise<RunningLock> {
  ensure(fs.existsSync(o.file), `--lock: ${o.file} does not exist; make it with device:secret`);
  const window = o.window ?? DEFAULT_WINDOW;
  const device = new SimulatedDevice(o.file, window);
  const app = Fastify({ logger: false, bodyLimit: 4096 });
  app.setErrorHandler((error: FastifyError, _request, reply) => {
    const status = error.statusCode !== undefined && error.statusCode < 500 ? error.statusCode : 500;
    void reply.code(status).send({ error: status === 500 ? "internal error" : error.message });
  });
  app.post<{ Body: { otp: string; advance?: DeviceAdvance; challenge?: string } }>(
    "/present",
    { schema: presentSchema },
    async (request, reply) => {
      const outcome = device.present(request.body.otp, request.body.advance, request.body.challenge);
      if (outcome.granted) return { ...outcome, open: true };
      return reply.code(403).send({ ...outcome, open: false, error: `refused: the code is ${outcome.reason}` });
    },
  );
  app.get<{ Querystring: { challenge?: string } }>(
    "/ack",
    {
      schema: {
        querystring: {
          type: "object",
          additionalProperties: false,
          properties: { challenge: { type: "string", pattern: CHALLENGE_PATTERN } },
        },
      },
    },
    async (request) => device.ack(request.query.challenge),
  );
  app.get("/health", async () => ({ ok: true, deviceId: device.deviceId, counter: device.counter }));
  try {
    await app.listen({ port: o.port, host: o.host });
  } catch (error) {
    await app.close();
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    throw new UserError(`cannot listen on ${o.host}:${o.port} (${code}${code === "EADDRINUSE" ? ": in use" : ""})`);
  }
  const { port } = app.server.address() as AddressInfo;
  return {
    url: `http://${o.host}:${port}`,
    deviceId: device.deviceId,
    counter: device.counter,
    stop: () => app.close(),
  };
}
