import type { Context, Event } from "ponder:registry";
import { auditorEpoch, auditorWithdrawal } from "ponder:schema";

import { DeviceRegistry__factory } from "../../src/chain/factories";

type Hex = `0x${string}`;

/** The registry's reward per changed score: immutable, so read once per registry. */
const rewards = new Map<string, Promise<bigint>>();
function auditReward(context: Context): Promise<bigint> {
  const address = context.contracts.DeviceRegistry.address as Hex;
  let reward = rewards.get(address);
  if (reward === undefined) {
    reward = context.client.readContract({ abi: DeviceRegistry__factory.abi, address, functionName: "auditReward" });
    reward.catch(() => rewards.delete(address));
    rewards.set(address, reward);
  }
  return reward;
}

/**
 * Adds a submission to its auditor's epoch: reports, changed and rewarded scores, and the reward earned
 * (`rewarded` times the registry's audit reward, which is immutable). Called by the `ScoresUpdated` handler.
 */
export async function recordEpochReward(event: Event<"DeviceRegistry:ScoresUpdated">, context: Context): Promise<void> {
  const { auditor, epoch, reportCount, changed, rewarded } = event.args;
  const reward = rewarded === 0n ? 0n : rewarded * (await auditReward(context));
  await context.db
    .insert(auditorEpoch)
    .values({ auditor, epoch, submissions: 1, reportCount, changed, rewarded, reward, lastBlock: event.block.number })
    .onConflictDoUpdate((row) => ({
      submissions: row.submissions + 1,
      reportCount: row.reportCount + reportCount,
      changed: row.changed + changed,
      rewarded: row.rewarded + rewarded,
      reward: row.reward + reward,
      lastBlock: event.block.number,
    }));
}

/** Records an auditor's withdrawal. Called by the `AuditorRewardWithdrawn` handler. */
export async function recordWithdrawal(
  event: Event<"DeviceRegistry:AuditorRewardWithdrawn">,
  context: Context,
): Promise<void> {
  await context.db.insert(auditorWithdrawal).values({
    id: event.id,
    auditor: event.args.auditor,
    amount: event.args.amount,
    block: event.block.number,
    timestamp: event.block.timestamp,
    txHash: event.transaction.hash,
  });
}
