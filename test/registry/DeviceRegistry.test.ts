import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { Signature, ZeroAddress, ZeroHash, concat, hexlify, keccak256, randomBytes, toUtf8Bytes } from "ethers";
import { ethers } from "hardhat";

import {
  compact,
  identityClaimDigest,
  signActivation,
  signActivationPayment,
  signIdentityClaim,
  signKeyRotation,
} from "../../src/eip712/device";
import { readDomain } from "../../src/eip712/domain";
import { signPermit } from "../../src/eip712/permit";
import { manufacturerIdOf } from "../../src/devices/fleet";
import { buildWhitelist } from "../../src/merkle/whitelist";
import { ACTIVATION_FEE, DEFAULT_SCORE, ONE, REGISTRATION_FEE, registryFixture, testDevice } from "../shared/fixtures";
import type { RegistryFixture, TestDevice } from "../shared/fixtures";

const DEADLINE = 4_102_444_800n; // 2100-01-01: fixed, so signatures and gas are deterministic
const Status = { Unknown: 0n, Registered: 1n, Active: 2n, Revoked: 3n };

async function activation(
  f: RegistryFixture,
  device: TestDevice,
  owner: string,
  domain = f.domain,
  deadline = DEADLINE,
) {
  return signActivation(device.wallet, domain, { deviceId: device.deviceId, owner, deadline });
}

/** The reward pool once the fees the manufacturer paid from its credit are collected into it (by anyone). */
async function collectedPool(f: RegistryFixture): Promise<bigint> {
  await f.registry.connect(f.mallory).collectFeesPaidFromCredit([f.maker.address]);
  return f.registry.rewardPool();
}

async function registered(f: RegistryFixture, device: TestDevice): Promise<void> {
  await f.registry
    .connect(f.maker)
    .registerDevice(REGISTRATION_FEE, device.deviceId, device.wallet.address, device.deviceType, ZeroHash);
}

async function activated(f: RegistryFixture, device: TestDevice): Promise<void> {
  await registered(f, device);
  await f.registry
    .connect(f.alice)
    .activateDevice(
      ACTIVATION_FEE,
      device.deviceId,
      f.alice.address,
      DEADLINE,
      ...compact(await activation(f, device, f.alice.address)),
    );
}

