import { hexlify, randomBytes } from "ethers";

import { deviceTypeId } from "../devices/types";
import { UserError } from "../errors";
import type { RegisterOptions } from "../registry/register";
import { parseAmount, parseCount } from "./parse";

/** Parses a device type given by id or name ("3", "lock"). */
export function parseDeviceType(option: string, value: string): number {
  const type = deviceTypeId(value);
  if (type === undefined) throw new UserError(`--${option}: unknown device type "${value}"`);
  return type;
}

/** Parses an identity-claim challenge: 32 bytes of hex, or "random" for fresh ones. */
export function parseChallenge(option: string, value: string): string {
  const challenge = value === "random" ? hexlify(randomBytes(32)) : value;
  if (!/^0x[0-9a-fA-F]{64}$/.test(challenge)) {
    throw new UserError(`--${option}: "${value}" is not 32 bytes of hex (or 'random')`);
  }
  return challenge;
}

/** Parses a revocation reason code, 0-255. */
export function parseReason(option: string, value: string): number {
  const reason = parseCount(option, value);
  if (reason > 255) throw new UserError(`--${option} must be 0-255`);
  return reason;
}

/** device:register's arguments as the library's options: batches, or one Merkle root with --merkle. */
export function parseRegisterOptions(args: {
  merkle: boolean;
  batchSize: string;
  whitelistOut?: string;
  proofs?: string;
  force?: boolean;
  maxFee?: string;
  maxActivationFee?: string;
  json: boolean;
}): RegisterOptions {
  const batchSize = parseCount("batch-size", args.batchSize, 1);
  const maxFee = args.maxFee === undefined ? undefined : parseAmount("max-fee", args.maxFee);
  const maxActivationFee =
    args.maxActivationFee === undefined ? undefined : parseAmount("max-activation-fee", args.maxActivationFee);
  const showProgress = !args.json;
  if (args.merkle) {
    const { whitelistOut, force } = args;
    const proofs = args.proofs;
    if (proofs !== undefined && proofs !== "json" && proofs !== "tree")
      throw new UserError(`--proofs: "${proofs}" is neither json (every proof as hex) nor tree (the tree file)`);
    return { merkle: true, whitelistOut, proofs, force: force ?? false, maxFee, maxActivationFee, showProgress };
  }
  if (args.proofs !== undefined) throw new UserError("--proofs applies to --merkle only (a whitelist's proofs)");
  if (maxActivationFee !== undefined) {
    throw new UserError("--max-activation-fee applies to --merkle only (a whitelist root fixes its activation fee)");
  }
  return { merkle: false, batchSize, maxFee, showProgress };
}
