import { registryAt } from "../chain/context";
import type { SystemContext } from "../chain/context";
import { ensure } from "../errors";
import { STATUS_NAMES } from "../registry";

export interface ReputationView {
  deviceId: string;
  status: string;
  score: number;
  trend: number;
  audited: boolean;
  /** The epoch of the last audit (when audited). */
  auditedEpoch?: number;
  currentEpoch: number;
}

/** A device's reputation as validation shows it: the audited score and trend, else its manufacturer's default. */
export async function showReputation(ctx: SystemContext, deviceId: string): Promise<ReputationView> {
  const registry = registryAt(ctx);
  const [device, rep, epoch] = await Promise.all([
    registry.getDevice(deviceId),
    registry.reputationOf(deviceId),
    registry.currentEpoch(),
  ]);
  const status = STATUS_NAMES[Number(device.status)];
  ensure(status !== "unknown", `device ${deviceId} is not registered on this network`);
  return {
    deviceId,
    status,
    score: Number(device.score),
    trend: Number(device.trend),
    audited: rep.audited,
    auditedEpoch: rep.audited ? Number(rep.epoch) : undefined,
    currentEpoch: Number(epoch),
  };
}
