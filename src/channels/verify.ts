import { TypedDataEncoder, getBytes } from "ethers";
import type { TypedDataDomain } from "ethers";
import secp256k1 from "secp256k1";

import { checksumHex, isAddress } from "../chain/address";
import { typeHash } from "../eip712/domain";
import { RECEIPT_TYPES, REDELIVER_TYPES, redeliverDigest } from "../eip712/receipt";
import { keccak } from "../keccak";
import type { ChannelKey } from "./key";

export { keccak };

const HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;

const RECEIPT_TYPEHASH = Buffer.from(getBytes(typeHash(RECEIPT_TYPES, "Receipt")));
const REDELIVER_TYPEHASH = Buffer.from(getBytes(typeHash(REDELIVER_TYPES, "Redeliver")));

/**
 * Receipt verification for the Authorization Server's hot path: the EIP-712 digest from a precomputed
 * domain separator, and public-key recovery with native libsecp256k1 (ethers' pure-JS recovery is about
 * 30 times slower). Equivalent to `receiptDigest` + `ECDSA.tryRecover` on chain: high s is rejected.
 */
export class ReceiptVerifier {
  private readonly separator: Buffer;

  constructor(readonly domain: TypedDataDomain) {
    this.separator = Buffer.from(getBytes(TypedDataEncoder.hashDomain(domain)));
    // Self-check against ethers' own encoder.
    const probe = { channelId: `0x${"ab".repeat(32)}`, cumulativeAmount: 42n };
    if (this.digest(probe.channelId, probe.cumulativeAmount) !== TypedDataEncoder.hash(domain, RECEIPT_TYPES, probe)) {
      throw new Error("receipt digest mismatch");
    }
    const redeliver = this.digestBytes(probe.channelId, probe.cumulativeAmount, REDELIVER_TYPEHASH);
    if (`0x${redeliver.toString("hex")}` !== redeliverDigest(domain, probe))
      throw new Error("redeliver digest mismatch");
  }

  digest(channelId: string, amount: bigint): string {
    return `0x${this.digestBytes(channelId, amount).toString("hex")}`;
  }

  /** The EIP-712 digest of a (channelId, cumulativeAmount) struct: a `Receipt`, or a `Redeliver` by its type hash. */
  digestBytes(channelId: string, amount: bigint, type: Buffer = RECEIPT_TYPEHASH): Buffer {
    const struct = Buffer.alloc(96);
    type.copy(struct, 0);
    struct.write(channelId.slice(2), 32, "hex");
    struct.write(amount.toString(16).padStart(64, "0"), 64, "hex");
    return keccak(Buffer.concat([Buffer.from([0x19, 0x01]), this.separator, keccak(struct)]));
  }

  /** The signer of a 65-byte receipt signature, or undefined for a malformed or high-s signature. */
  recover(channelId: string, amount: bigint, signature: string): string | undefined {
    return recoverSigner(this.digestBytes(channelId, amount), signature);
  }

  /** The signer of a redelivery request (`Redeliver`, see `redeliverDigest`), or undefined as for a receipt. */
  recoverRedeliver(channelId: string, amount: bigint, signature: string): string | undefined {
    return recoverSigner(this.digestBytes(channelId, amount, REDELIVER_TYPEHASH), signature);
  }
}

/** A 65-byte signature's r‖s and recovery id, or undefined when malformed, v is not 27/28, or s is high. */
export function signatureParts(signature: string): { rs: Buffer; recid: number } | undefined {
  if (!/^0x[0-9a-fA-F]{130}$/.test(signature)) return undefined;
  const bytes = Buffer.from(signature.slice(2), "hex");
  const s = BigInt(`0x${bytes.subarray(32, 64).toString("hex")}`);
  const v = bytes[64];
  if (s > HALF_N || (v !== 27 && v !== 28)) return undefined;
  return { rs: bytes.subarray(0, 64), recid: v - 27 };
}

/**
 * The signer of a 65-byte signature over a 32-byte digest, as `ECDSA.tryRecover` on chain accepts it:
 * undefined for a malformed signature, a v other than 27/28, or a high s (the malleable twin).
 */
export function recoverSigner(digest: Buffer | string, signature: string): string | undefined {
  const parts = signatureParts(signature);
  if (parts === undefined) return undefined;
  const hash = typeof digest === "string" ? Buffer.from(digest.slice(2), "hex") : digest;
  try {
    return addressOf(secp256k1.ecdsaRecover(parts.rs, parts.recid, hash, false));
  } catch {
    return undefined;
  }
}

/** The checksummed address of an uncompressed (65-byte) public key. */
export function addressOf(publicKey: Uint8Array): string {
  return checksumHex(
    keccak(Buffer.from(publicKey.subarray(1)))
      .subarray(12)
      .toString("hex"),
  );
}

/** Valid keys only, so a flood of bogus keys cannot grow it; cleared when full. */
const recentIds = new Map<string, string>();
const RECENT_IDS = 16_384;
const BYTES32 = /^0x[0-9a-fA-F]{64}$/;

/** The 32-byte ABI word of an address, or undefined unless it is 0x-hex, all one case or correctly checksummed. */
function addressWord(address: string): string | undefined {
  return isAddress(address) ? address.slice(2).toLowerCase().padStart(64, "0") : undefined;
}

function uintWord(value: bigint, bits: number): string | undefined {
  return typeof value === "bigint" && value >= 0n && value < 1n << BigInt(bits)
    ? value.toString(16).padStart(64, "0")
    : undefined;
}

/**
 * `keccak256(abi.encode(owner, payee, token, clientRoot, uint96 salt, uint64 openBlock))` with the native
 * keccak, for the AS's hot path (ethers' ABI coder and pure-JS keccak cost more than the signature
 * recovery). Undefined for anything ethers would reject or convert (a bad checksum, a value out of range,
 * a non-boolean token): the caller then takes ethers' path, which names the problem.
 */
export function nativeChannelId(k: ChannelKey): string | undefined {
  if (typeof k.token !== "boolean" || typeof k.salt !== "bigint" || typeof k.openBlock !== "bigint") return undefined;
  // A client sends the same key with every receipt: remember the ids of the last keys seen.
  // "|" is in no valid field, so two different keys never share a cache key.
  const cacheKey = `${k.owner}|${k.payee}|${k.token}|${k.clientRoot}|${k.salt}|${k.openBlock}`;
  const cached = recentIds.get(cacheKey);
  if (cached !== undefined) return cached;
  const owner = addressWord(k.owner);
  const payee = addressWord(k.payee);
  const salt = uintWord(k.salt, 96);
  const openBlock = uintWord(k.openBlock, 64);
  if (owner === undefined || payee === undefined || salt === undefined || openBlock === undefined) return undefined;
  if (!BYTES32.test(k.clientRoot)) return undefined;
  const words = `${owner}${payee}${(k.token ? 1n : 0n).toString(16).padStart(64, "0")}${k.clientRoot.slice(2)}${salt}${openBlock}`;
  const id = `0x${keccak(Buffer.from(words, "hex")).toString("hex")}`;
  if (recentIds.size >= RECENT_IDS) recentIds.clear();
  recentIds.set(cacheKey, id);
  return id;
}
