import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { anyValue } from "@nomicfoundation/hardhat-chai-matchers/withArgs";
import { expect } from "chai";
import { ethers } from "hardhat";
import { Signature, Wallet, ZeroAddress, ZeroHash, id, keccak256, toBeHex, toUtf8Bytes } from "ethers";

import { compact, signActivation, signActivationPayment } from "../../src/eip712/device";
import { readDomain } from "../../src/eip712/domain";
import { signPermit } from "../../src/eip712/permit";
import { deviceRef, packScores } from "../../src/reputation/packed";
import { ACTIVATION_FEE, DEFAULT_SCORE, ONE, REGISTRATION_FEE, auditorFixture, testDevice } from "../shared/fixtures";
import type { AuditorFixture, TestDevice } from "../shared/fixtures";

const ROOT = id("reports-20d");
const DEADLINE = 4_102_444_800n;
const Status = { Unknown: 0n, Registered: 1n, Active: 2n, Revoked: 3n };

/** An id of the same manufacturer sharing `victim`'s low 64 bits (bit `bit` of the middle 160 flipped). */
function alias(victim: TestDevice, bit: number, tag: string): TestDevice {
  const deviceId = toBeHex(BigInt(victim.deviceId) ^ (1n << BigInt(bit)), 32);
  return { uid: tag, deviceId, wallet: new Wallet(keccak256(toUtf8Bytes(tag))), deviceType: 1 };
}

async function nextEpoch(f: AuditorFixture): Promise<bigint> {
  await time.increase(Number(await f.registry.epochLength()));
  return f.registry.currentEpoch();
}

/** The victim: alice's active device, scored 800/+1; a registered twin (same reference) and a second manufacturer. */
async function refsFixture() {
  const f = await auditorFixture();
  const victim = f.devices[0];
  const epoch = await f.registry.currentEpoch();
  await f.registry.connect(f.auditor).updateScore(victim.deviceId, 800, 1, epoch, ROOT, 100);
  const twin = alias(victim, 90, "twin-20d");
  await f.registry.connect(f.maker).registerDevice(REGISTRATION_FEE, twin.deviceId, twin.wallet.address, 1, ZeroHash);
  const maker2 = (await ethers.getSigners())[9];
  await f.registry.connect(f.admin).addManufacturer(maker2.address, maker2.address, 100);
  await f.token.transfer(maker2.address, 1_000n * ONE);
  await f.token.connect(maker2).approve(await f.registry.getAddress(), ethers.MaxUint256);
  return { ...f, victim, twin, maker2 };
}

async function expectVictim(f: Awaited<ReturnType<typeof refsFixture>>, score: bigint, trend: bigint) {
  const v = await f.registry.getDevice(f.victim.deviceId);
  expect([v.status, v.owner, v.score, v.trend]).to.deep.equal([Status.Active, f.alice.address, score, trend]);
}

