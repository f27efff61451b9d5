import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { time } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { Wallet, parseEther } from "ethers";
import hre from "hardhat";

import { ChannelClient } from "../../src/channels/client";
import { hotp } from "../../src/channels/hotp";
import type { ChannelFile, ChannelInfo, CloseResult, OpenResult } from "../../src/channels";
import { AsStore } from "../../src/channels/store";
import { loadSystem } from "../../tasks/support/deployments";
import { readDomain } from "../../src/eip712/domain";
import { signReceipt } from "../../src/eip712/receipt";
import { buildGroup } from "../../src/merkle/group";
import { errorLines, hardhat, runInProcess as run } from "../shared/cli";
import { coverageRunning } from "../shared/gas";

/** The channel tasks, driven as `hre.run` on the in-process network (one chain across tasks). */
describe("channel and AS tasks (in-process network)", function () {
  this.timeout(300_000);
  let scratch: string;
  let ownerAddress: string;
  let asAddress: string;
  const clients = Array.from({ length: 5 }, (_, i) => new Wallet(`0x${(i + 1).toString(16).padStart(64, "a")}`));

  before(async function () {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-chtasks-"));
    const [owner, as] = await hre.ethers.getSigners();
    ownerAddress = owner.address;
    asAddress = as.address;
    fs.writeFileSync(path.join(scratch, "clients.json"), JSON.stringify(clients.map((c) => c.address)));
  });
  after(function () {
    if (scratch !== undefined) fs.rmSync(scratch, { recursive: true, force: true });
  });

  async function open(extra: Record<string, unknown> = {}): Promise<OpenResult> {
    return run<OpenResult>("channel:open", {
      as: asAddress,
      clients: path.join(scratch, "clients.json"),
      deposit: "1",
      expiry: "7d",
      asset: "eth",
      signer: "0",
      ...extra,
    });
  }

  it("opens (ETH and token), tops up, serves access, closes from the AS database, and reports each step", async function () {
    const out = path.join(scratch, "channel.json");
    const opened = await open({ out });
    const file = JSON.parse(fs.readFileSync(out, "utf8")) as ChannelFile;
    expect(file).to.include({ channelId: opened.channelId, owner: ownerAddress, payee: asAddress, asset: "eth" });
    expect(file.clients.map((c) => c.address)).to.deep.equal(clients.map((c) => c.address));
    const tokenChannel = await open({ asset: "token", deposit: "25" });
    expect((await run<ChannelInfo>("channel:status", { channel: tokenChannel.channelId })).deposit).to.equal(
      25n * 10n ** 18n,
    );

    const before = await run<ChannelInfo>("channel:status", { channel: opened.channelId });
    const topped = await run<{ deposit: bigint; expiry: bigint }>("channel:topup", {
      channel: opened.channelId,
      amount: "0.5",
      extend: "14d",
      signer: "0",
    });
    expect(topped.deposit).to.equal(parseEther("1.5"));
    expect(topped.expiry).to.be.greaterThan(before.expiry);

    // The AS, in this process: a device provisioned from a devices file, receipts in SQLite.
    const db = path.join(scratch, "as.sqlite");
    const devices = path.join(scratch, "devices.json");
    const secret = "5e".repeat(32);
    fs.writeFileSync(devices, JSON.stringify([{ deviceId: "LOCK-7", secret, price: "0.1" }]));
    const { readDevicesFile, startAs } = await import("../../src/channels/serve");
    const [device] = readDevicesFile(devices);
    const as = await startAs(await loadSystem(hre, ["PaymentChannels"]), {
      signer: (await hre.ethers.getSigners())[1],
      port: 0,
      host: "127.0.0.1",
      db,
      devices: [device],
      closeMargin: 60,
      pollSeconds: 3600,
      minConfirmations: 0,
      init: true,
      log: () => undefined,
    });
    const domain = await readDomain({ runner: hre.ethers.provider, address: file.contract });
    const deposit = parseEther("1.5");
    let last = "";
    try {
      for (let i = 0; i < 3; i++) {
        const c = file.clients[i];
        const client = new ChannelClient(
          clients[i],
          {
            owner: file.owner,
            token: false,
            clientRoot: file.clientRoot,
            salt: file.salt,
            openBlock: file.openBlock,
            channelId: file.channelId,
            deposit,
          },
          c.proof,
          domain,
        );
        const grant = await client.buy(as.url, device.deviceId, device.price);
        expect(grant.otp).to.equal(hotp(Buffer.from(secret, "hex"), i));
        last = grant.amount;
      }
    } finally {
      await as.stop();
    }
    expect(last).to.equal(parseEther("0.3").toString());

    const closed = await run<CloseResult>("channel:close", { db, signer: "1" });
    expect(closed.closed).to.deep.equal([
      { channelId: opened.channelId, paid: parseEther("0.3"), refunded: parseEther("1.2"), asset: "eth" },
    ]);
    const after = await run<ChannelInfo>("channel:status", { channel: opened.channelId });
    expect(after).to.include({ status: "closed", paid: parseEther("0.3"), refunded: parseEther("1.2") });
    // The database knows: a second close finds nothing left to close.
    await expect(run("channel:close", { db, signer: "1" })).to.be.rejectedWith("holds no receipts of open channels");
    const store = new AsStore(db);
    expect(store.channels().map((c) => c.closed)).to.deep.equal([true]);
    store.close();
  });

  it("closes with a receipt file; a tampered receipt names the problem and sends nothing", async function () {
    const opened = await open();
    const info = await run<ChannelInfo>("channel:status", { channel: opened.channelId });
    const system = await loadSystem(hre, ["PaymentChannels"]);
    const domain = await readDomain({ runner: hre.ethers.provider, address: system.addresses.PaymentChannels });
    const receiptFor = async (amount: bigint) => ({
      channelId: opened.channelId,
      amount: amount.toString(),
      signature: await signReceipt(clients[1], domain, {
        channelId: opened.channelId,
        cumulativeAmount: amount,
      }),
      proof: buildGroup(clients.map((c) => c.address)).proofs[clients[1].address],
    });
    const good = await receiptFor(parseEther("0.25"));
    const file = path.join(scratch, "receipt.json");
    fs.writeFileSync(file, JSON.stringify({ ...good, amount: parseEther("0.5").toString() }));
    await expect(run("channel:close", { receipt: file, signer: "1" })).to.be.rejectedWith(
      /receipt signer 0x[0-9a-fA-F]{40} is not in the group/,
    );
    await expect(run("channel:close", { receipt: file, signer: "0" })).to.be.rejectedWith(
      `pays ${asAddress}; only that account can close it`,
    );
    expect((await run<ChannelInfo>("channel:status", { channel: opened.channelId })).status).to.equal("open");
    fs.writeFileSync(file, JSON.stringify(good));
    const closed = await run<CloseResult>("channel:close", { receipt: file, signer: "1" });
    expect(closed.closed[0]).to.include({ paid: parseEther("0.25"), refunded: info.deposit - parseEther("0.25") });
  });

  it("reclaims only after expiry, only for the owner; bad input changes nothing", async function () {
    const opened = await open({ expiry: "1h" });
    await expect(run("channel:reclaim", { channel: opened.channelId, signer: "0" })).to.be.rejectedWith("wait");
    await expect(run("channel:topup", { channel: opened.channelId, amount: "1", signer: "2" })).to.be.rejectedWith(
      `belongs to ${ownerAddress}`,
    );
    await expect(run("channel:topup", { channel: opened.channelId, signer: "0" })).to.be.rejectedWith("nothing to do");
    await expect(run("channel:status", { channel: `0x${"12".repeat(32)}` })).to.be.rejectedWith("was ever opened");
    fs.writeFileSync(path.join(scratch, "bad-clients.txt"), `${clients[0].address}\nnot-an-address\n`);
    await expect(open({ clients: path.join(scratch, "bad-clients.txt") })).to.be.rejectedWith(
      'entry 2: "not-an-address" is not an address',
    );
    await expect(open({ asset: "btc" })).to.be.rejectedWith('--asset: "btc" is neither eth nor token');
    await time.increase(3601);
    const reclaimed = await run<{ refunded: bigint }>("channel:reclaim", { channel: opened.channelId, signer: "0" });
    expect(reclaimed.refunded).to.equal(parseEther("1"));
    expect((await run<ChannelInfo>("channel:status", { channel: opened.channelId })).status).to.equal("reclaimed");
    await expect(run("channel:reclaim", { channel: opened.channelId, signer: "0" })).to.be.rejectedWith(
      "already reclaimed",
    );
  });

  it("a devices file with problems is refused as a whole, naming each", async function () {
    const { readDevicesFile } = await import("../../src/channels/serve");
    const file = path.join(scratch, "bad-devices.json");
    fs.writeFileSync(
      file,
      JSON.stringify([
        { deviceId: "A", secret: "zz", price: "1" },
        { deviceId: "B", secret: "ab".repeat(16), price: "-1" },
        { deviceId: "A", secret: "ab".repeat(16), price: "1" },
      ]),
    );
    expect(() => readDevicesFile(file)).to.throw(/3 problem\(s\): entry 1: "secret".*entry 2: .*entry 3: device A/);
  });

  describe("from the command line", function () {
    before(function () {
      // Child processes recompile the contracts, which would overwrite coverage's instrumented build.
      if (coverageRunning()) this.skip();
    });

    it("every channel task has --help with --json", function () {
      for (const name of [
        "channel:open",
        "channel:topup",
        "channel:status",
        "channel:close",
        "channel:reclaim",
        "as:serve",
        "sim:access",
      ]) {
        const help = hardhat([name, "--help"]);
        expect(help.status, `${name}: ${help.stderr}`).to.equal(0);
        expect(help.stdout).to.contain(`Usage: hardhat [GLOBAL OPTIONS] ${name}`);
        expect(help.stdout, name).to.contain("--json");
      }
    });

    it("bad input is one line naming the problem", function () {
      const status = hardhat(["channel:status", "--channel", "0x1234"]);
      expect(status.status).to.equal(1);
      expect(errorLines(status)).to.deep.equal([
        'Error: --channel: "0x1234" is not a channel id (0x and 64 hex digits)',
      ]);
      const openRun = hardhat([
        "channel:open",
        "--as",
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "--clients",
        "nope",
        "--deposit",
        "1",
        "--expiry",
        "1d",
      ]);
      expect(errorLines(openRun)).to.deep.equal([
        'Error: --clients: "nope" is neither a file nor a comma-separated list of addresses',
      ]);
    });
  });
});
