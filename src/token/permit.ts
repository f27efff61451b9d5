import type { Signer } from "ethers";
import { Signature, getAddress, isAddress, verifyTypedData } from "ethers";

import { tokenAt } from "../chain/context";
import type { SystemContext } from "../chain/context";
import { DEADLINE_MARGIN, nextBlockTime } from "../chain/time";
import { readJsonFile } from "../cli/json";
import { UserError } from "../errors";
import { readDomain } from "../eip712/domain";
import { PERMIT_TYPES, signPermit } from "../eip712/permit";
import type { PermitMessage } from "../eip712/permit";

/** A signed EIP-2612 permit as written to and read from a JSON file. */
export interface PermitFile {
  kind: "thingledger/permit";
  chainId: string;
  token: string;
  owner: string;
  spender: string;
  value: string;
  nonce: string;
  deadline: string;
  signature: string;
}

/**
 * Signs a permit with `owner` for the deployed token; no transaction is sent. A deadline that
 * {@link submitPermit} would already refuse (less than {@link DEADLINE_MARGIN} after the next block's
 * time) is refused here, before signing.
 */
export async function createPermit(
  ctx: SystemContext,
  owner: Signer,
  spender: string,
  value: bigint,
  deadline: bigint,
): Promise<PermitFile> {
  const next = await nextBlockTime(ctx.provider);
  if (next + DEADLINE_MARGIN > deadline) {
    throw new UserError(
      `deadline ${deadline} is ${deadline - next} s after the next block (time ${next}); token:permit-submit needs more than ${DEADLINE_MARGIN} s to spare: choose a later deadline (e.g. 1h)`,
    );
  }
  const token = tokenAt(ctx);
  const tokenAddress = await token.getAddress();
  const ownerAddress = await owner.getAddress();
  const { chainId } = ctx;
  const message: PermitMessage = {
    owner: ownerAddress,
    spender,
    value,
    nonce: await token.nonces(ownerAddress),
    deadline,
  };
  const signature = await signPermit(owner, await readDomain(token), message);
  return {
    kind: "thingledger/permit",
    chainId: chainId.toString(),
    token: tokenAddress,
    owner: message.owner,
    spender: message.spender,
    value: value.toString(),
    nonce: message.nonce.toString(),
    deadline: deadline.toString(),
    signature,
  };
}

function field(file: string, json: Record<string, unknown>, name: keyof PermitFile, pattern: RegExp): string {
  const value = json[name];
  if (typeof value !== "string" || !pattern.test(value)) {
    throw new UserError(`${file}: field "${name}" is missing or malformed`);
  }
  return value;
}

/** Reads and fully checks a permit file, including that its signature recovers to its owner. */
export function readPermitFile(file: string): PermitFile {
  const json = (readJsonFile(file, "a signed permit (npx hardhat token:permit)") ?? {}) as Record<string, unknown>;
  if (json.kind !== "thingledger/permit") {
    throw new UserError(`${file} is not a ThingLedger permit file (kind is ${JSON.stringify(json.kind)})`);
  }
  const uint = /^\d+$/;
  const addr = /^0x[0-9a-fA-F]{40}$/;
  const permit: PermitFile = {
    kind: "thingledger/permit",
    chainId: field(file, json, "chainId", uint),
    token: field(file, json, "token", addr),
    owner: field(file, json, "owner", addr),
    spender: field(file, json, "spender", addr),
    value: field(file, json, "value", uint),
    nonce: field(file, json, "nonce", uint),
    deadline: field(file, json, "deadline", uint),
    signature: field(file, json, "signature", /^0x[0-9a-fA-F]{130}$/),
  };
  for (const a of [permit.token, permit.owner, permit.spender]) {
    if (!isAddress(a)) {
      throw new UserError(`${file}: ${a} is not a valid address (bad checksum?)`);
    }
  }
  return permit;
}

export interface PermitSubmitResult {
  owner: string;
  spender: string;
  value: bigint;
  allowance: bigint;
  txHash: string;
  gasUsed: bigint;
}

/**
 * Submits a permit file from `relayer`. Everything is checked before sending: the chain, the token, the
 * signature, the nonce and the deadline, so a bad file costs no gas and changes nothing.
 */
export async function submitPermit(
  ctx: SystemContext,
  relayer: Signer,
  permit: PermitFile,
): Promise<PermitSubmitResult> {
  const token = tokenAt(ctx, relayer);
  const tokenAddress = await token.getAddress();
  const { chainId } = ctx;
  if (BigInt(permit.chainId) !== chainId) {
    throw new UserError(
      `the permit was signed for chain ${permit.chainId}, but network "${ctx.network}" is chain ${chainId}`,
    );
  }
  if (getAddress(permit.token) !== tokenAddress) {
    throw new UserError(`the permit was signed for token ${permit.token}, but ThingToken here is ${tokenAddress}`);
  }
  const message: PermitMessage = {
    owner: permit.owner,
    spender: permit.spender,
    value: BigInt(permit.value),
    nonce: BigInt(permit.nonce),
    deadline: BigInt(permit.deadline),
  };
  const domain = await readDomain(token);
  let recovered: string;
  try {
    recovered = verifyTypedData(domain, PERMIT_TYPES, { ...message }, permit.signature);
  } catch {
    throw new UserError("the permit signature is malformed");
  }
  if (recovered !== getAddress(permit.owner)) {
    throw new UserError(`the permit signature is by ${recovered}, not by its owner ${permit.owner}`);
  }
  const nonce = await token.nonces(permit.owner);
  if (nonce !== message.nonce) {
    throw new UserError(
      `the permit's nonce ${permit.nonce} is stale: the owner's nonce is now ${nonce} (already used?)`,
    );
  }
  const next = await nextBlockTime(ctx.provider);
  if (next + DEADLINE_MARGIN > message.deadline) {
    throw new UserError(
      `the permit expires at ${permit.deadline}, before the next block (time ${next}) can include it with ${DEADLINE_MARGIN} s to spare: sign a new one`,
    );
  }
  const { v, r, s } = Signature.from(permit.signature);
  const tx = await token.permit(message.owner, message.spender, message.value, message.deadline, v, r, s);
  const receipt = await tx.wait();
  if (receipt === null || receipt.status !== 1) {
    throw new Error(`permit ${tx.hash} failed`);
  }
  return {
    owner: message.owner,
    spender: message.spender,
    value: message.value,
    allowance: await token.allowance(message.owner, message.spender),
    txHash: tx.hash,
    gasUsed: receipt.gasUsed,
  };
}
