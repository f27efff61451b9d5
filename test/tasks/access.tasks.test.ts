import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import { decryptKeystoreJsonSync } from "ethers";
import hre from "hardhat";

import { loadClientKey } from "../../src/channels/access";
import type { BuyResult, ClientsResult, DeviceSecretResult } from "../../src/channels/access";
import type { DeviceState, OpenResult } from "../../src/channels";
import { readDevicesFile } from "../../src/channels/serve";
import * as prompt from "../../src/cli/prompt";
import { errorLines, hardhat, runInProcess as run, serveInProcess } from "../shared/cli";
import { coverageRunning } from "../shared/gas";

/** Paid access from the command line, on the in-process network: clients file, device secret, lock, buying. */
describe("paid access tasks (in-process network)", function () {
  this.timeout(300_000);
  let scratch: string;
  const saved = { ...process.env };

  before(function () {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-access-"));
    process.env.THINGLEDGER_KEYSTORE_PASSWORD = "client-password";
    process.env.THINGLEDGER_KEYSTORE_SCRYPT_N = "1024";
  });
  after(function () {
    process.env.THINGLEDGER_KEYSTORE_PASSWORD = saved.THINGLEDGER_KEYSTORE_PASSWORD;
    process.env.THINGLEDGER_KEYSTORE_SCRYPT_N = saved.THINGLEDGER_KEYSTORE_SCRYPT_N;
    if (saved.THINGLEDGER_KEYSTORE_PASSWORD === undefined) delete process.env.THINGLEDGER_KEYSTORE_PASSWORD;
    if (saved.THINGLEDGER_KEYSTORE_SCRYPT_N === undefined) delete process.env.THINGLEDGER_KEYSTORE_SCRYPT_N;
    if (scratch !== undefined) fs.rmSync(scratch, { recursive: true, force: true });
  });

  /** The channel file and client keystore of the access:buy test, for the tests after it. */
  let buyer: { channel: string; keystore: string } | undefined;

  const refusal = (promise: Promise<unknown>): Promise<string> =>
    promise.then(
      () => expect.fail("the task succeeded"),
      (error: Error) => error.message,
    );

  it("channel:clients makes encrypted client keys and the clients file; refuses to overwrite it without --force", async function () {
    const out = path.join(scratch, "clients.json");
    const keystores = path.join(scratch, "keys");
    const made = await run<ClientsResult>("channel:clients", { count: "2", keystores, out, force: false });
    const listed = JSON.parse(fs.readFileSync(out, "utf8")) as string[];
    expect(listed).to.deep.equal(made.clients.map((c) => c.address));
    expect(listed).to.have.length(2);
    for (const c of made.clients) {
      const account = decryptKeystoreJsonSync(fs.readFileSync(c.keystore!, "utf8"), "client-password");
      expect(account.address).to.equal(c.address);
      expect(fs.statSync(c.keystore!).mode & 0o777).to.equal(0o600);
    }

    const before = fs.readFileSync(out, "utf8");
    expect(await refusal(run("channel:clients", { count: "3", keystores, out, force: false }))).to.equal(
      `--out: ${out} exists; pass --force to overwrite it`,
    );
    expect(fs.readFileSync(out, "utf8")).to.equal(before);
    expect(fs.readdirSync(keystores)).to.have.length(2);

    const given = await run<ClientsResult>("channel:clients", { addresses: listed[1], out, force: true });
    expect(given.clients).to.deep.equal([{ address: listed[1] }]);
    expect(JSON.parse(fs.readFileSync(out, "utf8"))).to.deep.equal([listed[1]]);
    expect(await refusal(run("channel:clients", { out: path.join(scratch, "x.json"), force: false }))).to.equal(
      "give exactly one of --count (new keys) or --addresses (existing ones)",
    );
    expect(fs.existsSync(path.join(scratch, "x.json"))).to.equal(false);
  });

  it("channel:clients asks a new keystore password twice on a terminal: two different answers write nothing", async function () {
    const answers: string[] = [];
    const asked: string[] = [];
    const original = prompt.askHidden;
    const stdin = Object.getOwnPropertyDescriptor(process.stdin, "isTTY");
    Object.defineProperty(process.stdin, "isTTY", { value: true, configurable: true });
    (prompt as { askHidden: typeof prompt.askHidden }).askHidden = async (question: string) => {
      asked.push(question);
      return answers.shift() ?? "";
    };
    delete process.env.THINGLEDGER_KEYSTORE_PASSWORD;
    const out = path.join(scratch, "asked-clients.json");
    const keystores = path.join(scratch, "asked-keys");
    try {
      answers.push("s3cret", "s3cert");
      expect(await refusal(run("channel:clients", { count: "1", keystores, out }))).to.equal(
        "the two passwords differ; nothing was written",
      );
      expect(asked).to.deep.equal(["New device keystore password: ", "Repeat the password: "]);
      expect(fs.existsSync(out) || fs.existsSync(keystores)).to.equal(false);
      answers.splice(0, answers.length, "s3cret", "s3cret");
      const [made] = (await run<ClientsResult>("channel:clients", { count: "1", keystores, out })).clients;
      expect(decryptKeystoreJsonSync(fs.readFileSync(made.keystore!, "utf8"), "s3cret").address).to.equal(made.address);
      expect(() => loadClientKey(made.keystore!, "s3cert")).to.throw(
        `--keystore ${made.keystore}: wrong password for this keystore`,
      );
    } finally {
      (prompt as { askHidden: typeof prompt.askHidden }).askHidden = original;
      if (stdin === undefined) delete (process.stdin as { isTTY?: boolean }).isTTY;
      else Object.defineProperty(process.stdin, "isTTY", stdin);
      process.env.THINGLEDGER_KEYSTORE_PASSWORD = "client-password";
    }
  });

  it("device:serve-lock refuses a corrupt or half-written state file in one line naming it, and starts nothing", async function () {
    const lock = path.join(scratch, "corrupt-lock.json");
    fs.writeFileSync(lock, '{"deviceId": "0xab", "secret": "00');
    const truncated = await refusal(serveInProcess("device:serve-lock", { lock, port: "0" }));
    expect(truncated.startsWith(`${lock} is not valid JSON (line 1 column `), truncated).to.equal(true);
    expect(truncated).to.match(
      /\): expected a lock state file written by device:secret \(\{ deviceId, secret, counter, used, slotsGranted \}\)$/,
    );
    fs.writeFileSync(lock, '{"deviceId": "0xab", "secret": "zz", "counter": 0, "slotsGranted": 0}');
    expect(await refusal(serveInProcess("device:serve-lock", { lock, port: "0" }))).to.equal(
      `${lock} is not a lock state ("secret" is not hex): expected a lock state file written by device:secret ({ deviceId, secret, counter, used, slotsGranted })`,
    );
  });

  it("device:secret provisions the AS's devices file and the lock's state file, 0600, without printing the secret; refuses to replace it without --force", async function () {
    const devices = path.join(scratch, "secret-devices.json");
    const lock = path.join(scratch, "secret-lock.json");
    const made = await run<DeviceSecretResult>("device:secret", { device: "DOOR-9", price: "0.002", devices, lock });
    expect(made).to.not.have.property("secret");
    const [entry] = JSON.parse(fs.readFileSync(devices, "utf8")) as {
      deviceId: string;
      secret: string;
      price: string;
    }[];
    expect(entry).to.include({ deviceId: "DOOR-9", price: "0.002" });
    expect(entry.secret).to.match(/^[0-9a-f]{64}$/);
    const state = JSON.parse(fs.readFileSync(lock, "utf8")) as DeviceState;
    expect(state).to.deep.equal({
      deviceId: made.deviceId,
      secret: entry.secret,
      counter: 0,
      used: [],
      slotsGranted: 0,
    });
    expect(readDevicesFile(devices)).to.deep.equal([
      { deviceId: made.deviceId, secret: entry.secret, price: 2n * 10n ** 15n },
    ]);
    expect(fs.statSync(devices).mode & 0o777).to.equal(0o600);
    expect(fs.statSync(lock).mode & 0o777).to.equal(0o600);

    const files = [fs.readFileSync(devices, "utf8"), fs.readFileSync(lock, "utf8")];
    expect(
      await refusal(run("device:secret", { device: "DOOR-9", price: "0.002", devices, lock: `${lock}.2` })),
    ).to.equal(`--devices: ${devices} already has device DOOR-9; pass --force to give it a new secret`);
    expect(await refusal(run("device:secret", { device: "DOOR-10", price: "0.002", devices, lock }))).to.equal(
      `--lock: ${lock} exists; pass --force to overwrite it`,
    );
    expect(
      await refusal(run("device:secret", { device: "DOOR-10", price: "free", devices, lock: `${lock}.3` })),
    ).to.equal('--price: "free" is not a decimal amount such as 10 or 2.5');
    expect([fs.readFileSync(devices, "utf8"), fs.readFileSync(lock, "utf8")]).to.deep.equal(files);
    expect(fs.existsSync(`${lock}.2`) || fs.existsSync(`${lock}.3`)).to.equal(false);

    // A second device is added beside the first; --force gives one a new secret in both files.
    await run("device:secret", { device: "DOOR-10", price: "0.001", devices, lock: `${lock}.10` });
    const renewed = await run<DeviceSecretResult>("device:secret", {
      device: "DOOR-9",
      price: "0.003",
      devices,
      lock,
      force: true,
      showSecret: true,
    });
    const after = JSON.parse(fs.readFileSync(devices, "utf8")) as { deviceId: string; secret: string; price: string }[];
    expect(after.map((e) => e.deviceId)).to.deep.equal(["DOOR-9", "DOOR-10"]);
    expect(after[0]).to.deep.equal({ deviceId: "DOOR-9", secret: renewed.secret, price: "0.003" });
    expect(renewed.secret).to.not.equal(entry.secret);
    expect((JSON.parse(fs.readFileSync(lock, "utf8")) as DeviceState).secret).to.equal(renewed.secret);
  });

  it("access:buy buys a code the lock opens with; the lock refuses it again, also after a restart; an AS refusal is one line", async function () {
    const [, as] = await hre.ethers.getSigners();
    const clientsFile = path.join(scratch, "buy-clients.json");
    const keystores = path.join(scratch, "buy-keys");
    const [client] = (await run<ClientsResult>("channel:clients", { count: "1", keystores, out: clientsFile })).clients;
    const devices = path.join(scratch, "buy-devices.json");
    const lockFile = path.join(scratch, "buy-lock.json");
    const device = await run<DeviceSecretResult>("device:secret", {
      device: "LOCK-1",
      price: "0.001",
      devices,
      lock: lockFile,
    });
    const channel = path.join(scratch, "channel.json");
    await run<OpenResult>("channel:open", {
      as: as.address,
      clients: clientsFile,
      deposit: "0.003",
      expiry: "7d",
      out: channel,
    });
    buyer = { channel, keystore: client.keystore! };
    const server = await serveInProcess<{ url: string }>("as:serve", {
      port: "0",
      db: path.join(scratch, "as.sqlite"),
      devices,
      init: true,
      signer: "1",
      rateLimit: "0",
      hotpWindow: "1",
      logLevel: "silent",
    });
    /** A purchase of LOCK-1's next code at its price, by the test's client. */
    const paid = { channel, keystore: client.keystore, device: "LOCK-1", maxPrice: "0.001", as: server.summary.url };
    let lock = await serveInProcess<{ url: string; counter: number }>("device:serve-lock", {
      lock: lockFile,
      port: "0",
    });
    try {
      const bought = await run<BuyResult>("access:buy", { ...paid, lock: lock.summary.url });
      expect(bought).to.include({
        deviceId: device.deviceId,
        client: client.address,
        counter: 0,
        amount: "1000000000000000",
      });
      expect(bought.otp).to.match(/^\d{8}$/);
      expect(bought.lock).to.deep.equal({ url: lock.summary.url, granted: true });

      // attack: the AS quotes the price, and the client signs a cumulative receipt of the previous one plus it; a
      // price above --max-price (a hostile AS or proxy quoting the deposit), or an unbounded one off a terminal,
      // is refused before anything is signed: the AS's best receipt stays the one bought above.
      const receiptNow = async () =>
        (
          (await (await fetch(`${server.summary.url}/channels/${bought.channelId}/receipt`)).json()) as {
            amount: string;
          }
        ).amount;
      const base = { channel, keystore: client.keystore, device: "LOCK-1", as: server.summary.url };
      expect(await refusal(run("access:buy", { ...base, maxPrice: "0.0005" }))).to.equal(
        `the AS at ${server.summary.url} asks 0.001 ETH for a code of device LOCK-1, above --max-price 0.0005 ETH; nothing was signed`,
      );
      expect(await refusal(run("access:buy", base))).to.equal(
        `the AS at ${server.summary.url} asks 0.001 ETH for a code of device LOCK-1: pass --max-price 0.001 (or more) to pay it; nothing was signed`,
      );
      expect(await receiptNow()).to.equal("1000000000000000");
      expect(JSON.parse(fs.readFileSync(lockFile, "utf8"))).to.include({ counter: 1, slotsGranted: 1 });

      const present = async (url: string) => {
        const response = await fetch(`${url}/present`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ otp: bought.otp }),
        });
        return { status: response.status, body: (await response.json()) as { granted: boolean; error: string } };
      };
      const again = await present(lock.summary.url);
      expect(again.status).to.equal(403);
      expect(again.body).to.include({ granted: false, error: "refused: the code is unknown or reused" });
      const stoppedLock = lock.summary.url;
      await lock.stop();
      lock = await serveInProcess("device:serve-lock", { lock: lockFile, port: "0" });
      expect(lock.summary.counter).to.equal(1);
      expect((await present(lock.summary.url)).status).to.equal(403);

      // With a window of one code, a second code bought and not used holds the device: the AS refuses a third
      // (429) in one line, and charges nothing.
      const buy = () => run<BuyResult>("access:buy", paid);
      // A lock that cannot be reached: the code is paid for, so it is returned (not lost), and opens by hand.
      const unpresented = await run<BuyResult>("access:buy", { ...paid, lock: stoppedLock });
      expect(unpresented).to.include({ amount: "2000000000000000", counter: 1 });
      expect(unpresented.otp).to.match(/^\d{8}$/);
      expect(unpresented.lock).to.deep.include({ url: stoppedLock, granted: false });
      expect(unpresented.lock?.error).to.match(/^cannot reach the lock at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)$/);
      const byHand = await fetch(`${lock.summary.url}/present`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ otp: unpresented.otp }),
      });
      expect(byHand.status).to.equal(200);
      expect(await refusal(buy())).to.match(
        /^the AS refused: 429 device 0x[0-9a-f]{64}'s window of 1 codes is full: code 1, the oldest its device has not acknowledged as used, is outstanding until \d+; use it \(and relay the device's acknowledgement\) or buy after then$/,
      );
      const stored = (await (await fetch(`${server.summary.url}/channels/${bought.channelId}/receipt`)).json()) as {
        amount: string;
      };
      expect(stored.amount).to.equal("2000000000000000");
      expect(
        await refusal(
          run("access:buy", { channel, keystore: client.keystore, device: "LOCK-2", as: server.summary.url }),
        ),
      ).to.equal(`the AS at ${server.summary.url} does not sell access to device LOCK-2`);
    } finally {
      await lock.stop();
      await server.stop();
    }
    const closed = await refusal(run("access:buy", paid));
    expect(closed).to.match(/^cannot reach the AS at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)$/);

    // Without --network, on an in-process chain where the channel contract is not deployed.
    const { contract } = JSON.parse(fs.readFileSync(channel, "utf8")) as { contract: string };
    const snapshot = (await hre.network.provider.send("evm_snapshot")) as string;
    let undeployed: string;
    try {
      await hre.network.provider.send("hardhat_setCode", [contract, "0x"]);
      undeployed = await refusal(run("access:buy", paid));
    } finally {
      await hre.network.provider.send("evm_revert", [snapshot]);
    }
    expect(undeployed).to.equal(
      `the channel contract ${contract} of ${channel} is not deployed on network "hardhat" (without --network, tasks run on an empty in-process chain): pass the network the channel was opened on with --network, e.g. --network localhost`,
    );
  });

  it("access:buy against a server answering HTML (a proxy's 502 page, a wrong URL) fails in one line naming the URL and the HTTP status", async function () {
    if (buyer === undefined) this.skip();
    let status = 502;
    const proxy = http.createServer((request, response) => {
      response.writeHead(status, { "content-type": "text/html" });
      response.end("<html><body><h1>502 Bad Gateway</h1></body></html>");
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    try {
      const buy = () => run("access:buy", { ...buyer, device: "LOCK-1", as: url });
      expect(await refusal(buy())).to.equal(
        `the AS at ${url}/devices answered 502 Bad Gateway with a body that is not JSON (text/html)`,
      );
      status = 200;
      expect(await refusal(buy())).to.equal(
        `the AS at ${url}/devices answered 200 OK with a body that is not JSON (text/html)`,
      );
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  describe("from the command line", function () {
    before(function () {
      if (coverageRunning()) this.skip();
    });

    it("every paid-access task has --help with --json; a refusal is one line, or one JSON object with --json, and writes nothing", function () {
      for (const name of ["channel:clients", "device:secret", "device:serve-lock", "access:buy"]) {
        const help = hardhat([name, "--help"]);
        expect(help.status, `${name}: ${help.stderr}`).to.equal(0);
        expect(help.stdout).to.contain(`Usage: hardhat [GLOBAL OPTIONS] ${name}`);
        expect(help.stdout, name).to.contain("--json");
      }
      const lock = path.join(scratch, "cli-lock.json");
      const devices = path.join(scratch, "cli-devices.json");
      fs.writeFileSync(lock, "{}");
      const args = ["device:secret", "--device", "LOCK-1", "--price", "0.001", "--lock", lock, "--devices", devices];
      const refused = hardhat(args);
      expect(refused.status).to.equal(1);
      expect(errorLines(refused)).to.deep.equal([`Error: --lock: ${lock} exists; pass --force to overwrite it`]);
      const json = hardhat([...args, "--json"]);
      expect(json.status).to.equal(1);
      expect(JSON.parse(json.stdout)).to.deep.equal({ error: `--lock: ${lock} exists; pass --force to overwrite it` });
      expect(fs.existsSync(devices)).to.equal(false);
      expect(fs.readFileSync(lock, "utf8")).to.equal("{}");
    });
  });
});
