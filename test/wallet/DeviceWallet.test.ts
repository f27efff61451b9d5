import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import type { HDNodeWallet, TypedDataDomain, Wallet } from "ethers";
import { ZeroAddress, getAddress, parseEther } from "ethers";
import { ethers } from "hardhat";

import { readDomain } from "../../src/eip712/domain";
import { compact, signActivation, signKeyRotation } from "../../src/eip712/device";
import { packAuthorization, signDeviceTransfer, signExecute } from "../../src/eip712/wallet";
import { inOneBlock, minedRevert } from "../shared/blocks";
import { coverageRunning } from "../shared/gas";
import {
  ACTIVATION_FEE,
  ETH_LIMIT,
  ONE,
  REGISTRATION_FEE,
  TOKEN_LIMIT,
  WALLET_PERIOD,
  testDevice,
  walletFixture,
} from "../shared/fixtures";
import type { WalletFixture } from "../shared/fixtures";

const RECIPIENT = getAddress("0x00000000000000000000000000000000000a11ce");

/** Signs an execution with `signers` and returns execute's arguments. */
async function signed(
  f: WalletFixture,
  call: { to: string; value?: bigint; data?: string; gasLimit?: bigint },
  signers: Wallet[] = f.owners.slice(0, 2),
  opts: { nonce?: bigint; domain?: TypedDataDomain } = {},
) {
  const m = {
    to: call.to,
    value: call.value ?? 0n,
    data: call.data ?? "0x",
    gasLimit: call.gasLimit ?? 100_000n,
    nonce: opts.nonce ?? (await f.wallet.nonce()),
  };
  const sigs: Record<string, string> = {};
  for (const s of signers) sigs[s.address] = await signExecute(s, opts.domain ?? f.domain, m);
  return [m.to, m.value, m.data, m.gasLimit, packAuthorization(f.sortedOwners, sigs)] as const;
}