describe("DeviceRegistry", function () {
  describe("network roles", function () {
    it("the admin admits a manufacturer with an id, payout, default score and active flag", async function () {
      const f = await loadFixture(registryFixture);
      const [, , , , , , , , newcomer] = await ethers.getSigners();
      await expect(f.registry.connect(f.admin).addManufacturer(newcomer.address, f.bob.address, 700))
        .to.emit(f.registry, "ManufacturerAdded")
        .withArgs(2, newcomer.address, f.bob.address, 700);
      const m = await f.registry.getManufacturer(newcomer.address);
      expect([m.id, m.account, m.payout, m.defaultScore, m.active, m.credit]).to.deep.equal([
        2n,
        newcomer.address,
        f.bob.address,
        700n,
        true,
        0n,
      ]);
      expect(await f.registry.manufacturerAccount(2)).to.equal(newcomer.address);
      expect(await f.registry.manufacturerCount()).to.equal(2n);
    });

    it("only the admin admits or removes manufacturers, and bad parameters are refused", async function () {
      const f = await loadFixture(registryFixture);
      await expect(f.registry.connect(f.mallory).addManufacturer(f.mallory.address, f.mallory.address, 1))
        .to.be.revertedWithCustomError(f.registry, "OwnableUnauthorizedAccount")
        .withArgs(f.mallory.address);
      await expect(f.registry.connect(f.mallory).removeManufacturer(f.maker.address))
        .to.be.revertedWithCustomError(f.registry, "OwnableUnauthorizedAccount")
        .withArgs(f.mallory.address);
      await expect(
        f.registry.connect(f.admin).addManufacturer(ZeroAddress, f.bob.address, 1),
      ).to.be.revertedWithCustomError(f.registry, "ZeroAddress");
      await expect(f.registry.connect(f.admin).addManufacturer(f.bob.address, f.bob.address, 1001))
        .to.be.revertedWithCustomError(f.registry, "ScoreOutOfRange")
        .withArgs(1001);
      await expect(f.registry.connect(f.admin).addManufacturer(f.maker.address, f.bob.address, 1))
        .to.be.revertedWithCustomError(f.registry, "ManufacturerAlreadyActive")
        .withArgs(f.maker.address);
    });

    it("admin rights move in two steps", async function () {
      const f = await loadFixture(registryFixture);
      await f.registry.connect(f.admin).transferOwnership(f.bob.address);
      expect(await f.registry.owner()).to.equal(f.admin.address);
      expect(await f.registry.pendingOwner()).to.equal(f.bob.address);
      await f.registry.connect(f.bob).acceptOwnership();
      expect(await f.registry.owner()).to.equal(f.bob.address);
    });

    it("removal stops registration but orphans nothing: devices stay readable, credit stays withdrawable", async function () {
      const f = await loadFixture(registryFixture);
      const device = testDevice(1);
      await registered(f, device);
      await expect(f.registry.connect(f.admin).removeManufacturer(f.maker.address))
        .to.emit(f.registry, "ManufacturerRemoved")
        .withArgs(1, f.maker.address);
      // attack: registration by a removed manufacturer
      const other = testDevice(2);
      await expect(
        f.registry.connect(f.maker).registerDevice(REGISTRATION_FEE, other.deviceId, other.wallet.address, 1, ZeroHash),
      )
        .to.be.revertedWithCustomError(f.registry, "NotActiveManufacturer")
        .withArgs(f.maker.address);
      await expect(
        f.registry.connect(f.maker).registerDevices(REGISTRATION_FEE, [other.deviceId], [other.wallet.address], [1]),
      )
        .to.be.revertedWithCustomError(f.registry, "NotActiveManufacturer")
        .withArgs(f.maker.address);
      const view = await f.registry.getDevice(device.deviceId);
      expect(view.status).to.equal(Status.Registered);
      expect(view.manufacturer).to.equal(f.maker.address);
      expect(view.score).to.equal(BigInt(DEFAULT_SCORE));
      // The unused credit (100 − 1 fee) goes to the payout address.
      await expect(f.registry.connect(f.maker).withdrawFeeCredit())
        .to.emit(f.registry, "FeeCreditWithdrawn")
        .withArgs(1, f.makerPayout.address, 99n * ONE);
      expect(await f.token.balanceOf(f.makerPayout.address)).to.equal(99n * ONE);
      await expect(f.registry.connect(f.maker).withdrawFeeCredit())
        .to.be.revertedWithCustomError(f.registry, "NothingToWithdraw")
        .withArgs(f.maker.address);
      // Re-admission keeps the id.
      await f.registry.connect(f.admin).addManufacturer(f.maker.address, f.bob.address, 600);
      expect((await f.registry.getManufacturer(f.maker.address)).id).to.equal(1n);
      await expect(f.registry.connect(f.admin).removeManufacturer(f.bob.address))
        .to.be.revertedWithCustomError(f.registry, "NotActiveManufacturer")
        .withArgs(f.bob.address);
    });

    it("a manufacturer changes its payout address; strangers cannot", async function () {
      const f = await loadFixture(registryFixture);
      await expect(f.registry.connect(f.maker).setPayout(f.bob.address))
        .to.emit(f.registry, "ManufacturerPayoutChanged")
        .withArgs(1, f.bob.address);
      expect((await f.registry.getManufacturer(f.maker.address)).payout).to.equal(f.bob.address);
      await expect(f.registry.connect(f.mallory).setPayout(f.mallory.address))
        .to.be.revertedWithCustomError(f.registry, "UnknownManufacturer")
        .withArgs(f.mallory.address);
      await expect(f.registry.connect(f.maker).setPayout(ZeroAddress)).to.be.revertedWithCustomError(
        f.registry,
        "ZeroAddress",
      );
    });
  });

  describe("fees", function () {
    it("the admin sets fees within hard caps", async function () {
      const f = await loadFixture(registryFixture);
      const cap = await f.registry.MAX_REGISTRATION_FEE();
      await expect(f.registry.connect(f.admin).setFees(3n * ONE, 4n * ONE))
        .to.emit(f.registry, "FeesChanged")
        .withArgs(3n * ONE, 4n * ONE);
      expect(await f.registry.registrationFee()).to.equal(3n * ONE);
      expect(await f.registry.activationFee()).to.equal(4n * ONE);
      await expect(f.registry.connect(f.admin).setFees(cap + 1n, 0))
        .to.be.revertedWithCustomError(f.registry, "FeeAboveCap")
        .withArgs(cap + 1n, cap);
      await expect(
        f.registry.connect(f.admin).setFees(0, (await f.registry.MAX_ACTIVATION_FEE()) + 1n),
      ).to.be.revertedWithCustomError(f.registry, "FeeAboveCap");
      await expect(f.registry.connect(f.mallory).setFees(0, 0)).to.be.revertedWithCustomError(
        f.registry,
        "OwnableUnauthorizedAccount",
      );
    });

    it("fee credit is deposited in one transaction through approveAndCall, naming the real payer", async function () {
      const f = await loadFixture(registryFixture);
      const registry = await f.registry.getAddress();
      const data = f.registry.interface.encodeFunctionData("depositFeeCredit", [f.maker.address, 30n * ONE]);
      await expect(f.token.connect(f.alice).approveAndCall(registry, 30n * ONE, data))
        .to.emit(f.registry, "FeeCreditDeposited")
        .withArgs(1, f.alice.address, 30n * ONE);
      expect((await f.registry.getManufacturer(f.maker.address)).credit).to.equal(130n * ONE);
    });

    it("fee credit is deposited with a permit", async function () {
      const f = await loadFixture(registryFixture);
      const registry = await f.registry.getAddress();
      const message = { owner: f.mallory.address, spender: registry, value: 5n * ONE, nonce: 0n, deadline: DEADLINE };
      const { v, r, s } = Signature.from(await signPermit(f.mallory, await readDomain(f.token), message));
      await f.registry.connect(f.mallory).depositFeeCreditWithPermit(f.maker.address, 5n * ONE, DEADLINE, v, r, s);
      expect((await f.registry.getManufacturer(f.maker.address)).credit).to.equal(105n * ONE);
      expect(await f.token.balanceOf(f.mallory.address)).to.equal(995n * ONE);
      await expect(f.registry.depositFeeCredit(f.bob.address, 1n))
        .to.be.revertedWithCustomError(f.registry, "UnknownManufacturer")
        .withArgs(f.bob.address);
    });

    it("attack: paying a fee through approveAndCall with forged payer data charges only the real caller", async function () {
      const f = await loadFixture(registryFixture);
      const registry = await f.registry.getAddress();
      // alice approved the registry (fixture). mallory appends alice's address to her own call data.
      const forged = concat([
        f.registry.interface.encodeFunctionData("depositFeeCredit", [f.maker.address, 50n * ONE]),
        f.alice.address,
      ]);
      await expect(f.token.connect(f.mallory).approveAndCall(registry, 0n, forged))
        .to.be.revertedWithCustomError(f.token, "ERC20InsufficientAllowance")
        .withArgs(registry, 0n, 50n * ONE);
      await expect(f.mallory.sendTransaction({ to: registry, data: forged })).to.be.revertedWithCustomError(
        f.token,
        "ERC20InsufficientAllowance",
      );
      expect(await f.token.balanceOf(f.alice.address)).to.equal(1_000n * ONE);
      expect((await f.registry.getManufacturer(f.maker.address)).credit).to.equal(100n * ONE);
    });

    it("registration takes the fee from credit, and any shortfall from the payer, into the reward pool", async function () {
      const f = await loadFixture(registryFixture);
      const d1 = testDevice(1);
      await registered(f, d1);
      expect((await f.registry.getManufacturer(f.maker.address)).credit).to.equal(99n * ONE);
      // A fee paid from credit writes only the manufacturer's record: the pool counts it once collected.
      expect(await f.registry.rewardPool()).to.equal(0n);
      expect(await f.registry.uncollectedPaidFees(f.maker.address)).to.equal(REGISTRATION_FEE);
      await expect(f.registry.connect(f.mallory).collectFeesPaidFromCredit([f.mallory.address, f.maker.address]))
        .to.emit(f.registry, "PaidFeesCollected")
        .withArgs(1, REGISTRATION_FEE);
      expect(await f.registry.rewardPool()).to.equal(REGISTRATION_FEE);
      expect(await f.registry.uncollectedPaidFees(f.maker.address)).to.equal(0n);
      expect((await f.registry.getManufacturer(f.maker.address)).credit).to.equal(99n * ONE);
      // A second collect finds nothing; the manufacturer's credit is untouched and still all withdrawable.
      await expect(f.registry.connect(f.mallory).collectFeesPaidFromCredit([f.maker.address])).not.to.emit(
        f.registry,
        "PaidFeesCollected",
      );
      expect(await f.registry.rewardPool()).to.equal(REGISTRATION_FEE);
      // Drain the credit, then register with a shortfall: it is pulled from the manufacturer's allowance.
      await f.registry.connect(f.maker).withdrawFeeCredit();
      const before = await f.token.balanceOf(f.maker.address);
      await registered(f, testDevice(2));
      expect(await f.token.balanceOf(f.maker.address)).to.equal(before - REGISTRATION_FEE);
      expect(await f.registry.rewardPool()).to.equal(2n * REGISTRATION_FEE);
    });

    it("a registration pays for itself in one transaction through approveAndCall", async function () {
      const f = await loadFixture(registryFixture);
      await f.registry.connect(f.maker).withdrawFeeCredit();
      await f.token.connect(f.maker).approve(await f.registry.getAddress(), 0);
      const d = testDevice(3);
      const data = f.registry.interface.encodeFunctionData("registerDevice", [
        REGISTRATION_FEE,
        d.deviceId,
        d.wallet.address,
        1,
        ZeroHash,
      ]);
      await expect(f.token.connect(f.maker).approveAndCall(await f.registry.getAddress(), REGISTRATION_FEE, data))
        .to.emit(f.registry, "DeviceRegistered")
        .withArgs(d.deviceId, 1, d.wallet.address, 1);
      expect(await f.registry.rewardPool()).to.equal(REGISTRATION_FEE);
    });

    it("with zero fees nothing is charged", async function () {
      const f = await loadFixture(registryFixture);
      await f.registry.connect(f.admin).setFees(0, 0);
      const d = testDevice(4);
      await registered(f, d);
      await f.registry
        .connect(f.bob)
        .activateDevice(
          ACTIVATION_FEE,
          d.deviceId,
          f.bob.address,
          DEADLINE,
          ...compact(await activation(f, d, f.bob.address)),
        );
      expect(await f.registry.rewardPool()).to.equal(0n);
      expect((await f.registry.getManufacturer(f.maker.address)).credit).to.equal(100n * ONE);
    });
  });

  describe("registration", function () {
    it("registers one device: id hash, key, type, metadata, manufacturer", async function () {
      const f = await loadFixture(registryFixture);
      const d = testDevice(1, 3);
      const metadata = keccak256(toUtf8Bytes("model X, fw 1.0"));
      await expect(
        f.registry.connect(f.maker).registerDevice(REGISTRATION_FEE, d.deviceId, d.wallet.address, 3, metadata),
      )
        .to.emit(f.registry, "DeviceRegistered")
        .withArgs(d.deviceId, 1, d.wallet.address, 3)
        .and.to.emit(f.registry, "DeviceMetadataSet")
        .withArgs(d.deviceId, metadata);
      const v = await f.registry.getDevice(d.deviceId);
      expect([
        v.status,
        v.manufacturerId,
        v.manufacturer,
        v.owner,
        v.deviceKey,
        v.deviceType,
        v.metadataHash,
      ]).to.deep.equal([Status.Registered, 1n, f.maker.address, ZeroAddress, d.wallet.address, 3n, metadata]);
    });

    it("refuses duplicates, zero ids (outside every namespace) and zero keys", async function () {
      const f = await loadFixture(registryFixture);
      const d = testDevice(1);
      await registered(f, d);
      await expect(
        f.registry.connect(f.maker).registerDevice(REGISTRATION_FEE, d.deviceId, d.wallet.address, 1, ZeroHash),
      )
        .to.be.revertedWithCustomError(f.registry, "DeviceAlreadyRegistered")
        .withArgs(d.deviceId);
      await expect(
        f.registry.connect(f.maker).registerDevice(REGISTRATION_FEE, ZeroHash, d.wallet.address, 1, ZeroHash),
      )
        .to.be.revertedWithCustomError(f.registry, "DeviceIdOutsideNamespace")
        .withArgs(ZeroHash, 1);
      await expect(
        f.registry.connect(f.maker).registerDevice(REGISTRATION_FEE, testDevice(2).deviceId, ZeroAddress, 1, ZeroHash),
      )
        .to.be.revertedWithCustomError(f.registry, "InvalidDeviceKey")
        .withArgs(ZeroAddress);
      await expect(
        f.registry
          .connect(f.mallory)
          .registerDevice(REGISTRATION_FEE, testDevice(2).deviceId, d.wallet.address, 1, ZeroHash),
      )
        .to.be.revertedWithCustomError(f.registry, "NotActiveManufacturer")
        .withArgs(f.mallory.address);
    });

    it("registers a batch, charging all fees at once; bad batches change nothing", async function () {
      const f = await loadFixture(registryFixture);
      const devices = [1, 2, 3].map((i) => testDevice(i));
      await expect(
        f.registry.connect(f.maker).registerDevices(
          REGISTRATION_FEE,
          devices.map((d) => d.deviceId),
          devices.map((d) => d.wallet.address),
          devices.map((d) => d.deviceType),
        ),
      )
        .to.emit(f.registry, "DevicesRegistered")
        .withArgs(
          1,
          devices.map((d) => d.deviceId),
        );
      expect((await f.registry.getDevice(devices[2].deviceId)).deviceKey).to.equal(devices[2].wallet.address);
      expect(await f.registry.getStatuses(devices.map((d) => d.deviceId))).to.deep.equal([1n, 1n, 1n]);
      expect(await collectedPool(f)).to.equal(3n * REGISTRATION_FEE);
      await expect(
        f.registry.connect(f.maker).registerDevices(REGISTRATION_FEE, [], [], []),
      ).to.be.revertedWithCustomError(f.registry, "EmptyBatch");
      await expect(
        f.registry.connect(f.maker).registerDevices(REGISTRATION_FEE, [testDevice(5).deviceId], [], [1]),
      ).to.be.revertedWithCustomError(f.registry, "LengthMismatch");
      await expect(
        f.registry
          .connect(f.maker)
          .registerDevices(REGISTRATION_FEE, [testDevice(5).deviceId], [testDevice(5).wallet.address], []),
      ).to.be.revertedWithCustomError(f.registry, "LengthMismatch");
      const fresh = testDevice(6);
      await expect(
        f.registry
          .connect(f.maker)
          .registerDevices(
            REGISTRATION_FEE,
            [fresh.deviceId, devices[0].deviceId],
            [fresh.wallet.address, devices[0].wallet.address],
            [1, 1],
          ),
      )
        .to.be.revertedWithCustomError(f.registry, "DeviceAlreadyRegistered")
        .withArgs(devices[0].deviceId);
      expect((await f.registry.getDevice(fresh.deviceId)).status).to.equal(Status.Unknown);
    });
  });

  describe("Merkle whitelist", function () {
    const fleet = [10, 11, 12, 13, 14].map((i) => testDevice(i, 2));

    async function whitelistFixture() {
      const f = await registryFixture();
      const whitelist = buildWhitelist(
        fleet.map((d) => ({ deviceId: d.deviceId, deviceKey: d.wallet.address, deviceType: d.deviceType })),
        1,
      );
      await f.registry.connect(f.maker).commitWhitelist(REGISTRATION_FEE, ACTIVATION_FEE, whitelist.root, 3); // pays for 3 of the 5
      return { ...f, whitelist };
    }

    it("commits a root with a paid capacity, whatever the fleet size", async function () {
      const f = await loadFixture(whitelistFixture);
      expect(await f.registry.getWhitelist(1, f.whitelist.root)).to.deep.equal([1n, 3n, 0n, ACTIVATION_FEE]);
      expect(await collectedPool(f)).to.equal(3n * REGISTRATION_FEE);
      await expect(f.registry.connect(f.maker).commitWhitelist(REGISTRATION_FEE, ACTIVATION_FEE, f.whitelist.root, 5))
        .to.be.revertedWithCustomError(f.registry, "WhitelistAlreadyCommitted")
        .withArgs(f.whitelist.root);
      await expect(
        f.registry.connect(f.maker).commitWhitelist(REGISTRATION_FEE, ACTIVATION_FEE, ZeroHash, 0),
      ).to.be.revertedWithCustomError(f.registry, "ZeroCapacity");
      await expect(
        f.registry.connect(f.mallory).commitWhitelist(REGISTRATION_FEE, ACTIVATION_FEE, ZeroHash, 1),
      ).to.be.revertedWithCustomError(f.registry, "NotActiveManufacturer");
    });

    it("a device registers lazily from its proof (anyone submits), and activates from it in one call", async function () {
      const f = await loadFixture(whitelistFixture);
      const e = f.whitelist.entries[0];
      await expect(
        f.registry
          .connect(f.bob)
          .registerFromWhitelist(f.whitelist.root, e.deviceId, e.deviceKey, e.deviceType, e.proof),
      )
        .to.emit(f.registry, "DeviceRegistered")
        .withArgs(e.deviceId, 1, e.deviceKey, e.deviceType);
      const e1 = f.whitelist.entries[1];
      const sig = await activation(f, fleet[1], f.alice.address);
      await expect(
        f.registry
          .connect(f.alice)
          .activateFromWhitelist(
            ACTIVATION_FEE,
            f.whitelist.root,
            e1.deviceId,
            e1.deviceType,
            e1.proof,
            f.alice.address,
            DEADLINE,
            ...compact(sig),
          ),
      )
        .to.emit(f.registry, "DeviceActivated")
        .withArgs(e1.deviceId, f.alice.address);
      expect((await f.registry.getDevice(e1.deviceId)).status).to.equal(Status.Active);
      expect(await f.registry.getWhitelist(1, f.whitelist.root)).to.deep.equal([1n, 3n, 2n, ACTIVATION_FEE]);
      await expect(f.registry.registerFromWhitelist(f.whitelist.root, e.deviceId, e.deviceKey, e.deviceType, e.proof))
        .to.be.revertedWithCustomError(f.registry, "DeviceAlreadyRegistered")
        .withArgs(e.deviceId);
    });

    it("attack: a whitelist activation with another device's signature, or a past deadline, fails", async function () {
      const f = await loadFixture(whitelistFixture);
      const e = f.whitelist.entries[2];
      const wrong = await signActivation(fleet[3].wallet, f.domain, {
        deviceId: e.deviceId,
        owner: f.alice.address,
        deadline: DEADLINE,
      });
      await expect(
        f.registry.activateFromWhitelist(
          ACTIVATION_FEE,
          f.whitelist.root,
          e.deviceId,
          e.deviceType,
          e.proof,
          f.alice.address,
          DEADLINE,
          ...compact(wrong),
        ),
      )
        .to.be.revertedWithCustomError(f.registry, "NotInWhitelist")
        .withArgs(f.whitelist.root, e.deviceId);
      await expect(
        f.registry.activateFromWhitelist(
          ACTIVATION_FEE,
          f.whitelist.root,
          e.deviceId,
          e.deviceType,
          e.proof,
          f.alice.address,
          1n,
          ...compact(wrong),
        ),
      )
        .to.be.revertedWithCustomError(f.registry, "SignatureExpired")
        .withArgs(1n);
      await expect(
        f.registry.activateFromWhitelist(
          ACTIVATION_FEE,
          f.whitelist.root,
          e.deviceId,
          e.deviceType,
          e.proof,
          ZeroAddress,
          DEADLINE,
          ...compact(wrong),
        ),
      ).to.be.revertedWithCustomError(f.registry, "ZeroAddress");
      expect(await f.registry.getWhitelist(1, f.whitelist.root)).to.deep.equal([1n, 3n, 0n, ACTIVATION_FEE]);
    });

    it("a signature that recovers no key (r = 0) is refused, from a whitelist or not", async function () {
      const f = await loadFixture(whitelistFixture);
      const e = f.whitelist.entries[0];
      const zero = `0x${"00".repeat(32)}`;
      await expect(
        f.registry.activateFromWhitelist(
          ACTIVATION_FEE,
          f.whitelist.root,
          e.deviceId,
          e.deviceType,
          e.proof,
          f.alice.address,
          DEADLINE,
          zero,
          zero,
        ),
      )
        .to.be.revertedWithCustomError(f.registry, "InvalidDeviceSignature")
        .withArgs(e.deviceId, ZeroAddress);
      await f.registry.registerFromWhitelist(f.whitelist.root, e.deviceId, e.deviceKey, e.deviceType, e.proof);
      await expect(f.registry.activateDevice(ACTIVATION_FEE, e.deviceId, f.alice.address, DEADLINE, zero, zero))
        .to.be.revertedWithCustomError(f.registry, "InvalidDeviceSignature")
        .withArgs(e.deviceId, ZeroAddress);
    });

    it("attack: activation beyond the root's paid capacity fails", async function () {
      const f = await loadFixture(whitelistFixture);
      for (const e of f.whitelist.entries.slice(0, 3)) {
        await f.registry.registerFromWhitelist(f.whitelist.root, e.deviceId, e.deviceKey, e.deviceType, e.proof);
      }
      const e = f.whitelist.entries[3];
      await expect(
        f.registry.activateFromWhitelist(
          ACTIVATION_FEE,
          f.whitelist.root,
          e.deviceId,
          e.deviceType,
          e.proof,
          f.alice.address,
          DEADLINE,
          ...compact(await activation(f, fleet[3], f.alice.address)),
        ),
      )
        .to.be.revertedWithCustomError(f.registry, "WhitelistCapacityExhausted")
        .withArgs(f.whitelist.root, 3);
      expect((await f.registry.getDevice(e.deviceId)).status).to.equal(Status.Unknown);
    });

    it("attack: an internal Merkle node presented as a leaf is refused", async function () {
      const f = await loadFixture(whitelistFixture);
      // With 5 leaves, the last proof element of leaf 0 is ... take the parent of leaves 0 and 1, then
      // present it as a "device" by splitting it into the leaf fields: no 128-byte preimage hashes twice to it.
      const e0 = f.whitelist.entries[0];
      // Its id's prefix names some other manufacturer, so the root is not even found under it.
      const fake = { deviceId: e0.proof[0], deviceKey: e0.deviceKey, deviceType: e0.deviceType };
      await expect(
        f.registry.registerFromWhitelist(
          f.whitelist.root,
          fake.deviceId,
          fake.deviceKey,
          fake.deviceType,
          e0.proof.slice(1),
        ),
      )
        .to.be.revertedWithCustomError(f.registry, "UnknownWhitelist")
        .withArgs(manufacturerIdOf(fake.deviceId), f.whitelist.root);
      // The node itself, with the rest of the path, reaches the root: only the double-hashed leaf format stops it.
      const { rootFromProof } = await import("../../src/merkle/whitelist");
      const node = rootFromProof(e0.leaf, e0.proof.slice(0, 1));
      expect(rootFromProof(node, e0.proof.slice(1))).to.equal(f.whitelist.root);
      await expect(
        f.registry.registerFromWhitelist(f.whitelist.root, node, e0.deviceKey, e0.deviceType, e0.proof.slice(1)),
      ).to.be.revertedWithCustomError(f.registry, "UnknownWhitelist");
      // Even with the maker's prefix, a 32-byte value that is not a double-hashed leaf proves nothing.
      const prefixed = `0x00000001${node.slice(10)}`;
      await expect(
        f.registry.registerFromWhitelist(f.whitelist.root, prefixed, e0.deviceKey, e0.deviceType, e0.proof.slice(1)),
      )
        .to.be.revertedWithCustomError(f.registry, "NotInWhitelist")
        .withArgs(f.whitelist.root, prefixed);
      expect((await f.registry.getWhitelist(1, f.whitelist.root)).used).to.equal(0n);
    });

    it("refuses wrong leaf data, unknown roots, and closes roots on request (not on the manufacturer's removal)", async function () {
      const f = await loadFixture(whitelistFixture);
      const e = f.whitelist.entries[0];
      await expect(
        f.registry.registerFromWhitelist(f.whitelist.root, e.deviceId, e.deviceKey, e.deviceType + 1, e.proof),
      )
        .to.be.revertedWithCustomError(f.registry, "NotInWhitelist")
        .withArgs(f.whitelist.root, e.deviceId);
      await expect(
        f.registry.registerFromWhitelist(f.whitelist.root, e.deviceId, f.bob.address, e.deviceType, e.proof),
      ).to.be.revertedWithCustomError(f.registry, "NotInWhitelist");
      const unknown = hexlify(randomBytes(32));
      await expect(f.registry.registerFromWhitelist(unknown, e.deviceId, e.deviceKey, e.deviceType, e.proof))
        .to.be.revertedWithCustomError(f.registry, "UnknownWhitelist")
        .withArgs(1, unknown);
      await f.registry.connect(f.admin).removeManufacturer(f.maker.address);
      // Devices of a root paid before removal stay claimable (they may be sold already) ...
      const e1 = f.whitelist.entries[1];
      await f.registry.registerFromWhitelist(f.whitelist.root, e1.deviceId, e1.deviceKey, e1.deviceType, e1.proof);
      // ... until the root is closed, by its manufacturer or the admin; nobody else may close it.
      await expect(f.registry.connect(f.mallory).closeWhitelist(1, f.whitelist.root))
        .to.be.revertedWithCustomError(f.registry, "NotWhitelistManufacturerOrAdmin")
        .withArgs(f.whitelist.root, f.mallory.address);
      await expect(f.registry.connect(f.admin).closeWhitelist(1, f.whitelist.root))
        .to.emit(f.registry, "WhitelistClosed")
        .withArgs(f.whitelist.root, 1, 2);
      expect(await f.registry.getWhitelist(1, f.whitelist.root)).to.deep.equal([1n, 1n, 1n, ACTIVATION_FEE]);
      await expect(f.registry.registerFromWhitelist(f.whitelist.root, e.deviceId, e.deviceKey, e.deviceType, e.proof))
        .to.be.revertedWithCustomError(f.registry, "WhitelistCapacityExhausted")
        .withArgs(f.whitelist.root, 1);
      await expect(f.registry.connect(f.maker).closeWhitelist(1, unknown))
        .to.be.revertedWithCustomError(f.registry, "UnknownWhitelist")
        .withArgs(1, unknown);
    });
  });

  describe("activation", function () {
    it("the device's signature activates it for the owner, who pays the fee", async function () {
      const f = await loadFixture(registryFixture);
      const d = testDevice(1);
      await registered(f, d);
      const poolBefore = await f.registry.rewardPool();
      await expect(
        f.registry
          .connect(f.alice)
          .activateDevice(
            ACTIVATION_FEE,
            d.deviceId,
            f.alice.address,
            DEADLINE,
            ...compact(await activation(f, d, f.alice.address)),
          ),
      )
        .to.emit(f.registry, "DeviceActivated")
        .withArgs(d.deviceId, f.alice.address);
      const v = await f.registry.getDevice(d.deviceId);
      expect([v.status, v.owner]).to.deep.equal([Status.Active, f.alice.address]);
      expect(await f.registry.rewardPool()).to.equal(poolBefore + ACTIVATION_FEE);
      expect(await f.token.balanceOf(f.alice.address)).to.equal(1_000n * ONE - ACTIVATION_FEE);
    });

    it("attack: a front-runner submitting the activation cannot change the owner", async function () {
      const f = await loadFixture(registryFixture);
      const d = testDevice(1);
      await registered(f, d);
      const sig = await activation(f, d, f.alice.address);
      await expect(
        f.registry
          .connect(f.mallory)
          .activateDevice(ACTIVATION_FEE, d.deviceId, f.mallory.address, DEADLINE, ...compact(sig)),
      ).to.be.revertedWithCustomError(f.registry, "InvalidDeviceSignature");
      await f.token.connect(f.mallory).approve(await f.registry.getAddress(), ACTIVATION_FEE);
      await f.registry
        .connect(f.mallory)
        .activateDevice(ACTIVATION_FEE, d.deviceId, f.alice.address, DEADLINE, ...compact(sig));
      expect((await f.registry.getDevice(d.deviceId)).owner).to.equal(f.alice.address);
    });

    it("attack: another device's signature does not activate", async function () {
      const f = await loadFixture(registryFixture);
      const [d, other] = [testDevice(1), testDevice(2)];
      await registered(f, d);
      const sig = await signActivation(other.wallet, f.domain, {
        deviceId: d.deviceId,
        owner: f.alice.address,
        deadline: DEADLINE,
      });
      await expect(
        f.registry
          .connect(f.alice)
          .activateDevice(ACTIVATION_FEE, d.deviceId, f.alice.address, DEADLINE, ...compact(sig)),
      )
        .to.be.revertedWithCustomError(f.registry, "InvalidDeviceSignature")
        .withArgs(d.deviceId, other.wallet.address);
    });

    it("attack: an activation signed for another chain id or another registry is refused", async function () {
      const f = await loadFixture(registryFixture);
      const d = testDevice(1);
      await registered(f, d);
      for (const domain of [
        { ...f.domain, chainId: f.chainId + 1n },
        { ...f.domain, verifyingContract: await f.token.getAddress() },
      ]) {
        await expect(
          f.registry
            .connect(f.alice)
            .activateDevice(
              ACTIVATION_FEE,
              d.deviceId,
              f.alice.address,
              DEADLINE,
              ...compact(await activation(f, d, f.alice.address, domain)),
            ),
        ).to.be.revertedWithCustomError(f.registry, "InvalidDeviceSignature");
      }
      expect((await f.registry.getDevice(d.deviceId)).status).to.equal(Status.Registered);
    });

    it("attack: an activation replayed after a transfer, or past its deadline, is refused", async function () {
      const f = await loadFixture(registryFixture);
      const d = testDevice(1);
      await registered(f, d);
      const sig = await activation(f, d, f.alice.address);
      await f.registry
        .connect(f.alice)
        .activateDevice(ACTIVATION_FEE, d.deviceId, f.alice.address, DEADLINE, ...compact(sig));
      await f.registry.connect(f.alice).transferDevice(d.deviceId, f.bob.address);
      await expect(
        f.registry
          .connect(f.alice)
          .activateDevice(ACTIVATION_FEE, d.deviceId, f.alice.address, DEADLINE, ...compact(sig)),
      )
        .to.be.revertedWithCustomError(f.registry, "UnexpectedDeviceStatus")
        .withArgs(d.deviceId, Status.Active);
      expect((await f.registry.getDevice(d.deviceId)).owner).to.equal(f.bob.address);

      const late = testDevice(2);
      await registered(f, late);
      const deadline = BigInt(await time.latest()) + 60n;
      const lateSig = await activation(f, late, f.alice.address, f.domain, deadline);
      await time.increaseTo(deadline + 1n);
      await expect(
        f.registry
          .connect(f.alice)
          .activateDevice(ACTIVATION_FEE, late.deviceId, f.alice.address, deadline, ...compact(lateSig)),
      )
        .to.be.revertedWithCustomError(f.registry, "SignatureExpired")
        .withArgs(deadline);
    });

    it("attack: a malleated (high-s) activation signature and unknown devices are refused", async function () {
      const f = await loadFixture(registryFixture);
      const d = testDevice(1);
      await registered(f, d);
      const sig = Signature.from(await activation(f, d, f.alice.address));
      const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
      const highS = n - BigInt(sig.s);
      // Every way to present the malleated s in compact form fails: with s below 2^255 it is rejected as
      // high-s (no signer); otherwise its top bit reads as the parity and another key (or none) recovers.
      for (const vs of [highS, highS ^ (1n << 255n), BigInt(sig.yParityAndS) ^ (1n << 255n)]) {
        const word = `0x${(vs % (1n << 256n)).toString(16).padStart(64, "0")}`;
        await expect(
          f.registry
            .connect(f.alice)
            .activateDevice(ACTIVATION_FEE, d.deviceId, f.alice.address, DEADLINE, sig.r, word),
        ).to.be.revertedWithCustomError(f.registry, "InvalidDeviceSignature");
      }
      expect((await f.registry.getDevice(d.deviceId)).status).to.equal(Status.Registered);
      const unknown = testDevice(9);
      await expect(
        f.registry.activateDevice(
          ACTIVATION_FEE,
          unknown.deviceId,
          f.alice.address,
          DEADLINE,
          ...compact(await activation(f, unknown, f.alice.address)),
        ),
      )
        .to.be.revertedWithCustomError(f.registry, "DeviceNotRegistered")
        .withArgs(unknown.deviceId);
      await expect(
        f.registry.activateDevice(ACTIVATION_FEE, d.deviceId, ZeroAddress, DEADLINE, ...compact(sig.serialized)),
      ).to.be.revertedWithCustomError(f.registry, "ZeroAddress");
    });

    it("a relayer activates with the owner's permit and consent, the owner paying the fee", async function () {
      const f = await loadFixture(registryFixture);
      const d = testDevice(1);
      await registered(f, d);
      const registry = await f.registry.getAddress();
      const permit = { owner: f.bob.address, spender: registry, value: ACTIVATION_FEE, nonce: 0n, deadline: DEADLINE };
      await f.token.transfer(f.bob.address, 10n * ONE);
      const { v, r, s } = Signature.from(await signPermit(f.bob, await readDomain(f.token), permit));
      await f.registry.connect(f.relayer).activateDeviceWithPermit(
        ACTIVATION_FEE,
        d.deviceId,
        f.bob.address,
        DEADLINE,
        ...compact(await activation(f, d, f.bob.address)),
        DEADLINE,
        v,
        r,
        s,
        await signActivationPayment(f.bob, f.domain, {
          deviceId: d.deviceId,
          owner: f.bob.address,
          maxFee: ACTIVATION_FEE,
          deadline: DEADLINE,
        }),
      );
      expect((await f.registry.getDevice(d.deviceId)).owner).to.equal(f.bob.address);
      expect(await f.token.balanceOf(f.bob.address)).to.equal(10n * ONE - ACTIVATION_FEE);
    });

    it("a manufacturer ships a device already activated, paying both fees", async function () {
      const f = await loadFixture(registryFixture);
      const d = testDevice(1);
      await expect(
        f.registry
          .connect(f.maker)
          .registerAndActivate(
            REGISTRATION_FEE + ACTIVATION_FEE,
            d.deviceId,
            d.wallet.address,
            1,
            ZeroHash,
            f.alice.address,
          ),
      )
        .to.emit(f.registry, "DeviceActivated")
        .withArgs(d.deviceId, f.alice.address);
      expect((await f.registry.getDevice(d.deviceId)).status).to.equal(Status.Active);
      expect(await collectedPool(f)).to.equal(REGISTRATION_FEE + ACTIVATION_FEE);
      await expect(
        f.registry
          .connect(f.maker)
          .registerAndActivate(
            REGISTRATION_FEE + ACTIVATION_FEE,
            testDevice(2).deviceId,
            d.wallet.address,
            1,
            ZeroHash,
            ZeroAddress,
          ),
      ).to.be.revertedWithCustomError(f.registry, "ZeroAddress");
    });
  });

  describe("validation, transfer, revocation and key rotation", function () {
    it("validates a device's signed identity claim for a fresh challenge", async function () {
      const f = await loadFixture(registryFixture);
      const d = testDevice(1);
      await registered(f, d);
      const challenge = keccak256(toUtf8Bytes("nonce-from-peer-42"));
      const claim = { deviceId: d.deviceId, challenge };
      const digest = identityClaimDigest(f.domain, claim);
      expect(await f.registry.identityClaimDigest(d.deviceId, challenge)).to.equal(digest);
      const sig = await signIdentityClaim(d.wallet, f.domain, claim);
      expect(await f.registry.isValidDeviceSignature(d.deviceId, digest, sig)).to.equal(false); // not active yet
      await f.registry
        .connect(f.alice)
        .activateDevice(
          ACTIVATION_FEE,
          d.deviceId,
          f.alice.address,
          DEADLINE,
          ...compact(await activation(f, d, f.alice.address)),
        );
      expect(await f.registry.isValidDeviceSignature(d.deviceId, digest, sig)).to.equal(true);
      expect(
        await f.registry.isValidDeviceSignature(
          d.deviceId,
          digest,
          await signIdentityClaim(testDevice(2).wallet, f.domain, claim),
        ),
      ).to.equal(false);
      expect(await f.registry.isValidDeviceSignature(d.deviceId, digest, "0x1234")).to.equal(false);
      const v = await f.registry.getDevice(d.deviceId);
      expect([v.score, v.trend]).to.deep.equal([BigInt(DEFAULT_SCORE), 0n]);
      expect((await f.registry.getDevice(testDevice(3).deviceId)).score).to.equal(0n);
    });

    it("the owner transfers a device; nobody else can", async function () {
      const f = await loadFixture(registryFixture);
      const d = testDevice(1);
      await activated(f, d);
      await expect(f.registry.connect(f.mallory).transferDevice(d.deviceId, f.mallory.address))
        .to.be.revertedWithCustomError(f.registry, "NotDeviceOwner")
        .withArgs(d.deviceId, f.mallory.address);
      await expect(f.registry.connect(f.alice).transferDevice(d.deviceId, ZeroAddress)).to.be.revertedWithCustomError(
        f.registry,
        "ZeroAddress",
      );
      await expect(f.registry.connect(f.alice).transferDevice(d.deviceId, f.bob.address))
        .to.emit(f.registry, "DeviceTransferred")
        .withArgs(d.deviceId, f.alice.address, f.bob.address);
      await expect(f.registry.connect(f.alice).transferDevice(testDevice(5).deviceId, f.bob.address))
        .to.be.revertedWithCustomError(f.registry, "DeviceNotRegistered")
        .withArgs(testDevice(5).deviceId);
    });

    it("the manufacturer or the admin revokes a device; a revoked device neither activates nor validates", async function () {
      const f = await loadFixture(registryFixture);
      const [d1, d2] = [testDevice(1), testDevice(2)];
      await activated(f, d1);
      await registered(f, d2);
      await expect(f.registry.connect(f.alice).revokeDevice(d1.deviceId, 1))
        .to.be.revertedWithCustomError(f.registry, "NotDeviceManufacturerOrAdmin")
        .withArgs(d1.deviceId, f.alice.address);
      await expect(f.registry.connect(f.maker).revokeDevice(d1.deviceId, 7))
        .to.emit(f.registry, "DeviceRevoked")
        .withArgs(d1.deviceId, f.maker.address, 7);
      await expect(f.registry.connect(f.admin).revokeDevice(d2.deviceId, 2))
        .to.emit(f.registry, "DeviceRevoked")
        .withArgs(d2.deviceId, f.admin.address, 2);
      await expect(f.registry.connect(f.admin).revokeDevice(d2.deviceId, 2))
        .to.be.revertedWithCustomError(f.registry, "UnexpectedDeviceStatus")
        .withArgs(d2.deviceId, Status.Revoked);
      await expect(f.registry.connect(f.admin).revokeDevice(testDevice(3).deviceId, 2)).to.be.revertedWithCustomError(
        f.registry,
        "DeviceNotRegistered",
      );
      // attack: activation and identity claims of revoked devices
      await expect(
        f.registry
          .connect(f.alice)
          .activateDevice(
            ACTIVATION_FEE,
            d2.deviceId,
            f.alice.address,
            DEADLINE,
            ...compact(await activation(f, d2, f.alice.address)),
          ),
      )
        .to.be.revertedWithCustomError(f.registry, "UnexpectedDeviceStatus")
        .withArgs(d2.deviceId, Status.Revoked);
      const claim = { deviceId: d1.deviceId, challenge: ZeroHash };
      expect(
        await f.registry.isValidDeviceSignature(
          d1.deviceId,
          identityClaimDigest(f.domain, claim),
          await signIdentityClaim(d1.wallet, f.domain, claim),
        ),
      ).to.equal(false);
      await expect(f.registry.connect(f.alice).transferDevice(d1.deviceId, f.bob.address))
        .to.be.revertedWithCustomError(f.registry, "UnexpectedDeviceStatus")
        .withArgs(d1.deviceId, Status.Revoked);
    });

    it("key rotation needs the owner and the new key's signature, and each signature works once", async function () {
      const f = await loadFixture(registryFixture);
      const d = testDevice(1);
      await activated(f, d);
      const newKey = testDevice(100).wallet;
      const message = { deviceId: d.deviceId, newKey: newKey.address, nonce: 0n, deadline: DEADLINE };
      // attack: rotation without the new key's signature (signed by the old key, or by the owner)
      for (const signer of [d.wallet, f.alice]) {
        const sig = await signKeyRotation(signer, f.domain, message);
        await expect(f.registry.connect(f.alice).rotateDeviceKey(d.deviceId, newKey.address, DEADLINE, ...compact(sig)))
          .to.be.revertedWithCustomError(f.registry, "InvalidDeviceSignature")
          .withArgs(d.deviceId, signer.address);
      }
      const good = await signKeyRotation(newKey, f.domain, message);
      await expect(
        f.registry.connect(f.mallory).rotateDeviceKey(d.deviceId, newKey.address, DEADLINE, ...compact(good)),
      )
        .to.be.revertedWithCustomError(f.registry, "NotDeviceOwner")
        .withArgs(d.deviceId, f.mallory.address);
      await expect(f.registry.connect(f.alice).rotateDeviceKey(d.deviceId, newKey.address, DEADLINE, ...compact(good)))
        .to.emit(f.registry, "DeviceKeyRotated")
        .withArgs(d.deviceId, d.wallet.address, newKey.address);
      expect((await f.registry.getDevice(d.deviceId)).deviceKey).to.equal(newKey.address);
      expect(await f.registry.keyNonce(d.deviceId)).to.equal(1n);
      // Rotate back to the old key, then try to replay the first consent: its nonce is spent.
      const back = await signKeyRotation(d.wallet, f.domain, {
        deviceId: d.deviceId,
        newKey: d.wallet.address,
        nonce: 1n,
        deadline: DEADLINE,
      });
      await f.registry.connect(f.alice).rotateDeviceKey(d.deviceId, d.wallet.address, DEADLINE, ...compact(back));
      await expect(
        f.registry.connect(f.alice).rotateDeviceKey(d.deviceId, newKey.address, DEADLINE, ...compact(good)),
      ).to.be.revertedWithCustomError(f.registry, "InvalidDeviceSignature");
      await expect(
        f.registry.connect(f.alice).rotateDeviceKey(d.deviceId, d.wallet.address, DEADLINE, ...compact(back)),
      )
        .to.be.revertedWithCustomError(f.registry, "SameKey")
        .withArgs(d.deviceId);
      await expect(f.registry.connect(f.alice).rotateDeviceKey(d.deviceId, ZeroAddress, DEADLINE, ...compact(back)))
        .to.be.revertedWithCustomError(f.registry, "InvalidDeviceKey")
        .withArgs(ZeroAddress);
      await expect(f.registry.connect(f.alice).rotateDeviceKey(d.deviceId, newKey.address, 1n, ...compact(good)))
        .to.be.revertedWithCustomError(f.registry, "SignatureExpired")
        .withArgs(1n);
    });
  });
});
