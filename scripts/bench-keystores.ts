/**
 * `npm run bench:keystores -- [--devices N]`: how long `device:generate` takes to make N device keys
 * (default 1,000) in encrypted keystores, written to a temporary folder:
 * - `one thread`: the path before issue 17 (a key, then its keystore, on the main thread, one at a time),
 *   at the default scrypt N (2^14, or THINGLEDGER_KEYSTORE_SCRYPT_N);
 * - `threads`: `generateFleet` on its worker threads (one per core, at most four), same N;
 * - `--dev-scrypt`: `generateFleet` with scrypt N = 1024 (simulation only).
 * A benchmark: it prints, it asserts nothing.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";

import { Wallet } from "ethers";

import { deviceIdOf } from "../src/devices/fleet";
import { encryptionThreads } from "../src/devices/encrypt";
import { generateFleet } from "../src/devices/generate";
import { DEV_SCRYPT_N, randomDeviceKey, saveDeviceKey, scryptN } from "../src/devices/keystore";

async function main(): Promise<void> {
  const at = process.argv.indexOf("--devices");
  const count = at < 0 ? 1000 : Number(process.argv[at + 1]);
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-bench-keystores-"));
  const n = scryptN();
  const rows: [string, number][] = [];
  try {
    let start = performance.now();
    for (let i = 0; i < count; i++) {
      const wallet = randomDeviceKey();
      const uid = `B-${i}`;
      saveDeviceKey(path.join(root, "old"), { uid, deviceId: deviceIdOf(1, uid) }, new Wallet(wallet.privateKey), "pw");
    }
    rows.push([`one thread, scrypt N=${n}`, performance.now() - start]);
    start = performance.now();
    await generateFleet(1, count, path.join(root, "threads"), "pw", { scryptN: n, showProgress: false });
    rows.push([`${encryptionThreads()} threads, scrypt N=${n}`, performance.now() - start]);
    start = performance.now();
    await generateFleet(1, count, path.join(root, "dev"), "pw", { scryptN: DEV_SCRYPT_N, showProgress: false });
    rows.push([`${encryptionThreads()} threads, --dev-scrypt (N=${DEV_SCRYPT_N})`, performance.now() - start]);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  console.log(`${count} device keystores on ${os.availableParallelism()} core(s):`);
  for (const [what, ms] of rows) {
    console.log(`  ${what.padEnd(40)} ${(ms / 1000).toFixed(1)} s (${(ms / count).toFixed(1)} ms a key)`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
