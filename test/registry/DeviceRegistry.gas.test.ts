import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { ZeroHash } from "ethers";

import { compact, signActivation } from "../../src/eip712/device";
import { buildWhitelist } from "../../src/merkle/whitelist";
import type { Whitelist } from "../../src/merkle/whitelist";
import { ACTIVATION_FEE, REGISTRATION_FEE, registryFixture, testDevice } from "../shared/fixtures";
import type { RegistryFixture, TestDevice } from "../shared/fixtures";
import { coverageRunning, snapshotGas } from "../shared/gas";

const DEADLINE = 4_102_444_800n;

let cached: { fleet: TestDevice[]; whitelist: Whitelist } | undefined;
/** 2^14 devices of manufacturer #1 and their whitelist (14-level proofs), built once for both tests. */
function fleet16k(): { fleet: TestDevice[]; whitelist: Whitelist } {
  if (cached === undefined) {
    const fleet = Array.from({ length: 1 << 14 }, (_, i) => testDevice(i));
    const whitelist = buildWhitelist(
      fleet.map((d) => ({ deviceId: d.deviceId, deviceKey: d.wallet.address, deviceType: d.deviceType })),
      1,
    );
    cached = { fleet, whitelist };
  }
  return cached;
}

/** Targets from issue #3; anchors are Atonomi's deployed contract (see src/bench/anchors.ts). */
describe("DeviceRegistry gas [gas]", function () {
  async function batch(f: RegistryFixture, from: number, count: number) {
    const devices = Array.from({ length: count }, (_, i) => testDevice(from + i));
    const tx = await f.registry.connect(f.maker).registerDevices(
      REGISTRATION_FEE,
      devices.map((d) => d.deviceId),
      devices.map((d) => d.wallet.address),
      devices.map((d) => d.deviceType),
    );
    return (await tx.wait())!;
  }

  it("[gas] register one device (fee from credit)", async function () {
    const f = await loadFixture(registryFixture);
    const d = testDevice(1);
    const gas = await snapshotGas(
      "registry.registerDevice",
      f.registry
        .connect(f.maker)
        .registerDevice(REGISTRATION_FEE, d.deviceId, d.wallet.address, d.deviceType, ZeroHash),
    );
    if (!coverageRunning()) expect(gas).to.be.lessThanOrEqual(65_000n);
  });

  it("[gas] batch registration, per extra device", async function () {
    const one = (await batch(await loadFixture(registryFixture), 1, 1)).gasUsed;
    const many = await batch(await loadFixture(registryFixture), 1, 101);
    await snapshotGas("registry.registerDevices (batch of 101)", many);
    const perExtra = await snapshotGas("registry.registerDevices per extra device", (many.gasUsed - one) / 100n);
    if (!coverageRunning()) expect(perExtra).to.be.lessThanOrEqual(25_000n);
  });

  it("[gas] Merkle whitelist commit, whatever N", async function () {
    const f = await loadFixture(registryFixture);
    const gas = await snapshotGas(
      "registry.commitWhitelist",
      f.registry.connect(f.maker).commitWhitelist(REGISTRATION_FEE, ACTIVATION_FEE, "0x" + "ab".repeat(32), 50),
    );
    if (!coverageRunning()) expect(gas).to.be.lessThanOrEqual(60_000n);
  });

  it("[gas] activation: device signature checked, fee paid, owner stored", async function () {
    const f = await loadFixture(registryFixture);
    const d = testDevice(1);
    await f.registry
      .connect(f.maker)
      .registerDevice(REGISTRATION_FEE, d.deviceId, d.wallet.address, d.deviceType, ZeroHash);
    const sig = await signActivation(d.wallet, f.domain, {
      deviceId: d.deviceId,
      owner: f.alice.address,
      deadline: DEADLINE,
    });
    const gas = await snapshotGas(
      "registry.activateDevice",
      f.registry
        .connect(f.alice)
        .activateDevice(ACTIVATION_FEE, d.deviceId, f.alice.address, DEADLINE, ...compact(sig)),
    );
    if (!coverageRunning()) expect(gas).to.be.lessThanOrEqual(83_300n);
  });

  it("[gas] activation from a whitelist with a 14-level proof", async function () {
    const f = await loadFixture(registryFixture);
    await f.token.transfer(f.maker.address, 20_000n * 10n ** 18n); // capacity 16,384 × 1 THING
    const { fleet, whitelist } = fleet16k();
    await f.registry.connect(f.maker).commitWhitelist(REGISTRATION_FEE, ACTIVATION_FEE, whitelist.root, fleet.length);
    const e = whitelist.entries[1234];
    expect(e.proof).to.have.length(14);
    const sig = await signActivation(fleet[1234].wallet, f.domain, {
      deviceId: e.deviceId,
      owner: f.alice.address,
      deadline: DEADLINE,
    });
    const gas = await snapshotGas(
      "registry.activateFromWhitelist (14-level proof)",
      f.registry
        .connect(f.alice)
        .activateFromWhitelist(
          ACTIVATION_FEE,
          whitelist.root,
          e.deviceId,
          e.deviceType,
          e.proof,
          f.alice.address,
          DEADLINE,
          ...compact(sig),
        ),
    );
    if (!coverageRunning()) expect(gas).to.be.lessThanOrEqual(110_000n);
  });

  it("[gas] activation from a whitelist, fee paid in the same transaction through approveAndCall", async function () {
    const f = await loadFixture(registryFixture);
    await f.token.transfer(f.maker.address, 20_000n * 10n ** 18n);
    await f.token.connect(f.alice).approve(await f.registry.getAddress(), 0); // no standing allowance
    const { fleet, whitelist } = fleet16k();
    await f.registry.connect(f.maker).commitWhitelist(REGISTRATION_FEE, ACTIVATION_FEE, whitelist.root, fleet.length);
    const e = whitelist.entries[1234];
    const sig = await signActivation(fleet[1234].wallet, f.domain, {
      deviceId: e.deviceId,
      owner: f.alice.address,
      deadline: DEADLINE,
    });
    const data = f.registry.interface.encodeFunctionData("activateFromWhitelist", [
      ACTIVATION_FEE,
      whitelist.root,
      e.deviceId,
      e.deviceType,
      e.proof,
      f.alice.address,
      DEADLINE,
      ...compact(sig),
    ]);
    const fee = await f.registry.activationFee();
    // The convenience path (no prior approve) also pays for the allowance write and the token's callback.
    const gas = await snapshotGas(
      "registry.activateFromWhitelist via approveAndCall (14-level proof)",
      f.token.connect(f.alice).approveAndCall(await f.registry.getAddress(), fee, data),
    );
    expect((await f.registry.getDevice(e.deviceId)).owner).to.equal(f.alice.address);
    expect(gas).to.be.greaterThan(0n);
  });

  it("[gas] register and activate in one call", async function () {
    const f = await loadFixture(registryFixture);
    const d = testDevice(1);
    await snapshotGas(
      "registry.registerAndActivate",
      f.registry
        .connect(f.maker)
        .registerAndActivate(
          REGISTRATION_FEE + ACTIVATION_FEE,
          d.deviceId,
          d.wallet.address,
          d.deviceType,
          ZeroHash,
          f.alice.address,
        ),
    );
  });

  it("[gas] validation views (eth_call gas)", async function () {
    const f = await loadFixture(registryFixture);
    const d = testDevice(1);
    await f.registry
      .connect(f.maker)
      .registerAndActivate(
        REGISTRATION_FEE + ACTIVATION_FEE,
        d.deviceId,
        d.wallet.address,
        d.deviceType,
        ZeroHash,
        f.alice.address,
      );
    const challenge = "0x" + "11".repeat(32);
    const digest = await f.registry.identityClaimDigest(d.deviceId, challenge);
    const sig = d.wallet.signingKey.sign(digest).serialized;
    expect(await f.registry.isValidDeviceSignature(d.deviceId, digest, sig)).to.equal(true);
    await snapshotGas("registry.getDevice (eth_call)", f.registry.getDevice.estimateGas(d.deviceId));
    await snapshotGas(
      "registry.isValidDeviceSignature (eth_call)",
      f.registry.isValidDeviceSignature.estimateGas(d.deviceId, digest, sig),
    );
  });
});
