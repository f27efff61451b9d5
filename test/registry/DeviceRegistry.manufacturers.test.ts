import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { anyValue } from "@nomicfoundation/hardhat-chai-matchers/withArgs";
import { expect } from "chai";
import { ZeroAddress, ZeroHash, keccak256, toUtf8Bytes } from "ethers";
import { ethers } from "hardhat";

import { identityClaimDigest, signIdentityClaim } from "../../src/eip712/device";
import { contextFor } from "../../src/chain/context";
import type { SystemContext } from "../../src/chain/context";
import { acceptManufacturerAccount, proposeManufacturerAccount } from "../../src/registry";
import { buildWhitelist } from "../../src/merkle/whitelist";
import { ACTIVATION_FEE, DEFAULT_SCORE, ONE, REGISTRATION_FEE, registryFixture, testDevice } from "../shared/fixtures";
import type { RegistryFixture, TestDevice } from "../shared/fixtures";

const Status = { Unknown: 0n, Registered: 1n, Active: 2n, Revoked: 3n };
const ROOT = keccak256(toUtf8Bytes("a committed root"));

/** maker with one active device (owned by alice), one registered device and one open whitelist root. */
async function lifecycleFixture() {
  const f = await registryFixture();
  const signers = await ethers.getSigners();
  // Independent keys: the manufacturer's next account, and a second manufacturer.
  const [next, rival] = [signers[9], signers[10]];
  const active = testDevice(1);
  const inactive = testDevice(2);
  await f.registry
    .connect(f.maker)
    .registerAndActivate(
      REGISTRATION_FEE + ACTIVATION_FEE,
      active.deviceId,
      active.wallet.address,
      1,
      ZeroHash,
      f.alice.address,
    );
  await f.registry
    .connect(f.maker)
    .registerDevice(REGISTRATION_FEE, inactive.deviceId, inactive.wallet.address, 1, ZeroHash);
  await f.registry.connect(f.maker).commitWhitelist(REGISTRATION_FEE, ACTIVATION_FEE, ROOT, 5);
  return { ...f, next, rival, active, inactive };
}
type Lifecycle = Awaited<ReturnType<typeof lifecycleFixture>>;

async function deviceRecords(f: RegistryFixture, devices: TestDevice[]) {
  return Promise.all(
    devices.map(async (d) => {
      const v = await f.registry.getDevice(d.deviceId);
      return [v.status, v.owner, v.deviceKey, v.manufacturerId];
    }),
  );
}

async function manufacturer(f: RegistryFixture, account: string) {
  const m = await f.registry.getManufacturer(account);
  return { id: m.id, payout: m.payout, defaultScore: m.defaultScore, active: m.active, credit: m.credit };
}

/** The library's context for a fixture's registry and token (the other contracts are not deployed). */
async function contextOf(f: RegistryFixture): Promise<SystemContext> {
  return contextFor(ethers.provider, {
    ThingToken: await f.token.getAddress(),
    DeviceRegistry: await f.registry.getAddress(),
    PaymentChannels: ZeroAddress,
    DeviceWalletFactory: ZeroAddress,
  });
}

async function rotated(f: Lifecycle): Promise<void> {
  await f.registry.connect(f.maker).proposeManufacturerAccount(f.next.address);
  await f.registry.connect(f.next).acceptManufacturerAccount(1);
}

