/**
 * The HTTP/1.1 client of `npm run bench:as`: one kept-alive socket per client, one request at a time,
 * requests sent as bytes encoded before the clock starts, answers parsed by their Content-Length (every
 * answer of the AS has one). Much lighter than node:http, so the clients' process leaves the machine's
 * CPU to the AS it measures. The AS parses every request as any other client's.
 */
import net from "node:net";

export interface Answer {
  status: number;
  text: string;
  retryAfter: number | undefined;
}

/** The bytes of one HTTP/1.1 request (keep-alive is HTTP/1.1's default). */
export function encodeRequest(method: string, route: string, body?: string): Buffer {
  const head =
    body === undefined
      ? `${method} ${route} HTTP/1.1\r\nHost: as\r\n\r\n`
      : `${method} ${route} HTTP/1.1\r\nHost: as\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  return Buffer.from(head);
}

const HEADERS_END = Buffer.from("\r\n\r\n");

/** One client's connection to the AS. A closed connection (by the AS, or after an error) is reopened on the next request. */
export class Connection {
  private socket?: net.Socket;
  private buffered: Buffer = Buffer.alloc(0);
  private waiting?: { resolve: (answer: Answer) => void; reject: (error: Error) => void };
  /** Whether the AS said it closes the connection after the answer being read. */
  private closing = false;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  /** Sends `request` (from {@link encodeRequest}) and resolves with its answer; rejects on a socket error. */
  send(request: Buffer): Promise<Answer> {
    if (this.waiting !== undefined) throw new Error("one request at a time per connection");
    const socket = this.socket ?? this.open();
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      socket.write(request);
    });
  }

  close(): void {
    const socket = this.socket;
    this.socket = undefined;
    socket?.destroy();
  }

  private open(): net.Socket {
    const socket = net.connect({ host: this.host, port: this.port, noDelay: true });
    this.socket = socket;
    this.buffered = Buffer.alloc(0);
    this.closing = false;
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    const fail = (error: Error): void => {
      if (this.socket !== socket) return; // closed on purpose: its answer was read
      this.socket = undefined;
      const waiting = this.waiting;
      this.waiting = undefined;
      waiting?.reject(error);
    };
    socket.on("error", fail);
    socket.on("close", () => fail(Object.assign(new Error("connection closed"), { code: "ECONNCLOSED" })));
    return socket;
  }

  private receive(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const end = this.buffered.indexOf(HEADERS_END);
    if (end < 0) return;
    const lines = this.buffered.toString("latin1", 0, end).split("\r\n");
    const status = Number(lines[0].slice(9, 12));
    let length = 0;
    let retryAfter: number | undefined;
    for (let i = 1; i < lines.length; i++) {
      const colon = lines[i].indexOf(":");
      const name = lines[i].slice(0, colon).toLowerCase();
      const value = lines[i].slice(colon + 1).trim();
      if (name === "content-length") length = Number(value);
      else if (name === "retry-after") retryAfter = Number.isFinite(Number(value)) ? Number(value) : undefined;
      else if (name === "connection") this.closing = value.toLowerCase() === "close";
    }
    const start = end + HEADERS_END.length;
    if (this.buffered.length < start + length) return;
    const text = this.buffered.toString("utf8", start, start + length);
    this.buffered = this.buffered.subarray(start + length);
    if (this.closing) this.close();
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.resolve({ status, text, retryAfter });
  }
}
