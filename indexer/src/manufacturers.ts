import { ponder } from "ponder:registry";
import { auditor, manufacturer } from "ponder:schema";
import { recordWithdrawal } from "./rewards";

ponder.on("DeviceRegistry:ManufacturerAdded", async ({ event, context }) => {
  const { id, account, payout, defaultScore } = event.args;
  await context.db
    .insert(manufacturer)
    .values({ id, account, payout, defaultScore, active: true, addedBlock: event.block.number })
    .onConflictDoUpdate({ account, payout, defaultScore, active: true });
});

ponder.on("DeviceRegistry:ManufacturerRemoved", async ({ event, context }) => {
  await context.db.update(manufacturer, { id: event.args.id }).set({ active: false });
});

ponder.on("DeviceRegistry:ManufacturerPayoutChanged", async ({ event, context }) => {
  await context.db.update(manufacturer, { id: event.args.id }).set({ payout: event.args.payout });
});

ponder.on("DeviceRegistry:ManufacturerAccountChanged", async ({ event, context }) => {
  await context.db.update(manufacturer, { id: event.args.id }).set({ account: event.args.newAccount });
});

ponder.on("DeviceRegistry:AuditorAdded", async ({ event, context }) => {
  await context.db
    .insert(auditor)
    .values({ address: event.args.auditor, active: true, maxRewardsPerEpoch: 0n, withdrawn: 0n })
    .onConflictDoUpdate({ active: true });
});

ponder.on("DeviceRegistry:AuditorRemoved", async ({ event, context }) => {
  await context.db.update(auditor, { address: event.args.auditor }).set({ active: false });
});

ponder.on("DeviceRegistry:AuditorRewardCapSet", async ({ event, context }) => {
  await context.db
    .update(auditor, { address: event.args.auditor })
    .set({ maxRewardsPerEpoch: event.args.maxRewardsPerEpoch });
});

ponder.on("DeviceRegistry:AuditorRewardWithdrawn", async ({ event, context }) => {
  await context.db
    .update(auditor, { address: event.args.auditor })
    .set((row) => ({ withdrawn: row.withdrawn + event.args.amount }));
  await recordWithdrawal(event, context);
});
