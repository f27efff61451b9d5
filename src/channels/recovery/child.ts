/**
 * The signature-recovery process of the AS (`RecoveryProcess`): a separate Node process, so that native
 * libsecp256k1 runs on the machine's second core without being loaded into worker threads of the AS's own
 * process. Reads frames from stdin and answers each with one frame on stdout, in order (see `protocol.ts`).
 * Exits when stdin ends (the AS stopped or died) or on a malformed frame.
 */
import { ReceiptVerifier } from "../verify";
import { FAILED, ITEM_BYTES, READY, RESULT_BYTES, decodeItem } from "./protocol";

const verifier = new ReceiptVerifier(JSON.parse(process.argv[2]) as Record<string, string>);
let buffered: Buffer = Buffer.alloc(0);

process.stdin.on("data", (chunk: Buffer) => {
  buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
  while (buffered.length >= 4) {
    const count = buffered.readUInt32LE(0);
    if (count === 0 || count > 65_536) process.exit(2);
    const size = 4 + count * ITEM_BYTES;
    if (buffered.length < size) return;
    const out = Buffer.alloc(count * RESULT_BYTES);
    for (let i = 0; i < count; i++) {
      const { channelId, amount, signature } = decodeItem(buffered, 4 + i * ITEM_BYTES);
      const signer = verifier.recover(channelId, amount, signature);
      out.write(signer ?? FAILED, i * RESULT_BYTES, "latin1");
    }
    process.stdout.write(out);
    buffered = buffered.subarray(size);
  }
});
process.stdin.on("end", () => process.exit(0));
process.stdout.write(READY);
