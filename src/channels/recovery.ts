import { Worker } from "node:worker_threads";

import { addressOf, signatureParts } from "./verify";

/** Bytes per recovery in a batch's message: r‖s (64), the recovery id (1), the digest (32). */
const ITEM = 97;

/**
 * The worker's code, plain JavaScript (no TypeScript loader in a worker): for each item of a batch, the
 * signer's uncompressed public key recovered with native libsecp256k1, or null when recovery fails. A batch
 * is one transferred buffer of {@link ITEM}-byte items (a Buffer's view would clone its whole pool). The
 * caller has checked the signature's form, v and low s, and hashes the key into an address (native keccak).
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const secp256k1 = require(workerData.secp256k1);
parentPort.on("message", ({ id, flat }) => {
  const keys = [];
  for (let o = 0; o < flat.length; o += ${ITEM}) {
    try {
      keys.push(secp256k1.ecdsaRecover(flat.subarray(o, o + 64), flat[o + 64], flat.subarray(o + 65, o + ${ITEM}), false));
    } catch {
      keys.push(null);
    }
  }
  parentPort.postMessage({ id, keys });
});
`;

interface Item {
  rs: Uint8Array;
  recid: number;
  digest: Uint8Array;
}

/**
 * Signature recovery on worker threads, for the AS's hot path: the event loop only checks a signature's form
 * and low s, and sends the recoveries gathered during one turn of the loop as one message to the next worker
 * (round robin), so the main thread spends a few microseconds per receipt instead of a recovery (~60 µs).
 * Workers are unref'd (they never keep a process alive); {@link close} ends them.
 */
export class RecoveryPool {
  private readonly workers: Worker[];
  private next = 0;
  private batch: Item[] = [];
  private waiting: ((key: Uint8Array | null | Error) => void)[] = [];
  private readonly inFlight = new Map<number, ((key: Uint8Array | null | Error) => void)[]>();
  private ids = 0;

  constructor(threads: number) {
    const workerData = { secp256k1: require.resolve("secp256k1") };
    this.workers = Array.from({ length: threads }, () => {
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData });
      worker.on("message", ({ id, keys }: { id: number; keys: (Uint8Array | null)[] }) => {
        const callbacks = this.inFlight.get(id) ?? [];
        this.inFlight.delete(id);
        callbacks.forEach((done, i) => done(keys[i]));
      });
      // A thread that fails or stops fails the recoveries it held (their requests answer 500, nothing stored).
      const fail = (error: Error) => {
        for (const callbacks of this.inFlight.values()) for (const done of callbacks) done(error);
        this.inFlight.clear();
      };
      worker.on("error", fail);
      worker.on("exit", (code) => {
        this.workers.splice(this.workers.indexOf(worker), 1);
        fail(new Error(`a signature recovery thread stopped (exit code ${code})`));
      });
      worker.unref();
      return worker;
    });
  }

  /** The signer of a 65-byte signature over a 32-byte digest, as {@link recoverSigner} finds it. */
  recover(digest: Buffer, signature: string): Promise<string | undefined> {
    const parts = signatureParts(signature);
    if (parts === undefined) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      if (this.batch.length === 0) setImmediate(() => this.send());
      this.batch.push({ ...parts, digest });
      this.waiting.push((key) =>
        key instanceof Error ? reject(key) : resolve(key === null ? undefined : addressOf(key)),
      );
    });
  }

  private send(): void {
    const id = this.ids++;
    const waiting = this.waiting;
    const flat = new Uint8Array(this.batch.length * ITEM);
    this.batch.forEach((item, i) => {
      flat.set(item.rs, i * ITEM);
      flat[i * ITEM + 64] = item.recid;
      flat.set(item.digest, i * ITEM + 65);
    });
    this.batch = [];
    this.waiting = [];
    const worker = this.workers[this.next++ % Math.max(1, this.workers.length)];
    if (worker === undefined) {
      for (const done of waiting) done(new Error("no signature recovery thread is running"));
      return;
    }
    this.inFlight.set(id, waiting);
    worker.postMessage({ id, flat }, [flat.buffer]);
  }

  async close(): Promise<void> {
    await Promise.all([...this.workers].map((w) => w.terminate()));
  }
}
