import os from "node:os";
import { Worker } from "node:worker_threads";

/** A fresh device key, as a worker thread made it: public parts, and the private key only encrypted. */
export interface EncryptedKey {
  address: string;
  publicKey: string;
  /** ethers' (Web3 Secret Storage v3) keystore JSON. */
  keystore: string;
}

/**
 * The worker's code, plain JavaScript (no TypeScript loader in a worker): a key from 32 random bytes,
 * encrypted by ethers' own keystore code, one key per message.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { Wallet, encryptKeystoreJsonSync, hexlify, randomBytes } = require(workerData.ethers);
parentPort.on("message", (index) => {
  const wallet = new Wallet(hexlify(randomBytes(32)));
  const keystore = encryptKeystoreJsonSync(wallet, workerData.password, { scrypt: { N: workerData.n } });
  parentPort.postMessage({ index, address: wallet.address, publicKey: wallet.signingKey.publicKey, keystore });
});
`;

/** How many threads make keys at once: one per core, at most four. */
export function encryptionThreads(): number {
  return Math.max(1, Math.min(4, os.availableParallelism()));
}

/**
 * Makes `count` fresh random keys, each encrypted into a keystore with scrypt N = `n`, on `threads` worker
 * threads (the secp256k1 and scrypt work is CPU-bound: a core a key). `onEach` gets each key as it is
 * done, in any order, with its index (0 to count - 1).
 */
export async function makeEncryptedKeys(
  count: number,
  password: string,
  n: number,
  onEach: (index: number, key: EncryptedKey) => void,
  threads = encryptionThreads(),
): Promise<void> {
  if (count === 0) return;
  const workers = Array.from(
    { length: Math.min(threads, count) },
    () => new Worker(WORKER_SOURCE, { eval: true, workerData: { ethers: require.resolve("ethers"), password, n } }),
  );
  let next = 0;
  let done = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      const feed = (worker: Worker) => {
        if (next < count) worker.postMessage(next++);
      };
      for (const worker of workers) {
        worker.on("message", ({ index, ...key }: EncryptedKey & { index: number }) => {
          try {
            onEach(index, key);
          } catch (error) {
            reject(error as Error);
            return;
          }
          if (++done === count) resolve();
          else feed(worker);
        });
        worker.on("error", reject);
        worker.on("exit", (code) => {
          if (done < count) reject(new Error(`a key generation thread stopped (exit code ${code})`));
        });
        feed(worker);
      }
    });
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
