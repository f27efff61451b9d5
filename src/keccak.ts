import { createRequire } from "node:module";
import path from "node:path";

import createKeccak from "keccak";

interface KeccakState {
  initialize(rate: number, capacity: number): void;
  absorb(data: Buffer): void;
  squeeze(length: number): Buffer;
}

/**
 * The `keccak` package's native state, used directly: its public API wraps every hash in a new stream
 * object, which costs several times the hash itself. The same addon the package loads (through its own
 * `node-gyp-build`); undefined, and the public API used instead, if it cannot be loaded or disagrees.
 */
function nativeKeccakState(): KeccakState | undefined {
  try {
    const dir = path.dirname(require.resolve("keccak/package.json"));
    const load = createRequire(path.join(dir, "package.json"))("node-gyp-build") as (dir: string) => unknown;
    const State = load(dir) as new () => KeccakState;
    const state = new State();
    const probe = Buffer.from("ThingLedger");
    state.initialize(1088, 512);
    state.absorb(probe);
    return state.squeeze(32).equals(createKeccak("keccak256").update(probe).digest()) ? state : undefined;
  } catch {
    return undefined;
  }
}

const state = nativeKeccakState();

/**
 * keccak256 with the native `keccak` binding, for hot paths (the AS's receipts, channel ids, group
 * membership): ethers' pure-JS keccak is several times slower, and the package's own API allocates a stream.
 */
export function keccak(data: Buffer): Buffer {
  if (state === undefined) return createKeccak("keccak256").update(data).digest();
  // Synchronous, so one shared state is safe (each worker thread loads its own module).
  state.initialize(1088, 512);
  state.absorb(data);
  return state.squeeze(32);
}

/**
 * `compute` (a pure function of a string, such as a hash), remembered for the last `max` distinct arguments
 * (all forgotten when full, so a flood of new arguments costs no more than computing them): the AS sees the
 * same addresses with every receipt of a client.
 */
export function memoized<T>(compute: (key: string) => T, max = 16_384): (key: string) => T {
  const seen = new Map<string, T>();
  return (key) => {
    let value = seen.get(key);
    if (value === undefined) {
      value = compute(key);
      if (seen.size >= max) seen.clear();
      seen.set(key, value);
    }
    return value;
  };
}
