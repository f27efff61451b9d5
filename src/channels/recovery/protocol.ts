/**
 * The wire format between the AS and its recovery process (`child.ts`), over the child's stdin and stdout.
 * A request frame: a little-endian uint32 count (1 to 65,536), then `count` items of {@link ITEM_BYTES}: the
 * channel id (32 bytes), the cumulative amount (uint256, big-endian) and the 65-byte signature r‖s‖v. The
 * answer: `count` results of {@link RESULT_BYTES}, each the signer's checksummed address in ASCII or
 * {@link FAILED} (malformed or high-s signature, as `ReceiptVerifier.recover` returns undefined). Answers come
 * in the order of the requests. Before any answer the child writes {@link READY} once.
 */
export const ITEM_BYTES = 32 + 32 + 65;
export const RESULT_BYTES = 42;
export const FAILED = "-".repeat(RESULT_BYTES);
export const READY = "R";
/** The largest amount an item carries (a uint256). */
export const MAX_AMOUNT = (1n << 256n) - 1n;

/** Writes one item at `offset` of `frame`; false (nothing written) unless the id is 32-byte hex, the amount a
 * uint256 and the signature 65-byte hex: those the caller recovers itself, as the verifier would. */
export function encodeItem(
  frame: Buffer,
  offset: number,
  channelId: string,
  amount: bigint,
  signature: string,
): boolean {
  if (!/^0x[0-9a-fA-F]{64}$/.test(channelId) || amount < 0n || amount > MAX_AMOUNT) return false;
  if (!/^0x[0-9a-fA-F]{130}$/.test(signature)) return false;
  frame.write(channelId.slice(2), offset, "hex");
  frame.write(amount.toString(16).padStart(64, "0"), offset + 32, "hex");
  frame.write(signature.slice(2), offset + 64, "hex");
  return true;
}

export function decodeItem(frame: Buffer, offset: number): { channelId: string; amount: bigint; signature: string } {
  return {
    channelId: `0x${frame.toString("hex", offset, offset + 32)}`,
    amount: BigInt(`0x${frame.toString("hex", offset + 32, offset + 64)}`),
    signature: `0x${frame.toString("hex", offset + 64, offset + ITEM_BYTES)}`,
  };
}