describe("DeviceWallet", function () {
  describe("creation", function () {
    it("is created at its predicted address (fundable before), knows its device, registry, owners and limits", async function () {
      const f = await loadFixture(walletFixture);
      expect(await f.wallet.deviceId()).to.equal(f.deviceId);
      expect(await f.wallet.registry()).to.equal(await f.registry.getAddress());
      expect(await f.wallet.threshold()).to.equal(2);
      expect(await f.wallet.ownerCount()).to.equal(3);
      expect(await f.wallet.isOwnerSet(f.sortedOwners)).to.equal(true);
      expect(await f.wallet.isOwnerSet([...f.sortedOwners].reverse())).to.equal(false);
      expect(await f.wallet.nonce()).to.equal(0n);
      const config = await f.wallet.deviceConfig();
      expect(config.deviceKey).to.equal(f.device.address);
      expect(config.period).to.equal(WALLET_PERIOD);
      expect((await f.wallet.allowance(ZeroAddress)).limit).to.equal(ETH_LIMIT);
      expect((await f.wallet.allowance(await f.token.getAddress())).available).to.equal(TOKEN_LIMIT);

      // Another configuration's address can be funded first, then created.
      const other = { ...f.config, deviceKey: f.owners[0].address };
      const predicted = await f.factory.predictWallet(other);
      expect(predicted).to.not.equal(await f.wallet.getAddress());
      await f.treasury.sendTransaction({ to: predicted, value: 5n });
      await expect(f.factory.createWallet(other)).to.emit(f.factory, "WalletCreated");
      expect(await ethers.provider.getBalance(predicted)).to.equal(5n);
      // The same configuration twice: the address is taken.
      await expect(f.factory.createWallet(other)).to.be.reverted;
    });

    it("attack: re-initialising the implementation or a clone fails", async function () {
      const f = await loadFixture(walletFixture);
      const implementation = await ethers.getContractAt("DeviceWallet", await f.factory.implementation());
      const args = [f.sortedOwners, 1, f.owners[0].address, 60, [] as string[], [] as bigint[]] as const;
      await expect(implementation.initialize(...args)).to.be.revertedWithCustomError(
        implementation,
        "AlreadyInitialized",
      );
      await expect(f.wallet.initialize(...args)).to.be.revertedWithCustomError(f.wallet, "AlreadyInitialized");
      // The implementation holds no owners: nothing can be executed on it.
      // (its locked word claims 255 owners and threshold 255: no authorization can ever match it)
      await expect(implementation.execute(RECIPIENT, 0, "0x", 0, "0x")).to.be.revertedWithCustomError(
        implementation,
        "BadAuthLength",
      );
    });

    it("refuses bad configurations", async function () {
      const f = await loadFixture(walletFixture);
      const bad = async (patch: Record<string, unknown>, error: string) =>
        expect(f.factory.createWallet({ ...f.config, ...patch })).to.be.revertedWithCustomError(f.wallet, error);
      await bad({ owners: [...f.sortedOwners].reverse() }, "InvalidOwners");
      await bad({ owners: [ZeroAddress], threshold: 1 }, "InvalidOwners");
      await bad({ threshold: 4 }, "InvalidThreshold");
      await bad({ threshold: 0 }, "InvalidThreshold");
      await bad({ deviceKey: ZeroAddress }, "ZeroAddress");
      await bad({ period: 0 }, "ZeroPeriod");
      await bad({ limits: [1n] }, "LengthMismatch");
      const many = Array.from({ length: 21 }, (_, i) => `0x${(i + 1).toString(16).padStart(40, "0")}`);
      await bad({ owners: many, threshold: 1 }, "TooManyOwners");
    });
  });

  describe("owner execution", function () {
    it("2 of 3 owners send ETH; the nonce advances; anyone may relay", async function () {
      const f = await loadFixture(walletFixture);
      const args = await signed(f, { to: RECIPIENT, value: parseEther("2"), gasLimit: 0n });
      const tx = f.wallet.connect(f.mallory).execute(...args);
      await expect(tx).to.emit(f.wallet, "Executed").withArgs(0n, RECIPIENT, parseEther("2"), true);
      await expect(tx).to.changeEtherBalances([f.wallet, RECIPIENT], [-parseEther("2"), parseEther("2")]);
      expect(await f.wallet.nonce()).to.equal(1n);
    });

    it("attack: a signature reused across a nonce, a chain or a wallet proves nothing", async function () {
      const f = await loadFixture(walletFixture);
      const first = await signed(f, { to: RECIPIENT, value: 1n });
      await f.wallet.execute(...first);
      // Replay of the same signatures at the next nonce.
      await expect(f.wallet.execute(...first)).to.be.reverted;
      const otherChain = await signed(f, { to: RECIPIENT, value: 1n }, undefined, {
        domain: { ...f.domain, chainId: f.chainId + 1n },
      });
      await expect(f.wallet.execute(...otherChain)).to.be.reverted;
      const other = { ...f.config, deviceKey: f.owners[1].address };
      await f.factory.createWallet(other);
      const otherWallet = await f.factory.predictWallet(other);
      const forOther = await signed(f, { to: RECIPIENT, value: 1n }, undefined, {
        domain: { ...f.domain, verifyingContract: otherWallet },
      });
      await expect(f.wallet.execute(...forOther)).to.be.reverted;
      expect(await f.wallet.nonce()).to.equal(1n);
      expect(await ethers.provider.getBalance(RECIPIENT)).to.equal(1n);
    });

    it("attack: duplicate, unsorted, non-owner or too few signatures, or a wrong owner list, are refused", async function () {
      const f = await loadFixture(walletFixture);
      const m = { to: RECIPIENT, value: 1n, data: "0x", gasLimit: 0n, nonce: 0n };
      const sig = async (w: Wallet | HDNodeWallet) => {
        const [r, vs] = compact(await signExecute(w, f.domain, m));
        return ethers.concat([r, vs]);
      };
      const byAddress = (x: { address: string }, y: { address: string }) =>
        BigInt(x.address) < BigInt(y.address) ? -1 : 1;
      const [a, b, c] = [...f.owners].sort(byAddress);
      const call = (auth: string) => f.wallet.execute(RECIPIENT, 1n, "0x", 0n, auth);
      // The same owner twice.
      await expect(call(ethers.concat([await sig(a), await sig(a), c.address])))
        .to.be.revertedWithCustomError(f.wallet, "SignersNotSorted")
        .withArgs(a.address);
      // Unsorted signers.
      await expect(call(ethers.concat([await sig(b), await sig(a), c.address])))
        .to.be.revertedWithCustomError(f.wallet, "SignersNotSorted")
        .withArgs(a.address);
      // A non-owner signing in place of an owner, whatever non-signers are listed.
      const outsider = ethers.Wallet.createRandom();
      const pair = [a, outsider].sort(byAddress);
      for (const rest of [b.address, c.address]) {
        await expect(call(ethers.concat([await sig(pair[0]), await sig(pair[1]), rest]))).to.be.revertedWithCustomError(
          f.wallet,
          "WrongOwners",
        );
      }
      // A signer also listed as a non-signer (counting one owner twice).
      await expect(call(ethers.concat([await sig(a), await sig(b), b.address]))).to.be.revertedWithCustomError(
        f.wallet,
        "WrongOwners",
      );
      // Too few signatures (one signature and two non-signers has the wrong length).
      const short = ethers.concat([await sig(a), b.address, c.address]);
      await expect(call(short)).to.be.revertedWithCustomError(f.wallet, "BadAuthLength").withArgs(104n, 148n);
      await expect(call(ethers.concat([await sig(a), await sig(b)])))
        .to.be.revertedWithCustomError(f.wallet, "BadAuthLength")
        .withArgs(128n, 148n);
      // Non-signers out of order are not the owner set.
      const zero = ethers.concat([ethers.ZeroHash, ethers.ZeroHash]);
      await expect(call(ethers.concat([zero, await sig(b), c.address])))
        .to.be.revertedWithCustomError(f.wallet, "InvalidSignature")
        .withArgs(0n);
      expect(await f.wallet.nonce()).to.equal(0n);
      // Any two owners work, whichever one is left out.
      for (const [x, y, rest] of [
        [a, b, c],
        [a, c, b],
        [b, c, a],
      ]) {
        const nonce = await f.wallet.nonce();
        const mm = { ...m, nonce };
        const s1 = await signExecute(x, f.domain, mm);
        const s2 = await signExecute(y, f.domain, mm);
        const auth = packAuthorization(f.sortedOwners, { [x.address]: s1, [y.address]: s2 });
        expect(ethers.dataSlice(auth, 128)).to.equal(rest.address.toLowerCase());
        await expect(call(auth)).to.emit(f.wallet, "Executed").withArgs(nonce, RECIPIENT, 1n, true);
      }
      expect(await ethers.provider.getBalance(RECIPIENT)).to.equal(3n);
      expect(() => packAuthorization(f.sortedOwners, { [outsider.address]: "0x" })).to.throw(/not an owner/);
    });

    it("attack: a failed inner call spends the nonce and cannot be replayed; too little gas reverts everything", async function () {
      const f = await loadFixture(walletFixture);
      // Owners sign a transfer of more than the wallet holds: the inner call fails, the nonce is spent.
      const failing = await signed(f, { to: RECIPIENT, value: parseEther("1000"), gasLimit: 0n });
      await expect(f.wallet.execute(...failing))
        .to.emit(f.wallet, "Executed")
        .withArgs(0n, RECIPIENT, parseEther("1000"), false);
      expect(await f.wallet.nonce()).to.equal(1n);
      // Later, with the wallet funded, the same signatures are worthless.
      await f.treasury.sendTransaction({ to: await f.wallet.getAddress(), value: parseEther("1000") });
      await expect(f.wallet.execute(...failing)).to.be.reverted;
      expect(await ethers.provider.getBalance(RECIPIENT)).to.equal(0n);

      // A relayer sending too little gas for the signed gasLimit cannot burn the nonce.
      const heavy = await signed(f, { to: RECIPIENT, value: 1n, gasLimit: 500_000n });
      await expect(f.wallet.execute(...heavy, { gasLimit: 300_000n })).to.be.revertedWithCustomError(
        f.wallet,
        "InsufficientGas",
      );
      expect(await f.wallet.nonce()).to.equal(1n);
      await expect(f.wallet.execute(...heavy, { gasLimit: 700_000n }))
        .to.emit(f.wallet, "Executed")
        .withArgs(1n, RECIPIENT, 1n, true);
    });

    it("owner management and settings happen only through the wallet itself", async function () {
      const f = await loadFixture(walletFixture);
      const walletAddress = await f.wallet.getAddress();
      await expect(f.wallet.connect(f.owners[0]).setOwners(f.sortedOwners, 1))
        .to.be.revertedWithCustomError(f.wallet, "NotSelf")
        .withArgs(f.owners[0].address);
      for (const [fn, args] of [
        ["setDeviceKey", [RECIPIENT]],
        ["setFrozen", [true]],
        ["setPeriod", [60]],
        ["setAllowance", [ZeroAddress, 1]],
        ["setTransferCap", [ZeroAddress, 1]],
        ["setRecipientAllowed", [RECIPIENT, true]],
        ["setAllowlistEnabled", [true]],
      ] as const) {
        const data = f.wallet.interface.encodeFunctionData(fn as "setFrozen", args as unknown as [boolean]);
        await expect(f.device.sendTransaction({ to: walletAddress, data })).to.be.revertedWithCustomError(
          f.wallet,
          "NotSelf",
        );
      }
      // Replace owner 2 by alice and go to 1-of-3, through execute.
      const newOwners = [f.owners[0].address, f.owners[1].address, f.alice.address].sort((x, y) =>
        BigInt(x) < BigInt(y) ? -1 : 1,
      );
      const data = f.wallet.interface.encodeFunctionData("setOwners", [newOwners, 1]);
      await expect(f.wallet.execute(...(await signed(f, { to: walletAddress, data }))))
        .to.emit(f.wallet, "OwnersChanged")
        .withArgs(newOwners, 1);
      expect(await f.wallet.isOwnerSet(newOwners)).to.equal(true);
      expect(await f.wallet.threshold()).to.equal(1);
      expect(await f.wallet.nonce()).to.equal(1n);
      // Alice alone now executes.
      const m = { to: RECIPIENT, value: 3n, data: "0x", gasLimit: 0n, nonce: 1n };
      const auth = packAuthorization(newOwners, { [f.alice.address]: await signExecute(f.alice, f.domain, m) });
      await f.wallet.execute(RECIPIENT, 3n, "0x", 0n, auth);
      expect(await ethers.provider.getBalance(RECIPIENT)).to.equal(3n);
    });
  });

  describe("the device key", function () {
    async function settings(f: WalletFixture, calls: [string, unknown[]][]) {
      const walletAddress = await f.wallet.getAddress();
      for (const [fn, args] of calls) {
        const data = f.wallet.interface.encodeFunctionData(fn as "setFrozen", args as [boolean]);
        const tx = await f.wallet.execute(...(await signed(f, { to: walletAddress, data })));
        const receipt = await tx.wait();
        const executed = receipt!.logs.map((l) => f.wallet.interface.parseLog(l)).find((l) => l?.name === "Executed");
        expect(executed?.args.success, fn).to.equal(true);
      }
    }

    it("spends ETH and THING alone under its limits; above a limit or an unlisted asset is refused", async function () {
      const f = await loadFixture(walletFixture);
      const token = await f.token.getAddress();
      const tx = f.wallet.connect(f.device).deviceTransfer(ZeroAddress, RECIPIENT, parseEther("0.4"));
      await expect(tx).to.emit(f.wallet, "DeviceSpent").withArgs(ZeroAddress, RECIPIENT, parseEther("0.4"));
      await expect(tx).to.changeEtherBalance(RECIPIENT, parseEther("0.4"));
      await expect(f.wallet.connect(f.device).deviceTransfer(token, RECIPIENT, 60n * ONE)).to.changeTokenBalance(
        f.token,
        RECIPIENT,
        60n * ONE,
      );
      await expect(f.wallet.connect(f.device).deviceTransfer(ZeroAddress, RECIPIENT, parseEther("0.7")))
        .to.be.revertedWithCustomError(f.wallet, "AboveLimit")
        .withArgs(ZeroAddress, parseEther("0.7"), parseEther("0.6"));
      await expect(f.wallet.connect(f.device).deviceTransfer(await f.receiver.getAddress(), RECIPIENT, 1n))
        .to.be.revertedWithCustomError(f.wallet, "AssetNotListed")
        .withArgs(await f.receiver.getAddress());
      await expect(f.wallet.connect(f.device).deviceTransfer(ZeroAddress, RECIPIENT, 0n)).to.be.revertedWithCustomError(
        f.wallet,
        "ZeroAmount",
      );
      await expect(f.wallet.connect(f.mallory).deviceTransfer(ZeroAddress, RECIPIENT, 1n))
        .to.be.revertedWithCustomError(f.wallet, "NotDevice")
        .withArgs(f.mallory.address);
    });

    it("attack: overspending across a period boundary fails (no span of one period exceeds the limit)", async function () {
      const f = await loadFixture(walletFixture);
      const start = (BigInt(await time.latest()) / WALLET_PERIOD + 1n) * WALLET_PERIOD;
      await time.setNextBlockTimestamp(start + WALLET_PERIOD - 10n);
      await f.wallet.connect(f.device).deviceTransfer(ZeroAddress, RECIPIENT, ETH_LIMIT);
      // 20 seconds later, in the next period: the whole limit was spent within the last period's span.
      await time.setNextBlockTimestamp(start + WALLET_PERIOD + 10n);
      await expect(f.wallet.connect(f.device).deviceTransfer(ZeroAddress, RECIPIENT, 1n))
        .to.be.revertedWithCustomError(f.wallet, "AboveLimit")
        .withArgs(ZeroAddress, 1n, 0n);
      expect((await f.wallet.allowance(ZeroAddress)).available).to.equal(0n);
      // Two periods on, the limit is back.
      await time.setNextBlockTimestamp(start + 2n * WALLET_PERIOD + 1n);
      await f.wallet.connect(f.device).deviceTransfer(ZeroAddress, RECIPIENT, ETH_LIMIT);
      expect(await ethers.provider.getBalance(RECIPIENT)).to.equal(2n * ETH_LIMIT);
    });

    it("attack: two spends in one block cannot exceed the limit together", async function () {
      const f = await loadFixture(walletFixture);
      const spend = () =>
        f.wallet.connect(f.device).deviceTransfer(ZeroAddress, RECIPIENT, parseEther("0.6"), { gasLimit: 200_000n });
      const [first, second] = await inOneBlock(spend, spend);
      expect((await first.wait())?.status).to.equal(1);
      expect(await minedRevert(second, f.wallet.interface)).to.deep.equal({
        name: "AboveLimit",
        args: [ZeroAddress, parseEther("0.6"), parseEther("0.4")],
      });
    });

    it("attack: no spending while frozen (any single owner freezes) or once the registry revokes the device", async function () {
      const f = await loadFixture(walletFixture);
      await expect(f.wallet.connect(f.mallory).freezeDevice(f.sortedOwners))
        .to.be.revertedWithCustomError(f.wallet, "NotOwner")
        .withArgs(f.mallory.address);
      await expect(f.wallet.connect(f.owners[2]).freezeDevice(f.sortedOwners))
        .to.emit(f.wallet, "DeviceFrozen")
        .withArgs(true);
      await expect(f.wallet.connect(f.device).deviceTransfer(ZeroAddress, RECIPIENT, 1n)).to.be.revertedWithCustomError(
        f.wallet,
        "DeviceIsFrozen",
      );
      await settings(f, [["setFrozen", [false]]]);
      await f.wallet.connect(f.device).deviceTransfer(ZeroAddress, RECIPIENT, 1n);
      await f.registry.connect(f.maker).revokeDevice(f.deviceId, 1);
      await expect(f.wallet.connect(f.device).deviceTransfer(ZeroAddress, RECIPIENT, 1n))
        .to.be.revertedWithCustomError(f.wallet, "DeviceRevoked")
        .withArgs(f.deviceId);
      // The owners still control the funds.
      await f.wallet.execute(...(await signed(f, { to: RECIPIENT, value: 5n })));
      expect(await ethers.provider.getBalance(RECIPIENT)).to.equal(6n);
    });

    it("signs for a relayer with its own nonce; replays, expired or foreign signatures are refused", async function () {
      const f = await loadFixture(walletFixture);
      const deadline = BigInt(await time.latest()) + 3600n;
      const m = { asset: ZeroAddress, to: RECIPIENT, amount: 7n, nonce: 0n, deadline };
      const [r, vs] = compact(await signDeviceTransfer(f.device, f.domain, m));
      await expect(f.wallet.connect(f.relayer).deviceTransferBySig(ZeroAddress, RECIPIENT, 7n, deadline, r, vs))
        .to.emit(f.wallet, "DeviceSpent")
        .withArgs(ZeroAddress, RECIPIENT, 7n);
      expect((await f.wallet.allowance(ZeroAddress)).nonce).to.equal(1n);
      await expect(
        f.wallet.deviceTransferBySig(ZeroAddress, RECIPIENT, 7n, deadline, r, vs),
      ).to.be.revertedWithCustomError(f.wallet, "InvalidSignature");
      const [r2, vs2] = compact(await signDeviceTransfer(ethers.Wallet.createRandom(), f.domain, { ...m, nonce: 1n }));
      await expect(
        f.wallet.deviceTransferBySig(ZeroAddress, RECIPIENT, 7n, deadline, r2, vs2),
      ).to.be.revertedWithCustomError(f.wallet, "InvalidSignature");
      await time.increaseTo(deadline + 1n);
      await expect(f.wallet.deviceTransferBySig(ZeroAddress, RECIPIENT, 7n, deadline, r, vs))
        .to.be.revertedWithCustomError(f.wallet, "SignatureExpired")
        .withArgs(deadline);
    });

    it("attack: the device can call nothing but a permitted transfer; caps and the allow-list bind it", async function () {
      const f = await loadFixture(walletFixture);
      // As a signer of execute it is nobody.
      const m = { to: RECIPIENT, value: 1n, data: "0x", gasLimit: 0n, nonce: 0n };
      const sigs = [];
      for (const w of [f.device, f.owners[0]].sort((x, y) => (BigInt(x.address) < BigInt(y.address) ? -1 : 1))) {
        sigs.push(ethers.concat(compact(await signExecute(w, f.domain, m))));
      }
      const rest = f.sortedOwners.filter((o) => o !== f.owners[0].address);
      for (const other of rest) {
        await expect(
          f.wallet.execute(RECIPIENT, 1n, "0x", 0n, ethers.concat([...sigs, other])),
        ).to.be.revertedWithCustomError(f.wallet, "WrongOwners");
      }
      // An unlisted "asset" is never called.
      await expect(
        f.wallet.connect(f.device).deviceTransfer(await f.registry.getAddress(), RECIPIENT, 1n),
      ).to.be.revertedWithCustomError(f.wallet, "AssetNotListed");
      await settings(f, [
        ["setTransferCap", [ZeroAddress, parseEther("0.1")]],
        ["setAllowlistEnabled", [true]],
        ["setRecipientAllowed", [RECIPIENT, true]],
      ]);
      expect(await f.wallet.transferCap(ZeroAddress)).to.equal(parseEther("0.1"));
      await expect(f.wallet.connect(f.device).deviceTransfer(ZeroAddress, RECIPIENT, parseEther("0.2")))
        .to.be.revertedWithCustomError(f.wallet, "AboveTransferCap")
        .withArgs(ZeroAddress, parseEther("0.2"), parseEther("0.1"));
      await expect(f.wallet.connect(f.device).deviceTransfer(ZeroAddress, f.mallory.address, 1n))
        .to.be.revertedWithCustomError(f.wallet, "RecipientNotAllowed")
        .withArgs(f.mallory.address);
      await f.wallet.connect(f.device).deviceTransfer(ZeroAddress, RECIPIENT, parseEther("0.1"));
      expect(await f.wallet.isRecipientAllowed(RECIPIENT)).to.equal(true);
      // A recipient refusing ETH makes the spend revert whole.
      await settings(f, [["setRecipientAllowed", [await f.token.getAddress(), true]]]);
      await expect(
        f.wallet.connect(f.device).deviceTransfer(ZeroAddress, await f.token.getAddress(), 1n),
      ).to.be.revertedWithCustomError(f.wallet, "EthTransferFailed");
    });

    it("owners rotate the key, change the period and the limits", async function () {
      const f = await loadFixture(walletFixture);
      const fresh = ethers.Wallet.createRandom().connect(ethers.provider);
      await f.treasury.sendTransaction({ to: fresh.address, value: ONE });
      // The device's key is the registry's: the owners rotate it there first (the wallet owns the device).
      const consent = await signKeyRotation(fresh, f.registryDomain, {
        deviceId: f.deviceId,
        newKey: fresh.address,
        nonce: 0n,
        deadline: 4_102_444_800n,
      });
      const rotate = f.registry.interface.encodeFunctionData("rotateDeviceKey", [
        f.deviceId,
        fresh.address,
        4_102_444_800n,
        ...compact(consent),
      ]);
      await f.wallet.execute(
        ...(await signed(f, { to: await f.registry.getAddress(), data: rotate, gasLimit: 150_000n })),
      );
      await settings(f, [
        ["setDeviceKey", [fresh.address]],
        ["setPeriod", [3600]],
        ["setAllowance", [ZeroAddress, parseEther("0.5")]],
      ]);
      await expect(f.wallet.connect(f.device).deviceTransfer(ZeroAddress, RECIPIENT, 1n)).to.be.revertedWithCustomError(
        f.wallet,
        "NotDevice",
      );
      await expect(f.wallet.connect(fresh).deviceTransfer(ZeroAddress, RECIPIENT, parseEther("0.6")))
        .to.be.revertedWithCustomError(f.wallet, "AboveLimit")
        .withArgs(ZeroAddress, parseEther("0.6"), parseEther("0.5"));
      await f.wallet.connect(fresh).deviceTransfer(ZeroAddress, RECIPIENT, parseEther("0.5"));
      expect((await f.wallet.deviceConfig()).period).to.equal(3600);
      // Bad settings fail inside execute (Executed with success = false), changing nothing.
      const data = f.wallet.interface.encodeFunctionData("setPeriod", [0]);
      await expect(f.wallet.execute(...(await signed(f, { to: await f.wallet.getAddress(), data }))))
        .to.emit(f.wallet, "Executed")
        .withArgs(4n, await f.wallet.getAddress(), 0n, false);
      const zeroKey = f.wallet.interface.encodeFunctionData("setDeviceKey", [ZeroAddress]);
      await expect(f.wallet.execute(...(await signed(f, { to: await f.wallet.getAddress(), data: zeroKey }))))
        .to.emit(f.wallet, "Executed")
        .withArgs(5n, await f.wallet.getAddress(), 0n, false);
      expect((await f.wallet.deviceConfig()).deviceKey).to.equal(fresh.address);
    });
  });

  describe("registry link", function () {
    it("a wallet that does not own its active device cannot let it spend; linking once is enough", async function () {
      const f = await loadFixture(walletFixture);
      // A second device, registered but not active; a wallet naming it.
      const device = testDevice(901);
      await f.registry
        .connect(f.maker)
        .registerDevice(REGISTRATION_FEE, device.deviceId, device.wallet.address, 1, ethers.ZeroHash);
      // Its device key is the registry's key for that device (another key could never spend, see below).
      const key = device.wallet.connect(ethers.provider);
      await f.treasury.sendTransaction({ to: key.address, value: ONE });
      const config = { ...f.config, deviceId: device.deviceId, deviceKey: key.address };
      await f.factory.createWallet(config);
      const wallet = await ethers.getContractAt("DeviceWallet", await f.factory.predictWallet(config));
      await f.treasury.sendTransaction({ to: await wallet.getAddress(), value: ONE });
      expect((await wallet.deviceConfig()).linked).to.equal(false);
      await expect(wallet.link()).to.be.revertedWithCustomError(wallet, "DeviceNotActive").withArgs(device.deviceId);
      // Active, but owned by alice.
      const [r, vs] = compact(
        await signActivation(device.wallet, f.registryDomain, {
          deviceId: device.deviceId,
          owner: f.alice.address,
          deadline: 4_102_444_800n,
        }),
      );
      await f.registry
        .connect(f.alice)
        .activateDevice(ACTIVATION_FEE, device.deviceId, f.alice.address, 4_102_444_800n, r, vs);
      await expect(wallet.connect(key).deviceTransfer(ZeroAddress, RECIPIENT, 1n))
        .to.be.revertedWithCustomError(wallet, "DeviceNotOwned")
        .withArgs(device.deviceId, f.alice.address);
      // Alice gives the device record to the wallet: the first spend links, later spends do not ask again.
      await f.registry.connect(f.alice).transferDevice(device.deviceId, await wallet.getAddress());
      const first = wallet.connect(key).deviceTransfer(ZeroAddress, RECIPIENT, 1n);
      await expect(first).to.emit(wallet, "DeviceLinked").withArgs(device.deviceId);
      expect((await wallet.deviceConfig()).linked).to.equal(true);
      await expect(wallet.connect(key).deviceTransfer(ZeroAddress, RECIPIENT, 1n)).to.not.emit(wallet, "DeviceLinked");
      await wallet.link(); // already linked: nothing to do
      expect(await ethers.provider.getBalance(RECIPIENT)).to.equal(2n);
    });

    it("attack: after revocation the registry unlinks the wallet in the same transaction, and spending stops", async function () {
      const f = await loadFixture(walletFixture);
      const revoke = f.registry.connect(f.maker).revokeDevice(f.deviceId, 2);
      await expect(revoke).to.emit(f.wallet, "DeviceUnlinked").withArgs(f.deviceId);
      await expect(revoke).to.emit(f.registry, "DeviceRevoked");
      expect((await f.wallet.deviceConfig()).linked).to.equal(false);
      await expect(f.wallet.connect(f.device).deviceTransfer(ZeroAddress, RECIPIENT, 1n))
        .to.be.revertedWithCustomError(f.wallet, "DeviceRevoked")
        .withArgs(f.deviceId);
      const deadline = 4_102_444_800n;
      const m = { asset: ZeroAddress, to: RECIPIENT, amount: 1n, nonce: 0n, deadline };
      const [r, vs] = compact(await signDeviceTransfer(f.device, f.domain, m));
      await expect(f.wallet.deviceTransferBySig(ZeroAddress, RECIPIENT, 1n, deadline, r, vs))
        .to.be.revertedWithCustomError(f.wallet, "DeviceRevoked")
        .withArgs(f.deviceId);
      await expect(f.wallet.link()).to.be.revertedWithCustomError(f.wallet, "DeviceRevoked");
    });

    it("attack: a transfer of the device record away unlinks the wallet; only the registry may unlink", async function () {
      const f = await loadFixture(walletFixture);
      await expect(f.wallet.connect(f.mallory).onDeviceRecordChanged(f.deviceId))
        .to.be.revertedWithCustomError(f.wallet, "NotRegistry")
        .withArgs(f.mallory.address);
      const data = f.registry.interface.encodeFunctionData("transferDevice", [f.deviceId, f.alice.address]);
      const tx = f.wallet.execute(...(await signed(f, { to: await f.registry.getAddress(), data })));
      await expect(tx).to.emit(f.wallet, "DeviceUnlinked").withArgs(f.deviceId);
      await expect(tx)
        .to.emit(f.wallet, "Executed")
        .withArgs(0n, await f.registry.getAddress(), 0n, true);
      await expect(f.wallet.connect(f.device).deviceTransfer(ZeroAddress, RECIPIENT, 1n))
        .to.be.revertedWithCustomError(f.wallet, "DeviceNotOwned")
        .withArgs(f.deviceId, f.alice.address);
    });

    it("the registry's call to another device's owner leaves this wallet linked", async function () {
      const f = await loadFixture(walletFixture);
      // The wallet also owns a second device; revoking that one does not unlink the wallet.
      const other = testDevice(902);
      await f.registry
        .connect(f.maker)
        .registerDevice(REGISTRATION_FEE, other.deviceId, other.wallet.address, 1, ethers.ZeroHash);
      const walletAddress = await f.wallet.getAddress();
      const [r, vs] = compact(
        await signActivation(other.wallet, f.registryDomain, {
          deviceId: other.deviceId,
          owner: walletAddress,
          deadline: 4_102_444_800n,
        }),
      );
      await f.registry
        .connect(f.alice)
        .activateDevice(ACTIVATION_FEE, other.deviceId, walletAddress, 4_102_444_800n, r, vs);
      await expect(f.registry.connect(f.maker).revokeDevice(other.deviceId, 1)).to.not.emit(f.wallet, "DeviceUnlinked");
      expect((await f.wallet.deviceConfig()).linked).to.equal(true);
      await f.wallet.connect(f.device).deviceTransfer(ZeroAddress, RECIPIENT, 1n);
    });

    it("attack: a revoker cannot starve the hook of gas, and a hostile owner cannot block revocation", async function () {
      const f = await loadFixture(walletFixture);
      const revoke = () => f.registry.connect(f.maker).revokeDevice.populateTransaction(f.deviceId, 1);
      const needed = await f.maker.estimateGas(await revoke());
      // Too little gas for the hook's budget: the whole revocation reverts (nothing half done).
      await expect(
        f.maker.sendTransaction({ ...(await revoke()), gasLimit: needed - 5_000n }),
      ).to.be.revertedWithCustomError(f.registry, "OwnerHookGasTooLow");
      expect((await f.wallet.deviceConfig()).linked).to.equal(true);
      // The least gas that succeeds still reaches the wallet.
      await expect(f.maker.sendTransaction({ ...(await revoke()), gasLimit: needed }))
        .to.emit(f.wallet, "DeviceUnlinked")
        .withArgs(f.deviceId);

      // Hostile owners: one reverts, one burns its whole budget.
      const hostile = await ethers.deployContract("HostileDeviceOwner");
      for (const [i, mode] of [
        [903, 0],
        [904, 1],
      ]) {
        await hostile.setMode(mode);
        const d = testDevice(i);
        await f.registry
          .connect(f.maker)
          .registerDevice(REGISTRATION_FEE, d.deviceId, d.wallet.address, 1, ethers.ZeroHash);
        const owner = await hostile.getAddress();
        const [r, vs] = compact(
          await signActivation(d.wallet, f.registryDomain, { deviceId: d.deviceId, owner, deadline: 4_102_444_800n }),
        );
        await f.registry.connect(f.alice).activateDevice(ACTIVATION_FEE, d.deviceId, owner, 4_102_444_800n, r, vs);
        await expect(f.registry.connect(f.maker).revokeDevice(d.deviceId, 1)).to.emit(f.registry, "DeviceRevoked");
        expect((await f.registry.ownerAndStatus(d.deviceId))[1]).to.equal(3n);
      }
      // And a hostile owner can still give a device away.
      const d = testDevice(905);
      await f.registry
        .connect(f.maker)
        .registerDevice(REGISTRATION_FEE, d.deviceId, d.wallet.address, 1, ethers.ZeroHash);
      const owner = await hostile.getAddress();
      const [r, vs] = compact(
        await signActivation(d.wallet, f.registryDomain, { deviceId: d.deviceId, owner, deadline: 4_102_444_800n }),
      );
      await f.registry.connect(f.alice).activateDevice(ACTIVATION_FEE, d.deviceId, owner, 4_102_444_800n, r, vs);
      const give = f.registry.interface.encodeFunctionData("transferDevice", [d.deviceId, f.alice.address]);
      await hostile.call(await f.registry.getAddress(), give);
      expect((await f.registry.ownerAndStatus(d.deviceId))[0]).to.equal(f.alice.address);
    });
  });

  describe("edges", function () {
    it("attack: a clone of the implementation made outside the factory cannot be initialised", async function () {
      const f = await loadFixture(walletFixture);
      const implementation = (await f.factory.implementation()).slice(2).toLowerCase();
      // The plain EIP-1167 creation code for a clone of the implementation, deployed by mallory.
      const initCode = `0x3d602d80600a3d3981f3363d3d373d3d3d363d73${implementation}5af43d82803e903d91602b57fd5bf3`;
      const deployed = await (await f.mallory.sendTransaction({ data: initCode })).wait();
      const clone = await ethers.getContractAt("DeviceWallet", deployed!.contractAddress!);
      await expect(clone.connect(f.mallory).initialize([f.mallory.address], 1, f.mallory.address, 60, [], []))
        .to.be.revertedWithCustomError(clone, "NotFactory")
        .withArgs(f.mallory.address);
    });

    it("freezing with a wrong owner list, a zero-recovery relay signature, and settings switched off", async function () {
      const f = await loadFixture(walletFixture);
      await expect(f.wallet.connect(f.owners[0]).freezeDevice(f.sortedOwners.slice(1))).to.be.revertedWithCustomError(
        f.wallet,
        "WrongOwners",
      );
      await expect(
        f.wallet.deviceTransferBySig(ZeroAddress, RECIPIENT, 1n, 4_102_444_800n, ethers.ZeroHash, ethers.ZeroHash),
      )
        .to.be.revertedWithCustomError(f.wallet, "InvalidSignature")
        .withArgs(0n);
      const walletAddress = await f.wallet.getAddress();
      for (const [fn, args] of [
        ["setTransferCap", [ZeroAddress, 0n]],
        ["setAllowlistEnabled", [false]],
      ] as const) {
        const data = f.wallet.interface.encodeFunctionData(fn as "setAllowlistEnabled", args as unknown as [boolean]);
        await f.wallet.execute(...(await signed(f, { to: walletAddress, data })));
      }
      const config = await f.wallet.deviceConfig();
      expect([config.capsEnabled, config.allowlistEnabled]).to.deep.equal([false, false]);
      await f.wallet.connect(f.device).deviceTransfer(ZeroAddress, RECIPIENT, 1n);
    });

    it("a relay nonce at its maximum refuses further relayed spends of that asset", async function () {
      const f = await loadFixture(walletFixture);
      const walletAddress = await f.wallet.getAddress();
      // _allowances is the wallet's 5th slot (after EIP712's two fallback strings, the owner and device words).
      const slot = ethers.keccak256(ethers.AbiCoder.defaultAbiCoder().encode(["address", "uint256"], [ZeroAddress, 4]));
      const word = BigInt(await ethers.provider.getStorage(walletAddress, slot));
      expect(word & ((1n << 72n) - 1n)).to.equal(ETH_LIMIT);
      const maxed = word | (0xffffffffn << 224n);
      await ethers.provider.send("hardhat_setStorageAt", [walletAddress, slot, ethers.toBeHex(maxed, 32)]);
      expect((await f.wallet.allowance(ZeroAddress)).nonce).to.equal(0xffffffffn);
      const deadline = 4_102_444_800n;
      const m = { asset: ZeroAddress, to: RECIPIENT, amount: 1n, nonce: 0xffffffffn, deadline };
      const [r, vs] = compact(await signDeviceTransfer(f.device, f.domain, m));
      await expect(f.wallet.deviceTransferBySig(ZeroAddress, RECIPIENT, 1n, deadline, r, vs))
        .to.be.revertedWithCustomError(f.wallet, "NonceExhausted")
        .withArgs(ZeroAddress);
      // The device can still send itself.
      await f.wallet.connect(f.device).deviceTransfer(ZeroAddress, RECIPIENT, 1n);
    });
  });

  describe("a hostile relayer or callee (issue 14, findings 5 and 6)", function () {
    /** What the relayer gets mined with outer gas `gas`: "revert", or whether the inner call succeeded. */
    async function outcome(
      f: WalletFixture,
      args: Awaited<ReturnType<typeof signed>>,
      gas: bigint,
    ): Promise<"revert" | boolean> {
      try {
        return await f.wallet.connect(f.relayer).execute.staticCall(...args, { gasLimit: gas });
      } catch {
        return "revert";
      }
    }

    /** The least gas with which `target` succeeds on `data` and `value` (binary search with a probe). */
    async function leastGas(target: string, data: string, value: bigint): Promise<bigint> {
      const probe = await ethers.deployContract("GasProbe");
      let [lo, hi] = [0n, 10_000_000n];
      expect(await probe.probe.staticCall(target, data, hi, { value })).to.equal(true);
      while (hi - lo > 1n) {
        const mid = (lo + hi) / 2n;
        if (await probe.probe.staticCall(target, data, mid, { value })) hi = mid;
        else lo = mid;
      }
      return hi;
    }

    /**
     * The relayer's search, as an attacker would run it: the lowest outer gas that gets the execution
     * mined (binary search on the boundary with "revert"), then every gas in a window above it, looking
     * for a mined execution whose inner call failed. Returns the lowest outer gas that does not revert.
     */
    async function relayerSearch(f: WalletFixture, args: Awaited<ReturnType<typeof signed>>): Promise<bigint> {
      let [lo, hi] = [21_000n, 16_000_000n];
      expect(await outcome(f, args, hi)).to.equal(true);
      while (hi - lo > 1n) {
        const mid = (lo + hi) / 2n;
        const result = await outcome(f, args, mid);
        expect(result, `outer gas ${mid}`).to.not.equal(false);
        if (result === "revert") lo = mid;
        else hi = mid;
      }
      for (let gas = hi; gas < hi + 40_000n; gas += 1_999n) {
        expect(await outcome(f, args, gas), `outer gas ${gas}`).to.equal(true);
      }
      return hi;
    }

    for (const [label, value, size] of [
      ["value > 0 and 4 KB of data", 1n, 4_096],
      ["no value and 64 KB of data", 0n, 65_536],
    ] as const) {
      for (const kind of ["burn", "check"] as const) {
        it(`attack: a relayer cannot starve the inner call (${label}, a callee that ${kind === "burn" ? "runs out of gas" : "reverts early"} below its signed gasLimit)`, async function () {
          // A search over the outer gas: with 64 KB of data it outlasts the timeout on coverage's instrumented
          // (and slower, costlier) bytecode, whose gas is not the contract's anyway; the 4 KB cases still run.
          if (size > 4_096 && coverageRunning()) this.skip();
          const f = await loadFixture(walletFixture);
          const callee = await ethers.deployContract("GasSensitiveCallee");
          const calleeAddress = await callee.getAddress();
          const walletAddress = await f.wallet.getAddress();
          const blob = ethers.hexlify(ethers.randomBytes(size));
          // With 64 KB of data the EIP-7623 calldata floor already gives a transaction 1.5 million gas
          // beyond its data, so that callee needs more than that for a shortfall to be possible at all.
          const data =
            kind === "burn"
              ? callee.interface.encodeFunctionData("burn", [size > 4_096 ? 1_000n : 200n, blob])
              : callee.interface.encodeFunctionData("check", [size > 4_096 ? 3_000_000n : 300_000n, blob]);
          // The owners sign exactly the least gas the callee needs: any shortfall makes it fail.
          const gasLimit = await leastGas(calleeAddress, data, value);
          const args = await signed(f, { to: calleeAddress, value, data, gasLimit });
          const lowest = await relayerSearch(f, args);
          // The boundary is a transaction a node accepts (above the EIP-7623 calldata floor).
          const calldata = ethers.getBytes(f.wallet.interface.encodeFunctionData("execute", [...args]));
          const tokens = calldata.reduce((t, b) => t + (b === 0 ? 1n : 4n), 0n);
          expect(lowest - 1n).to.be.greaterThanOrEqual(21_000n + 10n * tokens);

          const before = await ethers.provider.getBalance(walletAddress);
          // One gas less than the lowest: the whole transaction reverts; nothing is spent.
          await expect(f.wallet.connect(f.relayer).execute(...args, { gasLimit: lowest - 1n })).to.be.reverted;
          expect(await f.wallet.nonce()).to.equal(0n);
          expect(await callee.runs()).to.equal(0n);
          expect(await ethers.provider.getBalance(walletAddress)).to.equal(before);
          // The lowest outer gas the relayer can get mined runs the call with its whole gasLimit.
          const tx = f.wallet.connect(f.relayer).execute(...args, { gasLimit: lowest });
          await expect(tx).to.emit(f.wallet, "Executed").withArgs(0n, calleeAddress, value, true);
          await expect(tx).to.emit(callee, "Ran");
          expect(await f.wallet.nonce()).to.equal(1n);
          expect(await callee.runs()).to.equal(1n);
          expect(await callee.received()).to.equal(value);
          expect(await ethers.provider.getBalance(walletAddress)).to.equal(before - value);
        });
      }
    }

    it("a call that fails with its whole gasLimit still spends the nonce (the backstop refuses no honest failure)", async function () {
      if (coverageRunning()) this.skip(); // a search over the outer gas, as above: too slow when instrumented
      const f = await loadFixture(walletFixture);
      const callee = await ethers.deployContract("GasSensitiveCallee");
      const calleeAddress = await callee.getAddress();
      // The callee needs more than the owners signed: it fails at any outer gas, and the failure is recorded.
      const data = callee.interface.encodeFunctionData("burn", [2_000n, "0x"]);
      const gasLimit = (await leastGas(calleeAddress, data, 0n)) - 1n;
      const args = await signed(f, { to: calleeAddress, data, gasLimit });
      let [lo, hi] = [21_000n, 16_000_000n];
      while (hi - lo > 1n) {
        const mid = (lo + hi) / 2n;
        if ((await outcome(f, args, mid)) === "revert") lo = mid;
        else hi = mid;
      }
      expect(await outcome(f, args, hi)).to.equal(false);
      await expect(f.wallet.connect(f.relayer).execute(...args, { gasLimit: hi }))
        .to.emit(f.wallet, "Executed")
        .withArgs(0n, calleeAddress, 0n, false);
      expect(await f.wallet.nonce()).to.equal(1n);
      expect(await callee.runs()).to.equal(0n);
    });

    for (const asRevert of [true, false]) {
      it(`attack: a callee ${asRevert ? "reverting" : "returning"} with megabytes of data cannot make a signed execution impossible to run`, async function () {
        const f = await loadFixture(walletFixture);
        const bomb = await ethers.deployContract("ReturnBomb");
        const bombAddress = await bomb.getAddress();
        const walletAddress = await f.wallet.getAddress();
        // 2 MB of return data: about 8.9 million gas of memory for the callee, and as much again for a
        // caller that copied it (more than the 16,777,216 a transaction may use, with the call's 10 million).
        const gasLimit = 10_000_000n;
        const data = bomb.interface.encodeFunctionData("explode", [2_000_000n, asRevert]);
        const args = await signed(f, { to: bombAddress, data, gasLimit });
        const before = await ethers.provider.getBalance(walletAddress);
        const outer = 10_500_000n;
        const tx = await f.wallet.connect(f.relayer).execute(...args, { gasLimit: outer });
        const receipt = await tx.wait();
        expect(receipt?.status).to.equal(1);
        await expect(tx).to.emit(f.wallet, "Executed").withArgs(0n, bombAddress, 0n, !asRevert);
        expect(await f.wallet.nonce()).to.equal(1n);
        expect(await ethers.provider.getBalance(walletAddress)).to.equal(before);
        // Gas bounded by the signed gasLimit and the wallet's own work, whatever the size of the return data.
        expect(receipt!.gasUsed).to.be.lessThan(gasLimit + 100_000n);
        // The signatures are spent: replaying them fails.
        await expect(f.wallet.connect(f.relayer).execute(...args, { gasLimit: outer })).to.be.reverted;
        expect(await f.wallet.nonce()).to.equal(1n);
      });
    }
  });

  it("attack: an ETH recipient returning a megabyte cannot make the device (or its relayer) pay for copying it", async function () {
    const f = await loadFixture(walletFixture);
    const bomb = await ethers.deployContract("ReturnBomb");
    const bombAddress = await bomb.getAddress();
    // The bomb's own memory costs it about 2.2 million gas; a spender copying the return data would pay as
    // much again and run out within this transaction's limit.
    const amount = parseEther("0.01");
    const tx = await f.wallet
      .connect(f.device)
      .deviceTransfer(ZeroAddress, bombAddress, amount, { gasLimit: 3_500_000n });
    const receipt = await tx.wait();
    expect(receipt?.status).to.equal(1);
    await expect(tx).to.emit(f.wallet, "DeviceSpent").withArgs(ZeroAddress, bombAddress, amount);
    expect(await ethers.provider.getBalance(bombAddress)).to.equal(amount);
    expect(receipt!.gasUsed).to.be.lessThan(2_600_000n);
  });

  describe("key rotation (issue 14, finding 10)", function () {
    const DEADLINE = 4_102_444_800n;

    /** The owners' execution of the registry's rotateDeviceKey to `newKey` (which signs its consent). */
    async function rotation(f: WalletFixture, newKey: Wallet | HDNodeWallet, gasLimit = 150_000n) {
      const nonce = await f.registry.keyNonce(f.deviceId);
      const consent = await signKeyRotation(newKey, f.registryDomain, {
        deviceId: f.deviceId,
        newKey: newKey.address,
        nonce,
        deadline: DEADLINE,
      });
      const data = f.registry.interface.encodeFunctionData("rotateDeviceKey", [
        f.deviceId,
        newKey.address,
        DEADLINE,
        ...compact(consent),
      ]);
      return signed(f, { to: await f.registry.getAddress(), data, gasLimit });
    }

    async function balances(f: WalletFixture, who: string[]) {
      const out = [];
      for (const a of who) out.push([await ethers.provider.getBalance(a), await f.token.balanceOf(a)]);
      return out;
    }

    it("attack: a stolen old key spends nothing once the owners rotate the device key in the registry", async function () {
      const f = await loadFixture(walletFixture);
      const thief = f.device; // the old key, stolen
      const newKey = ethers.Wallet.createRandom();
      const walletAddress = await f.wallet.getAddress();
      const token = await f.token.getAddress();
      // Before the rotation, the thief signs relayed transfers to itself.
      const stolen = [];
      for (const asset of [ZeroAddress, token]) {
        const m = { asset, to: f.mallory.address, amount: 5n, nonce: 0n, deadline: DEADLINE };
        stolen.push([asset, compact(await signDeviceTransfer(thief, f.domain, m))] as const);
      }
      // The owners rotate: the registry tells the wallet in the same transaction, which unlinks it.
      const tx = f.wallet.connect(f.relayer).execute(...(await rotation(f, newKey)));
      await expect(tx).to.emit(f.registry, "DeviceKeyRotated").withArgs(f.deviceId, thief.address, newKey.address);
      await expect(tx).to.emit(f.wallet, "DeviceUnlinked").withArgs(f.deviceId);
      await expect(tx)
        .to.emit(f.wallet, "Executed")
        .withArgs(0n, await f.registry.getAddress(), 0n, true);
      expect((await f.wallet.deviceConfig()).linked).to.equal(false);

      const watched = [walletAddress, f.mallory.address];
      const before = await balances(f, watched);
      const allowances = [await f.wallet.allowance(ZeroAddress), await f.wallet.allowance(token)];
      // The thief sending itself, directly and through a relayer with the signatures made before.
      for (const asset of [ZeroAddress, token]) {
        await expect(f.wallet.connect(thief).deviceTransfer(asset, f.mallory.address, 5n))
          .to.be.revertedWithCustomError(f.wallet, "DeviceKeyMismatch")
          .withArgs(f.deviceId, thief.address, newKey.address);
      }
      for (const [asset, [r, vs]] of stolen) {
        await expect(f.wallet.connect(f.relayer).deviceTransferBySig(asset, f.mallory.address, 5n, DEADLINE, r, vs))
          .to.be.revertedWithCustomError(f.wallet, "DeviceKeyMismatch")
          .withArgs(f.deviceId, thief.address, newKey.address);
      }
      await expect(f.wallet.connect(f.relayer).link()).to.be.revertedWithCustomError(f.wallet, "DeviceKeyMismatch");
      expect(await balances(f, watched)).to.deep.equal(before);
      expect([await f.wallet.allowance(ZeroAddress), await f.wallet.allowance(token)]).to.deep.equal(allowances);

      // The owners set the new key: the old one is nobody, its signatures are void; the new key spends.
      const setKey = f.wallet.interface.encodeFunctionData("setDeviceKey", [newKey.address]);
      await expect(f.wallet.connect(f.relayer).execute(...(await signed(f, { to: walletAddress, data: setKey }))))
        .to.emit(f.wallet, "DeviceKeyChanged")
        .withArgs(newKey.address);
      await expect(f.wallet.connect(thief).deviceTransfer(ZeroAddress, f.mallory.address, 5n))
        .to.be.revertedWithCustomError(f.wallet, "NotDevice")
        .withArgs(thief.address);
      for (const [asset, [r, vs]] of stolen) {
        await expect(
          f.wallet.connect(f.relayer).deviceTransferBySig(asset, f.mallory.address, 5n, DEADLINE, r, vs),
        ).to.be.revertedWithCustomError(f.wallet, "InvalidSignature");
      }
      expect(await balances(f, watched)).to.deep.equal(before);
      const m = { asset: ZeroAddress, to: RECIPIENT, amount: 7n, nonce: 0n, deadline: DEADLINE };
      const [r, vs] = compact(await signDeviceTransfer(newKey, f.domain, m));
      const spend = f.wallet.connect(f.relayer).deviceTransferBySig(ZeroAddress, RECIPIENT, 7n, DEADLINE, r, vs);
      await expect(spend).to.emit(f.wallet, "DeviceLinked").withArgs(f.deviceId);
      await expect(spend).to.changeEtherBalances([f.wallet, RECIPIENT], [-7n, 7n]);
    });

    it("attack: the owners cannot point the wallet at a key the registry does not hold", async function () {
      const f = await loadFixture(walletFixture);
      const walletAddress = await f.wallet.getAddress();
      const other = ethers.Wallet.createRandom().connect(ethers.provider);
      await f.treasury.sendTransaction({ to: other.address, value: ONE });
      const setKey = f.wallet.interface.encodeFunctionData("setDeviceKey", [other.address]);
      const tx = f.wallet.execute(...(await signed(f, { to: walletAddress, data: setKey })));
      await expect(tx).to.emit(f.wallet, "DeviceKeyChanged").withArgs(other.address);
      expect((await f.wallet.deviceConfig()).linked).to.equal(false);
      const before = await ethers.provider.getBalance(walletAddress);
      await expect(f.wallet.connect(other).deviceTransfer(ZeroAddress, RECIPIENT, 1n))
        .to.be.revertedWithCustomError(f.wallet, "DeviceKeyMismatch")
        .withArgs(f.deviceId, other.address, f.device.address);
      expect(await ethers.provider.getBalance(walletAddress)).to.equal(before);
      expect(await ethers.provider.getBalance(RECIPIENT)).to.equal(0n);
    });

    it("attack: a wallet created after a rotation with the old key cannot let the old key spend", async function () {
      const f = await loadFixture(walletFixture);
      const d = testDevice(920);
      const newKey = ethers.Wallet.createRandom();
      await f.registry
        .connect(f.maker)
        .registerDevice(REGISTRATION_FEE, d.deviceId, d.wallet.address, 1, ethers.ZeroHash);
      const [r, vs] = compact(
        await signActivation(d.wallet, f.registryDomain, {
          deviceId: d.deviceId,
          owner: f.alice.address,
          deadline: DEADLINE,
        }),
      );
      await f.registry.connect(f.alice).activateDevice(ACTIVATION_FEE, d.deviceId, f.alice.address, DEADLINE, r, vs);
      const consent = await signKeyRotation(newKey, f.registryDomain, {
        deviceId: d.deviceId,
        newKey: newKey.address,
        nonce: 0n,
        deadline: DEADLINE,
      });
      await f.registry.connect(f.alice).rotateDeviceKey(d.deviceId, newKey.address, DEADLINE, ...compact(consent));
      // A wallet configured with the old key, handed the device and funded.
      const config = { ...f.config, deviceId: d.deviceId, deviceKey: d.wallet.address };
      await f.factory.createWallet(config);
      const wallet = await ethers.getContractAt("DeviceWallet", await f.factory.predictWallet(config));
      await f.registry.connect(f.alice).transferDevice(d.deviceId, await wallet.getAddress());
      await f.treasury.sendTransaction({ to: await wallet.getAddress(), value: ONE });
      const oldKey = d.wallet.connect(ethers.provider);
      await f.treasury.sendTransaction({ to: oldKey.address, value: ONE });
      await expect(wallet.connect(oldKey).deviceTransfer(ZeroAddress, f.mallory.address, 1n))
        .to.be.revertedWithCustomError(wallet, "DeviceKeyMismatch")
        .withArgs(d.deviceId, d.wallet.address, newKey.address);
      const m = { asset: ZeroAddress, to: f.mallory.address, amount: 1n, nonce: 0n, deadline: DEADLINE };
      const sig = compact(await signDeviceTransfer(oldKey, await readDomain(wallet), m));
      await expect(
        wallet.connect(f.relayer).deviceTransferBySig(ZeroAddress, f.mallory.address, 1n, DEADLINE, ...sig),
      ).to.be.revertedWithCustomError(wallet, "DeviceKeyMismatch");
      expect(await ethers.provider.getBalance(await wallet.getAddress())).to.equal(ONE);
      expect((await wallet.deviceConfig()).linked).to.equal(false);
    });

    it("attack: a relayer cannot get a rotation mined without the wallet hearing of it", async function () {
      const f = await loadFixture(walletFixture);
      const newKey = ethers.Wallet.createRandom();
      const args = await rotation(f, newKey);
      // Every outer gas either reverts the whole execution or rotates the key and unlinks the wallet.
      let [lo, hi] = [21_000n, 1_000_000n];
      while (hi - lo > 1n) {
        const mid = (lo + hi) / 2n;
        let mined = true;
        try {
          expect(await f.wallet.connect(f.relayer).execute.staticCall(...args, { gasLimit: mid })).to.equal(true);
        } catch {
          mined = false;
        }
        if (mined) hi = mid;
        else lo = mid;
      }
      await expect(f.wallet.connect(f.relayer).execute(...args, { gasLimit: lo })).to.be.reverted;
      expect((await f.registry.getDevice(f.deviceId)).deviceKey).to.equal(f.device.address);
      expect((await f.wallet.deviceConfig()).linked).to.equal(true);
      expect(await f.wallet.nonce()).to.equal(0n);
      const tx = f.wallet.connect(f.relayer).execute(...args, { gasLimit: hi });
      await expect(tx).to.emit(f.wallet, "DeviceUnlinked").withArgs(f.deviceId);
      expect((await f.registry.getDevice(f.deviceId)).deviceKey).to.equal(newKey.address);
      expect((await f.wallet.deviceConfig()).linked).to.equal(false);
    });

    it("attack: a rotation whose hook would be starved reverts whole; a hostile owner's hook does not stop its rotation", async function () {
      const f = await loadFixture(walletFixture);
      // Owners who sign one gas too little for the rotation with its hook (the least that works is found
      // by search): the registry refuses to start the hook, so the key stays and the wallet stays linked
      // (the old key keeps its rights because no rotation happened).
      const newKey = ethers.Wallet.createRandom();
      const works = async (gasLimit: bigint) =>
        f.wallet.execute.staticCall(...(await rotation(f, newKey, gasLimit)), { gasLimit: 1_000_000n });
      let [lo, hi] = [0n, 150_000n];
      expect(await works(hi)).to.equal(true);
      while (hi - lo > 1n) {
        const mid = (lo + hi) / 2n;
        if (await works(mid)) hi = mid;
        else lo = mid;
      }
      const starved = await rotation(f, newKey, lo);
      await expect(f.wallet.execute(...starved))
        .to.emit(f.wallet, "Executed")
        .withArgs(0n, await f.registry.getAddress(), 0n, false);
      expect((await f.registry.getDevice(f.deviceId)).deviceKey).to.equal(f.device.address);
      expect(await f.registry.keyNonce(f.deviceId)).to.equal(0n);
      expect((await f.wallet.deviceConfig()).linked).to.equal(true);

      // A contract owner whose hook reverts or burns its budget, rotating its own device.
      const hostile = await ethers.deployContract("HostileDeviceOwner");
      const owner = await hostile.getAddress();
      for (const [i, mode] of [
        [921, 0],
        [922, 1],
      ]) {
        await hostile.setMode(mode);
        const d = testDevice(i);
        await f.registry
          .connect(f.maker)
          .registerDevice(REGISTRATION_FEE, d.deviceId, d.wallet.address, 1, ethers.ZeroHash);
        const [r, vs] = compact(
          await signActivation(d.wallet, f.registryDomain, { deviceId: d.deviceId, owner, deadline: DEADLINE }),
        );
        await f.registry.connect(f.alice).activateDevice(ACTIVATION_FEE, d.deviceId, owner, DEADLINE, r, vs);
        const newKey = ethers.Wallet.createRandom();
        const consent = await signKeyRotation(newKey, f.registryDomain, {
          deviceId: d.deviceId,
          newKey: newKey.address,
          nonce: 0n,
          deadline: DEADLINE,
        });
        const data = f.registry.interface.encodeFunctionData("rotateDeviceKey", [
          d.deviceId,
          newKey.address,
          DEADLINE,
          ...compact(consent),
        ]);
        const call = () => hostile.connect(f.mallory).call.populateTransaction(f.registry.getAddress(), data);
        const needed = await f.mallory.estimateGas(await call());
        // Too little gas for the hook's budget: the rotation reverts whole.
        await expect(
          f.mallory.sendTransaction({ ...(await call()), gasLimit: needed - 5_000n }),
        ).to.be.revertedWithCustomError(f.registry, "OwnerHookGasTooLow");
        expect((await f.registry.getDevice(d.deviceId)).deviceKey).to.equal(d.wallet.address);
        await expect(f.mallory.sendTransaction({ ...(await call()), gasLimit: needed }))
          .to.emit(f.registry, "DeviceKeyRotated")
          .withArgs(d.deviceId, d.wallet.address, newKey.address);
        expect((await f.registry.getDevice(d.deviceId)).deviceKey).to.equal(newKey.address);
      }
    });
  });

  it("receives ETH and ERC-827 transferAndCall", async function () {
    const f = await loadFixture(walletFixture);
    const walletAddress = await f.wallet.getAddress();
    await expect(f.token.connect(f.alice).transferAndCall(walletAddress, 5n * ONE, "0x")).to.changeTokenBalance(
      f.token,
      walletAddress,
      5n * ONE,
    );
    await expect(f.alice.sendTransaction({ to: walletAddress, value: 9n, data: "0x1234" })).to.changeEtherBalance(
      walletAddress,
      9n,
    );
  });
});