describe("attack review 20d: device references", function () {
  it("by design (documented in updateScore's NatSpec): an id never activated that shares an active device's reference scores that device, as its own id would; only an admitted auditor can send it, and the auditor service filters such ids out", async function () {
    const f = await loadFixture(refsFixture);
    const epoch = await nextEpoch(f);
    // An id nobody registered, with the victim's manufacturer prefix and low 64 bits: IDeviceReputation says
    // "Only activated devices can be scored" (DeviceNotAuditable), yet the write lands on the victim.
    const ghost = alias(f.victim, 150, "ghost-20d");
    expect((await f.registry.getDevice(ghost.deviceId)).status).to.equal(Status.Unknown);
    expect(deviceRef(ghost.deviceId)).to.equal(deviceRef(f.victim.deviceId));
    await expect(f.registry.connect(f.auditor).updateScore(ghost.deviceId, 3, -1, epoch, ROOT, 100))
      .to.emit(f.registry, "ScoresUpdated")
      .withArgs(f.auditor.address, epoch, ROOT, 100, 1, anyValue);
    await expectVictim(f, 3n, -1n);
    // The ghost itself still reads as never audited: the change is attributed (on chain) to nobody.
    expect((await f.registry.reputationOf(ghost.deviceId)).audited).to.equal(false);

    // A registered twin revoked before activation: "Revoked devices are never scored ... named in a
    // RevokedDeviceSkipped event", yet an entry naming it changes the victim and names nothing.
    await f.registry.connect(f.maker).revokeDevice(f.twin.deviceId, 1);
    const epoch2 = await nextEpoch(f);
    await expect(
      f.registry
        .connect(f.auditor)
        .updateScores([{ deviceId: f.twin.deviceId, score: 999, trend: 1 }], epoch2, ROOT, 100),
    )
      .to.emit(f.registry, "ScoresUpdated")
      .withArgs(f.auditor.address, epoch2, ROOT, 100, 1, anyValue)
      .and.not.to.emit(f.registry, "RevokedDeviceSkipped");
    await expectVictim(f, 999n, 1n);
    expect((await f.registry.getDevice(f.twin.deviceId)).status).to.equal(Status.Revoked);
  });

  it("attack: a registered twin's views show no owner, no key validity and the default score; its owner-only calls revert", async function () {
    const f = await loadFixture(refsFixture);
    const t = f.twin.deviceId;
    const v = await f.registry.getDevice(t);
    expect([v.status, v.owner, v.score, v.trend, v.deviceKey]).to.deep.equal([
      Status.Registered,
      ZeroAddress,
      BigInt(DEFAULT_SCORE),
      0n,
      f.twin.wallet.address,
    ]);
    expect(await f.registry.ownerAndStatus(t)).to.deep.equal([ZeroAddress, Status.Registered]);
    expect(await f.registry.ownerStatusAndKey(t)).to.deep.equal([
      ZeroAddress,
      Status.Registered,
      f.twin.wallet.address,
    ]);
    expect((await f.registry.reputationOf(t)).audited).to.equal(false);
    const digest = id("challenge");
    const sig = f.twin.wallet.signingKey.sign(digest).serialized;
    expect(await f.registry.isValidDeviceSignature(t, digest, sig)).to.equal(false);
    // The victim's owner cannot reach the twin through the shared word.
    await expect(f.registry.connect(f.alice).transferDevice(t, f.bob.address))
      .to.be.revertedWithCustomError(f.registry, "UnexpectedDeviceStatus")
      .withArgs(t, Status.Registered);
    await expect(f.registry.connect(f.alice).rotateDeviceKey(t, f.bob.address, 4_102_444_800n, ZeroHash, ZeroHash))
      .to.be.revertedWithCustomError(f.registry, "UnexpectedDeviceStatus")
      .withArgs(t, Status.Registered);
    // The victim's transfer leaves the twin ownerless.
    await f.registry.connect(f.alice).transferDevice(f.victim.deviceId, f.bob.address);
    expect((await f.registry.ownerAndStatus(t))[0]).to.equal(ZeroAddress);
    expect((await f.registry.ownerAndStatus(f.victim.deviceId))[0]).to.equal(f.bob.address);
  });

  it("attack: a second manufacturer's id with the same low 64 bits is its own word; it cannot revoke, score or read the first", async function () {
    const f = await loadFixture(refsFixture);
    // Manufacturer 2's id: prefix 2, the victim's low 224 bits.
    const mask = (1n << 224n) - 1n;
    const cross = toBeHex((2n << 224n) | (BigInt(f.victim.deviceId) & mask), 32);
    expect(deviceRef(cross)).to.not.equal(deviceRef(f.victim.deviceId));
    const key = Wallet.createRandom().address;
    await expect(
      f.registry
        .connect(f.maker2)
        .registerAndActivate(REGISTRATION_FEE + ACTIVATION_FEE, cross, key, 1, ZeroHash, f.maker2.address),
    )
      .to.emit(f.registry, "DeviceActivated")
      .withArgs(cross, f.maker2.address);
    await expectVictim(f, 800n, 1n);
    const c = await f.registry.getDevice(cross);
    expect([c.owner, c.score, c.manufacturerId]).to.deep.equal([f.maker2.address, 100n, 2n]);
    await expect(f.registry.connect(f.maker2).revokeDevice(f.victim.deviceId, 1))
      .to.be.revertedWithCustomError(f.registry, "NotDeviceManufacturerOrAdmin")
      .withArgs(f.victim.deviceId, f.maker2.address);
    // Registering in another's namespace is refused.
    const foreign = alias(f.victim, 95, "foreign-20d");
    await expect(f.registry.connect(f.maker2).registerDevice(REGISTRATION_FEE, foreign.deviceId, key, 1, ZeroHash))
      .to.be.revertedWithCustomError(f.registry, "DeviceIdOutsideNamespace")
      .withArgs(foreign.deviceId, 2);
    // Scoring the cross id touches only its word.
    const epoch = await nextEpoch(f);
    await f.registry
      .connect(f.auditor)
      .updateScoresPacked(packScores([{ deviceId: cross, score: 1, trend: -1 }]), epoch, ROOT, 100);
    expect((await f.registry.reputationOf(cross)).score).to.equal(1n);
    await expectVictim(f, 800n, 1n);
  });

  it("attack: revoking the active victim marks only its word; its twin stays unactivatable and its views stay ownerless", async function () {
    const f = await loadFixture(refsFixture);
    await f.registry.connect(f.maker).revokeDevice(f.victim.deviceId, 2);
    const v = await f.registry.getDevice(f.victim.deviceId);
    expect([v.status, v.owner, v.score]).to.deep.equal([Status.Revoked, f.alice.address, 800n]);
    const epoch = await nextEpoch(f);
    await expect(
      f.registry
        .connect(f.auditor)
        .updateScoresPacked(packScores([{ deviceId: f.twin.deviceId, score: 5, trend: 0 }]), epoch, ROOT, 100),
    )
      .to.emit(f.registry, "RevokedRefSkipped")
      .withArgs(deviceRef(f.victim.deviceId), epoch);
    expect((await f.registry.getDevice(f.victim.deviceId)).score).to.equal(800n);
    expect(await f.registry.ownerAndStatus(f.twin.deviceId)).to.deep.equal([ZeroAddress, Status.Registered]);
    // A fresh device of the same manufacturer (different reference) is unaffected.
    const fresh = testDevice(2099);
    await f.registry
      .connect(f.maker)
      .registerAndActivate(
        REGISTRATION_FEE + ACTIVATION_FEE,
        fresh.deviceId,
        fresh.wallet.address,
        1,
        ZeroHash,
        f.bob.address,
      );
    expect(await f.registry.ownerAndStatus(fresh.deviceId)).to.deep.equal([f.bob.address, Status.Active]);
  });
  it("attack: a relayed activateDeviceWithPermit of the twin, with the new owner's permit and consent, reverts DeviceRefTaken and spends neither", async function () {
    const f = await loadFixture(refsFixture);
    await f.token.transfer(f.bob.address, 10n * ONE);
    const registry = await f.registry.getAddress();
    const activation = compact(
      await signActivation(f.twin.wallet, f.domain, {
        deviceId: f.twin.deviceId,
        owner: f.bob.address,
        deadline: DEADLINE,
      }),
    );
    const nonce = await f.token.nonces(f.bob.address);
    const permit = Signature.from(
      await signPermit(f.bob, await readDomain(f.token), {
        owner: f.bob.address,
        spender: registry,
        value: ACTIVATION_FEE,
        nonce,
        deadline: DEADLINE,
      }),
    );
    const consent = await signActivationPayment(f.bob, f.domain, {
      deviceId: f.twin.deviceId,
      owner: f.bob.address,
      maxFee: ACTIVATION_FEE,
      deadline: DEADLINE,
    });
    const balance = await f.token.balanceOf(f.bob.address);
    await expect(
      f.registry
        .connect(f.relayer)
        .activateDeviceWithPermit(
          ACTIVATION_FEE,
          f.twin.deviceId,
          f.bob.address,
          DEADLINE,
          ...activation,
          DEADLINE,
          permit.v,
          permit.r,
          permit.s,
          consent,
        ),
    )
      .to.be.revertedWithCustomError(f.registry, "DeviceRefTaken")
      .withArgs(f.twin.deviceId, deviceRef(f.twin.deviceId));
    expect(await f.token.nonces(f.bob.address)).to.equal(nonce);
    expect(await f.token.balanceOf(f.bob.address)).to.equal(balance);
    expect(await f.token.allowance(f.bob.address, registry)).to.equal(0n);
    expect(await f.registry.ownerAndStatus(f.twin.deviceId)).to.deep.equal([ZeroAddress, Status.Registered]);
    await expectVictim(f, 800n, 1n);
  });
});
