import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { time } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { Wallet, parseEther } from "ethers";
import hre from "hardhat";

import { contextFor } from "../../src/chain/context";
import type { SystemContext } from "../../src/chain/context";
import { channelInfo, openChannel, readReceiptFile, reclaimChannel, topUpChannel } from "../../src/channels";
import type { OpenOptions } from "../../src/channels";
import { buildGroup } from "../../src/merkle/group";
import { loadSystem } from "../../tasks/support/deployments";

/**
 * The channel operations as a library: a context built from any provider and an address book (no `hre`), and
 * errors that name the problem, never a CLI flag.
 */
describe("channels library (a plain SystemContext)", function () {
  this.timeout(120_000);
  const clients = Array.from({ length: 3 }, (_, i) => new Wallet(`0x${(i + 1).toString(16).padStart(64, "c")}`));
  let ctx: SystemContext;
  let base: Omit<OpenOptions, "expiry">;
  let scratch: string;

  before(async function () {
    const { addresses } = await loadSystem(hre, ["PaymentChannels", "ThingToken"]);
    ctx = await contextFor(hre.ethers.provider, addresses, "plain");
    const [owner, as] = await hre.ethers.getSigners();
    base = {
      owner,
      payee: as.address,
      clients: clients.map((c) => c.address),
      deposit: parseEther("1"),
      asset: "eth",
      salt: 7n,
    };
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-chlib-"));
  });
  after(function () {
    if (scratch !== undefined) fs.rmSync(scratch, { recursive: true, force: true });
  });

  it("opens, reads, refuses a shorter expiry and reclaims after expiry, through the context alone", async function () {
    const expiry = BigInt(await time.latest()) + 3600n;
    const out = path.join(scratch, "channel.json");
    const opened = await openChannel(ctx, { ...base, expiry, out });
    const file = JSON.parse(fs.readFileSync(out, "utf8")) as { network: string; clientRoot: string };
    expect(file).to.deep.include({ network: "plain", clientRoot: buildGroup(base.clients).root });
    const info = await channelInfo(ctx, opened.channelId);
    expect(info).to.deep.include({
      status: "open",
      owner: await base.owner.getAddress(),
      payee: base.payee,
      asset: "eth",
      deposit: parseEther("1"),
      expiry,
    });

    await expect(
      topUpChannel(ctx, { owner: base.owner, channelId: opened.channelId, amount: 0n, expiry: expiry - 1n }),
    ).to.be.rejectedWith(`the new expiry ${expiry - 1n} is before the channel's expiry ${expiry}`);
    await expect(topUpChannel(ctx, { owner: base.owner, channelId: opened.channelId, amount: 0n })).to.be.rejectedWith(
      /^nothing to do: neither an amount to add nor a later expiry$/,
    );
    await expect(openChannel(ctx, { ...base, expiry, out })).to.be.rejectedWith(
      `--out: ${out} exists; pass --force to overwrite it`,
    );

    await time.increase(3601);
    const reclaimed = await reclaimChannel(ctx, { owner: base.owner, channelId: opened.channelId });
    expect(reclaimed.refunded).to.equal(parseEther("1"));
    expect((await channelInfo(ctx, opened.channelId)).status).to.equal("reclaimed");
  });

  it("refuses bad open parameters with messages that name the problem, and sends nothing", async function () {
    const expiry = BigInt(await time.latest()) + 3600n;
    const owner = await base.owner.getAddress();
    const nonce = await hre.ethers.provider.getTransactionCount(owner);
    const cases: [Partial<OpenOptions>, string][] = [
      [{ payee: owner }, "the Authorization Server must not be the owner itself"],
      [{ deposit: 1n << 96n }, `the deposit ${1n << 96n} exceeds 2^96 - 1 base units`],
      [{ salt: 1n << 96n }, `the salt ${1n << 96n} exceeds 2^96 - 1`],
    ];
    for (const [change, message] of cases) {
      const error = await openChannel(ctx, { ...base, expiry, ...change }).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(error?.message, message).to.equal(message);
    }
    expect(await hre.ethers.provider.getTransactionCount(owner)).to.equal(nonce);
  });

  it("reads a receipt file through the one JSON reader, naming the file and the field", function () {
    const missing = path.join(scratch, "none.json");
    expect(() => readReceiptFile(missing)).to.throw(
      `${missing} does not exist: expected a receipt { channelId, amount, signature, proof }`,
    );
    const bad = path.join(scratch, "receipt.json");
    fs.writeFileSync(bad, JSON.stringify({ channelId: `0x${"ab".repeat(32)}`, amount: "1.5" }));
    expect(() => readReceiptFile(bad)).to.throw(`${bad}: "amount" must be a decimal string`);
    fs.writeFileSync(bad, "{ nope");
    expect(() => readReceiptFile(bad)).to.throw(`${bad} is not valid JSON`);
  });
});