describe("DeviceRegistry: manufacturer lifecycle (finding 11)", function () {
  describe("removal ends a manufacturer's powers", function () {
    it("attack: a removed manufacturer (a leaked key) cannot revoke its devices or close its whitelists; they stay usable", async function () {
      const f = await loadFixture(lifecycleFixture);
      await f.registry.connect(f.admin).removeManufacturer(f.maker.address);
      const devices = await deviceRecords(f, [f.active, f.inactive]);
      for (const d of [f.active, f.inactive]) {
        await expect(f.registry.connect(f.maker).revokeDevice(d.deviceId, 1))
          .to.be.revertedWithCustomError(f.registry, "NotDeviceManufacturerOrAdmin")
          .withArgs(d.deviceId, f.maker.address);
      }
      await expect(f.registry.connect(f.maker).closeWhitelist(1, ROOT))
        .to.be.revertedWithCustomError(f.registry, "NotWhitelistManufacturerOrAdmin")
        .withArgs(ROOT, f.maker.address);
      expect(await deviceRecords(f, [f.active, f.inactive])).to.deep.equal(devices);
      expect(await f.registry.getWhitelist(1, ROOT)).to.deep.equal([1n, 5n, 0n, ACTIVATION_FEE]);
      // The active device still proves its identity; the admin keeps its remedy.
      const claim = { deviceId: f.active.deviceId, challenge: keccak256(toUtf8Bytes("peer")) };
      expect(
        await f.registry.isValidDeviceSignature(
          f.active.deviceId,
          identityClaimDigest(f.domain, claim),
          await signIdentityClaim(f.active.wallet, f.domain, claim),
        ),
      ).to.equal(true);
      await expect(f.registry.connect(f.admin).revokeDevice(f.active.deviceId, 2))
        .to.emit(f.registry, "DeviceRevoked")
        .withArgs(f.active.deviceId, f.admin.address, 2);
      await expect(f.registry.connect(f.admin).closeWhitelist(1, ROOT))
        .to.emit(f.registry, "WhitelistClosed")
        .withArgs(ROOT, 1, 5);
    });

    it("attack: a removed manufacturer cannot redirect its credit, move its account or commit roots; its credit still goes to its payout", async function () {
      const f = await loadFixture(lifecycleFixture);
      await f.registry.connect(f.admin).removeManufacturer(f.maker.address);
      const before = await manufacturer(f, f.maker.address);
      await expect(f.registry.connect(f.maker).setPayout(f.mallory.address))
        .to.be.revertedWithCustomError(f.registry, "NotActiveManufacturer")
        .withArgs(f.maker.address);
      await expect(f.registry.connect(f.maker).proposeManufacturerAccount(f.mallory.address))
        .to.be.revertedWithCustomError(f.registry, "NotActiveManufacturer")
        .withArgs(f.maker.address);
      await expect(
        f.registry
          .connect(f.maker)
          .commitWhitelist(REGISTRATION_FEE, ACTIVATION_FEE, keccak256(toUtf8Bytes("late")), 1),
      )
        .to.be.revertedWithCustomError(f.registry, "NotActiveManufacturer")
        .withArgs(f.maker.address);
      expect(await manufacturer(f, f.maker.address)).to.deep.equal(before);
      expect(await f.registry.pendingManufacturerAccount(1)).to.equal(ZeroAddress);
      const payoutBalance = await f.token.balanceOf(f.makerPayout.address);
      await expect(f.registry.connect(f.maker).withdrawFeeCredit())
        .to.emit(f.registry, "FeeCreditWithdrawn")
        .withArgs(1, f.makerPayout.address, before.credit);
      expect(await f.token.balanceOf(f.makerPayout.address)).to.equal(payoutBalance + before.credit);
      expect(await f.token.balanceOf(f.mallory.address)).to.equal(1_000n * ONE);
    });

    it("attack: a hostile admin cannot redirect a removed manufacturer's credit by re-admitting it with its own payout; re-admission keeps the payout", async function () {
      const f = await loadFixture(lifecycleFixture);
      const before = await manufacturer(f, f.maker.address);
      expect(before.credit).to.be.greaterThan(0n);
      await f.registry.connect(f.admin).removeManufacturer(f.maker.address);
      // Re-admitted naming the admin's own payout: the event and the record keep the manufacturer's.
      await expect(f.registry.connect(f.admin).addManufacturer(f.maker.address, f.admin.address, DEFAULT_SCORE))
        .to.emit(f.registry, "ManufacturerAdded")
        .withArgs(1, f.maker.address, f.makerPayout.address, DEFAULT_SCORE);
      expect((await manufacturer(f, f.maker.address)).payout).to.equal(f.makerPayout.address);
      await f.registry.connect(f.admin).removeManufacturer(f.maker.address);
      const [adminBalance, payoutBalance] = [
        await f.token.balanceOf(f.admin.address),
        await f.token.balanceOf(f.makerPayout.address),
      ];
      await expect(f.registry.connect(f.maker).withdrawFeeCredit())
        .to.emit(f.registry, "FeeCreditWithdrawn")
        .withArgs(1, f.makerPayout.address, before.credit);
      expect(await f.token.balanceOf(f.makerPayout.address)).to.equal(payoutBalance + before.credit);
      expect(await f.token.balanceOf(f.admin.address)).to.equal(adminBalance);
      // A new manufacturer's payout is the one named.
      await expect(f.registry.connect(f.admin).addManufacturer(f.bob.address, f.mallory.address, DEFAULT_SCORE))
        .to.emit(f.registry, "ManufacturerAdded")
        .withArgs(anyValue, f.bob.address, f.mallory.address, DEFAULT_SCORE);
    });

    it("re-admission restores the powers", async function () {
      const f = await loadFixture(lifecycleFixture);
      await f.registry.connect(f.admin).removeManufacturer(f.maker.address);
      await f.registry.connect(f.admin).addManufacturer(f.maker.address, f.makerPayout.address, DEFAULT_SCORE);
      await expect(f.registry.connect(f.maker).closeWhitelist(1, ROOT)).to.emit(f.registry, "WhitelistClosed");
      await expect(f.registry.connect(f.maker).revokeDevice(f.inactive.deviceId, 1)).to.emit(
        f.registry,
        "DeviceRevoked",
      );
      await expect(f.registry.connect(f.maker).setPayout(f.bob.address)).to.emit(
        f.registry,
        "ManufacturerPayoutChanged",
      );
    });
  });

  describe("two-step change of a manufacturer's account", function () {
    it("the account proposes, the new account accepts: id, credit, payout, score, devices and whitelists follow", async function () {
      const f = await loadFixture(lifecycleFixture);
      const before = await manufacturer(f, f.maker.address);
      const devices = await deviceRecords(f, [f.active, f.inactive]);
      await expect(f.registry.connect(f.maker).proposeManufacturerAccount(f.next.address))
        .to.emit(f.registry, "ManufacturerAccountProposed")
        .withArgs(1, f.maker.address, f.next.address);
      expect(await f.registry.pendingManufacturerAccount(1)).to.equal(f.next.address);
      // Until accepted, nothing moves.
      expect((await f.registry.getManufacturer(f.next.address)).id).to.equal(0n);
      expect(await f.registry.manufacturerAccount(1)).to.equal(f.maker.address);
      await expect(f.registry.connect(f.next).acceptManufacturerAccount(1))
        .to.emit(f.registry, "ManufacturerAccountChanged")
        .withArgs(1, f.maker.address, f.next.address);
      expect(await manufacturer(f, f.next.address)).to.deep.equal(before);
      expect(await f.registry.manufacturerAccount(1)).to.equal(f.next.address);
      expect(await f.registry.pendingManufacturerAccount(1)).to.equal(ZeroAddress);
      expect(await f.registry.manufacturerCount()).to.equal(1n);
      const old = await f.registry.getManufacturer(f.maker.address);
      expect([old.id, old.payout, old.defaultScore, old.active, old.credit]).to.deep.equal([
        0n,
        ZeroAddress,
        0n,
        false,
        0n,
      ]);
      expect(await deviceRecords(f, [f.active, f.inactive])).to.deep.equal(devices);
      const view = await f.registry.getDevice(f.active.deviceId);
      expect([view.manufacturer, view.score]).to.deep.equal([f.next.address, BigInt(DEFAULT_SCORE)]);
      // The new account does everything the old one could, on the same records.
      const d3 = testDevice(3);
      await expect(
        f.registry.connect(f.next).registerDevice(REGISTRATION_FEE, d3.deviceId, d3.wallet.address, 1, ZeroHash),
      )
        .to.emit(f.registry, "DeviceRegistered")
        .withArgs(d3.deviceId, 1, d3.wallet.address, 1);
      expect((await f.registry.getManufacturer(f.next.address)).credit).to.equal(before.credit - REGISTRATION_FEE);
      await expect(f.registry.connect(f.next).revokeDevice(f.inactive.deviceId, 1))
        .to.emit(f.registry, "DeviceRevoked")
        .withArgs(f.inactive.deviceId, f.next.address, 1);
      await expect(f.registry.connect(f.next).closeWhitelist(1, ROOT))
        .to.emit(f.registry, "WhitelistClosed")
        .withArgs(ROOT, 1, 5);
      await expect(f.registry.connect(f.next).setPayout(f.bob.address))
        .to.emit(f.registry, "ManufacturerPayoutChanged")
        .withArgs(1, f.bob.address);
      await expect(f.registry.connect(f.next).withdrawFeeCredit())
        .to.emit(f.registry, "FeeCreditWithdrawn")
        .withArgs(1, f.bob.address, before.credit - REGISTRATION_FEE);
    });

    it("a whitelisted device registers under the moved id, with the proof built for it", async function () {
      const f = await loadFixture(lifecycleFixture);
      const d = testDevice(7);
      const whitelist = buildWhitelist([{ deviceId: d.deviceId, deviceKey: d.wallet.address, deviceType: 1 }], 1);
      await f.registry.connect(f.maker).commitWhitelist(REGISTRATION_FEE, ACTIVATION_FEE, whitelist.root, 1);
      await rotated(f);
      const e = whitelist.entries[0];
      await f.registry.registerFromWhitelist(whitelist.root, e.deviceId, e.deviceKey, e.deviceType, e.proof);
      expect((await f.registry.getDevice(d.deviceId)).manufacturer).to.equal(f.next.address);
    });

    it("attack: after the move the old account can neither register, commit, revoke, close, withdraw, set a payout nor move back", async function () {
      const f = await loadFixture(lifecycleFixture);
      await rotated(f);
      const devices = await deviceRecords(f, [f.active, f.inactive]);
      const credit = (await f.registry.getManufacturer(f.next.address)).credit;
      const d3 = testDevice(3);
      await expect(
        f.registry.connect(f.maker).registerDevice(REGISTRATION_FEE, d3.deviceId, d3.wallet.address, 1, ZeroHash),
      )
        .to.be.revertedWithCustomError(f.registry, "NotActiveManufacturer")
        .withArgs(f.maker.address);
      await expect(
        f.registry
          .connect(f.maker)
          .registerAndActivate(
            REGISTRATION_FEE + ACTIVATION_FEE,
            d3.deviceId,
            d3.wallet.address,
            1,
            ZeroHash,
            f.mallory.address,
          ),
      )
        .to.be.revertedWithCustomError(f.registry, "NotActiveManufacturer")
        .withArgs(f.maker.address);
      await expect(
        f.registry.connect(f.maker).commitWhitelist(REGISTRATION_FEE, ACTIVATION_FEE, keccak256(toUtf8Bytes("old")), 1),
      )
        .to.be.revertedWithCustomError(f.registry, "NotActiveManufacturer")
        .withArgs(f.maker.address);
      for (const d of [f.active, f.inactive]) {
        await expect(f.registry.connect(f.maker).revokeDevice(d.deviceId, 1))
          .to.be.revertedWithCustomError(f.registry, "NotDeviceManufacturerOrAdmin")
          .withArgs(d.deviceId, f.maker.address);
      }
      await expect(f.registry.connect(f.maker).closeWhitelist(1, ROOT))
        .to.be.revertedWithCustomError(f.registry, "NotWhitelistManufacturerOrAdmin")
        .withArgs(ROOT, f.maker.address);
      await expect(f.registry.connect(f.maker).withdrawFeeCredit())
        .to.be.revertedWithCustomError(f.registry, "NothingToWithdraw")
        .withArgs(f.maker.address);
      await expect(f.registry.connect(f.maker).setPayout(f.maker.address))
        .to.be.revertedWithCustomError(f.registry, "UnknownManufacturer")
        .withArgs(f.maker.address);
      await expect(f.registry.connect(f.maker).proposeManufacturerAccount(f.maker.address))
        .to.be.revertedWithCustomError(f.registry, "NotActiveManufacturer")
        .withArgs(f.maker.address);
      await expect(f.registry.connect(f.maker).acceptManufacturerAccount(1))
        .to.be.revertedWithCustomError(f.registry, "NotPendingManufacturerAccount")
        .withArgs(1, f.maker.address);
      expect(await deviceRecords(f, [f.active, f.inactive])).to.deep.equal(devices);
      expect(await f.registry.getWhitelist(1, ROOT)).to.deep.equal([1n, 5n, 0n, ACTIVATION_FEE]);
      expect((await f.registry.getManufacturer(f.next.address)).credit).to.equal(credit);
      expect(await f.registry.getStatuses([d3.deviceId])).to.deep.equal([Status.Unknown]);
    });

    it("attack: a stranger cannot accept a proposal, nor anyone accept without one", async function () {
      const f = await loadFixture(lifecycleFixture);
      const before = await manufacturer(f, f.maker.address);
      // No proposal yet: even the would-be account cannot take the id.
      for (const who of [f.next, f.mallory]) {
        await expect(f.registry.connect(who).acceptManufacturerAccount(1))
          .to.be.revertedWithCustomError(f.registry, "NotPendingManufacturerAccount")
          .withArgs(1, who.address);
      }
      await expect(f.registry.connect(f.mallory).acceptManufacturerAccount(0))
        .to.be.revertedWithCustomError(f.registry, "NotPendingManufacturerAccount")
        .withArgs(0, f.mallory.address);
      await f.registry.connect(f.maker).proposeManufacturerAccount(f.next.address);
      await expect(f.registry.connect(f.mallory).acceptManufacturerAccount(1))
        .to.be.revertedWithCustomError(f.registry, "NotPendingManufacturerAccount")
        .withArgs(1, f.mallory.address);
      // Through the token's approveAndCall the registry still sees mallory.
      const data = f.registry.interface.encodeFunctionData("acceptManufacturerAccount", [1]);
      await expect(f.token.connect(f.mallory).approveAndCall(await f.registry.getAddress(), 0n, data))
        .to.be.revertedWithCustomError(f.registry, "NotPendingManufacturerAccount")
        .withArgs(1, f.mallory.address);
      // Only the current account proposes: a stranger cannot point the id at itself.
      await expect(f.registry.connect(f.mallory).proposeManufacturerAccount(f.mallory.address))
        .to.be.revertedWithCustomError(f.registry, "NotActiveManufacturer")
        .withArgs(f.mallory.address);
      expect(await f.registry.pendingManufacturerAccount(1)).to.equal(f.next.address);
      expect(await f.registry.manufacturerAccount(1)).to.equal(f.maker.address);
      expect(await manufacturer(f, f.maker.address)).to.deep.equal(before);
      expect((await f.registry.getManufacturer(f.mallory.address)).id).to.equal(0n);
    });

    it("refuses a new account that is a manufacturer already (active or removed), also when it became one after the proposal", async function () {
      const f = await loadFixture(lifecycleFixture);
      await f.registry.connect(f.admin).addManufacturer(f.rival.address, f.rival.address, 100);
      await expect(f.registry.connect(f.maker).proposeManufacturerAccount(f.rival.address))
        .to.be.revertedWithCustomError(f.registry, "AccountIsManufacturer")
        .withArgs(f.rival.address, 2);
      await expect(f.registry.connect(f.maker).proposeManufacturerAccount(f.maker.address))
        .to.be.revertedWithCustomError(f.registry, "AccountIsManufacturer")
        .withArgs(f.maker.address, 1);
      await f.registry.connect(f.admin).removeManufacturer(f.rival.address);
      await expect(f.registry.connect(f.maker).proposeManufacturerAccount(f.rival.address))
        .to.be.revertedWithCustomError(f.registry, "AccountIsManufacturer")
        .withArgs(f.rival.address, 2);
      // Admitted between the two steps: the accept fails, and both records stay as they were.
      await f.registry.connect(f.maker).proposeManufacturerAccount(f.next.address);
      await f.registry.connect(f.admin).addManufacturer(f.next.address, f.next.address, 300);
      const [mine, theirs] = [await manufacturer(f, f.maker.address), await manufacturer(f, f.next.address)];
      await expect(f.registry.connect(f.next).acceptManufacturerAccount(1))
        .to.be.revertedWithCustomError(f.registry, "AccountIsManufacturer")
        .withArgs(f.next.address, 3);
      expect([await manufacturer(f, f.maker.address), await manufacturer(f, f.next.address)]).to.deep.equal([
        mine,
        theirs,
      ]);
    });

    it("a new proposal replaces the pending one, and the zero address cancels it", async function () {
      const f = await loadFixture(lifecycleFixture);
      await f.registry.connect(f.maker).proposeManufacturerAccount(f.mallory.address);
      await f.registry.connect(f.maker).proposeManufacturerAccount(f.next.address);
      await expect(f.registry.connect(f.mallory).acceptManufacturerAccount(1))
        .to.be.revertedWithCustomError(f.registry, "NotPendingManufacturerAccount")
        .withArgs(1, f.mallory.address);
      await expect(f.registry.connect(f.maker).proposeManufacturerAccount(ZeroAddress))
        .to.emit(f.registry, "ManufacturerAccountProposed")
        .withArgs(1, f.maker.address, ZeroAddress);
      expect(await f.registry.pendingManufacturerAccount(1)).to.equal(ZeroAddress);
      await expect(f.registry.connect(f.next).acceptManufacturerAccount(1))
        .to.be.revertedWithCustomError(f.registry, "NotPendingManufacturerAccount")
        .withArgs(1, f.next.address);
      expect(await f.registry.manufacturerAccount(1)).to.equal(f.maker.address);
    });

    it("attack: a proposal goes stale with the old account's removal and does not revive on re-admission", async function () {
      const f = await loadFixture(lifecycleFixture);
      await f.registry.connect(f.maker).proposeManufacturerAccount(f.next.address);
      await f.registry.connect(f.admin).removeManufacturer(f.maker.address);
      expect(await f.registry.pendingManufacturerAccount(1)).to.equal(ZeroAddress);
      await expect(f.registry.connect(f.next).acceptManufacturerAccount(1))
        .to.be.revertedWithCustomError(f.registry, "NotPendingManufacturerAccount")
        .withArgs(1, f.next.address);
      await f.registry.connect(f.admin).addManufacturer(f.maker.address, f.makerPayout.address, DEFAULT_SCORE);
      await expect(f.registry.connect(f.next).acceptManufacturerAccount(1))
        .to.be.revertedWithCustomError(f.registry, "NotPendingManufacturerAccount")
        .withArgs(1, f.next.address);
      expect(await f.registry.manufacturerAccount(1)).to.equal(f.maker.address);
      expect((await f.registry.getManufacturer(f.next.address)).id).to.equal(0n);
    });

    it("attack: an old account re-admitted after the move is a new manufacturer with no power over the old id", async function () {
      const f = await loadFixture(lifecycleFixture);
      await rotated(f);
      await expect(f.registry.connect(f.admin).addManufacturer(f.maker.address, f.maker.address, 100))
        .to.emit(f.registry, "ManufacturerAdded")
        .withArgs(2, f.maker.address, f.maker.address, 100);
      expect(await manufacturer(f, f.maker.address)).to.deep.equal({
        id: 2n,
        payout: f.maker.address,
        defaultScore: 100n,
        active: true,
        credit: 0n,
      });
      await expect(f.registry.connect(f.maker).revokeDevice(f.active.deviceId, 1))
        .to.be.revertedWithCustomError(f.registry, "NotDeviceManufacturerOrAdmin")
        .withArgs(f.active.deviceId, f.maker.address);
      await expect(f.registry.connect(f.maker).closeWhitelist(1, ROOT))
        .to.be.revertedWithCustomError(f.registry, "NotWhitelistManufacturerOrAdmin")
        .withArgs(ROOT, f.maker.address);
      expect((await f.registry.getDevice(f.active.deviceId)).status).to.equal(Status.Active);
      expect(await f.registry.manufacturerAccount(1)).to.equal(f.next.address);
      // The new account can move on again, and the old one cannot be its target (it has a record now).
      await expect(f.registry.connect(f.next).proposeManufacturerAccount(f.maker.address))
        .to.be.revertedWithCustomError(f.registry, "AccountIsManufacturer")
        .withArgs(f.maker.address, 2);
    });
  });

  describe("the typed library (src/registry/accounts.ts) behind the tasks", function () {
    it("moves an account in two calls, and refuses in one line what the registry would refuse", async function () {
      const f = await loadFixture(lifecycleFixture);
      const ctx = await contextOf(f);
      const oops = async (p: Promise<unknown>, message: RegExp) => {
        await expect(p).to.be.rejectedWith(message);
      };
      await oops(proposeManufacturerAccount(ctx, f.mallory, f.next.address), /is not a manufacturer/);
      await oops(proposeManufacturerAccount(ctx, f.maker, f.maker.address), /is already manufacturer #1;/);
      await oops(acceptManufacturerAccount(ctx, f.next, 1), /#1 has no pending account change/);
      await oops(acceptManufacturerAccount(ctx, f.next, 0), /#0 has no pending account change/);
      const proposal = await proposeManufacturerAccount(ctx, f.maker, f.next.address);
      expect(proposal).to.include({ id: 1, account: f.maker.address, newAccount: f.next.address });
      await oops(acceptManufacturerAccount(ctx, f.mallory, 1), /is not the account proposed for manufacturer #1/);
      const credit = (await f.registry.getManufacturer(f.maker.address)).credit;
      const change = await acceptManufacturerAccount(ctx, f.next, 1);
      expect(change).to.include({
        id: 1,
        oldAccount: f.maker.address,
        newAccount: f.next.address,
        payout: f.makerPayout.address,
        credit,
      });
      expect(change.gasUsed > 0n).to.equal(true);
      expect(await f.registry.manufacturerAccount(1)).to.equal(f.next.address);
      // Cancelling, and the refusals about removed or late-admitted accounts.
      await proposeManufacturerAccount(ctx, f.next, f.bob.address);
      expect(await proposeManufacturerAccount(ctx, f.next, ZeroAddress)).to.include({ newAccount: ZeroAddress });
      expect(await f.registry.pendingManufacturerAccount(1)).to.equal(ZeroAddress);
      await f.registry.connect(f.admin).addManufacturer(f.rival.address, f.rival.address, 1);
      await f.registry.connect(f.admin).removeManufacturer(f.rival.address);
      await oops(proposeManufacturerAccount(ctx, f.next, f.rival.address), /is already manufacturer #2 \(removed\)/);
      await oops(proposeManufacturerAccount(ctx, f.rival, f.bob.address), /was removed; only an active manufacturer/);
      await proposeManufacturerAccount(ctx, f.next, f.bob.address);
      await f.registry.connect(f.admin).addManufacturer(f.bob.address, f.bob.address, 1);
      await oops(acceptManufacturerAccount(ctx, f.bob, 1), /became manufacturer #3 since the proposal/);
    });
  });
});
