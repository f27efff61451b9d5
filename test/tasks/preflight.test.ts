import { loadFixture, time } from "@nomicfoundation/hardhat-toolbox/network-helpers";
import { expect } from "chai";
import { Interface, ZeroAddress, keccak256, parseEther } from "ethers";
import hre from "hardhat";

import { PreflightSigner, plainReason } from "../../src/chain/preflight";
import { describeRevert, revertData } from "../../src/chain/revert";
import { UserError } from "../../src/errors";
import { createPermit, submitPermit } from "../../src/token";
import {
  DeviceRegistry__factory,
  DeviceWallet__factory,
  PaymentChannels__factory,
  ThingToken__factory,
} from "../../typechain-types";
import { loadSystem } from "../../tasks/support/deployments";
import { errorLines, hardhat } from "../shared/cli";
import { coverageRunning } from "../shared/gas";

const token = new Interface(ThingToken__factory.abi);
const registry = new Interface(DeviceRegistry__factory.abi);
const wallet = new Interface(DeviceWallet__factory.abi);
const channels = new Interface(PaymentChannels__factory.abi);

describe("reverts are named in one line (issue 17, item 5)", function () {
  it("decodes the system's custom errors with their arguments in units a person reads", function () {
    const deadline = 1_796_040_000n; // 2026-11-30T12:00:00Z
    expect(describeRevert({ data: token.encodeErrorResult("ERC2612ExpiredSignature", [deadline]) })).to.equal(
      "ERC2612ExpiredSignature(deadline: 2026-11-30T12:00:00Z (1796040000))",
    );
    expect(
      describeRevert({ data: registry.encodeErrorResult("FeeAboveMax", [parseEther("2.5"), parseEther("1")]) }),
    ).to.equal("FeeAboveMax(fee: 2.5 THING, maxFee: 1.0 THING)");
    const id = keccak256("0x01");
    expect(describeRevert({ data: registry.encodeErrorResult("UnexpectedDeviceStatus", [id, 3]) })).to.equal(
      `UnexpectedDeviceStatus(deviceId: ${id}, status: Revoked)`,
    );
    expect(
      describeRevert({
        data: wallet.encodeErrorResult("AboveLimit", [ZeroAddress, parseEther("3"), parseEther("0.5")]),
      }),
    ).to.equal(`AboveLimit(asset: ${ZeroAddress}, amount: 3.0 ETH, available: 0.5 ETH)`);
    expect(describeRevert({ data: wallet.encodeErrorResult("InsufficientGas", [1000n, 50000n]) })).to.equal(
      "InsufficientGas(available: 1,000 gas, needed: 50,000 gas)",
    );
  });

  it("finds the revert data wherever ethers or a node nests it, and ignores what is not the system's", function () {
    const data = channels.encodeErrorResult("ChannelNotOpen", [keccak256("0x02")]);
    expect(revertData({ info: { error: { data } } })).to.equal(data);
    expect(revertData({ error: { error: { data } } })).to.equal(data);
    expect(describeRevert({ info: { error: { data } } })).to.match(/^ChannelNotOpen\(channelId: 0x/);
    expect(describeRevert({ data: "0xdeadbeef00" })).to.equal(undefined); // an unknown selector
    expect(describeRevert(new Error("socket hang up"))).to.equal(undefined);
    expect(describeRevert(undefined)).to.equal(undefined);
  });

  it("names refusals that are not the system's errors: another contract's error, a panic, the gas cap; not a network failure", function () {
    expect(
      plainReason(
        new Error("VM Exception while processing transaction: reverted with custom error 'TargetRefused(42)'"),
      ),
    ).to.equal("another contract's error TargetRefused(42)");
    expect(
      plainReason(
        new Error(
          "reverted with an unrecognized custom error (return data: 0xdeadbeef0000000000000000000000000000000000000000000000000000000000000001)",
        ),
      ),
    ).to.equal("another contract's error with selector 0xdeadbeef");
    expect(plainReason({ code: "CALL_EXCEPTION", data: "0x12345678aa", message: "execution reverted" })).to.equal(
      "another contract's error with selector 0x12345678",
    );
    expect(
      plainReason(
        new Error("reverted with panic code 0x11 (Arithmetic operation overflowed outside of an unchecked block)"),
      ),
    ).to.equal("panic 0x11 (Arithmetic operation overflowed outside of an unchecked block)");
    expect(plainReason(new Error("Transaction ran out of gas"))).to.match(/needs more gas than a transaction may use/);
    expect(plainReason(new Error("reverted with reason string 'nope'"))).to.equal("nope");
    expect(
      plainReason(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:8545"), { code: "ECONNREFUSED" })),
    ).to.equal(undefined);
  });

  describe("a transaction that would revert is not sent", function () {
    async function permitFixture() {
      const system = await loadSystem(hre, ["ThingToken"]);
      const [owner, relayer, spender] = await hre.ethers.getSigners();
      return { system, owner, relayer, spender };
    }

    it("an expired permit on an idle node: the pre-check passes on the stale block, the simulation refuses, no gas is spent", async function () {
      const { system, owner, relayer, spender } = await loadFixture(permitFixture);
      const deadline = BigInt(await time.latest()) + 3_600n;
      const permit = await createPermit(system, owner, spender.address, parseEther("5"), deadline);
      // The node sits idle for two hours: its latest block stays old, the next one will be two hours later.
      await hre.network.provider.send("evm_increaseTime", [7_200]);
      const blockBefore = await hre.ethers.provider.getBlockNumber();
      const nonceBefore = await relayer.getNonce();
      const balanceBefore = await hre.ethers.provider.getBalance(relayer.address);
      const attempt = submitPermit(system, new PreflightSigner(relayer), permit);
      await expect(attempt).to.be.rejectedWith(
        UserError,
        /^the transaction would fail, so it was not sent: ERC2612ExpiredSignature\(deadline: \d{4}-\d\d-\d\dT/,
      );
      expect(await hre.ethers.provider.getBlockNumber()).to.equal(blockBefore);
      expect(await relayer.getNonce()).to.equal(nonceBefore);
      expect(await hre.ethers.provider.getBalance(relayer.address)).to.equal(balanceBefore);
      expect(
        await ThingToken__factory.connect(system.addresses.ThingToken, relayer).allowance(owner, spender),
      ).to.equal(0n);
    });

    it("a permit that expires before the next block can include it is refused before any simulation", async function () {
      const { system, owner, relayer, spender } = await loadFixture(permitFixture);
      const deadline = BigInt(await time.latest()) + 3_600n;
      // Signing refuses a deadline already inside the 60 s margin the submit path uses.
      await expect(
        createPermit(system, owner, spender.address, parseEther("5"), BigInt(await time.latest()) + 30n),
      ).to.be.rejectedWith(UserError, /s after the next block \(time \d+\); token:permit-submit needs more than 60 s/);
      const permit = await createPermit(system, owner, spender.address, parseEther("5"), deadline);
      await time.increaseTo(deadline - 30n); // now inside the 60 s margin
      await expect(submitPermit(system, new PreflightSigner(relayer), permit)).to.be.rejectedWith(
        UserError,
        /before the next block \(time \d+\) can include it with 60 s to spare/,
      );
    });

    it("a valid permit goes through the preflight signer unchanged", async function () {
      const { system, owner, relayer, spender } = await loadFixture(permitFixture);
      const deadline = BigInt(await time.latest()) + 3_600n;
      const permit = await createPermit(system, owner, spender.address, parseEther("5"), deadline);
      const result = await submitPermit(system, new PreflightSigner(relayer), permit);
      expect(result.allowance).to.equal(parseEther("5"));
    });
  });

  describe("on the command line", function () {
    this.timeout(300_000);
    before(function () {
      if (coverageRunning()) this.skip();
    });

    it("--json turns an error into one JSON object on stdout, and the exit code is 1", function () {
      const run = hardhat(["token:permit-submit", "--file", "/nonexistent/permit.json", "--json"]);
      expect(run.status).to.equal(1);
      expect(JSON.parse(run.stdout)).to.deep.equal({
        error: "/nonexistent/permit.json does not exist: expected a signed permit (npx hardhat token:permit)",
      });
      expect(errorLines(run)).to.deep.equal([]);
    });

    it("a mistyped network or task is one line, with no stack trace, and exit code 1 (item 9)", function () {
      const network = hardhat(["--network", "sepoila", "token:balance"]);
      expect(network.status).to.equal(1);
      expect(errorLines(network)).to.deep.equal([
        'Error: network "sepoila" is not configured; the networks are: hardhat, localhost, sepolia, baseSepolia, optimismSepolia, arbitrumSepolia',
      ]);
      const task = hardhat(["tokn:balance"]);
      expect(task.status).to.equal(1);
      expect(errorLines(task)).to.deep.equal(["Error HH303: Unrecognized task 'tokn:balance'"]);
      // The trace is still there for whoever asks for it.
      const traced = hardhat(["tokn:balance", "--show-stack-traces"]);
      expect(traced.stderr).to.contain("at ArgumentsParser");
    });

    it('with --json, Hardhat\'s own HH305 (unknown parameter) and HH306 (parameter without value) are {"error"} too, naming the usage', function () {
      const unknown = hardhat(["fees:set", "--registration", "1", "--bogus", "2", "--json"]);
      expect(unknown.status).to.equal(1);
      const usage = "fees:set takes named options only; see npx hardhat help fees:set";
      expect(JSON.parse(unknown.stdout)).to.deep.equal({ error: `unknown parameter --bogus: ${usage}` });
      expect(errorLines(unknown)).to.deep.equal([]);
      const missing = hardhat(["fees:set", "--json", "--registration"]);
      expect(missing.status).to.equal(1);
      expect(JSON.parse(missing.stdout)).to.deep.equal({ error: `--registration needs a value: ${usage}` });
      expect(errorLines(missing)).to.deep.equal([]);
    });

    it('with --json, a mistyped network or task is {"error"}; a bare value is one line naming the task\'s usage', function () {
      const network = hardhat(["token:balance", "--network", "sepoila", "--json"]);
      expect(network.status).to.equal(1);
      expect(JSON.parse(network.stdout)).to.deep.equal({
        error:
          'network "sepoila" is not configured; the networks are: hardhat, localhost, sepolia, baseSepolia, optimismSepolia, arbitrumSepolia',
      });
      expect(errorLines(network)).to.deep.equal([]);
      const task = hardhat(["tokn:balance", "--json"]);
      expect(task.status).to.equal(1);
      expect(JSON.parse(task.stdout)).to.deep.equal({ error: "HH303: Unrecognized task 'tokn:balance'" });
      expect(errorLines(task)).to.deep.equal([]);
      // Hardhat reports the missing --device before it looks at the bare value: the line names both.
      const bare = hardhat(["reputation:show", "0x1234"]);
      expect(bare.status).to.equal(1);
      expect(bare.stdout).to.equal("");
      expect(errorLines(bare)).to.deep.equal([
        'Error: "0x1234" was given without a name (--device 0x1234): reputation:show takes --device <device> [options]; see npx hardhat help reputation:show',
      ]);
    });

    it("a task that sends on the in-process network warns once that nothing persists (item 4); a read does not", function () {
      const sent = hardhat(["token:transfer", "--to", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "--amount", "1"]);
      expect(sent.status, sent.stderr).to.equal(0);
      expect(sent.stdout).to.contain("Sent 1 THING");
      expect(errorLines(sent)).to.deep.equal([
        "Signing as 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266 (account #0)",
        'Warning: network "hardhat" is in-process: nothing this task sends persists after it exits (pass --network localhost or a live network)',
      ]);
      const read = hardhat(["token:balance"]);
      expect(read.status, read.stderr).to.equal(0);
      expect(errorLines(read)).to.deep.equal([]);
    });
  });
});
