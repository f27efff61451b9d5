import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { expect } from "chai";
import type { ContractTransactionResponse } from "ethers";
import { parseEther } from "ethers";
import { ethers } from "hardhat";

import { compact } from "../../src/eip712/device";
import { signReceipt } from "../../src/eip712/receipt";
import { channelIdOf, closeOutcome, openedChannel } from "../../src/channels/key";
import { buildGroup } from "../../src/merkle/group";
import type { ClientGroup } from "../../src/merkle/group";
import { inOneBlock } from "../shared/blocks";
import { ONE, channelsFixture, closeRequest } from "../shared/fixtures";
import type { ChannelsFixture } from "../shared/fixtures";

const Status = { None: 0n, Open: 1n };
const Reason = { NotOpen: 0n, Expired: 1n, OpeningBlock: 2n, AboveDeposit: 3n, BadSignature: 4n, NotInGroup: 5n };
const DAY = 86_400n;

interface Opened {
  owner: HardhatEthersSigner;
  group: ClientGroup;
  token: boolean;
  salt: bigint;
  openBlock: bigint;
  id: string;
  deposit: bigint;
  expiry: bigint;
}

/** Opens a channel of `owner` for the fixture's AS and four clients, ETH unless `token`. */
async function open(
  f: ChannelsFixture,
  owner: HardhatEthersSigner,
  o: { token?: boolean; salt?: bigint; lifetime?: bigint } = {},
): Promise<Opened> {
  const group = buildGroup(f.clients.map((c) => c.address));
  const token = o.token ?? false;
  const deposit = token ? 100n * ONE : parseEther("1");
  const expiry = BigInt(await time.latest()) + (o.lifetime ?? DAY);
  const salt = o.salt ?? 1n;
  let tx: ContractTransactionResponse;
  if (token) {
    const data = f.channels.interface.encodeFunctionData("openToken", [
      f.server.address,
      deposit,
      expiry,
      group.root,
      salt,
    ]);
    tx = await f.token.connect(owner).approveAndCall(await f.channels.getAddress(), deposit, data);
  } else {
    tx = await f.channels.connect(owner).openEth(f.server.address, expiry, group.root, salt, { value: deposit });
  }
  const opened = openedChannel(f.channels, await tx.wait());
  return { owner, group, token, salt, openBlock: opened.openBlock, id: opened.channelId, deposit, expiry };
}

/** The AS's close request for `c` with a receipt for `amount` signed by client 0. */
async function request(f: ChannelsFixture, c: Opened, amount: bigint, signed = amount) {
  const signature = compact(await signReceipt(f.clients[0], f.domain, { channelId: c.id, cumulativeAmount: signed }));
  return closeRequest(keyOf(c), amount, signature, c.group.proofs[f.clients[0].address]);
}

/** The channel's key (less the payee, the fixture's AS). */
function keyOf(c: Opened) {
  return { owner: c.owner.address, token: c.token, clientRoot: c.group.root, salt: c.salt, openBlock: c.openBlock };
}

/** The owners: independent keys, none of them the AS (the fixture's `server`) or the fixture's owner. */
async function owners(f: ChannelsFixture) {
  const signers = await ethers.getSigners();
  const [carol, dave, erin, frank] = signers.slice(8, 12);
  // Token owners hold THING.
  await f.token.transfer(frank.address, 1_000n * ONE);
  return { alice: f.owner, carol, dave, erin, frank };
}

/** Transfer events of the token to `to` in a transaction. */
async function tokenTransfersTo(f: ChannelsFixture, tx: ContractTransactionResponse, to: string) {
  const mined = await tx.wait();
  return mined!.logs.filter((l) => {
    const parsed = f.token.interface.parseLog(l);
    return parsed?.name === "Transfer" && parsed.args[1] === to;
  });
}

