import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { expect } from "chai";
import { Signature, ZeroHash } from "ethers";
import { ethers } from "hardhat";

import { deviceIdOf } from "../../src/devices/fleet";
import { readDomain } from "../../src/eip712/domain";
import { compact, signActivation, signActivationPayment } from "../../src/eip712/device";
import { signPermit } from "../../src/eip712/permit";
import { buildWhitelist } from "../../src/merkle/whitelist";
import type { Whitelist } from "../../src/merkle/whitelist";
import { ACTIVATION_FEE, ONE, REGISTRATION_FEE, registryFixture, testDevice } from "../shared/fixtures";
import type { RegistryFixture, TestDevice } from "../shared/fixtures";

/**
 * Issue 14, findings 2, 3, 4 and 12: front-running registrations, whitelist roots and fees. The victim
 * manufacturer is the fixture's maker (#1), the squatter a second admitted manufacturer (#2) with its own
 * key and credit, the victim owner alice (who gave the registry a standing allowance, as the README flow
 * does), and the relayer an unrelated account.
 */
const DEADLINE = 4_102_444_800n;
const Status = { Unknown: 0n, Registered: 1n, Active: 2n };

interface Fixture extends RegistryFixture {
  squatter: HardhatEthersSigner;
  squatterId: bigint;
  /** The maker's fleet and its whitelist. */
  fleet: TestDevice[];
  whitelist: Whitelist;
}

async function frontRunFixture(): Promise<Fixture> {
  const f = await registryFixture();
  const squatter = (await ethers.getSigners())[9];
  await f.registry.connect(f.admin).addManufacturer(squatter.address, squatter.address, 500);
  await f.token.transfer(squatter.address, 1_000n * ONE);
  await f.token.connect(squatter).approve(await f.registry.getAddress(), ethers.MaxUint256);
  await f.registry.connect(squatter).depositFeeCredit(squatter.address, 100n * ONE);
  const fleet = [40, 41, 42, 43].map((i) => testDevice(i, 3));
  const whitelist = buildWhitelist(
    fleet.map((d) => ({ deviceId: d.deviceId, deviceKey: d.wallet.address, deviceType: d.deviceType })),
    1,
  );
  return { ...f, squatter, squatterId: 2n, fleet, whitelist };
}

/** Every balance and record an attack could move. */
async function state(f: Fixture, devices: readonly string[] = []) {
  const registry = await f.registry.getAddress();
  return {
    alice: await f.token.balanceOf(f.alice.address),
    maker: await f.token.balanceOf(f.maker.address),
    squatter: await f.token.balanceOf(f.squatter.address),
    relayer: await f.token.balanceOf(f.relayer.address),
    mallory: await f.token.balanceOf(f.mallory.address),
    registry: await f.token.balanceOf(registry),
    makerCredit: (await f.registry.getManufacturer(f.maker.address)).credit,
    squatterCredit: (await f.registry.getManufacturer(f.squatter.address)).credit,
    pool: await f.registry.rewardPool(),
    devices: await Promise.all(devices.map(async (id) => (await f.registry.getDevice(id)).join())),
  };
}

async function activationSig(f: Fixture, device: TestDevice, owner: string, deviceId = device.deviceId) {
  return compact(await signActivation(device.wallet, f.domain, { deviceId, owner, deadline: DEADLINE }));
}

