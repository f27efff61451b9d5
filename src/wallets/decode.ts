import type { Interface, Result } from "ethers";
import { ZeroAddress, formatUnits, getAddress } from "ethers";

import { DeviceWallet__factory, IERC20Metadata__factory } from "../chain/factories";
import { ETH, formatAmount } from "./assets";
import type { Asset } from "./assets";
import type { Proposal } from "./proposal";

/*
 * What a proposal's call does, in plain words, decoded from its `to`, `value` and `data` with the project's
 * typed ABIs: never from the proposer's description. The browser app shows it on every card and the CLI can
 * print it before `wallet:sign`.
 */

/** A proposal's call in plain words. */
export interface DecodedCall {
  /** One sentence: "Replace the owners with [0x…] and threshold 1". */
  summary: string;
  /** The call changes who controls the wallet (its owner set) or which key the device spends with. */
  dangerous: boolean;
  /** false: the data matched none of the known calls; `summary` says so and the raw data must be checked. */
  decoded: boolean;
}

const walletInterface = DeviceWallet__factory.createInterface();
const erc20Interface = IERC20Metadata__factory.createInterface();

type Call = Pick<Proposal, "wallet" | "to" | "value" | "data">;

/**
 * Decodes a proposal's call: one of the wallet's own settings (to the wallet itself), an ERC-20 `transfer` or
 * `approve`, or a plain ETH send. `assets` names known tokens (amounts in their decimals); other tokens'
 * amounts are given in base units.
 */
export function decodeProposalCall(p: Call, assets: readonly Asset[] = [ETH]): DecodedCall {
  const to = getAddress(p.to);
  const value = BigInt(p.value);
  const withEth = value > 0n ? `, sending ${formatUnits(value, 18)} ETH with it` : "";
  if (p.data === "0x") {
    return { summary: `Send ${formatUnits(value, 18)} ETH to ${to}`, dangerous: false, decoded: true };
  }
  if (to === getAddress(p.wallet)) {
    const words = walletSetting(strictParse(walletInterface, p.data), assets);
    if (words !== undefined) return { summary: words.summary + withEth, dangerous: words.dangerous, decoded: true };
  } else {
    const words = tokenCall(strictParse(erc20Interface, p.data), to, assets);
    if (words !== undefined) return { summary: words + withEth, dangerous: false, decoded: true };
  }
  const bytes = (p.data.length - 2) / 2;
  return {
    summary: `Unknown call to ${to} (${bytes} bytes of data, selector ${p.data.slice(0, 10)})${withEth}: check the raw data before signing`,
    dangerous: false,
    decoded: false,
  };
}

interface Parsed {
  name: string;
  args: Result;
}

/** The call's function and arguments, only when re-encoding them gives back exactly `data`. */
function strictParse(iface: Interface, data: string): Parsed | undefined {
  try {
    const parsed = iface.parseTransaction({ data });
    if (parsed === null) return undefined;
    const again = iface.encodeFunctionData(parsed.fragment, parsed.args);
    return again.toLowerCase() === data.toLowerCase() ? { name: parsed.name, args: parsed.args } : undefined;
  } catch {
    return undefined;
  }
}

function amountOf(amount: bigint, asset: string, assets: readonly Asset[]): string {
  const address = getAddress(asset);
  const known = assets.find((a) => getAddress(a.address) === address) ?? (address === ZeroAddress ? ETH : undefined);
  return known !== undefined ? formatAmount(amount, known) : `${amount} base units of token ${address}`;
}

function assetName(asset: string, assets: readonly Asset[]): string {
  const address = getAddress(asset);
  const known = assets.find((a) => getAddress(a.address) === address) ?? (address === ZeroAddress ? ETH : undefined);
  return known?.symbol ?? `token ${address}`;
}

function walletSetting(
  c: Parsed | undefined,
  assets: readonly Asset[],
): { summary: string; dangerous: boolean } | undefined {
  if (c === undefined) return undefined;
  const a = c.args;
  const safe = (summary: string) => ({ summary, dangerous: false });
  switch (c.name) {
    case "setOwners":
      return {
        summary: `Replace the owners with [${(a[0] as string[]).map((o) => getAddress(o)).join(", ")}] and threshold ${a[1]}`,
        dangerous: true,
      };
    case "setDeviceKey":
      return { summary: `Set the device key to ${getAddress(a[0] as string)}`, dangerous: true };
    case "setAllowance":
      return safe(
        `Set the device's ${assetName(a[0], assets)} limit to ${amountOf(a[1], a[0], assets)} per period` +
          (a[1] === 0n ? " (the device cannot spend it)" : ""),
      );
    case "setFrozen":
      return safe(a[0] ? "Freeze the device key" : "Unfreeze the device key");
    case "setPeriod":
      return safe(`Set the device's limit period to ${a[0]} seconds`);
    case "setTransferCap":
      return safe(`Cap each device transfer of ${assetName(a[0], assets)} at ${amountOf(a[1], a[0], assets)}`);
    case "setRecipientAllowed":
      return safe(`${a[1] ? "Allow" : "Stop allowing"} the device to pay ${getAddress(a[0] as string)}`);
    case "setAllowlistEnabled":
      return safe(
        a[0]
          ? "Turn on the recipient allowlist (the device pays only allowed recipients)"
          : "Turn off the recipient allowlist (the device pays anyone)",
      );
    default:
      return undefined;
  }
}

function tokenCall(c: Parsed | undefined, token: string, assets: readonly Asset[]): string | undefined {
  if (c?.name === "transfer") return `Transfer ${amountOf(c.args[1], token, assets)} to ${getAddress(c.args[0])}`;
  if (c?.name === "approve") {
    return `Approve ${getAddress(c.args[0])} to spend ${amountOf(c.args[1], token, assets)} of the wallet's`;
  }
  return undefined;
}
