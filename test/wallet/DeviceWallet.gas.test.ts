import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { ZeroAddress, ZeroHash, getAddress, parseEther } from "ethers";
import { ethers } from "hardhat";

import { compact, signActivation, signKeyRotation } from "../../src/eip712/device";
import { packAuthorization, signDeviceTransfer, signExecute } from "../../src/eip712/wallet";
import { ACTIVATION_FEE, ONE, REGISTRATION_FEE, testDevice, walletFixture } from "../shared/fixtures";
import { coverageRunning, snapshotGas } from "../shared/gas";

/** An account that already exists (holds ETH and THING), as the targets ask. */
const RECIPIENT = getAddress("0x00000000000000000000000000000000000b0b00");

async function funded() {
  const f = await loadFixture(walletFixture);
  await f.treasury.sendTransaction({ to: RECIPIENT, value: 1n });
  await f.token.connect(f.treasury).transfer(RECIPIENT, 1n);
  return f;
}

/** Targets from issue #5; anchors are Safe 1.5.0, SimpleMultiSig and Safe's AllowanceModule (src/bench/anchors.ts). */
describe("DeviceWallet gas [gas]", function () {
  it("[gas] wallet creation (3 owners, a device key, a limit)", async function () {
    const f = await loadFixture(walletFixture);
    const config = { ...f.config, deviceKey: f.owners[0].address, assets: [ZeroAddress], limits: [ONE] };
    const gas = await snapshotGas("wallet.create (3 owners, device key, ETH limit)", f.factory.createWallet(config));
    if (!coverageRunning()) expect(gas).to.be.lessThanOrEqual(160_000n);
  });

  it("[gas] 2-of-3 execution, ETH transfer to an existing account", async function () {
    const f = await funded();
    const m = { to: RECIPIENT, value: parseEther("1"), data: "0x", gasLimit: 0n, nonce: 0n };
    const sigs: Record<string, string> = {};
    for (const o of f.owners.slice(0, 2)) sigs[o.address] = await signExecute(o, f.domain, m);
    const gas = await snapshotGas(
      "wallet.execute 2-of-3 (ETH transfer)",
      f.wallet.connect(f.relayer).execute(m.to, m.value, m.data, m.gasLimit, packAuthorization(f.sortedOwners, sigs)),
    );
    if (!coverageRunning()) expect(gas).to.be.lessThanOrEqual(55_000n);
  });

  it("[gas] device spend under limit, sent by the device", async function () {
    const f = await funded();
    const gas = await snapshotGas(
      "wallet.deviceTransfer ETH (sent by the device)",
      f.wallet.connect(f.device).deviceTransfer(ZeroAddress, RECIPIENT, parseEther("0.1")),
    );
    if (!coverageRunning()) expect(gas).to.be.lessThanOrEqual(45_000n);
  });

  it("[gas] device spend, relayed", async function () {
    const f = await funded();
    // A fixed deadline: the signature (and so its calldata cost) is the same on every run.
    const deadline = 4_102_444_800n;
    const m = { asset: ZeroAddress, to: RECIPIENT, amount: parseEther("0.1"), nonce: 0n, deadline };
    const [r, vs] = compact(await signDeviceTransfer(f.device, f.domain, m));
    const gas = await snapshotGas(
      "wallet.deviceTransferBySig ETH (relayed)",
      f.wallet.connect(f.relayer).deviceTransferBySig(ZeroAddress, RECIPIENT, m.amount, deadline, r, vs),
    );
    if (!coverageRunning()) expect(gas).to.be.lessThanOrEqual(50_000n);
  });

  it("[gas] 2-of-3 execution, ThingToken transfer (recipient already holds some)", async function () {
    const f = await funded();
    const data = f.token.interface.encodeFunctionData("transfer", [RECIPIENT, 10n * ONE]);
    const m = { to: await f.token.getAddress(), value: 0n, data, gasLimit: 60_000n, nonce: 0n };
    const sigs: Record<string, string> = {};
    for (const o of f.owners.slice(0, 2)) sigs[o.address] = await signExecute(o, f.domain, m);
    await snapshotGas(
      "wallet.execute 2-of-3 (ThingToken transfer)",
      f.wallet.connect(f.relayer).execute(m.to, m.value, m.data, m.gasLimit, packAuthorization(f.sortedOwners, sigs)),
    );
    expect(await f.token.balanceOf(RECIPIENT)).to.equal(10n * ONE + 1n);
  });

  it("[gas] first device spend (links the wallet to its device once)", async function () {
    const f = await funded();
    // A fresh wallet that owns a freshly activated device and has not linked yet.
    const d = testDevice(910);
    await f.registry.connect(f.maker).registerDevice(REGISTRATION_FEE, d.deviceId, d.wallet.address, 1, ZeroHash);
    // Its device key is the registry's key for the device (the link checks it).
    const config = { ...f.config, deviceId: d.deviceId, deviceKey: d.wallet.address };
    const address = await f.factory.predictWallet(config);
    const [r, vs] = compact(
      await signActivation(d.wallet, f.registryDomain, {
        deviceId: d.deviceId,
        owner: address,
        deadline: 4_102_444_800n,
      }),
    );
    await f.registry.connect(f.alice).activateDevice(ACTIVATION_FEE, d.deviceId, address, 4_102_444_800n, r, vs);
    await f.factory.createWallet(config);
    await f.treasury.sendTransaction({ to: address, value: ONE });
    const key = d.wallet.connect(ethers.provider);
    await f.treasury.sendTransaction({ to: key.address, value: ONE });
    const wallet = await ethers.getContractAt("DeviceWallet", address);
    await snapshotGas(
      "wallet.deviceTransfer ETH, first spend (links)",
      wallet.connect(key).deviceTransfer(ZeroAddress, RECIPIENT, parseEther("0.1")),
    );
    expect((await wallet.deviceConfig()).linked).to.equal(true);
  });

  it("[gas] key rotation in the registry, by an EOA owner and by the device's wallet (its hook unlinks)", async function () {
    const f = await funded();
    const deadline = 4_102_444_800n;
    // An EOA owner (alice) rotates her device's key: the registry sees no code, so no hook call.
    const d = testDevice(911);
    await f.registry.connect(f.maker).registerDevice(REGISTRATION_FEE, d.deviceId, d.wallet.address, 1, ZeroHash);
    const [r, vs] = compact(
      await signActivation(d.wallet, f.registryDomain, { deviceId: d.deviceId, owner: f.alice.address, deadline }),
    );
    await f.registry.connect(f.alice).activateDevice(ACTIVATION_FEE, d.deviceId, f.alice.address, deadline, r, vs);
    const fresh = testDevice(912).wallet;
    const consent = await signKeyRotation(fresh, f.registryDomain, {
      deviceId: d.deviceId,
      newKey: fresh.address,
      nonce: 0n,
      deadline,
    });
    await snapshotGas(
      "registry.rotateDeviceKey (EOA owner)",
      f.registry.connect(f.alice).rotateDeviceKey(d.deviceId, fresh.address, deadline, ...compact(consent)),
    );
    // The wallet's owners rotate its device's key through execute; the registry calls the wallet's hook.
    const next = testDevice(913).wallet;
    const walletConsent = await signKeyRotation(next, f.registryDomain, {
      deviceId: f.deviceId,
      newKey: next.address,
      nonce: 0n,
      deadline,
    });
    const data = f.registry.interface.encodeFunctionData("rotateDeviceKey", [
      f.deviceId,
      next.address,
      deadline,
      ...compact(walletConsent),
    ]);
    const m = { to: await f.registry.getAddress(), value: 0n, data, gasLimit: 150_000n, nonce: 0n };
    const sigs: Record<string, string> = {};
    for (const o of f.owners.slice(0, 2)) sigs[o.address] = await signExecute(o, f.domain, m);
    await snapshotGas(
      "wallet.execute 2-of-3 (registry.rotateDeviceKey of its device)",
      f.wallet.connect(f.relayer).execute(m.to, m.value, m.data, m.gasLimit, packAuthorization(f.sortedOwners, sigs)),
    );
    expect((await f.registry.getDevice(f.deviceId)).deviceKey).to.equal(next.address);
  });

  it("[gas] device spend of an ERC-20 (recipient already holds some)", async function () {
    const f = await funded();
    const gas = await snapshotGas(
      "wallet.deviceTransfer ThingToken (sent by the device)",
      f.wallet.connect(f.device).deviceTransfer(await f.token.getAddress(), RECIPIENT, 10n * ONE),
    );
    if (!coverageRunning()) expect(gas).to.be.lessThanOrEqual(55_000n);
  });
});