describe("DeviceRegistry: front-running (issue 14, findings 2, 3, 4, 12)", function () {
  describe("device-id namespaces (finding 2)", function () {
    it("attack: a second manufacturer front-running registerDevice / registerDevices / registerAndActivate with the genuine id (and key) fails; the genuine registration then succeeds", async function () {
      const f = await loadFixture(frontRunFixture);
      const genuine = testDevice(1, 2);
      const other = testDevice(2, 2, 2); // one of the squatter's own devices
      const before = await state(f, [genuine.deviceId]);
      const squat = f.registry.connect(f.squatter);
      await expect(squat.registerDevice(REGISTRATION_FEE, genuine.deviceId, genuine.wallet.address, 2, ZeroHash))
        .to.be.revertedWithCustomError(f.registry, "DeviceIdOutsideNamespace")
        .withArgs(genuine.deviceId, f.squatterId);
      await expect(
        squat.registerDevices(
          REGISTRATION_FEE,
          [other.deviceId, genuine.deviceId],
          [other.wallet.address, genuine.wallet.address],
          [2, 2],
        ),
      )
        .to.be.revertedWithCustomError(f.registry, "DeviceIdOutsideNamespace")
        .withArgs(genuine.deviceId, f.squatterId);
      await expect(
        squat.registerAndActivate(
          REGISTRATION_FEE + ACTIVATION_FEE,
          genuine.deviceId,
          genuine.wallet.address,
          2,
          ZeroHash,
          f.squatter.address,
        ),
      )
        .to.be.revertedWithCustomError(f.registry, "DeviceIdOutsideNamespace")
        .withArgs(genuine.deviceId, f.squatterId);
      // Through approveAndCall, with the squatter paying: the same refusal, nothing moves.
      const data = f.registry.interface.encodeFunctionData("registerDevice", [
        REGISTRATION_FEE,
        genuine.deviceId,
        genuine.wallet.address,
        2,
        ZeroHash,
      ]);
      await expect(
        f.token.connect(f.squatter).approveAndCall(await f.registry.getAddress(), REGISTRATION_FEE, data),
      ).to.be.revertedWithCustomError(f.registry, "DeviceIdOutsideNamespace");
      expect(await state(f, [genuine.deviceId])).to.deep.equal(before);

      // The squatter may register the same serial number with the same key in its own namespace: a
      // different id, which names the squatter as its manufacturer and takes nothing from the genuine one.
      const ownCopy = deviceIdOf(f.squatterId, genuine.uid);
      expect(ownCopy).to.not.equal(genuine.deviceId);
      await squat.registerDevice(REGISTRATION_FEE, ownCopy, genuine.wallet.address, 2, ZeroHash);
      expect((await f.registry.getDevice(ownCopy)).manufacturer).to.equal(f.squatter.address);

      await expect(
        f.registry
          .connect(f.maker)
          .registerDevice(REGISTRATION_FEE, genuine.deviceId, genuine.wallet.address, 2, ZeroHash),
      )
        .to.emit(f.registry, "DeviceRegistered")
        .withArgs(genuine.deviceId, 1, genuine.wallet.address, 2);
      const v = await f.registry.getDevice(genuine.deviceId);
      expect([v.status, v.manufacturerId, v.manufacturer]).to.deep.equal([Status.Registered, 1n, f.maker.address]);
      // The genuine maker's batch path works for its own ids and refuses a squatter's id the same way.
      const batch = [testDevice(3, 1), testDevice(4, 1)];
      await f.registry.connect(f.maker).registerDevices(
        REGISTRATION_FEE,
        batch.map((d) => d.deviceId),
        batch.map((d) => d.wallet.address),
        [1, 1],
      );
      expect(await f.registry.getStatuses(batch.map((d) => d.deviceId))).to.deep.equal([1n, 1n]);
      await expect(
        f.registry.connect(f.maker).registerDevices(REGISTRATION_FEE, [other.deviceId], [other.wallet.address], [2]),
      )
        .to.be.revertedWithCustomError(f.registry, "DeviceIdOutsideNamespace")
        .withArgs(other.deviceId, 1);
    });

    it("attack: a second manufacturer front-running registerFromWhitelist / activateFromWhitelist with its own root holding the genuine id and key fails; the genuine ones then succeed", async function () {
      const f = await loadFixture(frontRunFixture);
      await f.registry.connect(f.maker).commitWhitelist(REGISTRATION_FEE, ACTIVATION_FEE, f.whitelist.root, 4);
      // The squatter's root lists the maker's ids with the genuine keys, as squatter-made devices.
      const squatList = buildWhitelist(
        f.fleet.map((d) => ({ deviceId: d.deviceId, deviceKey: d.wallet.address, deviceType: d.deviceType })),
        Number(f.squatterId),
      );
      await f.registry.connect(f.squatter).commitWhitelist(REGISTRATION_FEE, ACTIVATION_FEE, squatList.root, 4);
      const ids = f.fleet.map((d) => d.deviceId);
      const before = await state(f, ids);
      const [e0, e1] = squatList.entries;
      await expect(
        f.registry
          .connect(f.squatter)
          .registerFromWhitelist(squatList.root, e0.deviceId, e0.deviceKey, e0.deviceType, e0.proof),
      )
        .to.be.revertedWithCustomError(f.registry, "UnknownWhitelist")
        .withArgs(1, squatList.root);
      // The owner's pending activateFromWhitelist shows the device's signature; the squatter replays it
      // against its own root, paying the fee itself.
      const sig = await activationSig(f, f.fleet[1], f.alice.address);
      await expect(
        f.registry
          .connect(f.squatter)
          .activateFromWhitelist(
            ACTIVATION_FEE,
            squatList.root,
            e1.deviceId,
            e1.deviceType,
            e1.proof,
            f.alice.address,
            DEADLINE,
            ...sig,
          ),
      )
        .to.be.revertedWithCustomError(f.registry, "UnknownWhitelist")
        .withArgs(1, squatList.root);
      expect(await state(f, ids)).to.deep.equal(before);
      expect((await f.registry.getWhitelist(f.squatterId, squatList.root)).used).to.equal(0n);

      const [g0, g1] = f.whitelist.entries;
      await f.registry
        .connect(f.relayer)
        .registerFromWhitelist(f.whitelist.root, g0.deviceId, g0.deviceKey, g0.deviceType, g0.proof);
      await expect(
        f.registry
          .connect(f.alice)
          .activateFromWhitelist(
            ACTIVATION_FEE,
            f.whitelist.root,
            g1.deviceId,
            g1.deviceType,
            g1.proof,
            f.alice.address,
            DEADLINE,
            ...sig,
          ),
      )
        .to.emit(f.registry, "DeviceActivated")
        .withArgs(g1.deviceId, f.alice.address);
      for (const [id, status] of [
        [g0.deviceId, Status.Registered],
        [g1.deviceId, Status.Active],
      ] as const) {
        const v = await f.registry.getDevice(id);
        expect([v.status, v.manufacturer]).to.deep.equal([status, f.maker.address]);
      }
      expect(await f.token.balanceOf(f.alice.address)).to.equal(before.alice - ACTIVATION_FEE);
    });
  });

  describe("whitelist roots keyed by manufacturer (finding 4)", function () {
    it("attack: a second manufacturer committing the same root first does not block the genuine commit, and gains nothing", async function () {
      const f = await loadFixture(frontRunFixture);
      const root = f.whitelist.root;
      const makerCredit = (await f.registry.getManufacturer(f.maker.address)).credit;
      // The squatter sees the commit in the mempool and commits the same root first, for capacity 1.
      await expect(f.registry.connect(f.squatter).commitWhitelist(REGISTRATION_FEE, ACTIVATION_FEE, root, 1))
        .to.emit(f.registry, "WhitelistCommitted")
        .withArgs(root, f.squatterId, 1);
      await expect(f.registry.connect(f.maker).commitWhitelist(REGISTRATION_FEE, ACTIVATION_FEE, root, 4))
        .to.emit(f.registry, "WhitelistCommitted")
        .withArgs(root, 1, 4);
      expect(await f.registry.getWhitelist(1, root)).to.deep.equal([1n, 4n, 0n, ACTIVATION_FEE]);
      expect(await f.registry.getWhitelist(f.squatterId, root)).to.deep.equal([f.squatterId, 1n, 0n, ACTIVATION_FEE]);
      expect((await f.registry.getManufacturer(f.maker.address)).credit).to.equal(makerCredit - 4n * REGISTRATION_FEE);
      // Every device of the root registers against the maker's commitment; the squatter's copy is never
      // used (its leaves name manufacturer 1's ids, which are looked up under manufacturer 1).
      for (const e of f.whitelist.entries) {
        await f.registry.connect(f.relayer).registerFromWhitelist(root, e.deviceId, e.deviceKey, e.deviceType, e.proof);
        expect((await f.registry.getDevice(e.deviceId)).manufacturer).to.equal(f.maker.address);
      }
      expect((await f.registry.getWhitelist(1, root)).used).to.equal(4n);
      expect((await f.registry.getWhitelist(f.squatterId, root)).used).to.equal(0n);
      // Closing is per manufacturer: the squatter cannot close the maker's root.
      await expect(f.registry.connect(f.squatter).closeWhitelist(1, root))
        .to.be.revertedWithCustomError(f.registry, "NotWhitelistManufacturerOrAdmin")
        .withArgs(root, f.squatter.address);
      expect(await f.registry.getWhitelist(1, root)).to.deep.equal([1n, 4n, 4n, ACTIVATION_FEE]);
    });
  });

  describe("a whitelist device keeps its root's activation fee (finding 3)", function () {
    for (const [what, current] of [
      ["higher", 5n * ONE],
      ["lower", ONE / 2n],
    ] as const) {
      it(`attack: registerFromWhitelist front-running activateFromWhitelist leaves the owner paying exactly the root's fee (current fee ${what})`, async function () {
        const f = await loadFixture(frontRunFixture);
        await f.registry.connect(f.maker).commitWhitelist(REGISTRATION_FEE, ACTIVATION_FEE, f.whitelist.root, 4);
        await f.registry.connect(f.admin).setFees(REGISTRATION_FEE, current);
        const [e0, e1] = f.whitelist.entries;
        const sig0 = await activationSig(f, f.fleet[0], f.alice.address);
        // The front-runner (mallory, no role at all) registers the device from its proof first.
        await f.registry
          .connect(f.mallory)
          .registerFromWhitelist(f.whitelist.root, e0.deviceId, e0.deviceKey, e0.deviceType, e0.proof);
        const before = await state(f);
        // The owner's pending activateFromWhitelist now fails, charging nobody ...
        await expect(
          f.registry
            .connect(f.alice)
            .activateFromWhitelist(
              ACTIVATION_FEE,
              f.whitelist.root,
              e0.deviceId,
              e0.deviceType,
              e0.proof,
              f.alice.address,
              DEADLINE,
              ...sig0,
            ),
        )
          .to.be.revertedWithCustomError(f.registry, "DeviceAlreadyRegistered")
          .withArgs(e0.deviceId);
        expect(await state(f)).to.deep.equal(before);
        // ... and activateDevice charges the root's fee, not the current one, neither more nor less: the
        // current fee as maxFee is refused when it is lower (no dodging), and a higher maxFee pays the root's.
        expect(await f.registry.activationFeeOf(e0.deviceId)).to.equal(ACTIVATION_FEE);
        if (current < ACTIVATION_FEE) {
          await expect(
            f.registry.connect(f.alice).activateDevice(current, e0.deviceId, f.alice.address, DEADLINE, ...sig0),
          )
            .to.be.revertedWithCustomError(f.registry, "FeeAboveMax")
            .withArgs(ACTIVATION_FEE, current);
          expect(await state(f)).to.deep.equal(before);
        }
        await expect(
          f.registry
            .connect(f.alice)
            .activateDevice(ACTIVATION_FEE + current, e0.deviceId, f.alice.address, DEADLINE, ...sig0),
        )
          .to.emit(f.registry, "DeviceActivated")
          .withArgs(e0.deviceId, f.alice.address);
        const after = await state(f);
        expect(after.alice).to.equal(before.alice - ACTIVATION_FEE);
        expect(after.pool).to.equal(before.pool + ACTIVATION_FEE);
        expect(after.mallory).to.equal(before.mallory);

        // The same through a relayer with the owner's permit.
        await f.registry
          .connect(f.mallory)
          .registerFromWhitelist(f.whitelist.root, e1.deviceId, e1.deviceKey, e1.deviceType, e1.proof);
        await f.token.transfer(f.bob.address, 10n * ONE);
        const registry = await f.registry.getAddress();
        const { v, r, s } = Signature.from(
          await signPermit(f.bob, await readDomain(f.token), {
            owner: f.bob.address,
            spender: registry,
            value: ACTIVATION_FEE,
            nonce: 0n,
            deadline: DEADLINE,
          }),
        );
        const relayerBefore = await f.token.balanceOf(f.relayer.address);
        await f.registry.connect(f.relayer).activateDeviceWithPermit(
          ACTIVATION_FEE,
          e1.deviceId,
          f.bob.address,
          DEADLINE,
          ...(await activationSig(f, f.fleet[1], f.bob.address)),
          DEADLINE,
          v,
          r,
          s,
          await signActivationPayment(f.bob, f.domain, {
            deviceId: e1.deviceId,
            owner: f.bob.address,
            maxFee: ACTIVATION_FEE,
            deadline: DEADLINE,
          }),
        );
        expect(await f.token.balanceOf(f.bob.address)).to.equal(10n * ONE - ACTIVATION_FEE);
        expect(await f.token.balanceOf(f.relayer.address)).to.equal(relayerBefore);
        // A device registered one by one pays the current fee.
        const loose = testDevice(50);
        expect(await f.registry.activationFeeOf(loose.deviceId)).to.equal(current);
      });
    }

    it("roots committed at different fees keep theirs, and closing a root does not change its devices' fee", async function () {
      const f = await loadFixture(frontRunFixture);
      const first = buildWhitelist(
        f.fleet.slice(0, 2).map((d) => ({ deviceId: d.deviceId, deviceKey: d.wallet.address, deviceType: 3 })),
        1,
      );
      const second = buildWhitelist(
        f.fleet.slice(2).map((d) => ({ deviceId: d.deviceId, deviceKey: d.wallet.address, deviceType: 3 })),
        1,
      );
      await f.registry.connect(f.maker).commitWhitelist(REGISTRATION_FEE, ACTIVATION_FEE, first.root, 2);
      await f.registry.connect(f.admin).setFees(REGISTRATION_FEE, 7n * ONE);
      await f.registry.connect(f.maker).commitWhitelist(REGISTRATION_FEE, 7n * ONE, second.root, 2);
      await f.registry.connect(f.admin).setFees(REGISTRATION_FEE, 3n * ONE);
      for (const e of [first.entries[0], second.entries[0]]) {
        await f.registry.registerFromWhitelist(
          e === first.entries[0] ? first.root : second.root,
          e.deviceId,
          e.deviceKey,
          e.deviceType,
          e.proof,
        );
      }
      await f.registry.connect(f.maker).closeWhitelist(1, first.root);
      // A fee change that leaves the activation fee as it is changes no root's fee either.
      await f.registry.connect(f.admin).setFees(2n * REGISTRATION_FEE, 3n * ONE);
      const third = buildWhitelist([{ deviceId: testDevice(70).deviceId, deviceKey: f.bob.address, deviceType: 1 }], 1);
      await f.registry.connect(f.maker).commitWhitelist(2n * REGISTRATION_FEE, 3n * ONE, third.root, 1);
      expect((await f.registry.getWhitelist(1, third.root)).activationFee).to.equal(3n * ONE);
      expect(await f.registry.activationFeeOf(first.entries[0].deviceId)).to.equal(ACTIVATION_FEE);
      expect(await f.registry.activationFeeOf(second.entries[0].deviceId)).to.equal(7n * ONE);
      expect((await f.registry.getWhitelist(1, second.root)).activationFee).to.equal(7n * ONE);
      expect(await f.registry.getWhitelist(1, ZeroHash)).to.deep.equal([0n, 0n, 0n, 0n]);
    });
  });

  describe("maxFee (finding 12)", function () {
    it("attack: the admin raising the fees between signing and inclusion: every call with the old maxFee reverts and nobody is charged", async function () {
      const f = await loadFixture(frontRunFixture);
      const registry = await f.registry.getAddress();
      await f.registry.connect(f.maker).commitWhitelist(REGISTRATION_FEE, ACTIVATION_FEE, f.whitelist.root, 4);
      const waiting = testDevice(60);
      await f.registry
        .connect(f.maker)
        .registerDevice(REGISTRATION_FEE, waiting.deviceId, waiting.wallet.address, 1, ZeroHash);
      const fresh = [testDevice(61), testDevice(62)];
      const root2 = buildWhitelist(
        [{ deviceId: fresh[1].deviceId, deviceKey: fresh[1].wallet.address, deviceType: 1 }],
        1,
      );
      // Users sign and send at the old fees; the admin's raise (to the caps) lands first.
      const [newReg, newAct] = [await f.registry.MAX_REGISTRATION_FEE(), await f.registry.MAX_ACTIVATION_FEE()];
      await f.registry.connect(f.admin).setFees(newReg, newAct);
      const ids = [waiting.deviceId, ...fresh.map((d) => d.deviceId), ...f.fleet.map((d) => d.deviceId)];
      const before = await state(f, ids);
      const maker = f.registry.connect(f.maker);
      const above = (fee: bigint, max: bigint) => [fee, max] as const;
      const attempts: [string, () => Promise<unknown>, readonly [bigint, bigint]][] = [
        [
          "registerDevice",
          () => maker.registerDevice(REGISTRATION_FEE, fresh[0].deviceId, fresh[0].wallet.address, 1, ZeroHash),
          above(newReg, REGISTRATION_FEE),
        ],
        [
          "registerDevices",
          () => maker.registerDevices(REGISTRATION_FEE, [fresh[0].deviceId], [fresh[0].wallet.address], [1]),
          above(newReg, REGISTRATION_FEE),
        ],
        [
          // Its activation-fee ceiling is met here, so the registration fee is what trips (see the next test).
          "commitWhitelist",
          () => maker.commitWhitelist(REGISTRATION_FEE, newAct, root2.root, 1),
          above(newReg, REGISTRATION_FEE),
        ],
        [
          "registerAndActivate",
          () =>
            maker.registerAndActivate(
              REGISTRATION_FEE + ACTIVATION_FEE,
              fresh[0].deviceId,
              fresh[0].wallet.address,
              1,
              ZeroHash,
              f.alice.address,
            ),
          above(newReg + newAct, REGISTRATION_FEE + ACTIVATION_FEE),
        ],
        [
          "activateDevice",
          async () =>
            f.registry
              .connect(f.alice)
              .activateDevice(
                ACTIVATION_FEE,
                waiting.deviceId,
                f.alice.address,
                DEADLINE,
                ...(await activationSig(f, waiting, f.alice.address)),
              ),
          above(newAct, ACTIVATION_FEE),
        ],
        [
          "activateDeviceWithPermit (relayed)",
          async () => {
            const { v, r, s } = Signature.from(
              await signPermit(f.alice, await readDomain(f.token), {
                owner: f.alice.address,
                spender: registry,
                value: newAct,
                nonce: await f.token.nonces(f.alice.address),
                deadline: DEADLINE,
              }),
            );
            return f.registry.connect(f.relayer).activateDeviceWithPermit(
              ACTIVATION_FEE,
              waiting.deviceId,
              f.alice.address,
              DEADLINE,
              ...(await activationSig(f, waiting, f.alice.address)),
              DEADLINE,
              v,
              r,
              s,
              await signActivationPayment(f.alice, f.domain, {
                deviceId: waiting.deviceId,
                owner: f.alice.address,
                maxFee: ACTIVATION_FEE,
                deadline: DEADLINE,
              }),
            );
          },
          above(newAct, ACTIVATION_FEE),
        ],
        [
          "activateDevice through approveAndCall",
          async () =>
            f.token
              .connect(f.alice)
              .approveAndCall(
                registry,
                newAct,
                f.registry.interface.encodeFunctionData("activateDevice", [
                  ACTIVATION_FEE,
                  waiting.deviceId,
                  f.alice.address,
                  DEADLINE,
                  ...(await activationSig(f, waiting, f.alice.address)),
                ]),
              ),
          above(newAct, ACTIVATION_FEE),
        ],
        [
          "registerDevice through approveAndCall",
          () =>
            f.token
              .connect(f.maker)
              .approveAndCall(
                registry,
                newReg,
                f.registry.interface.encodeFunctionData("registerDevice", [
                  REGISTRATION_FEE,
                  fresh[0].deviceId,
                  fresh[0].wallet.address,
                  1,
                  ZeroHash,
                ]),
              ),
          above(newReg, REGISTRATION_FEE),
        ],
      ];
      for (const [what, attempt, [fee, max]] of attempts) {
        await expect(attempt(), what).to.be.revertedWithCustomError(f.registry, "FeeAboveMax").withArgs(fee, max);
      }
      expect(await state(f, ids)).to.deep.equal(before);
      expect(await f.token.allowance(f.alice.address, registry)).to.equal(ethers.MaxUint256);
      // With the new fees consented to, the same calls go through.
      await maker.registerDevice(newReg, fresh[0].deviceId, fresh[0].wallet.address, 1, ZeroHash);
      expect((await f.registry.getDevice(fresh[0].deviceId)).status).to.equal(Status.Registered);
    });

    it("attack: the admin raising the activation fee before a whitelist commit is mined cannot fix the higher fee on the root; nothing is charged", async function () {
      const f = await loadFixture(frontRunFixture);
      const [, newAct] = [REGISTRATION_FEE, await f.registry.MAX_ACTIVATION_FEE()];
      // The manufacturer sends commitWhitelist at today's activation fee; the admin's raise is mined first.
      await f.registry.connect(f.admin).setFees(REGISTRATION_FEE, newAct);
      const maker = await f.registry.getManufacturer(f.maker.address);
      const [pool, balance] = [await f.registry.rewardPool(), await f.token.balanceOf(f.maker.address)];
      await expect(f.registry.connect(f.maker).commitWhitelist(REGISTRATION_FEE, ACTIVATION_FEE, f.whitelist.root, 4))
        .to.be.revertedWithCustomError(f.registry, "ActivationFeeAboveMax")
        .withArgs(newAct, ACTIVATION_FEE);
      expect(await f.registry.getWhitelist(1, f.whitelist.root)).to.deep.equal([0n, 0n, 0n, 0n]);
      expect(await f.registry.getManufacturer(f.maker.address)).to.deep.equal(maker);
      expect([await f.registry.rewardPool(), await f.token.balanceOf(f.maker.address)]).to.deep.equal([pool, balance]);
      // Once the fee is back, or the manufacturer agrees to it, the root commits with the fee agreed.
      await f.registry.connect(f.admin).setFees(REGISTRATION_FEE, ACTIVATION_FEE);
      await f.registry.connect(f.maker).commitWhitelist(REGISTRATION_FEE, ACTIVATION_FEE, f.whitelist.root, 4);
      expect((await f.registry.getWhitelist(1, f.whitelist.root)).activationFee).to.equal(ACTIVATION_FEE);
    });

    it("activateFromWhitelist refuses a maxFee below the root's committed fee, even when the current fee is lower", async function () {
      const f = await loadFixture(frontRunFixture);
      await f.registry.connect(f.maker).commitWhitelist(REGISTRATION_FEE, ACTIVATION_FEE, f.whitelist.root, 4);
      await f.registry.connect(f.admin).setFees(REGISTRATION_FEE, 0);
      const e = f.whitelist.entries[2];
      const before = await state(f, [e.deviceId]);
      await expect(
        f.registry
          .connect(f.alice)
          .activateFromWhitelist(
            ACTIVATION_FEE - 1n,
            f.whitelist.root,
            e.deviceId,
            e.deviceType,
            e.proof,
            f.alice.address,
            DEADLINE,
            ...(await activationSig(f, f.fleet[2], f.alice.address)),
          ),
      )
        .to.be.revertedWithCustomError(f.registry, "FeeAboveMax")
        .withArgs(ACTIVATION_FEE, ACTIVATION_FEE - 1n);
      expect(await state(f, [e.deviceId])).to.deep.equal(before);
      expect((await f.registry.getWhitelist(1, f.whitelist.root)).used).to.equal(0n);
    });
  });
});
