import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { ethers } from "hardhat";

import { ACTIVATION_FEE, AUDIT_REWARD, EPOCH_LENGTH, REGISTRATION_FEE, tokenFixture } from "../shared/fixtures";

describe("RegistryBase (the registry's admin, fee token and ERC-2771 context)", function () {
  async function probeFixture() {
    const base = await tokenFixture();
    const [admin] = (await ethers.getSigners()).slice(4, 5);
    const token = await base.token.getAddress();
    const probe = await ethers.deployContract("RegistryContextProbe", [
      admin.address,
      token,
      REGISTRATION_FEE,
      ACTIVATION_FEE,
      EPOCH_LENGTH,
      AUDIT_REWARD,
    ]);
    return { probe, token, admin };
  }

  it("token() names the fee token the registry was deployed with", async function () {
    const { probe, token } = await loadFixture(probeFixture);
    expect(await probe.token()).to.equal(token);
  });

  it("a direct call's msg.data is its own calldata: nothing is stripped for a sender that is not the trusted forwarder", async function () {
    const { probe } = await loadFixture(probeFixture);
    const selector = probe.interface.getFunction("msgData").selector;
    expect(await probe.msgData()).to.equal(selector);
    const [, , , , , stranger] = await ethers.getSigners();
    expect(await probe.connect(stranger).msgData()).to.equal(selector);
  });
});
