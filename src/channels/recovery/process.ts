import { spawn } from "node:child_process";
import type { ChildProcessByStdio } from "node:child_process";
import path from "node:path";
import type { Readable, Writable } from "node:stream";

import type { ReceiptVerifier } from "../verify";

import { FAILED, ITEM_BYTES, READY, RESULT_BYTES, encodeItem } from "./protocol";

export interface RecoveryProcessOptions {
  /** A batch not answered within this many milliseconds ends the process (default 2,000). */
  timeoutMs?: number;
  /** A process not ready within this many milliseconds of its start is ended and started again (default
   * 30,000; doubled after each such start, back to it once one is ready). */
  startTimeoutMs?: number;
  /** The first wait before a failed process is started again; doubled after each failure, at most 60 s. */
  restartMs?: number;
  /** One line when the process fails or starts again. */
  log?: (line: string) => void;
}

/** A stream's handle, which (as a pipe socket) can be ref'd and unref'd. */
const handle = (stream: unknown) => stream as { ref?: () => void; unref?: () => void };

type Child = ChildProcessByStdio<Writable, Readable, Readable>;
type Done = (signer: string | undefined) => void;
interface Pending {
  channelId: string;
  amount: bigint;
  signature: string;
  done: Done;
}

/** What `AuthorizationServer.recoveryStatus` reports. */
export interface RecoveryStatus {
  state: "running" | "starting" | "down";
  pid: number | undefined;
  counts: { process: number; inline: number; failures: number };
}

/** The most recoveries waiting on the process; beyond them the event loop recovers (back-pressure). */
const MAX_IN_FLIGHT = 16_384;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

/**
 * Receipt signatures recovered in a separate process (`child.ts`), so the AS uses a second core: the event
 * loop sends the recoveries of one turn as one frame and reads the signers back, a few microseconds per
 * receipt instead of a recovery. A process rather than worker threads: libsecp256k1's native addon is not
 * loaded into threads of the AS. Nothing depends on the process: until it is ready, when it exits, errs,
 * answers garbage or hangs past `timeoutMs`, every recovery it holds is done on the event loop instead (the
 * same function, so the same answer), and the process is started again after a growing wait.
 */
export class RecoveryProcess {
  private child?: Child;
  private ready = false;
  private batch: Pending[] = [];
  /** Batches sent, oldest first, with the time each was sent. */
  private readonly inFlight: { items: Pending[]; sentAt: number }[] = [];
  private inFlightItems = 0;
  private received: Buffer = Buffer.alloc(0);
  private stderrTail = "";
  private restartMs: number;
  private startMs: number;
  private restartTimer?: NodeJS.Timeout;
  private watchdog?: NodeJS.Timeout;
  private closed = false;
  /** Recoveries answered by the process, and on the event loop. */
  readonly counts = { process: 0, inline: 0, failures: 0 };

  constructor(
    /** Its domain is the process's; its `recover` the fallback, and the path of anything the process is not
     * asked (while it starts, after it failed). */
    private readonly verifier: ReceiptVerifier,
    private readonly o: RecoveryProcessOptions = {},
  ) {
    this.restartMs = o.restartMs ?? 1_000;
    this.startMs = o.startTimeoutMs ?? 30_000;
    this.start();
  }

  /** "running" once the process answers, "starting" before, "down" after a failure (until it is restarted). */
  get state(): "running" | "starting" | "down" {
    if (this.child === undefined) return "down";
    return this.ready ? "running" : "starting";
  }

  /** The process's id while one runs (for tests and diagnostics). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  status(): RecoveryStatus {
    return { state: this.state, pid: this.pid, counts: { ...this.counts } };
  }

  /** The signer of a receipt, as `ReceiptVerifier.recover` finds it. */
  recover(channelId: string, amount: bigint, signature: string): Promise<string | undefined> {
    if (!this.ready || this.inFlightItems + this.batch.length >= MAX_IN_FLIGHT)
      return Promise.resolve(this.inline(channelId, amount, signature));
    return new Promise((done) => {
      if (this.batch.length === 0) setImmediate(() => this.send());
      this.batch.push({ channelId, amount, signature, done });
    });
  }

