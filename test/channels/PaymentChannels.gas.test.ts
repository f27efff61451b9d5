import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import type { Signer } from "ethers";
import { Wallet, dataSlice, getAddress, keccak256, parseEther, toUtf8Bytes } from "ethers";
import { ethers } from "hardhat";

import { closeRequest as toCloseRequest, openedChannel } from "../../src/channels/key";
import type { ChannelKey } from "../../src/channels/key";
import { signReceipt } from "../../src/eip712/receipt";
import { buildGroup, clientLeaf } from "../../src/merkle/group";
import { ONE, channelsFixture } from "../shared/fixtures";
import type { ChannelsFixture } from "../shared/fixtures";
import { coverageRunning, snapshotGas } from "../shared/gas";

const EXPIRY = 4_102_444_800n; // fixed, so calldata and gas are deterministic
const group1024 = buildGroup(
  Array.from({ length: 1024 }, (_, i) => new Wallet(keccak256(toUtf8Bytes(`group-client-${i}`))).address),
);
const member = new Wallet(keccak256(toUtf8Bytes("group-client-77")));

async function openEth(f: ChannelsFixture, owner: Signer = f.owner, salt = 1n) {
  const tx = await f.channels
    .connect(owner)
    .openEth(f.server.address, EXPIRY, group1024.root, salt, { value: parseEther("1") });
  return openedChannel(f.channels, await tx.wait());
}

async function closeRequest(f: ChannelsFixture, c: ChannelKey & { channelId: string }, amount: bigint) {
  const signature = await signReceipt(member, f.domain, { channelId: c.channelId, cumulativeAmount: amount });
  return toCloseRequest({ ...c, amount, signature, proof: group1024.proofs[member.address] });
}

/** Opens a 100-THING channel in one approveAndCall (the open measured by the token-open row). */
async function openToken(f: ChannelsFixture, root: string, salt: bigint) {
  const data = f.channels.interface.encodeFunctionData("openToken", [f.server.address, 100n * ONE, EXPIRY, root, salt]);
  return f.token.connect(f.owner).approveAndCall(await f.channels.getAddress(), 100n * ONE, data);
}

/** Opens a token channel and returns its key. */
async function openedToken(f: ChannelsFixture, root: string, salt: bigint) {
  return openedChannel(f.channels, await (await openToken(f, root, salt)).wait());
}

