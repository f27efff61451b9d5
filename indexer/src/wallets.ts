import { ponder } from "ponder:registry";
import type { Context, Event } from "ponder:registry";
import { replaceBigInts } from "ponder";
import {
  deviceWallet,
  walletAllowance,
  walletChange,
  walletExecution,
  walletPeriodUse,
  walletSpend,
} from "ponder:schema";
import { decodeFunctionData, zeroAddress } from "viem";

import { DeviceWalletFactory__factory, DeviceWallet__factory } from "../../src/chain/factories";
import { afterSpend, periodIndex } from "./window";

type Hex = `0x${string}`;
type Created = Event<"DeviceWalletFactory:WalletCreated">;
/** Any wallet event: each carries its log's address (the wallet), block and transaction. */
type WalletEvent = Event<"DeviceWallet:DeviceFrozen">;

/**
 * The period and per-asset limits a wallet was created with. `WalletCreated` does not carry them: they are
 * decoded from the `createWallet` call, or, for a creation through another contract, read from the new wallet
 * (its period, and its ETH and ThingToken limits).
 */
async function creationLimits(
  event: Created,
  context: Context,
): Promise<{ period: number; limits: { asset: Hex; limit: bigint }[] }> {
  const factory = context.contracts.DeviceWalletFactory.address.toLowerCase();
  if (event.transaction.to?.toLowerCase() === factory) {
    try {
      const call = decodeFunctionData({ abi: DeviceWalletFactory__factory.abi, data: event.transaction.input });
      const config = call.functionName === "createWallet" ? call.args[0] : undefined;
      if (config !== undefined && config.deviceId.toLowerCase() === event.args.deviceId.toLowerCase())
        return {
          period: config.period,
          limits: config.assets.map((asset, i) => ({ asset, limit: config.limits[i]! })),
        };
    } catch {
      // Not the factory's own call (it cannot be: the event is the factory's); read the wallet instead.
    }
  }
  const wallet = { abi: DeviceWallet__factory.abi, address: event.args.wallet } as const;
  const config = await context.client.readContract({ ...wallet, functionName: "deviceConfig" });
  const limits = [];
  for (const asset of [zeroAddress, context.contracts.ThingToken.address as Hex]) {
    const view = await context.client.readContract({ ...wallet, functionName: "allowance", args: [asset] });
    if (view.limit !== 0n) limits.push({ asset, limit: view.limit });
  }
  return { period: config.period, limits };
}

/** Records one change of a wallet in its history; bigints in `detail` as decimal strings. */
async function change(event: WalletEvent, context: Context, kind: string, detail: object): Promise<void> {
  await context.db.insert(walletChange).values({
    id: event.id,
    wallet: event.log.address,
    kind,
    detail: replaceBigInts(detail, (v) => v.toString()),
    block: event.block.number,
    timestamp: event.block.timestamp,
    txHash: event.transaction.hash,
  });
}

/** The allowance row of `asset`, created empty (no limit) when the wallet never had one. */
async function allowanceRow(context: Context, wallet: Hex, asset: Hex) {
  return context.db
    .insert(walletAllowance)
    .values({
      wallet,
      asset,
      limit: 0n,
      transferCap: 0n,
      windowIndex: 0n,
      windowCurrent: 0n,
      windowPrevious: 0n,
      totalSpent: 0n,
    })
    .onConflictDoNothing();
}

ponder.on("DeviceWalletFactory:WalletCreated", async ({ event, context }) => {
  const { wallet, deviceId, deviceKey, owners, threshold } = event.args;
  const { period, limits } = await creationLimits(event, context);
  await context.db.insert(deviceWallet).values({
    address: wallet,
    deviceId,
    deviceKey,
    owners: [...owners],
    threshold,
    period,
    frozen: false,
    linked: false,
    allowlistEnabled: false,
    executions: 0,
    createdBlock: event.block.number,
    createdAt: event.block.timestamp,
    txHash: event.transaction.hash,
  });
  for (const { asset, limit } of limits) {
    await allowanceRow(context, wallet, asset);
    await context.db.update(walletAllowance, { wallet, asset }).set({ limit });
  }
  await context.db.insert(walletChange).values({
    id: event.id,
    wallet,
    kind: "Created",
    detail: replaceBigInts({ deviceId, deviceKey, owners, threshold, period, limits }, (v) => v.toString()),
    block: event.block.number,
    timestamp: event.block.timestamp,
    txHash: event.transaction.hash,
  });
});

ponder.on("DeviceWallet:Executed", async ({ event, context }) => {
  const wallet = event.log.address;
  const { nonce, to, value, success } = event.args;
  await context.db.insert(walletExecution).values({
    id: event.id,
    wallet,
    nonce,
    to,
    value,
    success,
    block: event.block.number,
    timestamp: event.block.timestamp,
    txHash: event.transaction.hash,
  });
  await context.db.update(deviceWallet, { address: wallet }).set({ executions: Number(nonce) + 1 });
});

