import type { SystemContext } from "../chain/context";
import { UserError } from "../errors";
import { ETH, resolveAsset } from "../wallets/assets";
import type { Asset } from "../wallets/assets";
import type { WalletAction } from "../wallets/propose";
import { parseAddress, parseAmount } from "./parse";

/** Parses `--<option> A,B,C`: a comma-separated list of addresses. */
export function parseAddresses(option: string, value: string): string[] {
  return value
    .split(",")
    .filter((o) => o.trim() !== "")
    .map((o) => parseAddress(option, o.trim()));
}

/** Parses `eth=1,token=100,0xAbc…=5` (option `--<option>`) into amounts in base units, each asset once. */
export async function parseAmounts(
  ctx: SystemContext,
  option: string,
  value: string,
): Promise<{ asset: Asset; amount: bigint }[]> {
  const out: { asset: Asset; amount: bigint }[] = [];
  for (const part of value.split(",").filter((p) => p.trim() !== "")) {
    const [name, amount] = part.split("=");
    if (amount === undefined) throw new UserError(`--${option}: "${part}" is not ASSET=AMOUNT (e.g. eth=0.5)`);
    const asset = await resolveAsset(ctx, name);
    if (out.some((o) => o.asset.address === asset.address)) throw new UserError(`--${option}: ${name} is given twice`);
    out.push({ asset, amount: parseAmount(option, amount.trim(), asset.decimals) });
  }
  if (out.length === 0) throw new UserError(`--${option}: give at least one, e.g. eth=0.5`);
  return out;
}

/** Parses `--limits eth=1,token=100,0xAbc…=5` into per-period limits in base units. */
export async function parseLimits(ctx: SystemContext, value: string): Promise<{ asset: Asset; limit: bigint }[]> {
  return (await parseAmounts(ctx, "limits", value)).map(({ asset, amount }) => ({ asset, limit: amount }));
}

/** Parses `--limit`: a decimal amount of `asset`, where 0 (stop spending it) is allowed. */
export function parseLimit(asset: Asset, value: string): bigint {
  return /^0+(\.0+)?$/.test(value) ? 0n : parseAmount("limit", value, asset.decimals);
}

/** The flags of `wallet:propose` that say what the owners are asked to do. */
export interface ActionFlags {
  to?: string;
  value: string;
  data: string;
  asset?: string;
  amount?: string;
  rotateKey?: string;
  unfreeze: boolean;
}

/** Parses the action flags: exactly one of a call (`--to`), an ERC-20 transfer, `--rotate-key`, `--unfreeze`. */
export async function parseWalletAction(ctx: SystemContext, f: ActionFlags): Promise<WalletAction> {
  const to = f.to === undefined ? undefined : parseAddress("to", f.to);
  const value = f.value === "0" ? 0n : parseAmount("value", f.value);
  const rotateKey = f.rotateKey === undefined ? undefined : parseAddress("rotate-key", f.rotateKey);
  const modes = [rotateKey !== undefined, f.unfreeze, f.asset !== undefined].filter(Boolean).length;
  if (modes > 1) throw new UserError("give only one of --rotate-key, --unfreeze and --asset");
  if (rotateKey !== undefined) return { kind: "rotateKey", key: rotateKey };
  if (f.unfreeze) return { kind: "unfreeze" };
  if (to === undefined) throw new UserError("--to is required for a call or a transfer");
  if (f.asset === undefined) return { kind: "call", to, value, data: f.data };
  if (f.amount === undefined) throw new UserError("--asset needs --amount");
  const asset = await resolveAsset(ctx, f.asset);
  if (asset.address === ETH.address) throw new UserError("for ETH use --value, not --asset eth");
  return { kind: "transfer", asset, to, amount: parseAmount("amount", f.amount, asset.decimals) };
}
