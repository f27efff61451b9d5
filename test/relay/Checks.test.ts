import { expect } from "chai";
import { parseEther } from "ethers";

import { DeviceRegistry__factory } from "../../src/chain/factories";
import { DEADLINE_MARGIN } from "../../src/chain/time";
import { Rejected } from "../../src/http/errors";
import { checkDeadlines, checkFee, simulationRefusal } from "../../src/relay/checks";

/** The relayer's pure checks: the reasons it answers with, and the refusals a simulation can end in. */
describe("relayer checks (src/relay/checks.ts)", function () {
  const registry = DeviceRegistry__factory.createInterface();
  const deviceId = `0x${"11".repeat(32)}`;
  const reverted = (name: string, args: unknown[]) => ({
    code: "CALL_EXCEPTION",
    data: registry.encodeErrorResult(name, args),
  });

  function refusal(thrower: () => unknown): Rejected {
    try {
      thrower();
    } catch (error) {
      expect(error).to.be.instanceOf(Rejected);
      return error as Rejected;
    }
    expect.fail("no refusal");
  }

  it("names a simulated revert in one line with its stable reason", function () {
    const active = simulationRefusal(reverted("UnexpectedDeviceStatus", [deviceId, 2]))!;
    expect(active).to.include({ status: 409, reason: "wrong_status" });
    expect(active.message).to.equal(
      `the registry would refuse it, so nothing was sent: UnexpectedDeviceStatus(deviceId: ${deviceId}, status: Active)`,
    );
    const fee = simulationRefusal(reverted("FeeAboveMax", [parseEther("2"), parseEther("1")]))!;
    expect(fee).to.include({ reason: "fee_above_max" });
    expect(fee.message).to.match(/FeeAboveMax\(fee: 2\.0 THING, maxFee: 1\.0 THING\)$/);
    expect(simulationRefusal(reverted("SignatureExpired", [1_800_000_000n]))!.reason).to.equal("expired");
    expect(simulationRefusal({ code: "CALL_EXCEPTION", data: "0x" })!.reason).to.equal("would_revert");
    // Not a refusal (the RPC failed): left to the service's 503.
    expect(simulationRefusal({ code: "NETWORK_ERROR", message: "connect ECONNREFUSED" })).to.equal(undefined);
  });

  it("wants both deadlines the margin after the next block, and the fee within the maximum and the balance", function () {
    const payload = { deviceId, owner: `0x${"22".repeat(20)}`, deadline: 1_000n + DEADLINE_MARGIN, signature: "0x" };
    expect(() => checkDeadlines(payload, 5_000n, 1_000n)).not.to.throw();
    const device = refusal(() =>
      checkDeadlines({ ...payload, deadline: 1_000n + DEADLINE_MARGIN - 1n }, 5_000n, 1_000n),
    );
    expect(device).to.include({ status: 400, reason: "expired" });
    expect(device.message).to.match(/^the device's activation expires at 1059, less than 60 s after the next block/);
    const owner = refusal(() => checkDeadlines(payload, 999n, 1_000n));
    expect(owner.message).to.match(/^the owner's permit and consent expire at 999.*the owner signs again$/);

    expect(() => checkFee(5n, 5n, 5n, payload.owner)).not.to.throw();
    expect(refusal(() => checkFee(6n, 5n, 10n, payload.owner))).to.include({ status: 409, reason: "fee_above_max" });
    expect(refusal(() => checkFee(5n, 5n, 4n, payload.owner))).to.include({
      status: 409,
      reason: "insufficient_balance",
    });
  });
});