ponder.on("DeviceWallet:DeviceSpent", async ({ event, context }) => {
  const wallet = event.log.address;
  const { asset, to, amount } = event.args;
  const row = await context.db.find(deviceWallet, { address: wallet });
  if (row === null) return; // Only the factory's clones are followed, each from its creation on.
  const index = periodIndex(event.block.timestamp, row.period);
  await allowanceRow(context, wallet, asset);
  await context.db
    .update(walletAllowance, { wallet, asset })
    .set((w) => ({ ...afterSpend(w, amount, index), totalSpent: w.totalSpent + amount }));
  const allowance = await context.db.find(walletAllowance, { wallet, asset });
  await context.db
    .insert(walletPeriodUse)
    .values({
      wallet,
      asset,
      period: row.period,
      periodIndex: index,
      periodStart: index * BigInt(row.period),
      spent: amount,
      spends: 1,
      limit: allowance!.limit,
      lastSpend: event.id,
    })
    .onConflictDoUpdate((u) => ({
      spent: u.spent + amount,
      spends: u.spends + 1,
      limit: allowance!.limit,
      lastSpend: event.id,
    }));
  await context.db.insert(walletSpend).values({
    id: event.id,
    wallet,
    asset,
    to,
    amount,
    periodIndex: index,
    relayed: event.transaction.from.toLowerCase() !== row.deviceKey.toLowerCase(),
    windowIndex: allowance!.windowIndex,
    windowCurrent: allowance!.windowCurrent,
    windowPrevious: allowance!.windowPrevious,
    block: event.block.number,
    timestamp: event.block.timestamp,
    txHash: event.transaction.hash,
  });
});

ponder.on("DeviceWallet:OwnersChanged", async ({ event, context }) => {
  const { owners, threshold } = event.args;
  await context.db.update(deviceWallet, { address: event.log.address }).set({ owners: [...owners], threshold });
  await change(event as unknown as WalletEvent, context, "OwnersChanged", { owners, threshold });
});

ponder.on("DeviceWallet:DeviceKeyChanged", async ({ event, context }) => {
  const { deviceKey } = event.args;
  await context.db.update(deviceWallet, { address: event.log.address }).set({ deviceKey, linked: false });
  await change(event as unknown as WalletEvent, context, "DeviceKeyChanged", { deviceKey });
});

ponder.on("DeviceWallet:DeviceFrozen", async ({ event, context }) => {
  await context.db.update(deviceWallet, { address: event.log.address }).set({ frozen: event.args.frozen });
  await change(event, context, "DeviceFrozen", { frozen: event.args.frozen });
});

ponder.on("DeviceWallet:PeriodChanged", async ({ event, context }) => {
  // The windows keep their words: the contract reads them against the new period's index from now on.
  await context.db.update(deviceWallet, { address: event.log.address }).set({ period: event.args.period });
  await change(event as unknown as WalletEvent, context, "PeriodChanged", { period: event.args.period });
});

ponder.on("DeviceWallet:AllowanceChanged", async ({ event, context }) => {
  const wallet = event.log.address;
  const { asset, limit } = event.args;
  await allowanceRow(context, wallet, asset);
  await context.db.update(walletAllowance, { wallet, asset }).set({ limit });
  await change(event as unknown as WalletEvent, context, "AllowanceChanged", { asset, limit });
});

ponder.on("DeviceWallet:TransferCapChanged", async ({ event, context }) => {
  const wallet = event.log.address;
  const { asset, cap } = event.args;
  await allowanceRow(context, wallet, asset);
  await context.db.update(walletAllowance, { wallet, asset }).set({ transferCap: cap });
  await change(event as unknown as WalletEvent, context, "TransferCapChanged", { asset, cap });
});

ponder.on("DeviceWallet:RecipientAllowed", async ({ event, context }) => {
  const { recipient, allowed } = event.args;
  await change(event as unknown as WalletEvent, context, "RecipientAllowed", { recipient, allowed });
});

ponder.on("DeviceWallet:AllowlistEnabled", async ({ event, context }) => {
  const { enabled } = event.args;
  await context.db.update(deviceWallet, { address: event.log.address }).set({ allowlistEnabled: enabled });
  await change(event as unknown as WalletEvent, context, "AllowlistEnabled", { enabled });
});

ponder.on("DeviceWallet:DeviceLinked", async ({ event, context }) => {
  await context.db.update(deviceWallet, { address: event.log.address }).set({ linked: true });
  await change(event as unknown as WalletEvent, context, "DeviceLinked", {});
});

ponder.on("DeviceWallet:DeviceUnlinked", async ({ event, context }) => {
  await context.db.update(deviceWallet, { address: event.log.address }).set({ linked: false });
  await change(event as unknown as WalletEvent, context, "DeviceUnlinked", {});
});
