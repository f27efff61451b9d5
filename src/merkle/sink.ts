import fs from "node:fs";
import { MessageChannel, Worker, receiveMessageOnPort } from "node:worker_threads";
import type { MessagePort } from "node:worker_threads";

/** The size of each of a sink's two buffers. */
const BLOCK_BYTES = 1 << 23;

/** Control words: slot i's state at 2i (FREE, FULL or STOP) and its length at 2i + 1; a write failed at 4. */
const FREE = 0;
const FULL = 1;
const STOP = 2;
const FAILED = 4;

/**
 * The writer thread (plain JavaScript, so it runs without a TypeScript loader): writes slot 0, then 1,
 * then 0..., each once the main thread marks it full, and hands it back free.
 */
const WRITER = `
const fs = require("node:fs");
const { workerData } = require("node:worker_threads");
const { fd, shared, control, port } = workerData;
const blocks = shared.map((b) => Buffer.from(b));
for (let slot = 0; ; slot ^= 1) {
  Atomics.wait(control, 2 * slot, ${FREE});
  if (Atomics.load(control, 2 * slot) === ${STOP}) break;
  try {
    const length = Atomics.load(control, 2 * slot + 1);
    for (let done = 0; done < length; ) done += fs.writeSync(fd, blocks[slot], done, length - done);
  } catch (error) {
    if (Atomics.load(control, ${FAILED}) === 0) port.postMessage(String(error && error.message));
    Atomics.store(control, ${FAILED}, 1);
  }
  Atomics.store(control, 2 * slot, ${FREE});
  Atomics.notify(control, 2 * slot);
}
port.close();
`;

/**
 * Appends ASCII text and bytes to a file through two 8 MiB buffers, so huge outputs are never held
 * whole: while a writer thread writes one buffer to the file, the caller fills the other, so the
 * kernel's copy of the bytes runs beside the work that produces them. Synchronous to its caller.
 */
export class TextSink {
  private readonly fd: number;
  private readonly buffers: Buffer[];
  private readonly control = new Int32Array(new SharedArrayBuffer(5 * 4));
  private readonly port: MessagePort;
  private readonly worker: Worker;
  private buffer: Buffer;
  private slot = 0;
  private used = 0;
  private closed = false;
  private failed: Error | undefined;
  private reported = false;

  constructor(readonly file: string) {
    this.fd = fs.openSync(file, "w");
    const shared = [new SharedArrayBuffer(BLOCK_BYTES), new SharedArrayBuffer(BLOCK_BYTES)];
    this.buffers = shared.map((b) => Buffer.from(b));
    this.buffer = this.buffers[0];
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.worker = new Worker(WRITER, {
      eval: true,
      workerData: { fd: this.fd, shared, control: this.control, port: port2 },
      transferList: [port2],
    });
    this.worker.unref();
  }

  write(text: string): void {
    if (this.used + text.length > this.buffer.length) this.flush();
    if (text.length > this.buffer.length) this.copy(Buffer.from(text, "latin1"), 0, text.length);
    else this.used += this.buffer.write(text, this.used, "latin1");
  }

  /** Appends bytes `start` to `end` of `source`. */
  copy(source: Buffer, start: number, end: number): void {
    for (let at = start; at < end;) {
      if (this.used === this.buffer.length) this.flush();
      const n = source.copy(this.buffer, this.used, at, Math.min(end, at + this.buffer.length - this.used));
      this.used += n;
      at += n;
    }
  }

  /** Hands the current buffer to the writer and waits until the other one is free. */
  private flush(): void {
    const slot = this.slot;
    Atomics.store(this.control, 2 * slot + 1, this.used);
    Atomics.store(this.control, 2 * slot, FULL);
    Atomics.notify(this.control, 2 * slot);
    this.slot ^= 1;
    this.buffer = this.buffers[this.slot];
    this.used = 0;
    Atomics.wait(this.control, 2 * this.slot, FULL);
    this.check();
  }

  /** Throws a failed write, once: the first call that sees it. */
  private check(): void {
    const failure = this.failure();
    if (failure !== undefined && !this.reported) {
      this.reported = true;
      throw failure;
    }
  }

  private failure(): Error | undefined {
    if (this.failed === undefined && Atomics.load(this.control, FAILED) !== 0) {
      const message = receiveMessageOnPort(this.port)?.message as string | undefined;
      this.failed = new Error(`${this.file}: ${message ?? "a write failed"}`);
    }
    return this.failed;
  }

  /**
   * Writes what is left, stops the writer and closes the file; throws a failed write not thrown before
   * (after one, the rest is not written).
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.used > 0 && this.failure() === undefined) {
      Atomics.store(this.control, 2 * this.slot + 1, this.used);
      Atomics.store(this.control, 2 * this.slot, FULL);
      Atomics.notify(this.control, 2 * this.slot);
      this.slot ^= 1;
    }
    // The buffer handed over last is written once it is free again; the writer then waits on the other.
    Atomics.wait(this.control, 2 * (this.slot ^ 1), FULL);
    Atomics.store(this.control, 2 * this.slot, STOP);
    Atomics.notify(this.control, 2 * this.slot);
    this.failure();
    fs.closeSync(this.fd);
    this.port.close();
    this.check();
  }
}
