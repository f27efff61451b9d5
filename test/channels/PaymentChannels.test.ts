import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import type { HDNodeWallet } from "ethers";
import { Signature, Wallet, ZeroAddress, parseEther } from "ethers";
import { ethers } from "hardhat";

import { readDomain } from "../../src/eip712/domain";
import { compact } from "../../src/eip712/device";
import { signPermit } from "../../src/eip712/permit";
import { signReceipt } from "../../src/eip712/receipt";
import { channelIdOf, keyStruct, openedChannel } from "../../src/channels/key";
import { buildGroup, clientLeaf } from "../../src/merkle/group";
import { inOneBlock, minedRevert } from "../shared/blocks";
import { ONE, channelsFixture, closeRequest } from "../shared/fixtures";
import type { ChannelsFixture } from "../shared/fixtures";

const Status = { None: 0n, Open: 1n };
const DAY = 86_400n;

async function expiryIn(seconds: bigint): Promise<bigint> {
  return BigInt(await time.latest()) + seconds;
}

/** Opens a group channel (construction 3) for the fixture's four clients. */
async function openGroup(f: ChannelsFixture, opts: { token?: boolean; deposit?: bigint; salt?: bigint } = {}) {
  const group = buildGroup(f.clients.map((c) => c.address));
  const deposit = opts.deposit ?? (opts.token ? 100n * ONE : parseEther("1"));
  const expiry = await expiryIn(DAY);
  const salt = opts.salt ?? 1n;
  let tx;
  if (opts.token) {
    await f.token.connect(f.owner).approve(await f.channels.getAddress(), deposit);
    tx = await f.channels.connect(f.owner).openToken(f.server.address, deposit, expiry, group.root, salt);
  } else {
    tx = await f.channels.connect(f.owner).openEth(f.server.address, expiry, group.root, salt, { value: deposit });
  }
  const opened = openedChannel(f.channels, await tx.wait());
  return {
    key: keyStruct(opened),
    group,
    deposit,
    expiry,
    salt,
    id: opened.channelId,
    openBlock: opened.openBlock,
    token: opts.token ?? false,
  };
}

async function receipt(
  f: ChannelsFixture,
  client: Wallet | HDNodeWallet,
  channelId: string,
  amount: bigint,
  domain = f.domain,
) {
  return compact(await signReceipt(client, domain, { channelId, cumulativeAmount: amount }));
}