/** Targets from issue #4; anchors are the SOFIE paper's table and microraiden (src/bench/anchors.ts). */
describe("PaymentChannels gas [gas]", function () {
  it("[gas] open, ETH, construction (3), 1,024-client group", async function () {
    const f = await loadFixture(channelsFixture);
    const gas = await snapshotGas(
      "channels.openEth (group of 1,024)",
      f.channels.connect(f.owner).openEth(f.server.address, EXPIRY, group1024.root, 1n, { value: parseEther("1") }),
    );
    if (!coverageRunning()) expect(gas).to.be.lessThanOrEqual(50_388n);
  });

  it("[gas] close, one ETH channel, 10-level membership proof", async function () {
    const f = await loadFixture(channelsFixture);
    const q = await closeRequest(f, await openEth(f), parseEther("0.4"));
    const gas = await snapshotGas("channels.close (ETH, group of 1,024)", f.channels.connect(f.server).close(q));
    if (!coverageRunning()) expect(gas).to.be.lessThanOrEqual(60_000n);
  });

  it("[gas] open, ThingToken, one transaction (approveAndCall)", async function () {
    const f = await loadFixture(channelsFixture);
    const gas = await snapshotGas(
      "channels.openToken via approveAndCall (group of 1,024)",
      openToken(f, group1024.root, 1n),
    );
    if (!coverageRunning()) expect(gas).to.be.lessThanOrEqual(90_000n);
  });

  it("[gas] close, ThingToken (payee and owner already hold tokens)", async function () {
    const f = await loadFixture(channelsFixture);
    // Another open channel keeps the contract's token balance non-zero, as in production: no storage
    // refund for emptying it flatters the figure.
    await openedToken(f, group1024.root, 2n);
    const q = await closeRequest(f, await openedToken(f, group1024.root, 1n), 40n * ONE);
    expect(await f.token.balanceOf(f.server.address)).to.be.greaterThan(0n);
    const gas = await snapshotGas("channels.close (ThingToken, group of 1,024)", f.channels.connect(f.server).close(q));
    // Target 60,000: missed by ~1,350 with a 10-level proof (its calldata alone is ~5,100), listed with
    // its cause in the gas report; met by constructions (1) and (2) below. Guard today's figure.
    if (!coverageRunning()) expect(gas).to.be.lessThanOrEqual(61_400n);
  });

  it("[gas] close, ThingToken, construction (2): one delegated client, empty proof", async function () {
    const f = await loadFixture(channelsFixture);
    const leaf = clientLeaf(member.address);
    await openedToken(f, leaf, 2n);
    const c = await openedToken(f, leaf, 1n);
    const signature = await signReceipt(member, f.domain, { channelId: c.channelId, cumulativeAmount: 40n * ONE });
    const gas = await snapshotGas(
      "channels.close (ThingToken, one client)",
      f.channels.connect(f.server).close(toCloseRequest({ ...c, amount: 40n * ONE, signature, proof: [] })),
    );
    if (!coverageRunning()) expect(gas).to.be.lessThanOrEqual(60_000n);
  });

  it("[gas] batch close of 20 channels of 20 owners", async function () {
    const f = await loadFixture(channelsFixture);
    const owners = Array.from(
      { length: 20 },
      (_, i) => new Wallet(keccak256(toUtf8Bytes(`channel-owner-${i}`)), ethers.provider),
    );
    const requests = [];
    for (const [i, owner] of owners.entries()) {
      await f.owner.sendTransaction({ to: owner.address, value: parseEther("2") });
      requests.push(await closeRequest(f, await openEth(f, owner), parseEther("0.5") + BigInt(i)));
    }
    await time.increase(60);
    const receipt = (await (await f.channels.connect(f.server).closeBatch(requests)).wait())!;
    const total = receipt.gasUsed;
    await snapshotGas("channels.closeBatch (20 ETH channels, total)", receipt);
    const perChannel = await snapshotGas(
      "channels.closeBatch per channel (20 ETH channels, group of 1,024)",
      total / 20n,
    );
    if (!coverageRunning()) expect(perChannel).to.be.lessThanOrEqual(30_000n);
  });

  it("[gas] batch close of 20 channels of 20 owners, each with its own group of 1,024", async function () {
    // As in production, where each channel serves its own client group: 20 roots, 20 clients, 20 unrelated
    // proofs (the same-group batch above repeats one proof, which compresses unrealistically well on an L2).
    const f = await loadFixture(channelsFixture);
    const requests = [];
    const refunds: [Wallet, bigint][] = [];
    for (let i = 0; i < 20; i++) {
      const owner = new Wallet(keccak256(toUtf8Bytes(`channel-owner-${i}`)), ethers.provider);
      const client = new Wallet(keccak256(toUtf8Bytes(`batch-client-${i}`)));
      const others = Array.from({ length: 1023 }, (_, j) =>
        getAddress(dataSlice(keccak256(toUtf8Bytes(`group-${i}-client-${j}`)), 12)),
      );
      const group = buildGroup([client.address, ...others]);
      await f.owner.sendTransaction({ to: owner.address, value: parseEther("2") });
      const opened = await f.channels
        .connect(owner)
        .openEth(f.server.address, EXPIRY, group.root, 1n, { value: parseEther("1") });
      const c = openedChannel(f.channels, await opened.wait());
      const amount = parseEther("0.5") + BigInt(i);
      const signature = await signReceipt(client, f.domain, { channelId: c.channelId, cumulativeAmount: amount });
      requests.push(toCloseRequest({ ...c, amount, signature, proof: group.proofs[client.address] }));
      refunds.push([owner, (await ethers.provider.getBalance(owner.address)) + parseEther("1") - amount]);
    }
    await time.increase(60);
    const receipt = (await (await f.channels.connect(f.server).closeBatch(requests)).wait())!;
    await snapshotGas("channels.closeBatch (20 ETH channels, distinct groups of 1,024, total)", receipt);
    // Every channel closed: each owner got its deposit back less what its client spent.
    for (const [owner, expected] of refunds) expect(await ethers.provider.getBalance(owner.address)).to.equal(expected);
  });
});