  /** Ends the process; recoveries still held are done on the event loop. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    this.fail("was stopped", false);
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.ref();
      child.kill("SIGKILL");
      await exited;
    }
  }

  private inline(channelId: string, amount: bigint, signature: string): string | undefined {
    this.counts.inline++;
    return this.verifier.recover(channelId, amount, signature);
  }

  private start(): void {
    if (this.closed) return;
    const ext = path.extname(__filename);
    const file = path.join(__dirname, `child${ext}`);
    // Under ts-node (tasks and tests), the child loads the same TypeScript through it; compiled, plain Node.
    const loader = ext === ".ts" ? ["-r", require.resolve("ts-node/register/transpile-only")] : [];
    const domain = JSON.stringify(this.verifier.domain, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v));
    const child = spawn(process.execPath, [...loader, file, domain], {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, NODE_OPTIONS: "" },
      // Its own process group: a Ctrl-C or a supervisor's signal to the AS's group stops the AS, which ends
      // it (or, killed, closes its input), instead of killing it first and logging a failure on the way out.
      detached: true,
    });
    this.child = child;
    this.ready = false;
    this.received = Buffer.alloc(0);
    this.stderrTail = "";
    child.stdout.on("data", (chunk: Buffer) => this.receive(child, chunk));
    child.stderr.on("data", (chunk: Buffer) => {
      if (child === this.child) this.stderrTail = (this.stderrTail + chunk.toString()).slice(-2_000);
    });
    child.stdin.on("error", () => this.fail("closed its input", true, child));
    child.on("error", (error) => this.fail(`could not run (${error.message})`, true, child));
    child.on("exit", (code, signal) => this.fail(`exited (${signal ?? `code ${code}`})`, true, child));
    // Never keeps the AS alive on its own: its output is waited for only while recoveries are held.
    child.unref();
    // A process that never says it is ready (stuck loading) is ended and started again like a failed one.
    // The bound doubles after each start that missed it (a slow machine), and is reset once one is ready.
    const startMs = this.startMs;
    const startTimer = setTimeout(() => {
      if (child !== this.child || this.ready) return;
      this.startMs = Math.min(startMs * 2, 600_000);
      this.fail(`did not start within ${startMs} ms`, true, child);
    }, startMs);
    startTimer.unref();
    child.once("exit", () => clearTimeout(startTimer));
    for (const stream of [child.stdin, child.stdout, child.stderr]) handle(stream).unref?.();
  }

  private send(): void {
    const items = this.batch;
    this.batch = [];
    const child = this.child;
    if (!this.ready || child === undefined) return this.recoverInline(items);
    const frame = Buffer.alloc(4 + items.length * ITEM_BYTES);
    const sent: Pending[] = [];
    for (const item of items) {
      if (encodeItem(frame, 4 + sent.length * ITEM_BYTES, item.channelId, item.amount, item.signature)) sent.push(item);
      else item.done(this.inline(item.channelId, item.amount, item.signature));
    }
    if (sent.length === 0) return;
    frame.writeUInt32LE(sent.length, 0);
    if (this.inFlight.length === 0) handle(child.stdout).ref?.();
    this.inFlight.push({ items: sent, sentAt: Date.now() });
    this.inFlightItems += sent.length;
    child.stdin.write(frame.subarray(0, 4 + sent.length * ITEM_BYTES));
    this.armWatchdog();
  }

  private receive(child: Child, chunk: Buffer): void {
    if (child !== this.child) return;
    this.received = this.received.length === 0 ? chunk : Buffer.concat([this.received, chunk]);
    if (!this.ready) {
      if (this.received.toString("latin1", 0, 1) !== READY)
        return this.fail("answered before it was ready", true, child);
      this.ready = true;
      this.startMs = this.o.startTimeoutMs ?? 30_000;
      this.received = this.received.subarray(1);
    }
    while (this.inFlight.length > 0 && this.received.length >= this.inFlight[0].items.length * RESULT_BYTES) {
      const { items } = this.inFlight[0];
      const signers = items.map((_, i) => this.received.toString("latin1", i * RESULT_BYTES, (i + 1) * RESULT_BYTES));
      if (signers.some((s) => s !== FAILED && !ADDRESS.test(s))) return this.fail("answered garbage", true, child);
      this.inFlight.shift();
      this.inFlightItems -= items.length;
      this.received = this.received.subarray(items.length * RESULT_BYTES);
      this.counts.process += items.length;
      this.restartMs = this.o.restartMs ?? 1_000;
      items.forEach((item, i) => item.done(signers[i] === FAILED ? undefined : signers[i]));
    }
    if (this.inFlight.length > 0) return;
    handle(child.stdout).unref?.();
    if (this.received.length > 0) this.fail("answered more than it was asked", true, child);
  }

  private armWatchdog(): void {
    if (this.watchdog !== undefined) return;
    const timeoutMs = this.o.timeoutMs ?? 2_000;
    this.watchdog = setTimeout(
      // Decided after this turn's I/O is read: after a stall of the AS's own event loop, the answer may be
      // waiting in the pipe already (timers run before I/O), and a healthy process must not be killed for it.
      () =>
        setImmediate(() => {
          this.watchdog = undefined;
          const oldest = this.inFlight[0];
          if (oldest === undefined) return;
          const age = Date.now() - oldest.sentAt;
          if (age >= timeoutMs) this.fail(`did not answer within ${timeoutMs} ms`, true, this.child);
          else this.armWatchdog();
        }),
      timeoutMs / 4,
    );
    this.watchdog.unref();
  }

  /** Ends `child` (the current process by default) and recovers everything it held on the event loop. */
  private fail(reason: string, restart: boolean, child: Child | undefined = this.child): void {
    if (child === undefined || child !== this.child) return;
    this.child = undefined;
    this.ready = false;
    clearTimeout(this.watchdog);
    this.watchdog = undefined;
    child.kill("SIGKILL");
    const held = this.inFlight.splice(0).flatMap((b) => b.items);
    this.inFlightItems = 0;
    this.recoverInline([...held, ...this.batch.splice(0)]);
    if (!restart || this.closed) return;
    this.counts.failures++;
    const tail = this.stderrTail.trim().split("\n").pop() ?? "";
    this.o.log?.(
      `signature recovery process ${reason}${tail === "" ? "" : `: ${tail}`}; recovering on the event loop, starting it again in ${this.restartMs} ms`,
    );
    this.restartTimer = setTimeout(() => this.start(), this.restartMs);
    this.restartTimer.unref();
    this.restartMs = Math.min(this.restartMs * 2, 60_000);
  }

  private recoverInline(items: Pending[]): void {
    for (const item of items) item.done(this.inline(item.channelId, item.amount, item.signature));
  }
}
