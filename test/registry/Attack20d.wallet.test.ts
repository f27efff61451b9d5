import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { ethers } from "hardhat";
import { Wallet, ZeroHash, keccak256, toBeHex, toUtf8Bytes } from "ethers";

import { compact, signActivation } from "../../src/eip712/device";
import { deviceRef } from "../../src/reputation/packed";
import { ACTIVATION_FEE, REGISTRATION_FEE, walletFixture } from "../shared/fixtures";

const DEADLINE = 4_102_444_800n;

/** The fixture's wallet owns its active device; the maker registers a twin (same reference) and a wallet for it. */
async function twinWalletFixture() {
  const f = await walletFixture();
  const twinId = toBeHex(BigInt(f.deviceId) ^ (1n << 120n), 32);
  expect(deviceRef(twinId)).to.equal(deviceRef(f.deviceId));
  const twinKey = new Wallet(keccak256(toUtf8Bytes("twin-wallet-20d")));
  await f.registry.connect(f.maker).registerDevice(REGISTRATION_FEE, twinId, twinKey.address, 1, ZeroHash);
  const config = { ...f.config, deviceId: twinId, deviceKey: twinKey.address };
  const twinWalletAddress = await f.factory.predictWallet(config);
  await f.factory.createWallet(config);
  const twinWallet = await ethers.getContractAt("DeviceWallet", twinWalletAddress);
  return { ...f, twinId, twinKey, config, twinWallet };
}

describe("attack review 20d: a device wallet and a twin reference", function () {
  it("attack: a wallet made for a twin of a wallet-owned device cannot link, activate into the shared word, or unlink the first wallet", async function () {
    const f = await loadFixture(twinWalletFixture);
    expect((await f.wallet.deviceConfig()).linked).to.equal(true);
    // The twin's wallet reads the registry by its own id: registered, not active, no owner.
    await expect(f.twinWallet.link()).to.be.revertedWithCustomError(f.twinWallet, "DeviceNotActive").withArgs(f.twinId);
    // Activating the twin for its wallet is refused: the word is the first wallet's.
    const sig = await signActivation(f.twinKey, f.registryDomain, {
      deviceId: f.twinId,
      owner: await f.twinWallet.getAddress(),
      deadline: DEADLINE,
    });
    const [r, vs] = compact(sig);
    await expect(
      f.registry
        .connect(f.alice)
        .activateDevice(ACTIVATION_FEE, f.twinId, await f.twinWallet.getAddress(), DEADLINE, r, vs),
    )
      .to.be.revertedWithCustomError(f.registry, "DeviceRefTaken")
      .withArgs(f.twinId, deviceRef(f.twinId));
    // Revoking the twin notifies nobody: the first wallet stays linked and owns its device.
    await expect(f.registry.connect(f.maker).revokeDevice(f.twinId, 1)).not.to.emit(f.wallet, "DeviceUnlinked");
    expect((await f.wallet.deviceConfig()).linked).to.equal(true);
    expect(await f.registry.ownerAndStatus(f.deviceId)).to.deep.equal([await f.wallet.getAddress(), 2n]);
    await expect(f.twinWallet.link()).to.be.revertedWithCustomError(f.twinWallet, "DeviceRevoked").withArgs(f.twinId);
  });
});
