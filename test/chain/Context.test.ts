import { expect } from "chai";
import { JsonRpcProvider, ZeroAddress } from "ethers";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { ethers } from "hardhat";

import { contextFor } from "../../src/chain/context";
import { checkDeviceId } from "../../src/devices/fleet";
import { UserError } from "../../src/errors";
import { deviceStatus } from "../../src/registry";
import { registryFixture } from "../shared/fixtures";

const NONE = {
  ThingToken: ZeroAddress,
  DeviceRegistry: ZeroAddress,
  PaymentChannels: ZeroAddress,
  DeviceWalletFactory: ZeroAddress,
};

describe("chain/context: a library context without Hardhat", function () {
  it("names a chain ethers does not know by its id (a plain provider on 31337), a known one by its name, a given name as given", async function () {
    const named = async (chainId: number, network?: string) => {
      // A static network: getNetwork() answers without a call, so nothing needs to listen on the port.
      const provider = new JsonRpcProvider("http://127.0.0.1:9", chainId, { staticNetwork: true });
      try {
        return (await contextFor(provider, NONE, network)).network;
      } finally {
        provider.destroy();
      }
    };
    expect(await named(31337)).to.equal("chain 31337");
    expect(await named(1)).to.equal("mainnet");
    expect(await named(31337, "plain")).to.equal("plain");
    expect((await contextFor(ethers.provider, NONE)).network).to.equal("hardhat");
  });

  it("deviceStatus refuses an id that is not 32 bytes (an address pasted by mistake) in one line, before any call", async function () {
    const f = await loadFixture(registryFixture);
    const ctx = await contextFor(ethers.provider, { ...NONE, DeviceRegistry: await f.registry.getAddress() });
    const address = f.maker.address;
    await expect(deviceStatus(ctx, address)).to.be.rejectedWith(
      UserError,
      `"${address}" is not a device id (20 bytes): a device id is 0x and 64 hex digits (32 bytes)`,
    );
    expect(() => checkDeviceId("SN-1")).to.throw(UserError, /^"SN-1" is not a device id: /);
    const id = `0x${"ab".repeat(32)}`;
    expect(checkDeviceId(id)).to.equal(id);
    expect((await deviceStatus(ctx, id)).status).to.equal("unknown");
  });
});
