import { getAddress, isAddress, parseUnits } from "ethers";

import { UserError } from "../errors";

/** Where {@link parseAddress} warns: one line on stderr (stdout may carry a task's `--json` answer). */
function warnOnStderr(line: string): void {
  process.stderr.write(`${line}\n`);
}

/**
 * Parses an address argument, naming the option in the error. A mixed-case address must pass its EIP-55
 * checksum; an all-lower-case (or all-upper-case) one carries no checksum, so a mistyped digit cannot be
 * caught: it is accepted, with a one-line warning (on stderr by default) that names it and its checksummed form.
 */
export function parseAddress(option: string, value: string, warn: (line: string) => void = warnOnStderr): string {
  if (!isAddress(value)) {
    if (/^0x[0-9a-fA-F]{40}$/.test(value)) {
      throw new UserError(
        `--${option}: "${value}" fails its EIP-55 checksum (a mistyped letter or digit?); check it, or write it in lower case`,
      );
    }
    throw new UserError(`--${option}: "${value}" is not an Ethereum address (0x followed by 40 hex digits)`);
  }
  const address = getAddress(value);
  const digits = value.slice(2);
  if (address !== value && (digits === digits.toLowerCase() || digits === digits.toUpperCase())) {
    warn(
      `Warning: --${option}: ${value} has no EIP-55 checksum (all one case), so a typo in it cannot be caught; check it is ${address}`,
    );
  }
  return address;
}

/** Parses a positive decimal token amount ("1.5") into base units, for a token with `decimals`. */
export function parseAmount(option: string, value: string, decimals = 18): bigint {
  if (!/^\d+(\.\d+)?$/.test(value)) {
    throw new UserError(`--${option}: "${value}" is not a decimal amount such as 10 or 2.5`);
  }
  const fraction = value.split(".")[1] ?? "";
  if (fraction.length > decimals) {
    throw new UserError(`--${option}: "${value}" has more than ${decimals} decimals`);
  }
  const amount = parseUnits(value, decimals);
  if (amount === 0n) {
    throw new UserError(`--${option}: the amount must be greater than zero`);
  }
  return amount;
}

/** Parses a token amount that may be zero (a fee), such as "0", "2.5". */
export function parseFee(option: string, value: string, decimals = 18): bigint {
  return /^0+(\.0+)?$/.test(value) ? 0n : parseAmount(option, value, decimals);
}

/** Parses a non-negative integer argument. */
export function parseCount(option: string, value: string, min = 0): number {
  if (!/^\d+$/.test(value) || Number(value) < min || !Number.isSafeInteger(Number(value))) {
    throw new UserError(`--${option}: "${value}" is not a whole number ≥ ${min}`);
  }
  return Number(value);
}

/**
 * Parses a deadline: either an absolute unix time in seconds, or a duration from `now` such as
 * "30m", "1h", "7d", "3600s".
 */
export function parseDeadline(option: string, value: string, now: bigint): bigint {
  const relative = /^(\d+)([smhd])$/.exec(value);
  if (relative !== null) {
    const unit = { s: 1n, m: 60n, h: 3600n, d: 86400n }[relative[2] as "s" | "m" | "h" | "d"];
    return now + BigInt(relative[1]) * unit;
  }
  if (/^\d+$/.test(value)) {
    const absolute = BigInt(value);
    if (absolute <= now) {
      throw new UserError(`--${option}: ${value} is in the past (chain time is ${now})`);
    }
    return absolute;
  }
  throw new UserError(`--${option}: "${value}" is neither a unix time nor a duration such as 30m, 1h or 7d`);
}

/** Parses a duration in seconds: "3600", "3600s", "30m", "12h" or "1d". */
export function parseDuration(option: string, value: string): number {
  const match = /^(\d+)([smhd]?)$/.exec(value.trim());
  if (match === null) throw new UserError(`--${option}: "${value}" is not a duration such as 3600s, 30m, 12h or 1d`);
  const seconds = Number(match[1]) * { "": 1, s: 1, m: 60, h: 3600, d: 86400 }[match[2] as "" | "s" | "m" | "h" | "d"];
  if (seconds < 1 || seconds > 0xffffffff) throw new UserError(`--${option}: must be between 1 second and 136 years`);
  return seconds;
}