describe("PaymentChannels", function () {
  describe("open, top up, reclaim", function () {
    it("opens an ETH group channel: one slot of state, the full parameters in the event", async function () {
      const f = await loadFixture(channelsFixture);
      const group = buildGroup(f.clients.map((c) => c.address));
      const expiry = await expiryIn(DAY);
      const tx = await f.channels.connect(f.owner).openEth(f.server.address, expiry, group.root, 7n, { value: 5n });
      const openBlock = BigInt((await tx.wait())!.blockNumber);
      const key = { owner: f.owner.address, payee: f.server.address, token: false, clientRoot: group.root, salt: 7n };
      const id = channelIdOf({ ...key, openBlock });
      expect(await f.channels.channelId(keyStruct({ ...key, openBlock }), key.payee)).to.equal(id);
      await expect(tx)
        .to.emit(f.channels, "ChannelOpened")
        .withArgs(id, f.owner.address, f.server.address, false, 5n, expiry, group.root, 7n);
      expect(await f.channels.getChannel(id)).to.deep.equal([Status.Open, 5n, expiry]);
      expect(await ethers.provider.getBalance(await f.channels.getAddress())).to.equal(5n);
    });

    it("refuses a duplicate id (same parameters in one block), a zero deposit, a zero payee and a past expiry", async function () {
      const f = await loadFixture(channelsFixture);
      const group = buildGroup(f.clients.map((c) => c.address));
      const expiry = await expiryIn(DAY);
      const open = () =>
        f.channels
          .connect(f.owner)
          .openEth(f.server.address, expiry, group.root, 4n, { value: 1n, gasLimit: 200_000n });
      const [first, second] = await inOneBlock(open, open);
      const { channelId } = openedChannel(f.channels, await first.wait());
      expect(await minedRevert(second, f.channels.interface)).to.deep.equal({
        name: "ChannelExists",
        args: [channelId],
      });
      // The same parameters in a later block are another channel.
      const again = openedChannel(f.channels, await (await open()).wait());
      expect(again.channelId).to.not.equal(channelId);
      const c = await openGroup(f);
      await expect(
        f.channels.connect(f.owner).openEth(f.server.address, c.expiry, c.group.root, 2n),
      ).to.be.revertedWithCustomError(f.channels, "ZeroDeposit");
      await expect(
        f.channels.connect(f.owner).openEth(ZeroAddress, c.expiry, c.group.root, 2n, { value: 1n }),
      ).to.be.revertedWithCustomError(f.channels, "ZeroAddress");
      const past = BigInt(await time.latest());
      await expect(f.channels.connect(f.owner).openEth(f.server.address, past, c.group.root, 2n, { value: 1n }))
        .to.be.revertedWithCustomError(f.channels, "ExpiryInPast")
        .withArgs(past);
    });

    it("opens a ThingToken channel in one transaction through approveAndCall, from the real payer", async function () {
      const f = await loadFixture(channelsFixture);
      const group = buildGroup(f.clients.map((c) => c.address));
      const expiry = await expiryIn(DAY);
      const data = f.channels.interface.encodeFunctionData("openToken", [
        f.server.address,
        10n * ONE,
        expiry,
        group.root,
        3n,
      ]);
      const tx = await f.token.connect(f.owner).approveAndCall(await f.channels.getAddress(), 10n * ONE, data);
      const opened = openedChannel(f.channels, await tx.wait());
      expect(opened).to.include({ owner: f.owner.address, token: true, salt: 3n });
      const id = opened.channelId;
      expect(await f.channels.getChannel(id)).to.deep.equal([Status.Open, 10n * ONE, expiry]);
      expect(await f.token.balanceOf(await f.channels.getAddress())).to.equal(10n * ONE);
      expect(await f.token.allowance(f.owner.address, await f.channels.getAddress())).to.equal(0n);
    });

    it("opens a ThingToken channel with a permit", async function () {
      const f = await loadFixture(channelsFixture);
      const group = buildGroup([f.clients[0].address]);
      const expiry = await expiryIn(DAY);
      const spender = await f.channels.getAddress();
      const permit = { owner: f.owner.address, spender, value: 4n * ONE, nonce: 0n, deadline: expiry };
      const { v, r, s } = Signature.from(await signPermit(f.owner, await readDomain(f.token), permit));
      const tx = await f.channels
        .connect(f.owner)
        .openTokenWithPermit(f.server.address, 4n * ONE, expiry, group.root, 1n, expiry, v, r, s);
      const id = openedChannel(f.channels, await tx.wait()).channelId;
      expect((await f.channels.getChannel(id)).deposit).to.equal(4n * ONE);
    });

    it("the owner tops up and extends; the expiry never shortens; nobody else can", async function () {
      const f = await loadFixture(channelsFixture);
      const eth = await openGroup(f);
      const later = eth.expiry + DAY;
      await expect(f.channels.connect(f.owner).topUp(eth.key, f.server.address, 3n, later, { value: 3n }))
        .to.emit(f.channels, "ChannelToppedUp")
        .withArgs(eth.id, eth.deposit + 3n, later);
      await expect(f.channels.connect(f.owner).topUp(eth.key, f.server.address, 0n, eth.expiry))
        .to.be.revertedWithCustomError(f.channels, "ExpiryNotExtended")
        .withArgs(eth.expiry, later);
      await expect(
        f.channels.connect(f.owner).topUp(eth.key, f.server.address, 5n, later, { value: 4n }),
      ).to.be.revertedWithCustomError(f.channels, "UnexpectedEth");
      await expect(f.channels.connect(f.mallory).topUp(eth.key, f.server.address, 1n, later, { value: 1n }))
        .to.be.revertedWithCustomError(f.channels, "NotChannelOwner")
        .withArgs(eth.id, f.mallory.address);
      const tok = await openGroup(f, { token: true, salt: 9n });
      await f.token.connect(f.owner).approve(await f.channels.getAddress(), 5n * ONE);
      await f.channels.connect(f.owner).topUp(tok.key, f.server.address, 5n * ONE, tok.expiry);
      expect((await f.channels.getChannel(tok.id)).deposit).to.equal(105n * ONE);
    });

    it("attack: a reclaim before expiry fails; after expiry the owner takes the whole deposit back", async function () {
      const f = await loadFixture(channelsFixture);
      const c = await openGroup(f, { token: true });
      await expect(f.channels.connect(f.owner).reclaim(c.key, f.server.address))
        .to.be.revertedWithCustomError(f.channels, "ChannelNotExpired")
        .withArgs(c.id, c.expiry);
      await time.increaseTo(c.expiry + 1n);
      // Only the key's owner can reclaim, even after expiry: the channel stays open for it.
      await expect(f.channels.connect(f.mallory).reclaim(c.key, f.server.address))
        .to.be.revertedWithCustomError(f.channels, "NotChannelOwner")
        .withArgs(c.id, f.mallory.address);
      expect((await f.channels.getChannel(c.id)).status).to.equal(Status.Open);
      const before = await f.token.balanceOf(f.owner.address);
      await expect(f.channels.connect(f.owner).reclaim(c.key, f.server.address))
        .to.emit(f.channels, "ChannelReclaimed")
        .withArgs(c.id, c.deposit);
      expect(await f.token.balanceOf(f.owner.address)).to.equal(before + c.deposit);
      expect(await f.channels.getChannel(c.id)).to.deep.equal([Status.None, 0n, 0n]);
      // The AS is too late now.
      const [r, vs] = await receipt(f, f.clients[0], c.id, ONE);
      await expect(
        f.channels.connect(f.server).close(closeRequest(c.key, ONE, [r, vs], c.group.proofs[f.clients[0].address])),
      )
        .to.be.revertedWithCustomError(f.channels, "ChannelNotOpen")
        .withArgs(c.id);
    });
  });

  describe("close", function () {
    it("the AS closes with the highest receipt: paid the amount, the owner refunded the rest, in one transaction", async function () {
      const f = await loadFixture(channelsFixture);
      const c = await openGroup(f);
      const client = f.clients[2];
      const amount = parseEther("0.3");
      const [r, vs] = await receipt(f, client, c.id, amount);
      const tx = f.channels
        .connect(f.server)
        .close(closeRequest(c.key, amount, [r, vs], c.group.proofs[client.address]));
      await expect(tx)
        .to.emit(f.channels, "ChannelClosed")
        .withArgs(c.id, amount, c.deposit - amount);
      await expect(tx).to.changeEtherBalances(
        [f.server, f.owner, f.channels],
        [amount, c.deposit - amount, -c.deposit],
      );
      // The slot is cleared (the storage refund makes closes cheaper); the id can never recur.
      expect(await f.channels.getChannel(c.id)).to.deep.equal([Status.None, 0n, 0n]);
    });

    it("closes a ThingToken channel the same way", async function () {
      const f = await loadFixture(channelsFixture);
      const c = await openGroup(f, { token: true });
      const [r, vs] = await receipt(f, f.clients[1], c.id, 30n * ONE);
      const tx = f.channels
        .connect(f.server)
        .close(closeRequest(c.key, 30n * ONE, [r, vs], c.group.proofs[f.clients[1].address]));
      await expect(tx).to.changeTokenBalances(
        f.token,
        [f.server, f.owner, f.channels],
        [30n * ONE, 70n * ONE, -100n * ONE],
      );
    });

    it("a one-client channel (constructions 1 and 2) closes with an empty proof", async function () {
      const f = await loadFixture(channelsFixture);
      const delegate = f.clients[3];
      const expiry = await expiryIn(DAY);
      const tx = await f.channels
        .connect(f.owner)
        .openEth(f.server.address, expiry, clientLeaf(delegate.address), 1n, { value: 100n });
      const { channelId: id, openBlock } = openedChannel(f.channels, await tx.wait());
      const [r, vs] = await receipt(f, delegate, id, 60n);
      await expect(
        f.channels.connect(f.server).close(
          closeRequest(
            {
              owner: f.owner.address,
              token: false,
              clientRoot: clientLeaf(delegate.address),
              salt: 1n,
              openBlock: openBlock,
            },
            60n,
            [r, vs],
            [],
          ),
        ),
      )
        .to.emit(f.channels, "ChannelClosed")
        .withArgs(id, 60n, 40n);
      expect((await f.channels.getChannel(id)).status).to.equal(Status.None);
    });

    describe("attacks", function () {
      it("a receipt replayed across channels, chains or contracts proves nothing", async function () {
        const f = await loadFixture(channelsFixture);
        const a = await openGroup(f, { salt: 1n });
        const b = await openGroup(f, { salt: 2n });
        const client = f.clients[0];
        const proof = a.group.proofs[client.address];
        const forA = await receipt(f, client, a.id, 100n);
        const otherChain = await receipt(f, client, b.id, 100n, { ...f.domain, chainId: f.chainId + 1n });
        const otherContract = await receipt(f, client, b.id, 100n, {
          ...f.domain,
          verifyingContract: await f.token.getAddress(),
        });
        for (const [r, vs] of [forA, otherChain, otherContract]) {
          await expect(
            f.channels.connect(f.server).close(closeRequest(b.key, 100n, [r, vs], proof)),
          ).to.be.revertedWithCustomError(f.channels, "NotInGroup");
        }
        expect((await f.channels.getChannel(b.id)).status).to.equal(Status.Open);
      });

      it("a receipt above the deposit is refused", async function () {
        const f = await loadFixture(channelsFixture);
        const c = await openGroup(f);
        const [r, vs] = await receipt(f, f.clients[0], c.id, c.deposit + 1n);
        await expect(
          f.channels
            .connect(f.server)
            .close(closeRequest(c.key, c.deposit + 1n, [r, vs], c.group.proofs[f.clients[0].address])),
        )
          .to.be.revertedWithCustomError(f.channels, "ReceiptAboveDeposit")
          .withArgs(c.id, c.deposit + 1n, c.deposit);
      });

      it("a signer outside the group, or an AS raising the signed amount, is refused", async function () {
        const f = await loadFixture(channelsFixture);
        const c = await openGroup(f);
        const outsider = Wallet.createRandom();
        const [r, vs] = await receipt(f, outsider, c.id, 10n);
        await expect(
          f.channels.connect(f.server).close(closeRequest(c.key, 10n, [r, vs], c.group.proofs[f.clients[0].address])),
        )
          .to.be.revertedWithCustomError(f.channels, "NotInGroup")
          .withArgs(c.id, outsider.address);
        // The AS cannot claim more than the highest receipt a member signed: another amount recovers another key.
        const [r2, vs2] = await receipt(f, f.clients[0], c.id, 10n);
        await expect(
          f.channels.connect(f.server).close(closeRequest(c.key, 11n, [r2, vs2], c.group.proofs[f.clients[0].address])),
        ).to.be.revertedWithCustomError(f.channels, "NotInGroup");
      });

      it("an internal Merkle node cannot pass as a client", async function () {
        const f = await loadFixture(channelsFixture);
        const c = await openGroup(f);
        // The group has 4 clients: the first proof element of client 0 is its sibling leaf; a receipt is
        // recovered to an address, whose double-hashed leaf can never equal an internal node.
        const proof = c.group.proofs[f.clients[0].address];
        const [r, vs] = await receipt(f, f.clients[0], c.id, 10n);
        await expect(
          f.channels.connect(f.server).close(closeRequest(c.key, 10n, [r, vs], proof.slice(1))),
        ).to.be.revertedWithCustomError(f.channels, "NotInGroup");
      });

      it("a high-s (malleated) receipt signature is refused", async function () {
        const f = await loadFixture(channelsFixture);
        const c = await openGroup(f);
        const sig = Signature.from(
          await signReceipt(f.clients[0], f.domain, { channelId: c.id, cumulativeAmount: 10n }),
        );
        const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
        const highS = n - BigInt(sig.s);
        for (const vs of [highS, highS ^ (1n << 255n)]) {
          const word = `0x${vs.toString(16).padStart(64, "0")}`;
          await expect(
            f.channels
              .connect(f.server)
              .close(closeRequest(c.key, 10n, [sig.r, word], c.group.proofs[f.clients[0].address])),
          ).to.be.reverted;
        }
        // The compact form cannot even express most high-s twins; one that it can (s just above n/2) is
        // refused by the s check itself, before any recovery.
        const halfN = n >> 1n;
        await expect(
          f.channels
            .connect(f.server)
            .close(
              closeRequest(
                c.key,
                10n,
                [sig.r, `0x${(halfN + 1n).toString(16).padStart(64, "0")}`],
                c.group.proofs[f.clients[0].address],
              ),
            ),
        )
          .to.be.revertedWithCustomError(f.channels, "InvalidReceiptSignature")
          .withArgs(c.id);
        // A zero r never recovers an address: refused as an invalid signature.
        await expect(
          f.channels
            .connect(f.server)
            .close(
              closeRequest(c.key, 10n, [`0x${"00".repeat(32)}`, sig.yParityAndS], c.group.proofs[f.clients[0].address]),
            ),
        )
          .to.be.revertedWithCustomError(f.channels, "InvalidReceiptSignature")
          .withArgs(c.id);
        expect((await f.channels.getChannel(c.id)).status).to.equal(Status.Open);
      });

      it("nobody but the AS can close (an owner would close with an old, low receipt)", async function () {
        const f = await loadFixture(channelsFixture);
        const c = await openGroup(f);
        const [r, vs] = await receipt(f, f.clients[0], c.id, 1n);
        const asOwner = await f.channels.channelId(c.key, f.owner.address);
        await expect(
          f.channels.connect(f.owner).close(closeRequest(c.key, 1n, [r, vs], c.group.proofs[f.clients[0].address])),
        )
          .to.be.revertedWithCustomError(f.channels, "ChannelNotOpen")
          .withArgs(asOwner);
      });

      it("attack: a key with dirty high bits (the id hashes the calldata words as sent) names no channel", async function () {
        const f = await loadFixture(channelsFixture);
        const c = await openGroup(f);
        const [r, vs] = await receipt(f, f.clients[0], c.id, 1n);
        const data = f.channels.interface.encodeFunctionData("close", [
          closeRequest(c.key, 1n, [r, vs], c.group.proofs[f.clients[0].address]),
        ]);
        // Words of the request: selector, offset, then the key (owner, token, clientRoot, salt, openBlock).
        const word = (i: number) => 10 + 64 * i;
        const dirty = (i: number, nibble: string) => data.slice(0, word(i)) + nibble + data.slice(word(i) + 1);
        for (const [field, at] of [
          ["owner", 1],
          ["token", 2],
          ["salt", 4],
          ["openBlock", 5],
        ] as const) {
          const tx = f.server.sendTransaction({ to: await f.channels.getAddress(), data: dirty(at, "f") });
          await expect(tx, field).to.be.revertedWithCustomError(f.channels, "ChannelNotOpen");
        }
        expect(await f.channels.getChannel(c.id)).to.deep.equal([Status.Open, c.deposit, c.expiry]);
        // The clean request settles.
        await expect(f.server.sendTransaction({ to: await f.channels.getAddress(), data }))
          .to.emit(f.channels, "ChannelClosed")
          .withArgs(c.id, 1n, c.deposit - 1n);
      });

      it("a double close fails, a reopening gets a new id the old receipt cannot close, and a close after expiry fails", async function () {
        const f = await loadFixture(channelsFixture);
        const c = await openGroup(f);
        const proof = c.group.proofs[f.clients[0].address];
        const [r, vs] = await receipt(f, f.clients[0], c.id, 5n);
        await f.channels.connect(f.server).close(closeRequest(c.key, 5n, [r, vs], proof));
        await expect(f.channels.connect(f.server).close(closeRequest(c.key, 5n, [r, vs], proof)))
          .to.be.revertedWithCustomError(f.channels, "ChannelNotOpen")
          .withArgs(c.id);
        // Reopened with the very same parameters: a new id, so the receipt signed for the old one is void.
        const tx = await f.channels
          .connect(f.owner)
          .openEth(f.server.address, c.expiry, c.group.root, c.salt, { value: c.deposit });
        const reopened = openedChannel(f.channels, await tx.wait());
        expect(reopened.channelId).to.not.equal(c.id);
        await expect(
          f.channels.connect(f.server).close(
            closeRequest(
              {
                owner: f.owner.address,
                token: false,
                clientRoot: c.group.root,
                salt: c.salt,
                openBlock: reopened.openBlock,
              },
              5n,
              [r, vs],
              proof,
            ),
          ),
        ).to.be.revertedWithCustomError(f.channels, "NotInGroup");
        const late = await openGroup(f, { salt: 5n });
        const [r2, vs2] = await receipt(f, f.clients[0], late.id, 5n);
        await time.increaseTo(late.expiry + 1n);
        await expect(f.channels.connect(f.server).close(closeRequest(late.key, 5n, [r2, vs2], proof)))
          .to.be.revertedWithCustomError(f.channels, "ChannelExpired")
          .withArgs(late.id, late.expiry);
      });

      it("a channel cannot end in its opening block (its cleared slot could be reopened there)", async function () {
        const f = await loadFixture(channelsFixture);
        const group = buildGroup([f.clients[0].address]);
        const expiry = await expiryIn(DAY);
        const openBlock = BigInt(await ethers.provider.getBlockNumber()) + 1n;
        const id = channelIdOf({
          owner: f.owner.address,
          payee: f.server.address,
          token: false,
          clientRoot: group.root,
          salt: 1n,
          openBlock,
        });
        const [r, vs] = await receipt(f, f.clients[0], id, 1n);
        const [, close] = await inOneBlock(
          () =>
            f.channels
              .connect(f.owner)
              .openEth(f.server.address, expiry, group.root, 1n, { value: 10n, gasLimit: 200_000n }),
          () =>
            f.channels
              .connect(f.server)
              .close(
                closeRequest(
                  { owner: f.owner.address, token: false, clientRoot: group.root, salt: 1n, openBlock },
                  1n,
                  [r, vs],
                  [],
                ),
                { gasLimit: 200_000n },
              ),
        );
        expect(await minedRevert(close, f.channels.interface)).to.deep.equal({
          name: "CloseInOpeningBlock",
          args: [id],
        });
        expect(await f.channels.getChannel(id)).to.deep.equal([Status.Open, 10n, expiry]);
      });

      it("an owner contract refusing its ETH refund cannot block the close; the refund waits for it", async function () {
        const f = await loadFixture(channelsFixture);
        const refuser = await ethers.deployContract("EthRefuser");
        const group = buildGroup([f.clients[0].address]);
        const expiry = await expiryIn(DAY);
        const tx = await refuser.open(await f.channels.getAddress(), f.server.address, expiry, group.root, 1n, {
          value: 100n,
        });
        const { channelId: id, openBlock } = openedChannel(f.channels, await tx.wait());
        const [r, vs] = await receipt(f, f.clients[0], id, 40n);
        await expect(
          f.channels.connect(f.server).close(
            closeRequest(
              {
                owner: await refuser.getAddress(),
                token: false,
                clientRoot: group.root,
                salt: 1n,
                openBlock: openBlock,
              },
              40n,
              [r, vs],
              [],
            ),
          ),
        )
          .to.emit(f.channels, "RefundOwed")
          .withArgs(await refuser.getAddress(), 60n);
        expect(await f.channels.refundOwed(await refuser.getAddress())).to.equal(60n);
        await expect(refuser.withdraw(await f.channels.getAddress())).to.changeEtherBalance(refuser, 60n);
        await expect(f.channels.connect(f.owner).withdrawRefund())
          .to.be.revertedWithCustomError(f.channels, "NothingOwed")
          .withArgs(f.owner.address);
      });
    });

    it("a batch close pays the AS once per asset and refunds every owner; a bad request is skipped, not settled", async function () {
      const f = await loadFixture(channelsFixture);
      const eth1 = await openGroup(f, { salt: 1n });
      const eth2 = await openGroup(f, { salt: 2n });
      const tok = await openGroup(f, { token: true, salt: 3n });
      const client = f.clients[0];
      const proof = eth1.group.proofs[client.address];
      const request = async (c: typeof eth1, amount: bigint) => {
        return closeRequest(c.key, amount, await receipt(f, client, c.id, amount), proof);
      };
      const requests = [await request(eth1, 10n), await request(eth2, 20n), await request(tok, 5n * ONE)];
      const bad = { ...requests[1], amount: 21n };
      // A receipt whose amount was raised recovers another signer: that channel is skipped and stays open.
      const skipped = f.channels.connect(f.server).closeBatch([bad]);
      await expect(skipped).to.emit(f.channels, "ChannelCloseSkipped").withArgs(eth2.id, 5n);
      await expect(skipped).to.changeEtherBalances([f.server, f.owner], [0n, 0n]);
      expect(await f.channels.getChannel(eth2.id)).to.deep.equal([Status.Open, eth2.deposit, eth2.expiry]);
      const tx = f.channels.connect(f.server).closeBatch(requests);
      await expect(tx).to.changeEtherBalances([f.server, f.owner], [30n, eth1.deposit - 10n + eth2.deposit - 20n]);
      await expect(tx).to.changeTokenBalances(f.token, [f.server, f.owner], [5n * ONE, tok.deposit - 5n * ONE]);
      const receiptTx = await (await tx).wait();
      const transfersToServer = receiptTx!.logs.filter((l) => {
        try {
          const parsed = f.token.interface.parseLog(l);
          return parsed?.name === "Transfer" && parsed.args[1] === f.server.address;
        } catch {
          return false;
        }
      });
      expect(transfersToServer).to.have.length(1);
      for (const c of [eth1, eth2, tok]) expect((await f.channels.getChannel(c.id)).status).to.equal(Status.None);
    });
  });
});
