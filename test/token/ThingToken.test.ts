import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { Signature, ZeroAddress, concat, parseEther } from "ethers";
import { ethers } from "hardhat";

import { readDomain } from "../../src/eip712/domain";
import { signPermit } from "../../src/eip712/permit";
import type { PermitMessage } from "../../src/eip712/permit";
import { ONE, SUPPLY, tokenFixture } from "../shared/fixtures";
import { coverageRunning, snapshotGas } from "../shared/gas";

describe("ThingToken", function () {
  describe("ERC-20 and supply", function () {
    it("mints the whole fixed supply to the treasury at deployment", async function () {
      const [treasury] = await ethers.getSigners();
      const token = await ethers.deployContract("ThingToken", [treasury.address, SUPPLY]);
      await expect(token.deploymentTransaction())
        .to.emit(token, "Transfer")
        .withArgs(ZeroAddress, treasury.address, SUPPLY);
      expect(await token.totalSupply()).to.equal(SUPPLY);
      expect(await token.balanceOf(treasury.address)).to.equal(SUPPLY);
      expect(await token.name()).to.equal("ThingToken");
      expect(await token.symbol()).to.equal("THING");
      expect(await token.decimals()).to.equal(18n);
    });

    it("refuses a zero treasury", async function () {
      const factory = await ethers.getContractFactory("ThingToken");
      await expect(factory.deploy(ZeroAddress, SUPPLY))
        .to.be.revertedWithCustomError(factory, "ERC20InvalidReceiver")
        .withArgs(ZeroAddress);
    });

    it("has no owner powers over balances: no mint, burn, pause, owner or claw-back", async function () {
      const { token } = await loadFixture(tokenFixture);
      const names = token.interface.fragments
        .filter((f) => f.type === "function")
        .map((f) => (f as unknown as { name: string }).name);
      for (const forbidden of [
        "mint",
        "burn",
        "burnFrom",
        "pause",
        "unpause",
        "owner",
        "transferOwnership",
        "recover",
      ]) {
        expect(names).to.not.include(forbidden);
      }
    });

    it("rejects plain ETH", async function () {
      const { token, alice } = await loadFixture(tokenFixture);
      await expect(alice.sendTransaction({ to: await token.getAddress(), value: 1n })).to.be.reverted;
    });

    it("[gas] transfer to a new holder, to an existing holder, approve, transferFrom", async function () {
      const { token, alice, bob } = await loadFixture(tokenFixture);
      await snapshotGas("token.transfer (new holder)", token.connect(alice).transfer(bob.address, ONE));
      await snapshotGas("token.transfer (existing holder)", token.connect(alice).transfer(bob.address, ONE));
      await snapshotGas("token.approve", token.connect(alice).approve(bob.address, 10n * ONE));
      await snapshotGas(
        "token.transferFrom (existing holder)",
        token.connect(bob).transferFrom(alice.address, bob.address, ONE),
      );
      expect(await token.balanceOf(bob.address)).to.equal(3n * ONE);
      expect(await token.allowance(alice.address, bob.address)).to.equal(9n * ONE);
    });
  });

  describe("ERC-827 and-call", function () {
    it("transferAndCall moves the tokens, then calls the receiver, which learns the real caller", async function () {
      const { token, alice, receiver } = await loadFixture(tokenFixture);
      const to = await receiver.getAddress();
      const data = receiver.interface.encodeFunctionData("ping");
      await expect(token.connect(alice).transferAndCall(to, 5n * ONE, data, { value: 7n }))
        .to.emit(token, "Transfer")
        .withArgs(alice.address, to, 5n * ONE)
        .and.to.emit(receiver, "Pinged")
        .withArgs(alice.address, 7n);
      expect(await token.balanceOf(to)).to.equal(5n * ONE);
      expect(await ethers.provider.getBalance(to)).to.equal(7n);
      expect(await ethers.provider.getBalance(await token.getAddress())).to.equal(0n);
    });

    it("approveAndCall lets the receiver pull the payment in the same transaction and credit the payer", async function () {
      const { token, alice, receiver } = await loadFixture(tokenFixture);
      const to = await receiver.getAddress();
      const data = receiver.interface.encodeFunctionData("deposit", [40n * ONE]);
      await expect(token.connect(alice).approveAndCall(to, 40n * ONE, data, { value: parseEther("1") }))
        .to.emit(receiver, "Credited")
        .withArgs(alice.address, 40n * ONE, parseEther("1"));
      expect(await receiver.credited(alice.address)).to.equal(40n * ONE);
      expect(await receiver.ethReceived()).to.equal(parseEther("1"));
      expect(await token.balanceOf(to)).to.equal(40n * ONE);
      expect(await token.allowance(alice.address, to)).to.equal(0n);
    });

    it("transferFromAndCall spends the caller's allowance and names the caller (the spender) to the callee", async function () {
      const { token, alice, bob, receiver } = await loadFixture(tokenFixture);
      const to = await receiver.getAddress();
      await token.connect(alice).approve(bob.address, 10n * ONE);
      const data = receiver.interface.encodeFunctionData("ping");
      await expect(token.connect(bob).transferFromAndCall(alice.address, to, 6n * ONE, data))
        .to.emit(receiver, "Pinged")
        .withArgs(bob.address, 0n);
      expect(await token.balanceOf(to)).to.equal(6n * ONE);
      expect(await token.allowance(alice.address, bob.address)).to.equal(4n * ONE);
    });

    it("a failing callee reverts the whole operation: no balance or allowance change survives", async function () {
      const { token, alice, bob, receiver } = await loadFixture(tokenFixture);
      const to = await receiver.getAddress();
      const refuse = receiver.interface.encodeFunctionData("refuse");
      const before = await token.balanceOf(alice.address);
      await expect(token.connect(alice).transferAndCall(to, ONE, refuse)).to.be.revertedWithCustomError(
        receiver,
        "Refused",
      );
      await expect(token.connect(alice).approveAndCall(to, ONE, refuse)).to.be.revertedWithCustomError(
        receiver,
        "Refused",
      );
      await token.connect(alice).approve(bob.address, ONE);
      await expect(
        token.connect(bob).transferFromAndCall(alice.address, to, ONE, refuse),
      ).to.be.revertedWithCustomError(receiver, "Refused");
      expect(await token.balanceOf(alice.address)).to.equal(before);
      expect(await token.balanceOf(to)).to.equal(0n);
      expect(await token.allowance(alice.address, to)).to.equal(0n);
      expect(await token.allowance(alice.address, bob.address)).to.equal(ONE);
    });

    it("refuses ETH to a non-payable callee, and tokens and-called to an account without code", async function () {
      const { token, alice, bob, reentrant } = await loadFixture(tokenFixture);
      const data = reentrant.interface.encodeFunctionData("pullAgain", [alice.address, 0n]);
      await expect(token.connect(alice).transferAndCall(await reentrant.getAddress(), ONE, data, { value: 1n })).to.be
        .reverted;
      await expect(token.connect(alice).transferAndCall(bob.address, ONE, "0x1234"))
        .to.be.revertedWithCustomError(token, "AddressEmptyCode")
        .withArgs(bob.address);
      expect(await token.balanceOf(bob.address)).to.equal(0n);
    });

    describe("attacks", function () {
      it("data aimed at the token itself: a victim who approved the token cannot be drained", async function () {
        const { token, alice, mallory } = await loadFixture(tokenFixture);
        const self = await token.getAddress();
        await token.connect(alice).approve(self, 500n * ONE); // a careless approval of the token contract
        const drain = token.interface.encodeFunctionData("transferFrom", [alice.address, mallory.address, 500n * ONE]);
        await expect(token.connect(mallory).transferAndCall(self, 0n, drain)).to.be.revertedWithCustomError(
          token,
          "ERC827CallToToken",
        );
        await expect(token.connect(mallory).approveAndCall(self, 0n, drain)).to.be.revertedWithCustomError(
          token,
          "ERC827CallToToken",
        );
        await token.connect(alice).approve(mallory.address, ONE);
        await expect(
          token.connect(mallory).transferFromAndCall(alice.address, self, ONE, drain),
        ).to.be.revertedWithCustomError(token, "ERC827CallToToken");
        expect(await token.balanceOf(alice.address)).to.equal(1_000n * ONE);
        expect(await token.balanceOf(mallory.address)).to.equal(1_000n * ONE);
      });

      it("forged payer data through approveAndCall cannot make a receiver credit someone who did not pay", async function () {
        const { token, alice, mallory, receiver } = await loadFixture(tokenFixture);
        const to = await receiver.getAddress();
        // Alice approved the receiver earlier, intending to deposit later.
        await token.connect(alice).approve(to, 100n * ONE);
        // Mallory appends Alice's address herself, hoping the receiver reads it as the payer.
        const forged = concat([receiver.interface.encodeFunctionData("deposit", [100n * ONE]), alice.address]);
        await expect(token.connect(mallory).approveAndCall(to, 0n, forged))
          .to.be.revertedWithCustomError(token, "ERC20InsufficientAllowance")
          .withArgs(to, 0n, 100n * ONE);
        // Nor can she call the receiver directly with the forged suffix: only the token is trusted.
        await expect(mallory.sendTransaction({ to, data: forged }))
          .to.be.revertedWithCustomError(token, "ERC20InsufficientAllowance")
          .withArgs(to, 0n, 100n * ONE);
        expect(await receiver.credited(alice.address)).to.equal(0n);
        expect(await receiver.credited(mallory.address)).to.equal(0n);
        expect(await token.balanceOf(alice.address)).to.equal(1_000n * ONE);
        expect(await token.allowance(alice.address, to)).to.equal(100n * ONE);
      });

      it("a callee re-entering transferFromAndCall cannot spend the same allowance twice", async function () {
        const { token, alice, reentrant } = await loadFixture(tokenFixture);
        const attacker = await reentrant.getAddress();
        const attacks = [
          reentrant.interface.encodeFunctionData("attack", [alice.address, 100n * ONE]),
          reentrant.interface.encodeFunctionData("attackNested", [alice.address, 100n * ONE]),
        ];
        for (const data of attacks) {
          await expect(token.connect(alice).approveAndCall(attacker, 100n * ONE, data))
            .to.be.revertedWithCustomError(token, "ERC20InsufficientAllowance")
            .withArgs(attacker, 0n, 100n * ONE);
        }
        expect(await token.balanceOf(attacker)).to.equal(0n);
        expect(await token.balanceOf(alice.address)).to.equal(1_000n * ONE);
        expect(await token.allowance(alice.address, attacker)).to.equal(0n);
        // With an allowance for exactly two pulls, it gets exactly two.
        const data = reentrant.interface.encodeFunctionData("attack", [alice.address, 100n * ONE]);
        await token.connect(alice).approveAndCall(attacker, 200n * ONE, data);
        expect(await token.balanceOf(attacker)).to.equal(200n * ONE);
        expect(await token.allowance(alice.address, attacker)).to.equal(0n);
      });
    });

    it("[gas] and-call adds at most 3,000 gas over the plain ERC-20 call plus the callee's own cost", async function () {
      const measure = async (call: "transfer" | "andCall" | "callee") => {
        const { token, alice, receiver } = await loadFixture(tokenFixture);
        const to = await receiver.getAddress();
        const noop = receiver.interface.encodeFunctionData("noop");
        const tx =
          call === "transfer"
            ? await token.connect(alice).transfer(to, ONE)
            : call === "andCall"
              ? await token.connect(alice).transferAndCall(to, ONE, noop)
              : await alice.sendTransaction({ to, data: noop });
        return (await tx.wait())!;
      };
      const plain = (await measure("transfer")).gasUsed;
      const andCall = await snapshotGas("token.transferAndCall (new holder, no-op callee)", measure("andCall"));
      // The callee's own cost: a direct call minus the 21,000 base, plus the 2,600 cold-account access
      // (EIP-2929) that a direct transaction gets for free because its `to` is pre-warmed.
      const callee = (await measure("callee")).gasUsed - 21_000n + 2_600n;
      const overhead = await snapshotGas("token.and-call overhead (over transfer + callee)", andCall - plain - callee);
      if (!coverageRunning()) expect(overhead).to.be.lessThanOrEqual(3_000n);
    });

    it("[gas] approveAndCall with a pulling receiver, in one transaction", async function () {
      const { token, alice, receiver } = await loadFixture(tokenFixture);
      const data = receiver.interface.encodeFunctionData("deposit", [10n * ONE]);
      await snapshotGas(
        "token.approveAndCall (receiver pulls)",
        token.connect(alice).approveAndCall(await receiver.getAddress(), 10n * ONE, data),
      );
      expect(await receiver.credited(alice.address)).to.equal(10n * ONE);
    });
  });

  describe("EIP-2612 permit", function () {
    async function permitFixture() {
      const base = await tokenFixture();
      const { token, alice, bob } = base;
      const { chainId } = await ethers.provider.getNetwork();
      const tokenAddress = await token.getAddress();
      const message: PermitMessage = {
        owner: alice.address,
        spender: bob.address,
        value: 50n * ONE,
        nonce: 0n,
        // A fixed deadline keeps the signature, and so the calldata and the gas, deterministic.
        deadline: 4_102_444_800n, // 2100-01-01
      };
      const domain = await readDomain(token);
      const signature = await signPermit(alice, domain, message);
      return { ...base, chainId, tokenAddress, message, domain, signature };
    }

    it("[gas] a relayer submits the owner's permit: allowance set, nonce used", async function () {
      const { token, alice, bob, mallory, message, signature } = await loadFixture(permitFixture);
      const { v, r, s } = Signature.from(signature);
      const tx = token.connect(mallory).permit(alice.address, bob.address, message.value, message.deadline, v, r, s);
      await expect(tx).to.emit(token, "Approval").withArgs(alice.address, bob.address, message.value);
      await snapshotGas("token.permit", tx);
      expect(await token.allowance(alice.address, bob.address)).to.equal(message.value);
      expect(await token.nonces(alice.address)).to.equal(1n);
    });

    it("attack: a replayed permit fails", async function () {
      const { token, alice, bob, message, signature } = await loadFixture(permitFixture);
      const { v, r, s } = Signature.from(signature);
      await token.permit(alice.address, bob.address, message.value, message.deadline, v, r, s);
      await token.connect(bob).transferFrom(alice.address, bob.address, message.value);
      await expect(
        token.permit(alice.address, bob.address, message.value, message.deadline, v, r, s),
      ).to.be.revertedWithCustomError(token, "ERC2612InvalidSigner");
      expect(await token.allowance(alice.address, bob.address)).to.equal(0n);
    });

    it("attack: an expired permit fails", async function () {
      const { token, alice, bob, message, signature } = await loadFixture(permitFixture);
      const { v, r, s } = Signature.from(signature);
      await time.increaseTo(message.deadline + 1n);
      await expect(token.permit(alice.address, bob.address, message.value, message.deadline, v, r, s))
        .to.be.revertedWithCustomError(token, "ERC2612ExpiredSignature")
        .withArgs(message.deadline);
    });

    it("attack: a permit signed for another chain id, or another token, fails", async function () {
      const { token, alice, bob, message, chainId } = await loadFixture(permitFixture);
      const own = await readDomain(token);
      for (const domain of [
        { ...own, chainId: chainId + 1n },
        { ...own, verifyingContract: bob.address },
      ]) {
        const { v, r, s } = Signature.from(await signPermit(alice, domain, message));
        await expect(
          token.permit(alice.address, bob.address, message.value, message.deadline, v, r, s),
        ).to.be.revertedWithCustomError(token, "ERC2612InvalidSigner");
      }
      expect(await token.nonces(alice.address)).to.equal(0n);
    });

    it("attack: a permit signed by the wrong key fails, naming the real signer", async function () {
      const { token, alice, bob, mallory, message, domain } = await loadFixture(permitFixture);
      const { v, r, s } = Signature.from(await signPermit(mallory, domain, message));
      await expect(token.permit(alice.address, bob.address, message.value, message.deadline, v, r, s))
        .to.be.revertedWithCustomError(token, "ERC2612InvalidSigner")
        .withArgs(mallory.address, alice.address);
    });

    it("attack: a malleated (high-s) copy of a valid permit signature fails", async function () {
      const { token, alice, bob, message, signature } = await loadFixture(permitFixture);
      const sig = Signature.from(signature);
      const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
      const highS = `0x${(n - BigInt(sig.s)).toString(16).padStart(64, "0")}`;
      const flippedV = sig.v === 27 ? 28 : 27;
      await expect(token.permit(alice.address, bob.address, message.value, message.deadline, flippedV, sig.r, highS))
        .to.be.revertedWithCustomError(token, "ECDSAInvalidSignatureS")
        .withArgs(highS);
    });
  });
});
