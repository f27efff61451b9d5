import { reset } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import hre from "hardhat";

import { runInProcess as run } from "../shared/cli";

/** The in-process system that tasks deploy for themselves (no --network), across the chain resets tests make. */
describe("tasks on the in-process network: the system they deploy", function () {
  it("is deployed again after a chain reset, even when another contract now sits at its token's address", async function () {
    const [first] = await hre.ethers.getSigners();
    const before = await run<{ token: string; balance: string }>("token:balance", { account: first.address });
    await reset();
    // Another contract now sits at the old token's address (as a test's fixture deploys its own there).
    const squatter = await hre.ethers.deployContract("GasProbe");
    const squatterCode = await hre.ethers.provider.getCode(await squatter.getAddress());
    await hre.network.provider.send("hardhat_setCode", [before.token, squatterCode]);
    const after = await run<{ token: string; balance: string }>("token:balance", { account: first.address });
    // A new system (whatever earlier tests moved out of the old one): the first account holds its whole supply.
    const token = await hre.ethers.getContractAt("ThingToken", after.token);
    expect(after.balance).to.equal((await token.totalSupply()).toString());
    expect(await hre.ethers.provider.getCode(after.token)).to.not.equal(squatterCode);
  });
});
