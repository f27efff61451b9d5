import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import {
  MaxUint256,
  Signature,
  TypedDataEncoder,
  ZeroAddress,
  ZeroHash,
  hexlify,
  keccak256,
  toUtf8Bytes,
} from "ethers";
import { ethers } from "hardhat";

import {
  PAY_ACTIVATION_TYPES,
  compact,
  identityClaimDigest,
  signActivation,
  signActivationPayment,
  signIdentityClaim,
} from "../../src/eip712/device";
import { readDomain } from "../../src/eip712/domain";
import { signPermit } from "../../src/eip712/permit";
import type { TypedDataSigner } from "../../src/eip712/permit";
import { ACTIVATION_FEE, ONE, REGISTRATION_FEE, registryFixture, testDevice } from "../shared/fixtures";
import type { RegistryFixture, TestDevice } from "../shared/fixtures";

const DEADLINE = 4_102_444_800n; // 2100-01-01: fixed, so signatures are deterministic
const Status = { Unknown: 0n, Registered: 1n, Active: 2n, Revoked: 3n };
/** secp256k1's group order: n − s is the malleable twin of s. */
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

async function registered(f: RegistryFixture, device: TestDevice): Promise<void> {
  await f.registry
    .connect(f.maker)
    .registerDevice(REGISTRATION_FEE, device.deviceId, device.wallet.address, device.deviceType, ZeroHash);
}

async function permitFor(
  f: RegistryFixture,
  signer: TypedDataSigner,
  m: { owner: string; value: bigint; spender?: string; nonce?: bigint; deadline?: bigint },
): Promise<[bigint, number, string, string]> {
  const deadline = m.deadline ?? DEADLINE;
  const message = {
    owner: m.owner,
    spender: m.spender ?? (await f.registry.getAddress()),
    value: m.value,
    nonce: m.nonce ?? (await f.token.nonces(m.owner)),
    deadline,
  };
  const { v, r, s } = Signature.from(await signPermit(signer, await readDomain(f.token), message));
  return [deadline, v, r, s];
}

/** The victim's money, allowance, permit nonce and the device's record, to compare before and after. */
async function snapshot(f: RegistryFixture, victim: string, device: TestDevice) {
  const registry = await f.registry.getAddress();
  const d = await f.registry.getDevice(device.deviceId);
  return {
    balance: await f.token.balanceOf(victim),
    allowance: await f.token.allowance(victim, registry),
    nonce: await f.token.nonces(victim),
    pool: await f.registry.rewardPool(),
    status: d.status,
    owner: d.owner,
  };
}

