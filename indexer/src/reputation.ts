import { ponder } from "ponder:registry";
import type { Context, Event } from "ponder:registry";
import { and, eq } from "ponder";
import { device, reputationScore, scoreSubmission } from "ponder:schema";
import { decodeFunctionData } from "viem";

import { DeviceRegistry__factory } from "../../src/chain/factories";
import { PACKED_ENTRY_BYTES } from "../../src/reputation/packed";
import { recordEpochReward } from "./rewards";

const abi = DeviceRegistry__factory.abi;
type Hex = `0x${string}`;
type Submission = Event<"DeviceRegistry:ScoresUpdated">;

/** The devices a submission's calldata names: `updateScores`' ids, or `updateScoresPacked`' references, resolved. */
async function candidates(event: Submission, context: Context): Promise<Hex[]> {
  const registry = context.contracts.DeviceRegistry.address as Hex;
  if (event.transaction.to?.toLowerCase() !== registry.toLowerCase()) return [];
  let call;
  try {
    call = decodeFunctionData({ abi, data: event.transaction.input });
  } catch {
    return [];
  }
  if (call.functionName === "updateScore") return [call.args[0]];
  if (call.functionName === "updateScores") return call.args[0].map((u) => u.deviceId);
  if (call.functionName !== "updateScoresPacked") return [];
  const entries = call.args[0].slice(2);
  const ids: Hex[] = [];
  for (let at = 0; at + PACKED_ENTRY_BYTES * 2 <= entries.length; at += PACKED_ENTRY_BYTES * 2) {
    const ref = BigInt(`0x${entries.slice(at, at + 24)}`);
    // Only an active (or once active) device owns its reference's reputation word.
    const rows = await context.db.sql
      .select({ id: device.id })
      .from(device)
      .where(and(eq(device.ref, ref), eq(device.status, "Active")));
    ids.push(...rows.map((r) => r.id));
  }
  return ids;
}

/**
 * One auditor submission. The event says how many scores changed, not which: the devices its calldata names
 * are read back (`reputationOf` at the event's block), and a score that differs from the last one indexed
 * is a change. A submission through a forwarder is recorded without its per-device scores.
 */
ponder.on("DeviceRegistry:ScoresUpdated", async ({ event, context }) => {
  const { auditor, epoch, reportsRoot, reportCount, changed, rewarded } = event.args;
  const at = { block: event.block.number, timestamp: event.block.timestamp };
  await context.db
    .insert(scoreSubmission)
    .values({ id: event.id, auditor, epoch, reportsRoot, reportCount, changed, rewarded, ...at });
  await recordEpochReward(event, context);
  if (changed === 0n) return;
  const registry = context.contracts.DeviceRegistry.address as Hex;
  for (const id of new Set(await candidates(event, context))) {
    const row = await context.db.find(device, { id });
    if (row === null) continue;
    const rep = await context.client.readContract({
      abi,
      address: registry,
      functionName: "reputationOf",
      args: [id],
    });
    if (!rep.audited || rep.epoch !== epoch || (row.score === rep.score && row.trend === rep.trend)) continue;
    await context.db.update(device, { id }).set({ score: rep.score, trend: rep.trend });
    await context.db
      .insert(reputationScore)
      .values({ id: `${event.id}-${id}`, deviceId: id, epoch, score: rep.score, trend: rep.trend, auditor, ...at });
  }
});
