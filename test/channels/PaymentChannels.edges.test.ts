import { loadFixture, setBalance, time } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { ZeroHash } from "ethers";
import { ethers } from "hardhat";

import { compact } from "../../src/eip712/device";
import { openedChannel } from "../../src/channels/key";
import { signReceipt } from "../../src/eip712/receipt";
import { buildGroup, clientLeaf } from "../../src/merkle/group";
import { ONE, channelsFixture, closeRequest } from "../shared/fixtures";
import type { ChannelsFixture } from "../shared/fixtures";

const DAY = 86_400n;
const UINT96_MAX = (1n << 96n) - 1n;

async function open(f: ChannelsFixture, token: boolean, deposit: bigint, salt: bigint) {
  const root = clientLeaf(f.clients[0].address);
  const expiry = BigInt(await time.latest()) + DAY;
  let tx;
  if (token) {
    await f.token.connect(f.owner).approve(await f.channels.getAddress(), deposit);
    tx = await f.channels.connect(f.owner).openToken(f.server.address, deposit, expiry, root, salt);
  } else {
    tx = await f.channels.connect(f.owner).openEth(f.server.address, expiry, root, salt, { value: deposit });
  }
  const { channelId: id, openBlock } = openedChannel(f.channels, await tx.wait());
  return { id, root, expiry, salt, openBlock, token, deposit };
}

async function request(f: ChannelsFixture, c: Awaited<ReturnType<typeof open>>, amount: bigint) {
  const signature = compact(await signReceipt(f.clients[0], f.domain, { channelId: c.id, cumulativeAmount: amount }));
  return closeRequest(keyOf(f, c), amount, signature, []);
}

/** The channel's key (less the payee, the fixture's AS). */
function keyOf(f: ChannelsFixture, c: { root: string; salt: bigint; openBlock: bigint; token: boolean }) {
  return { owner: f.owner.address, token: c.token, clientRoot: c.root, salt: c.salt, openBlock: c.openBlock };
}

/** Edge cases: zero payouts and zero refunds, overflow guards, refusing recipients. */
describe("PaymentChannels edge cases", function () {
  it("a receipt for the whole deposit refunds nothing; a zero receipt pays nothing (ETH and token, single and batch)", async function () {
    const f = await loadFixture(channelsFixture);
    const cases = [
      await open(f, false, 100n, 1n),
      await open(f, false, 100n, 2n),
      await open(f, true, 10n * ONE, 3n),
      await open(f, true, 10n * ONE, 4n),
    ];
    const [ethAll, ethNone, tokAll, tokNone] = cases;
    const close = async (c: (typeof cases)[number], amount: bigint) => {
      const q = await request(f, c, amount);
      return f.channels.connect(f.server).close(q);
    };
    await expect(close(ethAll, 100n)).to.changeEtherBalances([f.server, f.owner], [100n, 0n]);
    await expect(close(ethNone, 0n)).to.changeEtherBalances([f.server, f.owner], [0n, 100n]);
    await expect(close(tokAll, 10n * ONE)).to.changeTokenBalances(f.token, [f.server, f.owner], [10n * ONE, 0n]);
    await expect(close(tokNone, 0n)).to.changeTokenBalances(f.token, [f.server, f.owner], [0n, 10n * ONE]);

    // A token-only batch pays no ETH; whole-deposit receipts refund nothing.
    const b1 = await open(f, true, 5n * ONE, 11n);
    const b2 = await open(f, false, 50n, 12n);
    const batch = f.channels.connect(f.server).closeBatch([await request(f, b1, 5n * ONE)]);
    await expect(batch).to.changeTokenBalances(f.token, [f.server, f.owner], [5n * ONE, 0n]);
    await expect(f.channels.connect(f.server).closeBatch([await request(f, b2, 50n)])).to.changeEtherBalances(
      [f.server, f.owner],
      [50n, 0n],
    );
  });

  it("the owner reclaims an expired ETH channel; a refusing owner contract cannot be paid and the reclaim reverts", async function () {
    const f = await loadFixture(channelsFixture);
    const c = await open(f, false, 77n, 1n);
    await time.increaseTo(c.expiry + 1n);
    await expect(f.channels.connect(f.owner).reclaim(keyOf(f, c), f.server.address)).to.changeEtherBalance(
      f.owner,
      77n,
    );

    const refuser = await ethers.deployContract("EthRefuser");
    const expiry = BigInt(await time.latest()) + DAY;
    const tx = await refuser.open(await f.channels.getAddress(), f.server.address, expiry, ZeroHash, 1n, { value: 9n });
    const { openBlock } = openedChannel(f.channels, await tx.wait());
    await time.increaseTo(expiry + 1n);
    await expect(refuser.reclaim(await f.channels.getAddress(), f.server.address, ZeroHash, 1n, openBlock))
      .to.be.revertedWithCustomError(f.channels, "PaymentFailed")
      .withArgs(await refuser.getAddress());
  });

  it("deposits beyond 96 bits are refused at open and at top-up", async function () {
    const f = await loadFixture(channelsFixture);
    await setBalance(f.owner.address, 1n << 100n);
    const root = buildGroup([f.clients[0].address]).root;
    const expiry = BigInt(await time.latest()) + DAY;
    await expect(
      f.channels.connect(f.owner).openEth(f.server.address, expiry, root, 1n, { value: UINT96_MAX + 1n }),
    ).to.be.revertedWithCustomError(f.channels, "DepositOverflow");
    const tx = await f.channels.connect(f.owner).openEth(f.server.address, expiry, root, 1n, { value: UINT96_MAX });
    const { openBlock } = openedChannel(f.channels, await tx.wait());
    await expect(
      f.channels
        .connect(f.owner)
        .topUp(keyOf(f, { root, salt: 1n, openBlock, token: false }), f.server.address, 1n, expiry, { value: 1n }),
    ).to.be.revertedWithCustomError(f.channels, "DepositOverflow");
  });
});
