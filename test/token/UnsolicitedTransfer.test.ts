import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { ZeroHash } from "ethers";
import { ethers } from "hardhat";

import { compact, signActivation } from "../../src/eip712/device";
import { keyStruct, openedChannel } from "../../src/channels/key";
import { buildGroup } from "../../src/merkle/group";
import type { PaymentChannels } from "../../typechain-types";
import { ACTIVATION_FEE, ONE, REGISTRATION_FEE, registryFixture, testDevice } from "../shared/fixtures";

const DEADLINE = 4_102_444_800n;
const DAY = 86_400n;
const REFUSES = ethers.id("refusesTransfersAndCall()").slice(0, 10);

/**
 * The registry and a PaymentChannels on the same token. Alice is the victim (a holder who pushes tokens by
 * mistake, or whose allowance a relayer spends), bob the relayer holding alice's allowance, the AS
 * (`server`) an independent payee. Alice has approved the registry (fixture) and the channels.
 */
async function fixture() {
  const f = await registryFixture();
  const channels = (await ethers.deployContract("PaymentChannels", [
    await f.token.getAddress(),
  ])) as unknown as PaymentChannels;
  const server = (await ethers.getSigners())[9];
  await f.token.connect(f.alice).approve(await channels.getAddress(), ethers.MaxUint256);
  // Bob, the relayer, may spend some of alice's tokens (e.g. for a transferFrom-based service).
  await f.token.connect(f.alice).approve(f.bob.address, 500n * ONE);
  const group = buildGroup([f.alice.address]);
  // Alice's open token channel, for a top-up.
  const expiry = BigInt(await time.latest()) + DAY;
  const opened = openedChannel(
    channels,
    await (await channels.connect(f.alice).openToken(server.address, 10n * ONE, expiry, group.root, 1n)).wait(),
  );
  return { ...f, channels, server, group, expiry, opened };
}
type Fixture = Awaited<ReturnType<typeof fixture>>;

/** Every call data pushed with transferAndCall (alice) and transferFromAndCall (bob, alice's spender) to
 * `target` reverts with `UnsolicitedTransfer(target)`, and no balance or record moves. Returns the state
 * before (and after) the attempts. */
async function expectPushesRefused(f: Fixture, target: string, data: Record<string, string>) {
  const before = await snapshot(f);
  for (const [name, d] of Object.entries(data)) {
    await expect(f.token.connect(f.alice).transferAndCall(target, 5n * ONE, d), `transferAndCall ${name}`)
      .to.be.revertedWithCustomError(f.token, "UnsolicitedTransfer")
      .withArgs(target);
    await expect(
      f.token.connect(f.bob).transferFromAndCall(f.alice.address, target, 5n * ONE, d),
      `transferFromAndCall ${name}`,
    )
      .to.be.revertedWithCustomError(f.token, "UnsolicitedTransfer")
      .withArgs(target);
  }
  expect(await snapshot(f)).to.deep.equal(before);
  return before;
}

/** Everything the attempts must leave unchanged. */
async function snapshot(f: Fixture) {
  const channels = await f.channels.getAddress();
  const registry = await f.registry.getAddress();
  return {
    alice: await f.token.balanceOf(f.alice.address),
    bob: await f.token.balanceOf(f.bob.address),
    bobAllowance: await f.token.allowance(f.alice.address, f.bob.address),
    channels: await f.token.balanceOf(channels),
    registry: await f.token.balanceOf(registry),
    pool: await f.registry.rewardPool(),
    uncollected: await f.registry.uncollectedPaidFees(f.maker.address),
    credit: (await f.registry.getManufacturer(f.maker.address)).credit,
    channel: await f.channels.getChannel(f.opened.channelId),
  };
}

