import type { Provider } from "ethers";

import { registryAt, tokenAt } from "../chain/context";
import type { CostPreview } from "../cli/preview";
import { statusesOf } from "../devices/fleet";
import { UserError } from "../errors";
import { buildWhitelist } from "../merkle/whitelist";
import { feeCeiling } from "./fees";
import { batchCalldata, batchesOf } from "./register";
import type { RegisterOptions, Run } from "./register";

/** Gathers the estimates (each a node's `estimateGas`, which simulates the call) into a preview. */
export async function costPreview(
  provider: Provider,
  fees: bigint,
  steps: readonly (readonly [string, () => Promise<bigint>])[],
): Promise<CostPreview> {
  const transactions: { action: string; gas: bigint }[] = [];
  for (const [action, estimate] of steps) transactions.push({ action, gas: await estimate() });
  const gas = transactions.reduce((sum, t) => sum + t.gas, 0n);
  const feeData = await provider.getFeeData();
  const gasPrice = feeData.maxFeePerGas ?? feeData.gasPrice ?? 0n;
  return { dryRun: true, fees, transactions, gas, gasPrice, gasCost: gas * gasPrice };
}

export type RegisterPreview = CostPreview & { mode: "batch" | "merkle"; devices: number; registering: number };

/**
 * `device:register --dry-run`: the fees and the estimated gas of the registration, nothing sent and no file
 * written. When the manufacturer's credit is short, the top-up is estimated as it would be sent, and each
 * registration transaction as if it paid its own fees through `approveAndCall` (the top-up is not mined
 * yet, so the registry would refuse it as sent alone): an estimate a little above the real one.
 */
export async function previewFleet(run: Run, id: number, options: RegisterOptions): Promise<RegisterPreview> {
  const { ctx, manufacturer, devices, fee, maxFee } = run;
  const registry = registryAt(ctx, manufacturer);
  const account = await manufacturer.getAddress();
  const known = await statusesOf(
    registry,
    devices.map((d) => d.deviceId),
  );
  let pending = devices.filter((_, i) => known[i] === 0n);
  let root: string | undefined;
  if (options.merkle) {
    root = buildWhitelist(devices, id).root;
    // A committed root is not committed again (the run would charge nothing).
    if ((await registry.getWhitelist(id, root)).capacity > 0n) pending = [];
    else if (pending.length < devices.length) {
      throw new UserError(
        `${devices.length - pending.length} device(s) of the file are already registered; a whitelist must list new devices only`,
      );
    }
  }
  const fees = fee * BigInt(pending.length);
  const { credit } = await registry.getManufacturer(account);
  const short = fees > credit ? fees - credit : 0n;
  const steps: [string, () => Promise<bigint>][] = [];
  const token = tokenAt(ctx, manufacturer);
  const address = ctx.addresses.DeviceRegistry;
  if (short > 0n) {
    const deposit = registry.interface.encodeFunctionData("depositFeeCredit", [account, short]);
    steps.push(["fee credit top-up", () => token.approveAndCall.estimateGas(address, short, deposit)]);
  }
  const estimate = (amount: bigint, data: string): Promise<bigint> =>
    short > 0n
      ? token.approveAndCall.estimateGas(address, amount, data)
      : manufacturer.estimateGas({ to: address, data });
  if (options.merkle && root !== undefined && pending.length > 0) {
    const ceiling = feeCeiling("activation", await registry.activationFee(), options.maxActivationFee);
    const data = registry.interface.encodeFunctionData("commitWhitelist", [maxFee, ceiling, root, pending.length]);
    steps.push([`commit whitelist root ${root}`, () => estimate(fees, data)]);
  } else if (!options.merkle) {
    for (const chunk of batchesOf(pending, options.batchSize)) {
      const data = batchCalldata(registry, maxFee, chunk);
      steps.push([`register ${chunk.length} device(s)`, () => estimate(fee * BigInt(chunk.length), data)]);
    }
  }
  const preview = await costPreview(ctx.provider, fees, steps);
  const mode = options.merkle ? ("merkle" as const) : ("batch" as const);
  return { ...preview, mode, devices: devices.length, registering: pending.length };
}
export type { CostPreview } from "../cli/preview";