describe("DeviceRegistry: consent to pay, and both signature forms", function () {
  describe("activateDeviceWithPermit takes the fee only with the owner's consent for that device (finding 1)", function () {
    const NO_PERMIT: [bigint, number, string, string] = [DEADLINE, 0, ZeroHash, ZeroHash];

    async function activationBy(f: RegistryFixture, device: TestDevice, owner: string) {
      return compact(
        await signActivation(device.wallet, f.domain, { deviceId: device.deviceId, owner, deadline: DEADLINE }),
      );
    }

    async function consentOf(
      f: RegistryFixture,
      signer: TypedDataSigner,
      m: { deviceId: string; owner?: string; maxFee?: bigint; deadline?: bigint },
    ): Promise<string> {
      // The paying owner is alice unless named: every attack here targets her.
      return signActivationPayment(signer, f.domain, {
        deviceId: m.deviceId,
        owner: m.owner ?? f.alice.address,
        maxFee: m.maxFee ?? ACTIVATION_FEE,
        deadline: m.deadline ?? DEADLINE,
      });
    }

    it("attack: a device key holder activates for a victim with a standing allowance, with no, forged or someone else's consent, even with the victim's good permit: all revert, the victim pays nothing", async function () {
      const f = await loadFixture(registryFixture);
      // alice, the victim, gave the registry an unlimited allowance (fixture). mallory, the attacker, holds
      // the key of a registered, inactive device (she bought it, or made it).
      const [device, other] = [testDevice(1), testDevice(2)];
      await registered(f, device);
      expect(await f.token.allowance(f.alice.address, await f.registry.getAddress())).to.equal(MaxUint256);
      const before = await snapshot(f, f.alice.address, device);
      expect(before.status).to.equal(Status.Registered);
      const activation = await activationBy(f, device, f.alice.address);
      const goodPermit = await permitFor(f, f.alice, { owner: f.alice.address, value: ACTIVATION_FEE });
      const consents: [string, string, [bigint, number, string, string]][] = [
        ["no consent", "0x", NO_PERMIT],
        ["no consent, with alice's good permit", "0x", goodPermit],
        ["65 bytes of garbage", hexlify(new Uint8Array(65).fill(7)), goodPermit],
        ["a consent signed by mallory", await consentOf(f, f.mallory, device), goodPermit],
        ["a consent signed by the device key", await consentOf(f, device.wallet, device), goodPermit],
        ["alice's consent for another device", await consentOf(f, f.alice, other), goodPermit],
        [
          "alice's consent for a lower fee ceiling than the call claims",
          await consentOf(f, f.alice, { deviceId: device.deviceId, maxFee: ACTIVATION_FEE - 1n }),
          goodPermit,
        ],
        [
          "alice's consent naming another paying account (her smart wallet, which accepts her signature too)",
          await consentOf(f, f.alice, { deviceId: device.deviceId, owner: f.bob.address }),
          goodPermit,
        ],
        ["alice's consent cut to 64 bytes", (await consentOf(f, f.alice, device)).slice(0, 130), goodPermit],
      ];
      for (const [what, consent, permit] of consents) {
        const args = [
          ACTIVATION_FEE,
          device.deviceId,
          f.alice.address,
          DEADLINE,
          ...activation,
          ...permit,
          consent,
        ] as const;
        await expect(f.registry.connect(f.mallory).activateDeviceWithPermit(...args), what)
          .to.be.revertedWithCustomError(f.registry, "InvalidOwnerConsent")
          .withArgs(device.deviceId, f.alice.address);
        // The same through the token's approveAndCall: the registry sees mallory as the caller.
        const data = f.registry.interface.encodeFunctionData("activateDeviceWithPermit", [...args]);
        await expect(f.token.connect(f.mallory).approveAndCall(await f.registry.getAddress(), 0n, data), what)
          .to.be.revertedWithCustomError(f.registry, "InvalidOwnerConsent")
          .withArgs(device.deviceId, f.alice.address);
      }
      // An expired consent is refused as expired, before its signature is even looked at.
      const expired = await consentOf(f, f.alice, { deviceId: device.deviceId, deadline: 1n });
      await expect(
        f.registry
          .connect(f.mallory)
          .activateDeviceWithPermit(
            ACTIVATION_FEE,
            device.deviceId,
            f.alice.address,
            DEADLINE,
            ...activation,
            1n,
            0,
            ZeroHash,
            ZeroHash,
            expired,
          ),
      )
        .to.be.revertedWithCustomError(f.registry, "SignatureExpired")
        .withArgs(1n);
      expect(await snapshot(f, f.alice.address, device)).to.deep.equal(before);
      expect((await f.registry.getDevice(device.deviceId)).owner).to.equal(ZeroAddress);
      expect(await f.registry.queryFilter(f.registry.filters.DeviceActivated(device.deviceId))).to.deep.equal([]);
    });

    it("attack: a front-runner holding another inactive device's key cannot spend the owner's relayed permit and consent on that device", async function () {
      const f = await loadFixture(registryFixture);
      // alice wants device A activated by a relayer; she signs a permit and her consent for A. mallory holds
      // the key of device B (same fee), sees the pending call, and sends alice's permit with B instead.
      const [deviceA, deviceB] = [testDevice(1), testDevice(2)];
      await registered(f, deviceA);
      await registered(f, deviceB);
      const permit = await permitFor(f, f.alice, { owner: f.alice.address, value: ACTIVATION_FEE });
      const consentA = await consentOf(f, f.alice, deviceA);
      const before = await snapshot(f, f.alice.address, deviceB);
      await expect(
        f.registry
          .connect(f.mallory)
          .activateDeviceWithPermit(
            ACTIVATION_FEE,
            deviceB.deviceId,
            f.alice.address,
            DEADLINE,
            ...(await activationBy(f, deviceB, f.alice.address)),
            ...permit,
            consentA,
          ),
      )
        .to.be.revertedWithCustomError(f.registry, "InvalidOwnerConsent")
        .withArgs(deviceB.deviceId, f.alice.address);
      expect(await snapshot(f, f.alice.address, deviceB)).to.deep.equal(before);
      // Even once the permit itself has been front-run onto the token, B still cannot be charged to alice.
      await f.token
        .connect(f.mallory)
        .permit(f.alice.address, await f.registry.getAddress(), ACTIVATION_FEE, ...permit);
      await expect(
        f.registry
          .connect(f.mallory)
          .activateDeviceWithPermit(
            ACTIVATION_FEE,
            deviceB.deviceId,
            f.alice.address,
            DEADLINE,
            ...(await activationBy(f, deviceB, f.alice.address)),
            ...NO_PERMIT,
            consentA,
          ),
      ).to.be.revertedWithCustomError(f.registry, "InvalidOwnerConsent");
      expect((await f.registry.getDevice(deviceB.deviceId)).status).to.equal(Status.Registered);
      // The relayer's genuine call for A still goes through, the permit already spent by the front-runner.
      const balance = await f.token.balanceOf(f.alice.address);
      await expect(
        f.registry
          .connect(f.relayer)
          .activateDeviceWithPermit(
            ACTIVATION_FEE,
            deviceA.deviceId,
            f.alice.address,
            DEADLINE,
            ...(await activationBy(f, deviceA, f.alice.address)),
            ...permit,
            consentA,
          ),
      )
        .to.emit(f.registry, "DeviceActivated")
        .withArgs(deviceA.deviceId, f.alice.address);
      expect(await f.token.balanceOf(f.alice.address)).to.equal(balance - ACTIVATION_FEE);
    });

    it("a relayer activates with the owner's consent and permit, and the owner's consent alone under its allowance; the relayer never pays", async function () {
      const f = await loadFixture(registryFixture);
      const [d1, d2] = [testDevice(1), testDevice(2)];
      await registered(f, d1);
      await registered(f, d2);
      const registry = await f.registry.getAddress();
      // bob has no allowance: his permit provides it.
      await f.token.transfer(f.bob.address, 10n * ONE);
      const permit = await permitFor(f, f.bob, { owner: f.bob.address, value: ACTIVATION_FEE });
      await expect(
        f.registry
          .connect(f.relayer)
          .activateDeviceWithPermit(
            ACTIVATION_FEE,
            d1.deviceId,
            f.bob.address,
            DEADLINE,
            ...(await activationBy(f, d1, f.bob.address)),
            ...permit,
            await consentOf(f, f.bob, { deviceId: d1.deviceId, owner: f.bob.address }),
          ),
      )
        .to.emit(f.registry, "DeviceActivated")
        .withArgs(d1.deviceId, f.bob.address);
      expect(await f.token.balanceOf(f.bob.address)).to.equal(10n * ONE - ACTIVATION_FEE);
      expect(await f.token.allowance(f.bob.address, registry)).to.equal(0n);
      expect(await f.token.nonces(f.bob.address)).to.equal(1n);
      // alice has a standing allowance: her consent alone lets the relayer activate for her.
      const balance = await f.token.balanceOf(f.alice.address);
      await f.registry
        .connect(f.relayer)
        .activateDeviceWithPermit(
          ACTIVATION_FEE,
          d2.deviceId,
          f.alice.address,
          DEADLINE,
          ...(await activationBy(f, d2, f.alice.address)),
          ...NO_PERMIT,
          await consentOf(f, f.alice, d2),
        );
      expect(await f.token.balanceOf(f.alice.address)).to.equal(balance - ACTIVATION_FEE);
      expect(await f.token.balanceOf(f.relayer.address)).to.equal(0n);
      expect((await f.registry.getDevice(d2.deviceId)).owner).to.equal(f.alice.address);
    });

    it("the owner's permit is for its fee ceiling, so a fee below it (one lowered before inclusion, say) does not void it; the owner pays the fee only", async function () {
      const f = await loadFixture(registryFixture);
      const device = testDevice(1);
      await registered(f, device);
      await f.token.transfer(f.bob.address, 10n * ONE);
      const ceiling = ACTIVATION_FEE + ONE;
      const permit = await permitFor(f, f.bob, { owner: f.bob.address, value: ceiling });
      const consent = await consentOf(f, f.bob, { deviceId: device.deviceId, owner: f.bob.address, maxFee: ceiling });
      await f.registry
        .connect(f.relayer)
        .activateDeviceWithPermit(
          ceiling,
          device.deviceId,
          f.bob.address,
          DEADLINE,
          ...(await activationBy(f, device, f.bob.address)),
          ...permit,
          consent,
        );
      expect(await f.token.balanceOf(f.bob.address)).to.equal(10n * ONE - ACTIVATION_FEE);
      // What is left can be pulled from bob only by his own call or another consent of his.
      expect(await f.token.allowance(f.bob.address, await f.registry.getAddress())).to.equal(ONE);
    });

    it("a contract owner consents by ERC-1271; an undisclosed digest is refused", async function () {
      const f = await loadFixture(registryFixture);
      const device = testDevice(1);
      await registered(f, device);
      const wallet = await (await ethers.getContractFactory("ConsentingWallet", f.alice)).deploy();
      const owner = await wallet.getAddress();
      await f.token.transfer(owner, 10n * ONE);
      await wallet.approveToken(await f.token.getAddress(), await f.registry.getAddress(), ACTIVATION_FEE);
      const call = async () =>
        f.registry
          .connect(f.relayer)
          .activateDeviceWithPermit(
            ACTIVATION_FEE,
            device.deviceId,
            owner,
            DEADLINE,
            ...(await activationBy(f, device, owner)),
            ...NO_PERMIT,
            "0x",
          );
      await expect(call())
        .to.be.revertedWithCustomError(f.registry, "InvalidOwnerConsent")
        .withArgs(device.deviceId, owner);
      expect(await f.token.balanceOf(owner)).to.equal(10n * ONE);
      await wallet.approveDigest(
        TypedDataEncoder.hash(f.domain, PAY_ACTIVATION_TYPES, {
          deviceId: device.deviceId,
          owner,
          maxFee: ACTIVATION_FEE,
          deadline: DEADLINE,
        }),
      );
      await expect(call()).to.emit(f.registry, "DeviceActivated").withArgs(device.deviceId, owner);
      expect(await f.token.balanceOf(owner)).to.equal(10n * ONE - ACTIVATION_FEE);
    });

    it("the owner submits it itself without consent: under its own allowance, or with its permit and no allowance", async function () {
      const f = await loadFixture(registryFixture);
      const [d1, d2] = [testDevice(1), testDevice(2)];
      await registered(f, d1);
      await registered(f, d2);
      const balance = await f.token.balanceOf(f.alice.address);
      await expect(
        f.registry
          .connect(f.alice)
          .activateDeviceWithPermit(
            ACTIVATION_FEE,
            d1.deviceId,
            f.alice.address,
            DEADLINE,
            ...(await activationBy(f, d1, f.alice.address)),
            ...NO_PERMIT,
            "0x",
          ),
      )
        .to.emit(f.registry, "DeviceActivated")
        .withArgs(d1.deviceId, f.alice.address);
      expect(await f.token.balanceOf(f.alice.address)).to.equal(balance - ACTIVATION_FEE);
      await f.token.transfer(f.bob.address, 10n * ONE);
      const permit = await permitFor(f, f.bob, { owner: f.bob.address, value: ACTIVATION_FEE });
      await f.registry
        .connect(f.bob)
        .activateDeviceWithPermit(
          ACTIVATION_FEE,
          d2.deviceId,
          f.bob.address,
          DEADLINE,
          ...(await activationBy(f, d2, f.bob.address)),
          ...permit,
          "0x",
        );
      expect(await f.token.balanceOf(f.bob.address)).to.equal(10n * ONE - ACTIVATION_FEE);
      expect((await f.registry.getDevice(d2.deviceId)).owner).to.equal(f.bob.address);
    });

    it("with a zero activation fee a relayer needs no consent, and nobody is charged", async function () {
      const f = await loadFixture(registryFixture);
      await f.registry.connect(f.admin).setFees(ONE, 0n);
      const device = testDevice(1);
      await registered(f, device);
      const before = await snapshot(f, f.alice.address, device);
      await f.registry
        .connect(f.relayer)
        .activateDeviceWithPermit(
          ACTIVATION_FEE,
          device.deviceId,
          f.alice.address,
          DEADLINE,
          ...(await activationBy(f, device, f.alice.address)),
          ...NO_PERMIT,
          "0x",
        );
      const after = await snapshot(f, f.alice.address, device);
      expect([after.balance, after.allowance, after.nonce, after.pool]).to.deep.equal([
        before.balance,
        before.allowance,
        before.nonce,
        before.pool,
      ]);
      expect([after.status, after.owner]).to.deep.equal([Status.Active, f.alice.address]);
    });
  });

  describe("isValidDeviceSignature takes 65- and 64-byte signatures (finding 8)", function () {
    async function activeWithClaim(f: RegistryFixture) {
      const device = testDevice(1);
      await f.registry
        .connect(f.maker)
        .registerAndActivate(
          REGISTRATION_FEE + ACTIVATION_FEE,
          device.deviceId,
          device.wallet.address,
          1,
          ZeroHash,
          f.alice.address,
        );
      const claim = { deviceId: device.deviceId, challenge: keccak256(toUtf8Bytes("peer-challenge-7")) };
      const digest = identityClaimDigest(f.domain, claim);
      const signature = Signature.from(await signIdentityClaim(device.wallet, f.domain, claim));
      return { device, claim, digest, signature };
    }

    it("accepts a claim in either form, and only from the device's key while it is active", async function () {
      const f = await loadFixture(registryFixture);
      const { device, claim, digest, signature } = await activeWithClaim(f);
      expect(signature.serialized.length).to.equal(2 + 130);
      expect(signature.compactSerialized.length).to.equal(2 + 128);
      expect(await f.registry.isValidDeviceSignature(device.deviceId, digest, signature.serialized)).to.equal(true);
      expect(await f.registry.isValidDeviceSignature(device.deviceId, digest, signature.compactSerialized)).to.equal(
        true,
      );
      // Both parities in compact form (the y-parity rides in the top bit of vs).
      const other = Signature.from(
        await signIdentityClaim(device.wallet, f.domain, { ...claim, challenge: keccak256(toUtf8Bytes("x")) }),
      );
      const otherDigest = identityClaimDigest(f.domain, { ...claim, challenge: keccak256(toUtf8Bytes("x")) });
      expect(other.yParity).to.not.equal(signature.yParity);
      expect(await f.registry.isValidDeviceSignature(device.deviceId, otherDigest, other.compactSerialized)).to.equal(
        true,
      );
      // Another key's compact claim, or a compact claim over another digest, is false.
      const stranger = Signature.from(await signIdentityClaim(testDevice(2).wallet, f.domain, claim));
      expect(await f.registry.isValidDeviceSignature(device.deviceId, digest, stranger.compactSerialized)).to.equal(
        false,
      );
      expect(
        await f.registry.isValidDeviceSignature(device.deviceId, otherDigest, signature.compactSerialized),
      ).to.equal(false);
      // A revoked device's claims are false in both forms.
      await f.registry.connect(f.maker).revokeDevice(device.deviceId, 1);
      expect(await f.registry.isValidDeviceSignature(device.deviceId, digest, signature.serialized)).to.equal(false);
      expect(await f.registry.isValidDeviceSignature(device.deviceId, digest, signature.compactSerialized)).to.equal(
        false,
      );
    });

    it("attack: a malleated (high-s) claim in either form and every other length are refused", async function () {
      const f = await loadFixture(registryFixture);
      const { device, digest, signature } = await activeWithClaim(f);
      const highS = N - BigInt(signature.s);
      const word = (x: bigint) => x.toString(16).padStart(64, "0");
      const flippedV = signature.v === 27 ? "1c" : "1b";
      // 65 bytes: (r, n − s, v flipped) is the malleable twin ecrecover would accept.
      const malleated65 = `${signature.r}${word(highS)}${flippedV}`;
      // 64 bytes: the same twin in compact form (flipped parity in the top bit, n − s below it).
      const flippedParity = BigInt(1 - signature.yParity) << 255n;
      const malleated64 = `${signature.r}${word(flippedParity | highS)}`;
      expect(await f.registry.isValidDeviceSignature(device.deviceId, digest, malleated65)).to.equal(false);
      expect(await f.registry.isValidDeviceSignature(device.deviceId, digest, malleated64)).to.equal(false);
      // Malformed lengths around the two valid ones, and none at all.
      const full = signature.serialized;
      for (const bad of ["0x", full.slice(0, 4), full.slice(0, 2 + 126), `${full}00`, `${full}${"00".repeat(31)}`]) {
        expect(
          await f.registry.isValidDeviceSignature(device.deviceId, digest, bad),
          `${(bad.length - 2) / 2} bytes`,
        ).to.equal(false);
      }
      // A 65-byte signature with v = 0/1 (not 27/28) is refused, as before.
      const rawV = `${full.slice(0, 2 + 128)}${signature.yParity === 0 ? "00" : "01"}`;
      expect(await f.registry.isValidDeviceSignature(device.deviceId, digest, rawV)).to.equal(false);
      // The genuine claim still validates: the refusals were about the form, not the device.
      expect(await f.registry.isValidDeviceSignature(device.deviceId, digest, signature.compactSerialized)).to.equal(
        true,
      );
    });
  });
});