describe("Unsolicited transfers (ERC-827 transfer and call)", function () {
  it("attack: transferAndCall and transferFromAndCall to PaymentChannels revert, whatever the data; nothing moves", async function () {
    const f = await loadFixture(fixture);
    const target = await f.channels.getAddress();
    const expiry = BigInt(await time.latest()) + DAY;
    const data = {
      openToken: f.channels.interface.encodeFunctionData("openToken", [
        f.server.address,
        ONE,
        expiry,
        f.group.root,
        2n,
      ]),
      topUp: f.channels.interface.encodeFunctionData("topUp", [keyStruct(f.opened), f.server.address, ONE, f.expiry]),
      withdrawRefund: f.channels.interface.encodeFunctionData("withdrawRefund"),
      // A view succeeds whoever calls it: before the fix, this trapped the tokens silently.
      view: f.channels.interface.encodeFunctionData("token"),
      empty: "0x",
    };
    await expectPushesRefused(f, target, data);
    // The legitimate flows still work: an open and a top-up through approveAndCall.
    const open = f.token.connect(f.alice).approveAndCall(target, ONE, data.openToken);
    await expect(open).to.emit(f.channels, "ChannelOpened");
    await expect(open).to.changeTokenBalances(f.token, [f.alice, f.channels], [-ONE, ONE]);
    await expect(f.token.connect(f.alice).approveAndCall(target, ONE, data.topUp))
      .to.emit(f.channels, "ChannelToppedUp")
      .withArgs(f.opened.channelId, 11n * ONE, f.expiry);
  });

  it("attack: transferAndCall and transferFromAndCall to the registry revert (activation, depositFeeCredit, empty); the pool gains nothing", async function () {
    const f = await loadFixture(fixture);
    const target = await f.registry.getAddress();
    const device = testDevice(1);
    await f.registry
      .connect(f.maker)
      .registerDevice(REGISTRATION_FEE, device.deviceId, device.wallet.address, 1, ZeroHash);
    const signature = await signActivation(device.wallet, f.domain, {
      deviceId: device.deviceId,
      owner: f.alice.address,
      deadline: DEADLINE,
    });
    const data = {
      activation: f.registry.interface.encodeFunctionData("activateDevice", [
        ACTIVATION_FEE,
        device.deviceId,
        f.alice.address,
        DEADLINE,
        ...compact(signature),
      ]),
      depositFeeCredit: f.registry.interface.encodeFunctionData("depositFeeCredit", [f.maker.address, ONE]),
      view: f.registry.interface.encodeFunctionData("rewardPool"),
      empty: "0x",
    };
    const before = await expectPushesRefused(f, target, data);
    expect((await f.registry.getDevice(device.deviceId)).status).to.equal(1n); // still only registered
    // The legitimate flows still work: credit and an activation through approveAndCall.
    await expect(f.token.connect(f.alice).approveAndCall(target, ONE, data.depositFeeCredit))
      .to.emit(f.registry, "FeeCreditDeposited")
      .withArgs(1n, f.alice.address, ONE);
    const activate = f.token.connect(f.alice).approveAndCall(target, ACTIVATION_FEE, data.activation);
    await expect(activate).to.changeTokenBalances(f.token, [f.alice, f.registry], [-ACTIVATION_FEE, ACTIVATION_FEE]);
    expect((await f.registry.getDevice(device.deviceId)).status).to.equal(2n);
    // The deposit also counted the registration fee paid from credit (uncollected until then) into the pool.
    expect(before.uncollected).to.equal(REGISTRATION_FEE);
    expect(await f.registry.rewardPool()).to.equal(before.pool + REGISTRATION_FEE + ACTIVATION_FEE);
  });

  it("receivers that do not refuse keep taking transfers and call; approveAndCall is never asked", async function () {
    const f = await loadFixture(fixture);
    expect(await f.channels.refusesTransfersAndCall()).to.equal(REFUSES);
    expect(await f.registry.refusesTransfersAndCall()).to.equal(REFUSES);
    // A receiver without the function (it reverts when asked) takes the tokens and the call.
    const noop = f.receiver.interface.encodeFunctionData("noop");
    await expect(
      f.token.connect(f.alice).transferAndCall(await f.receiver.getAddress(), ONE, noop),
    ).to.changeTokenBalance(f.token, f.receiver, ONE);
    await expect(
      f.token.connect(f.bob).transferFromAndCall(f.alice.address, await f.receiver.getAddress(), ONE, noop),
    ).to.changeTokenBalance(f.token, f.receiver, ONE);
    // approveAndCall is never refused: it moves nothing by itself.
    const pay = f.receiver.interface.encodeFunctionData("deposit", [ONE]);
    await expect(f.token.connect(f.alice).approveAndCall(await f.receiver.getAddress(), ONE, pay))
      .to.emit(f.receiver, "Credited")
      .withArgs(f.alice.address, ONE, 0n);
  });

  it("neither the registry nor the channels take plain ETH, or ETH through an and-call to a non-payable function", async function () {
    const f = await loadFixture(fixture);
    for (const target of [await f.registry.getAddress(), await f.channels.getAddress()]) {
      await expect(f.alice.sendTransaction({ to: target, value: 1n })).to.be.reverted;
      expect(await ethers.provider.getBalance(target)).to.equal(0n);
    }
    const credit = f.registry.interface.encodeFunctionData("depositFeeCredit", [f.maker.address, ONE]);
    await expect(f.token.connect(f.alice).approveAndCall(await f.registry.getAddress(), ONE, credit, { value: 1n })).to
      .be.reverted;
    expect(await ethers.provider.getBalance(await f.registry.getAddress())).to.equal(0n);
  });
});
