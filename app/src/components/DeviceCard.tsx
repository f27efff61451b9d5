import { manufacturerIdOf } from "../../../src/devices/id";
import type { DeviceInfo } from "../../../src/registry/device-info";
import { formatThing } from "../../../src/units";

const TREND = ["falling", "steady", "rising"];

/** A device's record as the chain states it. */
export function DeviceCard({ info, fee }: { info: DeviceInfo; fee?: bigint }) {
  const known = info.status !== "unknown";
  return (
    <dl className="card" aria-label="Device">
      <dt>Device</dt>
      <dd className="mono">{info.deviceId}</dd>
      <dt>Status</dt>
      <dd data-testid="status" className={`status status-${info.status}`}>
        {info.status}
      </dd>
      <dt>Manufacturer</dt>
      <dd>
        {known ? (
          <>
            #{info.manufacturerId} <span className="mono">{info.manufacturer}</span>
          </>
        ) : (
          `#${manufacturerIdOf(info.deviceId)} (by the id; not registered yet)`
        )}
      </dd>
      {known && (
        <>
          <dt>Type</dt>
          <dd>{info.deviceTypeName}</dd>
          <dt>Owner</dt>
          <dd className="mono">{info.status === "active" ? info.owner : "none yet"}</dd>
          <dt>Reputation</dt>
          <dd>
            {info.score} / 1000 ({TREND[info.trend + 1] ?? "steady"})
          </dd>
        </>
      )}
      {fee !== undefined && (
        <>
          <dt>Activation fee</dt>
          <dd>{formatThing(fee)}</dd>
        </>
      )}
    </dl>
  );
}
