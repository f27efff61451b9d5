import type { TypedDataDomain } from "ethers";
import { getAddress, isAddress, isHexString, verifyTypedData } from "ethers";

import { writeJsonOutput } from "../cli/files";
import type { WriteOptions } from "../cli/files";
import { readJsonFile } from "../cli/json";
import { EXECUTE_TYPES } from "../eip712/wallet";
import type { ExecuteMessage } from "../eip712/wallet";
import { UserError } from "../errors";

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

/**
 * Writes a proposal file atomically (a reader never sees half a file). By default it replaces the file
 * (signing updates it in place); a new proposal passes the task's `--force` and `--out`.
 */
export function writeProposal(file: string, p: Proposal, options: WriteOptions = { force: true, flag: "file" }): void {
  writeJsonOutput(file, p, options);
}

/** Reads a proposal file; anything malformed fails with one line naming the problem. */
export function readProposal(file: string): Proposal {
  const p = readJsonFile(file, "a wallet proposal (npx hardhat wallet:propose)") as Partial<Proposal> | null;
  if (typeof p !== "object" || p === null || p.kind !== PROPOSAL_KIND || p.version !== 1) {
    throw new UserError(`${file} is not a wallet proposal (kind "${PROPOSAL_KIND}", version 1)`);
  }
  for (const key of ["wallet", "to"] as const) {
    if (typeof p[key] !== "string" || !isAddress(p[key])) throw new UserError(`${file}: "${key}" is not an address`);
  }
  for (const key of ["chainId", "nonce", "value", "gasLimit"] as const) {
    if (typeof p[key] !== "string" || !/^\d+$/.test(p[key])) {
      throw new UserError(`${file}: "${key}" must be a whole number in a string`);
    }
  }
  if (typeof p.data !== "string" || !isHexString(p.data)) throw new UserError(`${file}: "data" is not 0x-prefixed hex`);
  if (typeof p.signatures !== "object" || p.signatures === null) {
    throw new UserError(`${file}: "signatures" must be an object of owner → signature`);
  }
  for (const owner of Object.keys(p.signatures)) {
    if (!isAddress(owner)) throw new UserError(`${file}: signature key "${owner}" is not an address`);
  }
  // Addresses in their checksummed form: a hand-edited file in lower case names the same wallet.
  return { description: "", ...p, wallet: getAddress(p.wallet as string), to: getAddress(p.to as string) } as Proposal;
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
