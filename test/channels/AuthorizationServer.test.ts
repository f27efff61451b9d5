import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { loadFixture, mine, time } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { Wallet, keccak256, parseEther, toUtf8Bytes } from "ethers";
import { ethers } from "hardhat";

import { AuthorizationServer } from "../../src/channels/as-server";
import { ChannelClient } from "../../src/channels/client";
import { SimulatedDevice } from "../../src/channels/device";
import { openedChannel } from "../../src/channels/key";
import { AsStore } from "../../src/channels/store";
import { ReceiptVerifier } from "../../src/channels/verify";
import { signReceipt } from "../../src/eip712/receipt";
import { buildGroup } from "../../src/merkle/group";
import { channelsFixture } from "../shared/fixtures";
import type { ChannelsFixture } from "../shared/fixtures";

const DAY = 86_400n;
const PRICE = parseEther("0.01");
const LOCK = keccak256(toUtf8Bytes("SN-LOCK-1"));

describe("Authorization Server, clients and devices", function () {
  let dir: string;
  let server: AuthorizationServer;
  let store: AsStore;
  let url: string;
  let chainNow = 0;

  async function setup(f: ChannelsFixture, extra: { minConfirmations?: number; hotpWindow?: number } = {}) {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-as-"));
    const group = buildGroup(f.clients.map((c) => c.address));
    const expiry = BigInt(await time.latest()) + DAY;
    const tx = await f.channels
      .connect(f.owner)
      .openEth(f.server.address, expiry, group.root, 1n, { value: parseEther("0.05") });
    const { channelId, openBlock } = openedChannel(f.channels, await tx.wait());
    chainNow = await time.latest();
    store = new AsStore(path.join(dir, "as.sqlite"), { create: true });
    server = new AuthorizationServer({
      channels: f.channels.connect(f.server),
      payee: f.server.address,
      verifier: new ReceiptVerifier(f.domain),
      store,
      now: () => chainNow,
      ...extra,
    });
    const secret = crypto.randomBytes(32);
    server.provisionDevice(LOCK, secret.toString("hex"), PRICE);
    url = await server.listen(0);
    const device = new SimulatedDevice(path.join(dir, "lock.json"), undefined, undefined, {
      deviceId: LOCK,
      secret: secret.toString("hex"),
      counter: 0,
      slotsGranted: 0,
    });
    const params = {
      owner: f.owner.address,
      token: false,
      clientRoot: group.root,
      salt: "1",
      openBlock: openBlock.toString(),
      channelId,
      deposit: parseEther("0.05"),
    };
    const clients = f.clients.map((w) => new ChannelClient(w, params, group.proofs[w.address], f.domain));
    return { group, channelId, expiry, device, clients, params };
  }

  afterEach(async function () {
    await server?.stop();
    store?.close();
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("a client relays the device's acknowledgement with ChannelClient.acknowledge, so the AS sells past its window of outstanding codes; a forged one is refused", async function () {
    const f = await loadFixture(channelsFixture);
    const s = await setup(f, { hotpWindow: 2 });
    const grants = [await s.clients[0].buy(url, LOCK, PRICE), await s.clients[1].buy(url, LOCK, PRICE)];
    // Two codes outstanding: a third is refused before anything is charged.
    await expect(s.clients[2].buy(url, LOCK, PRICE)).to.be.rejectedWith(
      /AS refused: 429 device .*'s window of 2 codes is full: code 0, the oldest its device has not acknowledged as used, is outstanding until \d+/,
    );
    expect(store.receiptCount()).to.equal(2);
    const used = s.device.present(grants[1].otp);
    expect(used).to.deep.include({ granted: true });
    await expect(s.clients[2].acknowledge(url, LOCK, used.counter, "00".repeat(16))).to.be.rejectedWith(
      /AS refused the acknowledgement: 403 .*wrong MAC/,
    );
    // The device used counter 1 but not 0: its base stays at 0, and the AS still has 2 outstanding.
    await s.clients[2].acknowledge(url, LOCK, used.counter, used.ack, used.next);
    await expect(s.clients[2].buy(url, LOCK, PRICE)).to.be.rejectedWith(/429/);
    const first = s.device.present(grants[0].otp);
    await s.clients[2].acknowledge(url, LOCK, first.counter, first.ack, first.next);
    expect(first.counter).to.equal(2);
    const third = await s.clients[2].buy(url, LOCK, PRICE);
    expect(third).to.include({ counter: 2, amount: (3n * PRICE).toString() });
    expect(s.device.present(third.otp).granted).to.equal(true);
  });

  it("clients of a group buy slots with cumulative receipts; the device grants one slot per OTP; the AS closes with the best", async function () {
    const f = await loadFixture(channelsFixture);
    const s = await setup(f);
    for (let i = 0; i < 4; i++) {
      const grant = await s.clients[i % 4].buy(url, LOCK, PRICE);
      expect(grant.amount).to.equal((PRICE * BigInt(i + 1)).toString());
      expect(s.device.present(grant.otp)).to.deep.include({ granted: true, counter: i + 1 });
      // attack: the same OTP again
      expect(s.device.present(grant.otp).granted).to.equal(false);
    }
    expect(store.receiptCount()).to.equal(4);
    chainNow = Number(s.expiry) - 30;
    const due = await server.dueChannels(60);
    expect(due.map((d) => d.channel.channelId)).to.deep.equal([s.channelId]);
    const before = await f.channels.getChannel(s.channelId);
    const closing = server.closeChannels(due);
    await expect(closing.then((r) => r.closed)).to.eventually.deep.equal([s.channelId]);
    const after = await f.channels.getChannel(s.channelId);
    expect(before.status).to.equal(1n);
    expect(after.status).to.equal(0n); // closed: the slot is cleared
  });

  it("attack: an owner who reclaims a channel the AS holds receipts for cannot stall the AS's close loop", async function () {
    const f = await loadFixture(channelsFixture);
    const s = await setup(f);
    await s.clients[0].buy(url, LOCK, PRICE);
    // The griefer: another owner's channel with a short expiry, paid through this AS too.
    const griefer = (await ethers.getSigners())[9];
    const expiry = BigInt(await time.latest()) + 3_600n;
    const tx = await f.channels
      .connect(griefer)
      .openEth(f.server.address, expiry, s.group.root, 2n, { value: parseEther("0.05") });
    const opened = openedChannel(f.channels, await tx.wait());
    chainNow = await time.latest();
    const params = { ...s.params, owner: griefer.address, salt: "2", openBlock: opened.openBlock.toString() };
    const client = new ChannelClient(
      f.clients[1],
      { ...params, channelId: opened.channelId },
      s.group.proofs[f.clients[1].address],
      f.domain,
    );
    await client.buy(url, LOCK, PRICE);
    // It expires before the AS closes (the AS was down), and the griefer takes its deposit back.
    await time.increaseTo(expiry + 1n);
    await f.channels.connect(griefer).reclaim(opened, f.server.address);
    chainNow = await time.latest();
    const due = await server.dueChannels(Number(DAY));
    expect(due.map((d) => d.channel.channelId).sort()).to.deep.equal([s.channelId, opened.channelId].sort());
    const grieferBefore = await ethers.provider.getBalance(griefer.address);
    const serverBefore = await ethers.provider.getBalance(f.server.address);
    const result = await server.closeChannels(due);
    expect(result.closed).to.deep.equal([s.channelId]);
    expect(result.skipped).to.deep.equal([{ channelId: opened.channelId, reason: "not-open" }]);
    const [closed] = await f.channels.queryFilter(f.channels.filters.ChannelClosed(s.channelId));
    expect(closed.args.paid).to.equal(PRICE);
    expect(await ethers.provider.getBalance(griefer.address)).to.equal(grieferBefore);
    // The AS was paid the good channel's receipt (less its gas), and nothing is left due: the loop moves on.
    const gasCost = result.gasUsed * (await ethers.provider.getTransactionReceipt(closed.transactionHash))!.gasPrice;
    expect(await ethers.provider.getBalance(f.server.address)).to.equal(serverBefore + PRICE - gasCost);
    expect(await server.dueChannels(Number(DAY))).to.deep.equal([]);
    expect(store.channels().every((c) => c.closed)).to.equal(true);
  });

  it("rejects bad requests with a 4xx naming the problem, and changes nothing", async function () {
    const f = await loadFixture(channelsFixture);
    const s = await setup(f);
    await s.clients[0].buy(url, LOCK, PRICE);
    const send = async (
      patch: (b: Record<string, unknown>) => void,
      signer: Wallet = f.clients[1],
      amount = 2n * PRICE,
    ) => {
      const body: Record<string, unknown> = {
        channel: {
          owner: f.owner.address,
          token: false,
          clientRoot: s.group.root,
          salt: "1",
          openBlock: s.params.openBlock,
        },
        deviceId: LOCK,
        amount: amount.toString(),
        signature: await signReceipt(signer, f.domain, { channelId: s.channelId, cumulativeAmount: amount }),
        proof: s.group.proofs[f.clients[1].address],
      };
      patch(body);
      const response = await fetch(`${url}/access`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      return { status: response.status, error: ((await response.json()) as { error: string }).error };
    };
    const outsider = Wallet.createRandom();
    const pricey = keccak256(toUtf8Bytes("SN-PRICEY"));
    server.provisionDevice(pricey, "11".repeat(32), parseEther("1"));
    const cases: [string, () => Promise<{ status: number; error: string }>, number, RegExp][] = [
      ["malformed body", () => send((b) => delete b.signature), 400, /signature/],
      ["bad signature", () => send((b) => (b.signature = `0x${"ff".repeat(65)}`)), 400, /malformed or not canonical/],
      ["wrong amount", () => send(() => undefined, f.clients[1], 3n * PRICE), 409, /amount must be/],
      [
        "above deposit",
        () => send((b) => (b.deviceId = pricey), f.clients[1], PRICE + parseEther("1")),
        402,
        /exceeds the channel's deposit/,
      ],
      [
        "outsider",
        () => send(() => undefined, outsider as unknown as Wallet),
        403,
        /not in the channel's client group/,
      ],
      ["unknown device", () => send((b) => (b.deviceId = keccak256(toUtf8Bytes("nope")))), 404, /unknown device/],
      [
        "unknown channel",
        async () => {
          const { owner, token, clientRoot, openBlock } = s.params;
          const channel = { owner, token, clientRoot, salt: "99", openBlock };
          const channelId = server.channelIdOf(channel);
          const signature = await signReceipt(f.clients[1], f.domain, { channelId, cumulativeAmount: PRICE });
          return send((b) => Object.assign(b, { channel, signature }), f.clients[1], PRICE);
        },
        404,
        /not open for this AS/,
      ],
      [
        "another channel's receipt",
        () => send((b) => ((b.channel as { salt: string }).salt = "99")),
        403,
        /not in the channel's client group/,
      ],
    ];
    for (const [name, run, status, message] of cases) {
      const result = await run();
      expect(result.status, name).to.equal(status);
      expect(result.error, name).to.match(message);
    }
    expect(store.receiptCount()).to.equal(1);
    // A valid next receipt still works: nothing was consumed by the rejects.
    const grant = await s.clients[1].buy(url, LOCK, PRICE);
    expect(grant.counter).to.equal(1);
  });

  it("serves a new channel only once its open has the configured confirmations (its id depends on its block)", async function () {
    const f = await loadFixture(channelsFixture);
    const s = await setup(f, { minConfirmations: 3 });
    await expect(s.clients[0].buy(url, LOCK, PRICE)).to.be.rejectedWith(
      /409 .*has 0 confirmations; this AS waits for 3/,
    );
    await mine(3);
    const grant = await s.clients[0].buy(url, LOCK, PRICE);
    expect(grant.amount).to.equal(PRICE.toString());
    expect(store.receiptCount()).to.equal(1);
  });

  it("a client never signs over a forged previous receipt", async function () {
    const f = await loadFixture(channelsFixture);
    const s = await setup(f);
    const client = s.clients[0];
    const outsider = Wallet.createRandom();
    const forged = {
      channelId: s.channelId,
      amount: PRICE.toString(),
      signer: outsider.address,
      signature: await signReceipt(outsider, f.domain, { channelId: s.channelId, cumulativeAmount: PRICE }),
      proof: s.group.proofs[f.clients[1].address],
    };
    expect(() => client.checkPrevious(forged)).to.throw("is not in the group");
    const inflated = {
      ...forged,
      signer: f.clients[1].address,
      signature: await signReceipt(f.clients[1], f.domain, { channelId: s.channelId, cumulativeAmount: PRICE }),
      amount: (2n * PRICE).toString(),
    };
    expect(() => client.checkPrevious(inflated)).to.throw("signature does not match");
    expect(() => client.checkPrevious({ ...forged, channelId: keccak256("0x01") })).to.throw("not " + s.channelId);
    expect(() => client.checkPrevious({ ...forged, amount: parseEther("1").toString() })).to.throw(
      "exceeds the deposit",
    );
  });

  it("loss bound: when the device stops actuating, a client loses at most one slot's price", async function () {
    const f = await loadFixture(channelsFixture);
    const s = await setup(f);
    let paid = 0n;
    let granted = 0;
    for (let i = 0; i < 5; i++) {
      const grant = await s.clients[0].buy(url, LOCK, PRICE);
      paid = BigInt(grant.amount);
      const deviceWorks = i < 2; // the device breaks after two slots
      const outcome = deviceWorks ? s.device.present(grant.otp) : { granted: false };
      if (!outcome.granted) break; // the client stops paying as soon as a slot is not delivered
      granted++;
    }
    expect(paid - BigInt(granted) * PRICE).to.equal(PRICE);
  });

  it("survives a restart: receipts and counters are on disk; the best receipt still closes the channel", async function () {
    const f = await loadFixture(channelsFixture);
    const s = await setup(f);
    await s.clients[0].buy(url, LOCK, PRICE);
    await s.clients[1].buy(url, LOCK, PRICE);
    await server.stop();
    store.close();
    store = new AsStore(path.join(dir, "as.sqlite"));
    server = new AuthorizationServer({
      channels: f.channels.connect(f.server),
      payee: f.server.address,
      verifier: new ReceiptVerifier(f.domain),
      store,
      now: () => chainNow,
    });
    url = await server.listen(0);
    const third = await s.clients[2].buy(url, LOCK, PRICE);
    expect(third).to.include({ amount: (3n * PRICE).toString(), counter: 2 });
    const result = await server.closeChannels(await server.dueChannels(Number(DAY) * 2));
    expect(result.closed).to.deep.equal([s.channelId]);
    const [closed] = await f.channels.queryFilter(f.channels.filters.ChannelClosed(s.channelId));
    expect(closed.args.paid).to.equal(3n * PRICE);
  });
});