describe("PaymentChannels batch close", function () {
  it("attack: an expired, an already-closed and a reclaimed channel among good ones do not block the batch; only the good ones settle, the AS is paid their sum once per asset, the other owners are untouched", async function () {
    const f = await loadFixture(channelsFixture);
    const { alice, carol, dave, erin, frank } = await owners(f);
    // Good: alice's ETH channel, frank's ETH channel, frank's token channel.
    const good1 = await open(f, alice, { salt: 1n });
    const good2 = await open(f, frank, { salt: 2n });
    const goodToken = await open(f, frank, { token: true, salt: 3n });
    // Bad: carol's channel will expire; dave's is closed by the AS beforehand; erin (the griefer) lets hers
    // expire and reclaims it just before the AS's batch.
    const expired = await open(f, carol, { salt: 4n, lifetime: 3_600n });
    const closed = await open(f, dave, { salt: 5n });
    const reclaimed = await open(f, erin, { salt: 6n, lifetime: 3_600n });
    const closedRequest = await request(f, closed, 7n);
    await f.channels.connect(f.server).close(closedRequest);
    await time.increaseTo(reclaimed.expiry + 1n);
    await f.channels.connect(erin).reclaim(keyOf(reclaimed), f.server.address);

    const requests = [
      await request(f, expired, 10n),
      await request(f, good1, 100n),
      await request(f, closed, 20n),
      await request(f, good2, 200n),
      await request(f, reclaimed, 30n),
      await request(f, goodToken, 5n * ONE),
    ];
    const before = {
      carolEth: await ethers.provider.getBalance(carol.address),
      daveEth: await ethers.provider.getBalance(dave.address),
      erinEth: await ethers.provider.getBalance(erin.address),
      frankToken: await f.token.balanceOf(frank.address),
      channelsEth: await ethers.provider.getBalance(await f.channels.getAddress()),
      expiredState: await f.channels.getChannel(expired.id),
    };
    const tx = await f.channels.connect(f.server).closeBatch(requests);
    await expect(tx).to.changeEtherBalances(
      [f.server, alice, frank, carol, dave, erin],
      [300n, good1.deposit - 100n, good2.deposit - 200n, 0n, 0n, 0n],
    );
    await expect(tx).to.changeTokenBalances(f.token, [f.server, frank], [5n * ONE, goodToken.deposit - 5n * ONE]);
    await expect(tx)
      .to.emit(f.channels, "ChannelCloseSkipped")
      .withArgs(expired.id, Reason.Expired)
      .and.to.emit(f.channels, "ChannelCloseSkipped")
      .withArgs(closed.id, Reason.NotOpen)
      .and.to.emit(f.channels, "ChannelCloseSkipped")
      .withArgs(reclaimed.id, Reason.NotOpen);
    // Paid once per asset: one token transfer to the AS; the ETH arrives in one call (balance change above).
    expect(await tokenTransfersTo(f, tx, f.server.address)).to.have.length(1);
    // Exactly the good ones settled, and the receipt says so.
    const outcome = closeOutcome(f.channels, await tx.wait());
    expect(outcome.closed.map((c) => [c.channelId, c.paid, c.refunded])).to.deep.equal([
      [good1.id, 100n, good1.deposit - 100n],
      [good2.id, 200n, good2.deposit - 200n],
      [goodToken.id, 5n * ONE, goodToken.deposit - 5n * ONE],
    ]);
    expect(outcome.skipped).to.deep.equal([
      { channelId: expired.id, reason: "expired" },
      { channelId: closed.id, reason: "not-open" },
      { channelId: reclaimed.id, reason: "not-open" },
    ]);
    // The bad channels' owners and records are untouched: carol's deposit waits for her reclaim.
    expect(await ethers.provider.getBalance(carol.address)).to.equal(before.carolEth);
    expect(await ethers.provider.getBalance(dave.address)).to.equal(before.daveEth);
    expect(await ethers.provider.getBalance(erin.address)).to.equal(before.erinEth);
    expect(await f.channels.getChannel(expired.id)).to.deep.equal(before.expiredState);
    expect((await f.channels.getChannel(expired.id)).status).to.equal(Status.Open);
    for (const c of [good1, good2, goodToken, closed, reclaimed])
      expect((await f.channels.getChannel(c.id)).status).to.equal(Status.None);
    // The contract paid out exactly the good ETH channels' deposits.
    expect(await ethers.provider.getBalance(await f.channels.getAddress())).to.equal(
      before.channelsEth - good1.deposit - good2.deposit,
    );
    await expect(f.channels.connect(carol).reclaim(keyOf(expired), f.server.address)).to.changeEtherBalance(
      carol,
      expired.deposit,
    );
  });

  it("skips every request close() would refuse, each with its reason, and leaves its channel open", async function () {
    const f = await loadFixture(channelsFixture);
    const { alice, carol } = await owners(f);
    const good = await open(f, alice, { salt: 1n });
    const above = await open(f, carol, { salt: 2n });
    const badSig = await open(f, carol, { salt: 3n });
    const outsider = await open(f, carol, { salt: 4n });
    const neverOpened = { ...good, salt: 99n };
    neverOpened.id = channelIdOf({
      ...neverOpened,
      owner: alice.address,
      payee: f.server.address,
      clientRoot: good.group.root,
    });
    const badSigRequest = await request(f, badSig, 10n);
    // A high-s twin (s just above n/2): the compact form can carry it; recovery refuses it.
    const halfN = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;
    badSigRequest.vs = `0x${(halfN + 1n).toString(16).padStart(64, "0")}`;
    const requests = [
      await request(f, good, 100n),
      await request(f, above, above.deposit + 1n),
      badSigRequest,
      await request(f, outsider, 11n, 12n), // signed for 12, claimed for 11: recovers another address
      await request(f, neverOpened, 1n),
    ];
    const before = await Promise.all([above, badSig, outsider].map((c) => f.channels.getChannel(c.id)));
    const tx = await f.channels.connect(f.server).closeBatch(requests);
    await expect(tx).to.changeEtherBalances([f.server, alice, carol], [100n, good.deposit - 100n, 0n]);
    const outcome = closeOutcome(f.channels, await tx.wait());
    expect(outcome.closed.map((c) => c.channelId)).to.deep.equal([good.id]);
    expect(outcome.skipped).to.deep.equal([
      { channelId: above.id, reason: "above-deposit" },
      { channelId: badSig.id, reason: "bad-signature" },
      { channelId: outsider.id, reason: "not-in-group" },
      { channelId: neverOpened.id, reason: "not-open" },
    ]);
    await expect(tx)
      .to.emit(f.channels, "ChannelCloseSkipped")
      .withArgs(above.id, Reason.AboveDeposit)
      .and.to.emit(f.channels, "ChannelCloseSkipped")
      .withArgs(badSig.id, Reason.BadSignature)
      .and.to.emit(f.channels, "ChannelCloseSkipped")
      .withArgs(outsider.id, Reason.NotInGroup)
      .and.to.emit(f.channels, "ChannelCloseSkipped")
      .withArgs(neverOpened.id, Reason.NotOpen);
    expect(await Promise.all([above, badSig, outsider].map((c) => f.channels.getChannel(c.id)))).to.deep.equal(before);
  });

  it("skips a channel in its opening block (the AS retries it later), and settles it in a later batch", async function () {
    const f = await loadFixture(channelsFixture);
    const { alice } = await owners(f);
    const group = buildGroup(f.clients.map((c) => c.address));
    const expiry = BigInt(await time.latest()) + DAY;
    const openBlock = BigInt(await ethers.provider.getBlockNumber()) + 1n;
    const c: Opened = {
      owner: alice,
      group,
      token: false,
      salt: 1n,
      openBlock,
      id: channelIdOf({
        owner: alice.address,
        payee: f.server.address,
        token: false,
        clientRoot: group.root,
        salt: 1n,
        openBlock,
      }),
      deposit: 1_000n,
      expiry,
    };
    const q = await request(f, c, 10n);
    const [, batch] = await inOneBlock(
      () =>
        f.channels
          .connect(alice)
          .openEth(f.server.address, expiry, group.root, 1n, { value: 1_000n, gasLimit: 200_000n }),
      () => f.channels.connect(f.server).closeBatch([q], { gasLimit: 300_000n }),
    );
    const mined = await batch.wait();
    expect(mined!.status).to.equal(1);
    expect(closeOutcome(f.channels, mined)).to.deep.equal({
      closed: [],
      skipped: [{ channelId: c.id, reason: "opening-block" }],
    });
    expect(await f.channels.getChannel(c.id)).to.deep.equal([Status.Open, 1_000n, expiry]);
    await expect(f.channels.connect(f.server).closeBatch([q])).to.changeEtherBalances([f.server, alice], [10n, 990n]);
  });

  it("a batch where nothing settles succeeds and pays nothing; a request repeated in a batch settles once", async function () {
    const f = await loadFixture(channelsFixture);
    const { alice } = await owners(f);
    const c = await open(f, alice, { token: true });
    const q = await request(f, c, 5n * ONE);
    const serverBefore = await f.token.balanceOf(f.server.address);
    const twice = await f.channels.connect(f.server).closeBatch([q, q]);
    await expect(twice).to.changeTokenBalances(f.token, [f.server, alice], [5n * ONE, c.deposit - 5n * ONE]);
    expect(closeOutcome(f.channels, await twice.wait()).skipped).to.deep.equal([
      { channelId: c.id, reason: "not-open" },
    ]);
    const again = await f.channels.connect(f.server).closeBatch([q]);
    await expect(again).to.emit(f.channels, "ChannelCloseSkipped").withArgs(c.id, Reason.NotOpen);
    await expect(again).to.not.emit(f.token, "Transfer");
    await expect(again).to.changeEtherBalance(f.channels, 0n);
    expect(await f.token.balanceOf(f.server.address)).to.equal(serverBefore + 5n * ONE);
    await expect(f.channels.connect(f.server).closeBatch([])).to.not.emit(f.channels, "ChannelCloseSkipped");
  });
});
