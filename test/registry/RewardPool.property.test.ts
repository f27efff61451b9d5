import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import fc from "fast-check";
import { ethers } from "hardhat";

import { compact, signActivation } from "../../src/eip712/device";
import { ACTIVATION_FEE, ONE, REGISTRATION_FEE, registryFixture, testDevice } from "../shared/fixtures";

const DEADLINE = 4_102_444_800n;

type Op =
  | { kind: "deposit"; amount: number }
  | { kind: "register"; count: number }
  | { kind: "activate" }
  | { kind: "withdraw" }
  | { kind: "collect" }
  | { kind: "donate"; amount: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("deposit" as const), amount: fc.integer({ min: 1, max: 50 }) }),
  fc.record({ kind: fc.constant("register" as const), count: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ kind: fc.constant("activate" as const) }),
  fc.record({ kind: fc.constant("withdraw" as const) }),
  fc.record({ kind: fc.constant("collect" as const) }),
  fc.record({ kind: fc.constant("donate" as const), amount: fc.integer({ min: 1, max: 5 }) }),
);

/**
 * Money is conserved: whatever manufacturers and owners do, the registry's token balance always equals the
 * manufacturers' credit plus the fees paid from credit not yet collected plus the reward pool, every fee charged lands in the pool
 * exactly once (when collected, or counted by a deposit or withdrawal), credit never does, and nothing is charged for a device twice.
 */
describe("DeviceRegistry money conservation (property)", function () {
  it("balance = credit + pool, and the pool grows by exactly the fees charged", async function () {
    this.timeout(300_000);
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 8 }), async (ops) => {
        const f = await loadFixture(registryFixture);
        const registry = await f.registry.getAddress();
        const regFee = await f.registry.registrationFee();
        const actFee = await f.registry.activationFee();
        let next = 1;
        const registered: number[] = [];
        let expectedPool = await f.registry.rewardPool();
        let donated = 0n;
        for (const o of ops) {
          if (o.kind === "deposit") {
            await f.registry.connect(f.maker).depositFeeCredit(f.maker.address, BigInt(o.amount) * ONE);
          } else if (o.kind === "register") {
            const devices = Array.from({ length: o.count }, () => testDevice(next++));
            await f.registry.connect(f.maker).registerDevices(
              REGISTRATION_FEE,
              devices.map((d) => d.deviceId),
              devices.map((d) => d.wallet.address),
              devices.map((d) => d.deviceType),
            );
            registered.push(...devices.map((_, i) => next - o.count + i));
            expectedPool += regFee * BigInt(o.count);
            // Registering the same devices again charges nothing and changes nothing.
            await expect(
              f.registry
                .connect(f.maker)
                .registerDevices(REGISTRATION_FEE, [devices[0].deviceId], [devices[0].wallet.address], [1]),
            ).to.be.revertedWithCustomError(f.registry, "DeviceAlreadyRegistered");
          } else if (o.kind === "activate") {
            const index = registered.shift();
            if (index === undefined) continue;
            const d = testDevice(index);
            const sig = await signActivation(d.wallet, f.domain, {
              deviceId: d.deviceId,
              owner: f.alice.address,
              deadline: DEADLINE,
            });
            await f.registry
              .connect(f.alice)
              .activateDevice(ACTIVATION_FEE, d.deviceId, f.alice.address, DEADLINE, ...compact(sig));
            expectedPool += actFee;
          } else if (o.kind === "withdraw") {
            const { credit } = await f.registry.getManufacturer(f.maker.address);
            if (credit === 0n) continue;
            await f.registry.connect(f.maker).withdrawFeeCredit();
          } else if (o.kind === "collect") {
            // Anyone may collect: it moves only fees already paid, never credit.
            await f.registry.connect(f.mallory).collectFeesPaidFromCredit([f.maker.address, f.mallory.address]);
          } else {
            await f.token.connect(f.mallory).transfer(registry, BigInt(o.amount) * ONE);
            donated += BigInt(o.amount) * ONE;
          }
          const balance = await f.token.balanceOf(registry);
          const { credit } = await f.registry.getManufacturer(f.maker.address);
          const uncollected = await f.registry.uncollectedPaidFees(f.maker.address);
          const pool = await f.registry.rewardPool();
          // The pool lacks exactly the fees paid from credit since the last collect, deposit or withdrawal
          // (which count them), and never includes any credit.
          if (o.kind === "deposit" || o.kind === "withdraw" || o.kind === "collect") expect(uncollected).to.equal(0n);
          expect(balance).to.equal(credit + uncollected + pool);
          expect(pool + uncollected).to.equal(expectedPool + donated);
        }
      }),
      { numRuns: 25 },
    );
  });

  it("the constructor refuses fees above their caps", async function () {
    const [admin] = await ethers.getSigners();
    const factory = await ethers.getContractFactory("DeviceRegistry");
    await expect(factory.deploy(admin.address, admin.address, 101n * ONE, 0, 86_400, 0))
      .to.be.revertedWithCustomError(factory, "FeeAboveCap")
      .withArgs(101n * ONE, 100n * ONE);
    await expect(factory.deploy(admin.address, admin.address, 0, 0, 86_400, 101n * ONE))
      .to.be.revertedWithCustomError(factory, "FeeAboveCap")
      .withArgs(101n * ONE, 100n * ONE);
    await expect(factory.deploy(admin.address, admin.address, 0, 0, 0, 0)).to.be.revertedWithCustomError(
      factory,
      "ZeroEpochLength",
    );
  });
});

describe("DeviceRegistry edge cases", function () {
  it("credit beyond 96 bits is refused, and a zero payout address too", async function () {
    const [admin, maker] = await ethers.getSigners();
    const huge = 1n << 100n;
    const token = await ethers.deployContract("ThingToken", [maker.address, huge]);
    const registry = await ethers.deployContract("DeviceRegistry", [
      admin.address,
      await token.getAddress(),
      0,
      0,
      86_400,
      0,
    ]);
    await registry.connect(admin).addManufacturer(maker.address, maker.address, 1);
    await token.connect(maker).approve(await registry.getAddress(), huge);
    await expect(
      registry.connect(maker).depositFeeCredit(maker.address, (1n << 96n) + 1n),
    ).to.be.revertedWithCustomError(registry, "CreditOverflow");
    await expect(
      registry.connect(admin).addManufacturer(admin.address, "0x0000000000000000000000000000000000000000", 1),
    ).to.be.revertedWithCustomError(registry, "ZeroAddress");
  });
});
