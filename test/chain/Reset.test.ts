import { PassThrough } from "node:stream";

import { expect } from "chai";
import { Wallet } from "ethers";
import hre from "hardhat";

import { chainRecord, checkChain } from "../../src/chain/reset";
import { confirm } from "../../src/cli/confirm";
import { UserError } from "../../src/errors";
import { resetError } from "../../tasks/support/deployments";

/** A fresh address with code on the in-process chain (a single STOP byte), and one without. */
async function withCode(): Promise<string> {
  const address = Wallet.createRandom().address;
  await hre.network.provider.send("hardhat_setCode", [address, "0x00"]);
  return address;
}

describe("recognising a chain that was reset since deployment", function () {
  it("records the chain id and the genesis block's hash", async function () {
    const record = await chainRecord(hre.ethers.provider);
    expect(record.chainId).to.equal("31337");
    expect(record.genesisHash).to.equal((await hre.ethers.provider.getBlock(0))?.hash);
    expect(record.genesisHash).to.match(/^0x[0-9a-f]{64}$/);
  });

  it("the same chain is not reset; some contracts without code are listed, not called a reset", async function () {
    const record = await chainRecord(hre.ethers.provider);
    const [a, b] = [await withCode(), await withCode()];
    const gone = Wallet.createRandom().address;
    expect(await checkChain(hre.ethers.provider, [a, b], record)).to.deep.equal({ withoutCode: [] });
    expect(await checkChain(hre.ethers.provider, [a, gone, b])).to.deep.equal({ withoutCode: [gone] });
  });

  it("another genesis block is another chain, even where the contracts have code", async function () {
    const record = await chainRecord(hre.ethers.provider);
    const other = { ...record, genesisHash: `0x${"ab".repeat(32)}` };
    const check = await checkChain(hre.ethers.provider, [await withCode()], other);
    expect(check.reset).to.equal(
      `its genesis block is ${record.genesisHash.slice(0, 10)}…, not 0xabababab… as recorded at deployment`,
    );
    expect(check.gone).to.equal("other-chain");
  });

  it("a book none of whose contracts has code: a reset with the recorded genesis, either without one (an older book)", async function () {
    const gone = [Wallet.createRandom().address, Wallet.createRandom().address];
    const none = "none of the deployment's 2 contracts has code on it";
    expect(await checkChain(hre.ethers.provider, gone)).to.deep.equal({
      reset: `${none}; the deployment recorded no genesis block`,
      gone: "reset-or-other",
      withoutCode: gone,
    });
    const record = await chainRecord(hre.ethers.provider);
    expect(await checkChain(hre.ethers.provider, gone, record)).to.deep.equal({
      reset: `its genesis block is the recorded one, but ${none}`,
      gone: "reset",
      withoutCode: gone,
    });
    // A deployment that recorded its chain but has no contracts yet (interrupted early) is not a reset.
    expect(await checkChain(hre.ethers.provider, [], record)).to.deep.equal({ withoutCode: [] });
  });

  it("the one line names which: reset (same genesis), a different chain (other genesis), or either (no genesis recorded)", async function () {
    const id = "chain-31337";
    const fix = "redeploy with npx hardhat deploy --network localhost --reset";
    const reset = resetError("localhost", 31337n, { reset: "R", gone: "reset", withoutCode: [] });
    expect(reset.message).to.equal(`the chain of network "localhost" was reset since deployment ${id} (R): ${fix}`);
    const other = resetError("localhost", 31337n, { reset: "G", gone: "other-chain", withoutCode: [] });
    expect(other.message).to.equal(
      `network "localhost" is a different chain from the one deployment ${id} was made on, with the same chain id 31337 (G: another node, or a development node that restarted): ${fix}, or point the network at the node it was made on`,
    );
    const either = resetError("localhost", 31337n, { reset: "N", gone: "reset-or-other", withoutCode: [] });
    expect(either.message).to.equal(
      `the chain of network "localhost" was reset since deployment ${id}, or it is another node with chain id 31337 (N): ${fix}`,
    );
    const live = resetError("sepolia", 11155111n, { reset: "G", gone: "other-chain", withoutCode: [] });
    expect(live.message).to.equal(
      'deployment chain-11155111 was not made on the chain network "sepolia" reaches (G): check SEPOLIA_RPC_URL, or set THINGLEDGER_DEPLOYMENT_ID to deploy anew',
    );
  });
});

describe("asking for a confirmation", function () {
  function terminal(answer: string | null): { input: PassThrough & { isTTY: boolean }; output: PassThrough } {
    const input = Object.assign(new PassThrough(), { isTTY: true });
    const output = new PassThrough();
    setImmediate(() => (answer === null ? input.end() : input.write(answer)));
    return { input, output };
  }

  it("says yes only for y or yes, and asks the question with [y/N]", async function () {
    const io = terminal("y\n");
    expect(await confirm("Deploy?", "pass --yes", io)).to.equal(true);
    expect(String(io.output.read())).to.equal("Deploy? [y/N] ");
    expect(await confirm("Deploy?", "pass --yes", terminal(" YES\n"))).to.equal(true);
    expect(await confirm("Deploy?", "pass --yes", terminal("\n"))).to.equal(false);
    expect(await confirm("Deploy?", "pass --yes", terminal("no\n"))).to.equal(false);
    expect(await confirm("Deploy?", "pass --yes", terminal(null))).to.equal(false);
  });

  it("refuses with the given line when there is no terminal to ask on", async function () {
    const io = { input: new PassThrough(), output: new PassThrough() };
    const refused = await confirm("Deploy?", "deploying needs a confirmation: pass --yes", io).catch((e) => e);
    expect(refused).to.be.instanceOf(UserError);
    expect((refused as Error).message).to.equal("deploying needs a confirmation: pass --yes");
    expect(io.output.read()).to.equal(null);
  });
});
