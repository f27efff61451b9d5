import { Interface, ZeroAddress, formatEther, isHexString } from "ethers";
import type { ErrorDescription, ParamType } from "ethers";

import {
  DeviceRegistry__factory,
  DeviceWalletFactory__factory,
  DeviceWallet__factory,
  PaymentChannels__factory,
  ThingToken__factory,
} from "./factories";

let systemErrors: Interface | undefined;

/**
 * Every custom error the system's contracts can revert with (their own, the shared `IThingLedgerErrors`
 * and OpenZeppelin's ERC-20 / ERC-2612 / Ownable errors they inherit), in one interface, so a revert is
 * named whichever contract it came from. Built on the first revert to name (every task that signs loads
 * this module; most runs never revert).
 */
function systemErrorsInterface(): Interface {
  systemErrors ??= new Interface(
    [
      ThingToken__factory.abi,
      DeviceRegistry__factory.abi,
      PaymentChannels__factory.abi,
      DeviceWallet__factory.abi,
      DeviceWalletFactory__factory.abi,
    ]
      .flat()
      .filter((fragment) => fragment.type === "error")
      .filter((fragment, i, all) => all.findIndex((f) => JSON.stringify(f) === JSON.stringify(fragment)) === i),
  );
  return systemErrors;
}

const DEVICE_STATUS = ["Unknown", "Registered", "Active", "Revoked"];
/** Arguments that hold a point in time (seconds since 1970). */
const TIME = /^(deadline|expiry|until|validUntil|current)$/;
/** Arguments that hold an amount of a token or of ETH (18 decimals). */
const AMOUNT =
  /(fee|amount|deposit|balance|allowance|cap|value|limit|available|needed|credit|maxFee|maxActivationFee)$/i;

/** The revert data (`0x` + selector + arguments) an error carries, wherever ethers or Hardhat put it. */
export function revertData(error: unknown, depth = 0): string | undefined {
  if (typeof error !== "object" || error === null || depth > 4) return undefined;
  const e = error as Record<string, unknown>;
  if (typeof e.data === "string" && isHexString(e.data) && e.data.length >= 10) return e.data;
  for (const key of ["error", "info", "cause", "data"]) {
    const found = revertData(e[key], depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

function unitOf(parsed: ErrorDescription): string {
  if (/^(ERC20|ERC2612|FeeAbove|ActivationFee|NothingToWithdraw)/.test(parsed.name)) return " THING";
  const asset = parsed.fragment.inputs.findIndex((p) => p.name === "asset");
  if (asset >= 0) return parsed.args[asset] === ZeroAddress ? " ETH" : " (token units, 18 decimals)";
  return "";
}

function formatArg(parsed: ErrorDescription, param: ParamType, value: unknown): string {
  if (param.type === "uint8" && /status/i.test(param.name)) return DEVICE_STATUS[Number(value)] ?? String(value);
  if (typeof value !== "bigint") return String(value);
  if (/Gas/.test(parsed.name)) return `${value.toLocaleString("en-US")} gas`;
  if (TIME.test(param.name) && value > 1_000_000_000n && value < 100_000_000_000n) {
    return `${new Date(Number(value) * 1000).toISOString().replace(".000Z", "Z")} (${value})`;
  }
  if (AMOUNT.test(param.name) && !/Owners|Threshold|Capacity|Nonce/.test(parsed.name)) {
    return `${formatEther(value)}${unitOf(parsed)}`;
  }
  return value.toString();
}

/**
 * One line naming a system custom error and its arguments in units a person reads, e.g.
 * `ERC2612ExpiredSignature(deadline: 2026-11-30T12:00:00Z (1796040000))`; undefined when `error` carries no
 * revert data of the system's contracts.
 */
export function describeRevert(error: unknown): string | undefined {
  const data = revertData(error);
  if (data === undefined) return undefined;
  let parsed: ErrorDescription | null;
  try {
    parsed = systemErrorsInterface().parseError(data);
  } catch {
    return undefined;
  }
  if (parsed === null) return undefined;
  const decoded = parsed;
  const args = decoded.fragment.inputs.map((p, i) => `${p.name}: ${formatArg(decoded, p, decoded.args[i])}`);
  return `${decoded.name}(${args.join(", ")})`;
}
