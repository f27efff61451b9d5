import http from "node:http";
import type { AddressInfo } from "node:net";
import net from "node:net";
import { Writable } from "node:stream";

import { JsonRpcProvider } from "ethers";
import { network } from "hardhat";
import pino from "pino";
import type { Logger } from "pino";

/**
 * A JSON-RPC endpoint in front of the in-process Hardhat network, so a service under test talks to "the
 * chain" over real HTTP: `mode` makes it answer ("up"), never answer ("hang"), or drop each connection
 * ("drop"); `calls` counts requests by method (and `eth_call` by 4-byte selector, e.g. `eth_call:0x12345678`).
 */
export class RpcProxy {
  mode: "up" | "hang" | "drop" = "up";
  readonly calls = new Map<string, number>();
  private readonly server: http.Server;
  url = "";

  constructor() {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        if (this.mode === "drop") return req.socket.destroy();
        const parsed = JSON.parse(Buffer.concat(chunks).toString()) as RpcRequest | RpcRequest[];
        const batch = Array.isArray(parsed) ? parsed : [parsed];
        for (const r of batch) {
          const key = r.method === "eth_call" ? `eth_call:${String(r.params?.[0]?.data ?? "").slice(0, 10)}` : r.method;
          this.calls.set(key, (this.calls.get(key) ?? 0) + 1);
        }
        if (this.mode === "hang") return; // never answers
        void Promise.all(batch.map(forward)).then((answers) => {
          res.setHeader("content-type", "application/json");
          res.end(JSON.stringify(Array.isArray(parsed) ? answers : answers[0]));
        });
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** A provider for the proxy, without ethers' request cache (every read reaches the proxy and is counted). */
  provider(chainId: bigint): JsonRpcProvider {
    return new JsonRpcProvider(this.url, chainId, { staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1 });
  }

  count(key: string): number {
    return this.calls.get(key) ?? 0;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

interface RpcRequest {
  jsonrpc: string;
  id: number;
  method: string;
  params?: { data?: string }[];
}

async function forward(r: RpcRequest): Promise<unknown> {
  try {
    const result = await network.provider.request({ method: r.method, params: r.params ?? [] });
    return { jsonrpc: "2.0", id: r.id, result };
  } catch (error) {
    const e = error as { code?: number; message?: string; data?: unknown };
    return { jsonrpc: "2.0", id: r.id, error: { code: e.code ?? -32000, message: e.message ?? "error", data: e.data } };
  }
}

/** An address where nothing listens (a stopped RPC node): connections are refused. */
export async function deadUrl(): Promise<string> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

export interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  body: { error?: string; requestId?: string } & Record<string, unknown>;
}

/**
 * One HTTP request sent exactly as given (no content-type added, a fresh connection), for bad-input tests.
 * `body` is sent as is when a string, else as JSON.
 */
export async function request(
  base: string,
  method: string,
  path: string,
  o: { headers?: Record<string, string>; body?: unknown } = {},
): Promise<RawAnswer> {
  const payload = o.body === undefined ? undefined : typeof o.body === "string" ? o.body : JSON.stringify(o.body);
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method,
        agent: false,
        headers: {
          ...(payload === undefined ? {} : { "content-length": Buffer.byteLength(payload) }),
          ...o.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString();
          let body = {};
          try {
            body = JSON.parse(text) as object;
          } catch {
            // not JSON (metrics): text has it
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body });
        });
      },
    );
    req.on("error", reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** A JSON POST, the ordinary way. */
export function postJson(base: string, path: string, body: unknown): Promise<RawAnswer> {
  return request(base, "POST", path, { headers: { "content-type": "application/json" }, body });
}

export interface RawSocket {
  socket: net.Socket;
  /** Everything the server sent. */
  received: () => string;
  /** Resolves when the socket is closed; `byServer`: the server ended or reset it (this side did not). */
  closed: Promise<{ byServer: boolean }>;
  /** Closes it from this side. */
  close: () => void;
}

/** A raw TCP connection to a service, to play a slow or abusive client. */
export async function rawConnect(base: string): Promise<RawSocket> {
  const url = new URL(base);
  const socket = net.connect(Number(url.port), url.hostname);
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  let data = "";
  let serverEnded = false;
  let selfClosed = false;
  socket.on("data", (c: Buffer) => (data += c.toString()));
  socket.on("end", () => (serverEnded = true));
  socket.on("error", () => (serverEnded = true));
  const closed = new Promise<{ byServer: boolean }>((resolve) =>
    socket.once("close", () => resolve({ byServer: serverEnded && !selfClosed })),
  );
  return {
    socket,
    received: () => data,
    closed,
    close: () => {
      selfClosed = true;
      socket.destroy();
    },
  };
}

/**
 * Writes `chunks` one at a time, `everyMs` apart, until the server closes the socket or `maxChunks` are
 * written; then reports whether the server closed it. Not a timing assertion: the bound only ends the test.
 */
export async function dribble(raw: RawSocket, chunk: string, everyMs: number, maxChunks: number): Promise<boolean> {
  let open = true;
  void raw.closed.then(() => (open = false));
  for (let i = 0; i < maxChunks && open; i++) {
    if (raw.socket.writable) raw.socket.write(chunk);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return !open;
}

/** A pino logger writing JSON lines into `lines` (to find a request id in the log). */
export function memoryLogger(lines: Record<string, unknown>[], level = "debug"): Logger {
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk
        .toString()
        .split("\n")
        .filter((l) => l !== ""))
        lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return pino({ level }, stream);
}
