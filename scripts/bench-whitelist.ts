/**
 * `npm run bench:whitelist [N]`: builds the Merkle whitelist and every proof for N devices (default
 * 100,000) and reports the time, checking a sample of proofs against the root. Target: ≤ 5 s at 100k.
 */
import { performance } from "node:perf_hooks";

import { hexlify, keccak256, toUtf8Bytes } from "ethers";

import { buildWhitelist, rootFromProof } from "../src/merkle/whitelist";

const count = Number(process.argv[2] ?? "100000");
const devices = Array.from({ length: count }, (_, i) => ({
  deviceId: keccak256(toUtf8Bytes(`bench-device-${i}`)),
  deviceKey: hexlify(keccak256(toUtf8Bytes(`bench-key-${i}`))).slice(0, 42),
  deviceType: 1 + (i % 5),
}));

const started = performance.now();
const whitelist = buildWhitelist(devices, 1);
const seconds = (performance.now() - started) / 1000;

for (let i = 0; i < count; i += Math.max(1, Math.floor(count / 1000))) {
  const e = whitelist.entries[i];
  if (rootFromProof(e.leaf, e.proof) !== whitelist.root) {
    console.error(`proof ${i} does not lead to the root`);
    process.exit(1);
  }
}
const depth = whitelist.entries[0].proof.length;
console.log(
  `whitelist of ${count.toLocaleString("en-US")} devices: root ${whitelist.root}, depth ${depth}, ` +
    `tree + every proof in ${seconds.toFixed(2)} s (${((seconds * 1e6) / count).toFixed(1)} µs per device); target ≤ 5 s at 100,000`,
);
