import type { TypedDataDomain } from "ethers";
import { SigningKey, TypedDataEncoder, getAddress, getBytes, isAddress, isHexString, verifyTypedData } from "ethers";

import { EXECUTE_TYPES, packAuthorization } from "../eip712/wallet";
import type { ExecuteMessage } from "../eip712/wallet";
import { UserError } from "../errors";

/*
 * The proposal format, free of files and providers: the CLI (proposal-file.ts), the app server's proposal
 * queue (queue.ts) and the browser app share it.
 */

export const PROPOSAL_KIND = "thingledger.wallet-proposal";

/** An owner execution waiting for signatures: what `wallet:propose` writes and `wallet:sign` extends. */
export interface Proposal {
  kind: typeof PROPOSAL_KIND;
  version: 1;
  chainId: string;
  wallet: string;
  nonce: string;
  to: string;
  value: string;
  data: string;
  gasLimit: string;
  description: string;
  /** Owner address → 65-byte signature. */
  signatures: Record<string, string>;
}

/** The EIP-712 `Execute` message the owners sign for a proposal. */
export function proposalMessage(p: Proposal): ExecuteMessage {
  return { to: p.to, value: BigInt(p.value), data: p.data, gasLimit: BigInt(p.gasLimit), nonce: BigInt(p.nonce) };
}

/** The EIP-712 digest the owners sign (the wallet's `executeDigest`): one proposal's identity. */
export function proposalDigest(p: Proposal, domain: TypedDataDomain): string {
  return TypedDataEncoder.hash(domain, EXECUTE_TYPES, proposalMessage(p));
}

/** The longest description a proposal carries. */
const MAX_DESCRIPTION = 500;

/**
 * A proposal from parsed JSON (a file, an HTTP body); anything malformed fails with one line naming the
 * problem, prefixed by `label`. Addresses come back checksummed, signature keys too.
 */
export function parseProposal(value: unknown, label: string): Proposal {
  const p = value as Partial<Proposal> | null;
  if (typeof p !== "object" || p === null || Array.isArray(p) || p.kind !== PROPOSAL_KIND || p.version !== 1) {
    throw new UserError(`${label} is not a wallet proposal (kind "${PROPOSAL_KIND}", version 1)`);
  }
  for (const key of ["wallet", "to"] as const) {
    if (typeof p[key] !== "string" || !isAddress(p[key])) throw new UserError(`${label}: "${key}" is not an address`);
  }
  for (const key of ["chainId", "nonce", "value", "gasLimit"] as const) {
    // Canonical decimal only (no leading zeros, sign or spaces): one number has one spelling, so one proposal
    // has one form (the queue keys its files by digest, and a "003" copy of nonce 3 is refused, not stored).
    if (typeof p[key] !== "string" || !/^(0|[1-9]\d{0,77})$/.test(p[key]) || BigInt(p[key]) >= 1n << 256n) {
      throw new UserError(
        `${label}: "${key}" must be a whole number (below 2^256) in a string, in decimal without leading zeros`,
      );
    }
  }
  if (typeof p.data !== "string" || !isHexString(p.data) || p.data.length % 2 !== 0) {
    throw new UserError(`${label}: "data" is not 0x-prefixed hex bytes`);
  }
  const description = p.description ?? "";
  if (typeof description !== "string" || description.length > MAX_DESCRIPTION) {
    throw new UserError(`${label}: "description" must be a string of at most ${MAX_DESCRIPTION} characters`);
  }
  if (typeof p.signatures !== "object" || p.signatures === null || Array.isArray(p.signatures)) {
    throw new UserError(`${label}: "signatures" must be an object of owner → signature`);
  }
  const signatures: Record<string, string> = {};
  for (const [owner, signature] of Object.entries(p.signatures)) {
    if (!isAddress(owner)) throw new UserError(`${label}: signature key "${owner}" is not an address`);
    if (typeof signature !== "string" || !isHexString(signature, 65)) {
      throw new UserError(`${label}: the signature of ${owner} is not 65 bytes of 0x-prefixed hex`);
    }
    signatures[getAddress(owner)] = signature;
  }
  return {
    kind: PROPOSAL_KIND,
    version: 1,
    chainId: p.chainId!,
    wallet: getAddress(p.wallet as string),
    nonce: p.nonce!,
    to: getAddress(p.to as string),
    value: p.value!,
    data: p.data,
    gasLimit: p.gasLimit!,
    description,
    signatures,
  };
}

/** secp256k1's group order: a signature's r and s are below it, and a canonical s is at most half of it. */
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/**
 * Checks, without a chain and without the wallet's domain, that each signature listed in a proposal could be
 * anyone's: r and s in range, s canonical (the lower of the two, as the wallet's ECDSA requires), v 27 or 28
 * (or 0 or 1), and r the x of a curve point (a public key recovers from it at all).
 */
export function checkSignatureForm(p: Proposal, label: string): void {
  for (const [owner, signature] of Object.entries(p.signatures)) {
    const bytes = getBytes(signature);
    const r = BigInt(signature.slice(0, 66));
    const s = BigInt("0x" + signature.slice(66, 130));
    const v = bytes[64]!;
    let recovers = r > 0n && r < SECP256K1_N && s > 0n && s <= SECP256K1_N / 2n && [0, 1, 27, 28].includes(v);
    if (recovers) {
      try {
        // Any digest: whether a key recovers depends on r and v only (r must be a point's x).
        SigningKey.recoverPublicKey(`0x${"11".repeat(32)}`, signature);
      } catch {
        recovers = false;
      }
    }
    if (!recovers) throw new UserError(`${label}: the signature of ${owner} is malformed (not a canonical signature)`);
  }
}

/** Checks that each signature listed in a proposal is its owner's, over this proposal in the wallet's domain. */
export function checkSignatures(p: Proposal, domain: TypedDataDomain, label: string): void {
  for (const [owner, signature] of Object.entries(p.signatures)) {
    let recovered: string;
    try {
      recovered = verifyTypedData(domain, EXECUTE_TYPES, proposalMessage(p), signature);
    } catch {
      throw new UserError(`${label}: the signature of ${owner} is malformed`);
    }
    if (getAddress(recovered) !== getAddress(owner)) {
      throw new UserError(
        `${label}: the signature listed for ${owner} was made by ${recovered}, or over other content`,
      );
    }
  }
}

/** The proposal's signers that are among `owners` (checksummed, in increasing order). */
export function ownerSigners(p: Proposal, owners: readonly string[]): string[] {
  const set = new Set(owners.map((o) => getAddress(o)));
  return Object.keys(p.signatures)
    .map((k) => getAddress(k))
    .filter((k) => set.has(k))
    .sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
}

/**
 * The `auth` argument of `execute` for a proposal: exactly `threshold` owner signatures, the lowest signer
 * addresses first, then the other owners. Fails in one line when fewer owners signed.
 */
export function proposalAuthorization(
  p: Proposal,
  owners: readonly string[],
  threshold: number,
  label: string,
): string {
  const signers = ownerSigners(p, owners);
  if (signers.length < threshold) {
    throw new UserError(`${label} has ${signers.length} owner signature(s); the wallet needs ${threshold}`);
  }
  const chosen = Object.fromEntries(signers.slice(0, threshold).map((s) => [s, signatureOf(p, s)]));
  return packAuthorization(owners, chosen);
}

function signatureOf(p: Proposal, signer: string): string {
  const key = Object.keys(p.signatures).find((k) => getAddress(k) === signer)!;
  return p.signatures[key]!;
}
