import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { Wallet, ZeroAddress, ZeroHash, id, keccak256, toBeHex, toUtf8Bytes } from "ethers";

import { compact, signActivation } from "../../src/eip712/device";
import { buildWhitelist } from "../../src/merkle/whitelist";
import { deviceRef, packScores } from "../../src/reputation/packed";
import { ACTIVATION_FEE, DEFAULT_SCORE, REGISTRATION_FEE, auditorFixture } from "../shared/fixtures";
import type { AuditorFixture, TestDevice } from "../shared/fixtures";

const DEADLINE = 4_102_444_800n;
const ROOT = id("reports");
const Status = { Registered: 1n, Active: 2n, Revoked: 3n };

/** Another id of the same manufacturer with the same low 64 bits (middle bit 100 + i flipped): the same reference. */
function collider(victim: TestDevice, i: number): TestDevice {
  const deviceId = toBeHex(BigInt(victim.deviceId) ^ (1n << BigInt(100 + i)), 32);
  return { uid: `collider-${i}`, deviceId, wallet: new Wallet(keccak256(toUtf8Bytes(`collider-${i}`))), deviceType: 1 };
}

/** The victim (an active device of alice's, already scored) and a registered id sharing its reference. */
async function collisionFixture() {
  const f = await auditorFixture();
  const victim = f.devices[0];
  const epoch = await f.registry.currentEpoch();
  await f.registry.connect(f.auditor).updateScore(victim.deviceId, 800, 1, epoch, ROOT, 100);
  const twin = collider(victim, 1);
  await f.registry.connect(f.maker).registerDevice(REGISTRATION_FEE, twin.deviceId, twin.wallet.address, 1, ZeroHash);
  return { ...f, victim, twin, epoch };
}

async function expectVictimIntact(f: AuditorFixture & { victim: TestDevice }) {
  const view = await f.registry.getDevice(f.victim.deviceId);
  expect([view.status, view.owner, view.score, view.trend]).to.deep.equal([Status.Active, f.alice.address, 800n, 1n]);
}

describe("Device references: a manufacturer's colliding ids [attack]", function () {
  it("an id sharing an active device's reference cannot be activated (DeviceRefTaken); the first device is intact", async function () {
    const f = await loadFixture(collisionFixture);
    expect(deviceRef(f.twin.deviceId)).to.equal(deviceRef(f.victim.deviceId));
    const sig = await signActivation(f.twin.wallet, f.domain, {
      deviceId: f.twin.deviceId,
      owner: f.bob.address,
      deadline: DEADLINE,
    });
    await expect(
      f.registry
        .connect(f.bob)
        .activateDevice(ACTIVATION_FEE, f.twin.deviceId, f.bob.address, DEADLINE, ...compact(sig)),
    )
      .to.be.revertedWithCustomError(f.registry, "DeviceRefTaken")
      .withArgs(f.twin.deviceId, deviceRef(f.twin.deviceId));
    await expectVictimIntact(f);
    // The registered twin shows no owner and no reputation of its own, though its reference's word is taken.
    const twin = await f.registry.getDevice(f.twin.deviceId);
    expect([twin.status, twin.owner, twin.score]).to.deep.equal([
      Status.Registered,
      ZeroAddress,
      BigInt(DEFAULT_SCORE),
    ]);
    expect(await f.registry.ownerAndStatus(f.twin.deviceId)).to.deep.equal([ZeroAddress, Status.Registered]);
    expect((await f.registry.ownerStatusAndKey(f.twin.deviceId))[0]).to.equal(ZeroAddress);
    expect((await f.registry.reputationOf(f.twin.deviceId)).audited).to.equal(false);
  });

  it("registerAndActivate and activateFromWhitelist of a colliding id revert DeviceRefTaken and register nothing", async function () {
    const f = await loadFixture(collisionFixture);
    const other = collider(f.victim, 2);
    await expect(
      f.registry
        .connect(f.maker)
        .registerAndActivate(
          REGISTRATION_FEE + ACTIVATION_FEE,
          other.deviceId,
          other.wallet.address,
          1,
          ZeroHash,
          f.bob.address,
        ),
    )
      .to.be.revertedWithCustomError(f.registry, "DeviceRefTaken")
      .withArgs(other.deviceId, deviceRef(other.deviceId));
    const whitelist = buildWhitelist([{ deviceId: other.deviceId, deviceKey: other.wallet.address, deviceType: 1 }], 1);
    await f.registry.connect(f.maker).commitWhitelist(REGISTRATION_FEE, ACTIVATION_FEE, whitelist.root, 1);
    const e = whitelist.entries[0];
    const sig = await signActivation(other.wallet, f.domain, {
      deviceId: other.deviceId,
      owner: f.bob.address,
      deadline: DEADLINE,
    });
    await expect(
      f.registry
        .connect(f.bob)
        .activateFromWhitelist(
          ACTIVATION_FEE,
          whitelist.root,
          e.deviceId,
          1,
          e.proof,
          f.bob.address,
          DEADLINE,
          ...compact(sig),
        ),
    )
      .to.be.revertedWithCustomError(f.registry, "DeviceRefTaken")
      .withArgs(other.deviceId, deviceRef(other.deviceId));
    expect((await f.registry.getDevice(other.deviceId)).status).to.equal(0n);
    expect((await f.registry.getWhitelist(1, whitelist.root)).used).to.equal(0n);
    await expectVictimIntact(f);
  });

  it("an auditor cannot score a registered, never activated device through a colliding reference", async function () {
    const f = await loadFixture(collisionFixture);
    // The reference names the first device activated under it: the score lands on the victim, never the twin.
    await nextEpoch(f);
    const epoch = await f.registry.currentEpoch();
    await f.registry
      .connect(f.auditor)
      .updateScoresPacked(packScores([{ deviceId: f.twin.deviceId, score: 10, trend: -1 }]), epoch, ROOT, 100);
    expect((await f.registry.reputationOf(f.twin.deviceId)).audited).to.equal(false);
    expect((await f.registry.getDevice(f.twin.deviceId)).score).to.equal(BigInt(DEFAULT_SCORE));
    const victim = await f.registry.reputationOf(f.victim.deviceId);
    expect([victim.score, victim.trend, victim.epoch]).to.deep.equal([10n, -1n, epoch]);
  });

  it("revoking the registered twin leaves the active device's owner and scoring untouched", async function () {
    const f = await loadFixture(collisionFixture);
    await expect(f.registry.connect(f.admin).revokeDevice(f.twin.deviceId, 1)).to.emit(f.registry, "DeviceRevoked");
    await expectVictimIntact(f);
    const twin = await f.registry.getDevice(f.twin.deviceId);
    expect([twin.status, twin.owner]).to.deep.equal([Status.Revoked, ZeroAddress]);
    await nextEpoch(f);
    const epoch = await f.registry.currentEpoch();
    await expect(
      f.registry
        .connect(f.auditor)
        .updateScoresPacked(packScores([{ deviceId: f.victim.deviceId, score: 600, trend: 0 }]), epoch, ROOT, 100),
    ).not.to.emit(f.registry, "RevokedRefSkipped");
    expect((await f.registry.reputationOf(f.victim.deviceId)).score).to.equal(600n);
  });
});

async function nextEpoch(f: AuditorFixture) {
  await time.increase(Number(await f.registry.epochLength()));
}
