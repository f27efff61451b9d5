import fs from "node:fs";
import http from "node:http";
import path from "node:path";

import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";

import { expect } from "chai";
import { FetchRequest, JsonRpcProvider, Wallet, keccak256, parseEther, toUtf8Bytes } from "ethers";

import { readDomain } from "../../src/eip712/domain";
import { ChannelClient } from "../../src/channels/client";
import { openedChannel } from "../../src/channels/key";
import type { ChannelFile } from "../../src/channels";
import { AsStore } from "../../src/channels/store";
import { clientLeaf } from "../../src/merkle/group";
import { PaymentChannels__factory } from "../../typechain-types";

import { coverageRunning } from "../shared/gas";
import { ROOT, errorLines, hardhat, startNodeDeployment } from "../shared/cli";
import type { LocalNode } from "../shared/cli";

const TREASURY = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const OPERATOR = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
/** Hardhat's well-known first development account (the treasury), public test key. */
const OWNER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/**
 * A provider for the test's own node without keep-alive: spawnSync blocks this process for seconds, the
 * node closes the idle socket meanwhile, and a request on that socket fails with "socket hang up".
 */
function nodeProvider(url: string): JsonRpcProvider {
  const request = new FetchRequest(url);
  request.getUrlFunc = FetchRequest.createGetUrlFunc({ agent: new http.Agent({ keepAlive: false }) });
  return new JsonRpcProvider(request, undefined, { staticNetwork: true, cacheTimeout: -1 });
}

/**
 * The real deployment path: a `hardhat node` child process, Ignition over JSON-RPC, then the tasks run
 * as a user runs them, each in its own process against that node.
 */
describe("deployment to a local hardhat node", function () {
  this.timeout(600_000);

  let node: LocalNode;
  let env: NodeJS.ProcessEnv;
  let deploymentDir: string;
  let scratch: string;

  before(async function () {
    // Child processes recompile the contracts, which would overwrite coverage's instrumented build.
    if (coverageRunning()) this.skip();
    ({ node, env, deploymentDir, scratch } = await startNodeDeployment("node"));
  });

  after(async function () {
    await node?.stop();
    if (deploymentDir !== undefined) fs.rmSync(deploymentDir, { recursive: true, force: true });
    if (scratch !== undefined) fs.rmSync(scratch, { recursive: true, force: true });
  });

  it("a task before deployment fails with one line naming what is missing and how to deploy", function () {
    const run = hardhat(["token:balance", "--network", "localhost"], env);
    expect(run.status).to.equal(1);
    const lines = errorLines(run);
    expect(lines).to.have.length(1);
    expect(lines[0]).to.match(/^Error: ThingLedger is not deployed on network "localhost" \(chain 31337\)/);
    expect(lines[0]).to.contain("npx hardhat deploy --network localhost");
  });

  it("deploys with Ignition over JSON-RPC and writes the address book; a re-run deploys nothing", function () {
    const first = hardhat(["deploy", "--network", "localhost", "--json"], env);
    expect(first.status, first.stderr).to.equal(0);
    const deployed = JSON.parse(first.stdout) as { addresses: { ThingToken: string }; gasUsed: string };
    expect(BigInt(deployed.gasUsed)).to.be.greaterThan(0n);
    const book = JSON.parse(fs.readFileSync(path.join(deploymentDir, "deployed_addresses.json"), "utf8")) as Record<
      string,
      string
    >;
    expect(book["ThingToken#ThingToken"]).to.equal(deployed.addresses.ThingToken);

    const again = hardhat(["deploy", "--network", "localhost", "--json"], env);
    expect(again.status, again.stderr).to.equal(0);
    const second = JSON.parse(again.stdout) as { addresses: { ThingToken: string }; gasUsed: string };
    expect(second.addresses.ThingToken).to.equal(deployed.addresses.ThingToken);
    expect(second.gasUsed).to.equal("0");
  });

  it("runs the token tasks against the node: balance, transfer, permit signed offline and relayed", function () {
    const balance = hardhat(["token:balance", "--network", "localhost", "--json"], env);
    expect(balance.status, balance.stderr).to.equal(0);
    expect(JSON.parse(balance.stdout)).to.include({ account: TREASURY, balance: (10n ** 27n).toString() });

    const sent = hardhat(
      ["token:transfer", "--network", "localhost", "--to", OPERATOR, "--amount", "1234.5", "--json"],
      env,
    );
    expect(sent.status, sent.stderr).to.equal(0);
    expect(JSON.parse(sent.stdout).balances.to).to.equal((12345n * 10n ** 17n).toString());

    const permitFile = path.join(scratch, "permit.json");
    const signed = hardhat(
      [
        "token:permit",
        "--network",
        "localhost",
        "--signer",
        "1",
        "--spender",
        TREASURY,
        "--amount",
        "100",
        "--out",
        permitFile,
      ],
      env,
    );
    expect(signed.status, signed.stderr).to.equal(0);
    expect(signed.stdout).to.contain("Signed a permit");
    const submitted = hardhat(
      ["token:permit-submit", "--network", "localhost", "--file", permitFile, "--signer", "2", "--json"],
      env,
    );
    expect(submitted.status, submitted.stderr).to.equal(0);
    expect(JSON.parse(submitted.stdout)).to.include({ owner: OPERATOR, allowance: (100n * 10n ** 18n).toString() });

    // The same file again: caught before any transaction, in one line.
    const replay = hardhat(["token:permit-submit", "--network", "localhost", "--file", permitFile], env);
    expect(replay.status).to.equal(1);
    expect(errorLines(replay)).to.deep.equal([
      "Error: the permit's nonce 0 is stale: the owner's nonce is now 1 (already used?)",
    ]);
  });

  it("runs the demo against the node", function () {
    const demo = hardhat(["demo", "--network", "localhost", "--json"], env);
    expect(demo.status, demo.stderr).to.equal(0);
    const result = JSON.parse(demo.stdout) as { ephemeral: boolean; steps: { title: string }[] };
    expect(result.ephemeral).to.equal(false);
    expect(result.steps.length).to.be.greaterThanOrEqual(4);
  });

  it("runs the device identity flow through the tasks: admit, generate, register (batch and Merkle), activate, validate, transfer, rotate, revoke", function () {
    const fleetA = path.join(scratch, "fleet-a");
    const fleetB = path.join(scratch, "fleet-b");
    const devEnv = { ...env, THINGLEDGER_KEYSTORE_PASSWORD: "test-password", THINGLEDGER_KEYSTORE_SCRYPT_N: "1024" };
    const ok = (args: string[]): string => {
      const run = hardhat(["--network", "localhost", ...args], devEnv);
      expect(run.status, `${args.join(" ")}\n${run.stderr}`).to.equal(0);
      return run.stdout;
    };
    const json = <T>(args: string[]): T => JSON.parse(ok([...args, "--json"])) as T;

    // The manufacturer is account 1; the admin (account 0) admits it and funds it.
    json(["manufacturer:add", "--account", OPERATOR]);
    json(["token:transfer", "--to", OPERATOR, "--amount", "500"]);
    const listed = json<{ account: string; active: boolean }[]>(["manufacturer:list"]);
    expect(listed.find((m) => m.account === OPERATOR)).to.include({ active: true });

    // The manufacturer generates its fleet: the ids are in its namespace.
    json(["device:generate", "--count", "4", "--out", fleetA, "--signer", "1"]);
    json(["device:generate", "--count", "3", "--out", fleetB, "--type", "lock", "--signer", "1"]);
    const first = json<{ registered: number; skipped: number }>([
      "device:register",
      "--file",
      path.join(fleetA, "devices.csv"),
      "--signer",
      "1",
      "--batch-size",
      "3",
    ]);
    expect(first).to.include({ registered: 4, skipped: 0 });
    // Resumable: a re-run registers nothing and charges nothing.
    const again = json<{ registered: number; skipped: number; feesPaid: string }>([
      "device:register",
      "--file",
      path.join(fleetA, "devices.csv"),
      "--signer",
      "1",
    ]);
    expect(again).to.include({ registered: 0, skipped: 4, feesPaid: "0" });
    const whitelistFile = path.join(fleetB, "whitelist.json");
    const merkle = json<{ root: string; registered: number }>([
      "device:register",
      "--file",
      path.join(fleetB, "devices.json"),
      "--signer",
      "1",
      "--merkle",
      "--whitelist-out",
      whitelistFile,
    ]);
    expect(merkle.registered).to.equal(3);
    expect(
      json<{ registered: number }>([
        "device:register",
        "--file",
        path.join(fleetB, "devices.json"),
        "--signer",
        "1",
        "--merkle",
        "--whitelist-out",
        whitelistFile,
      ]).registered,
    ).to.equal(0);

    const a = (
      JSON.parse(fs.readFileSync(path.join(fleetA, "devices.json"), "utf8")) as { uid: string; deviceId: string }[]
    )[0];
    const b = (
      JSON.parse(fs.readFileSync(path.join(fleetB, "devices.json"), "utf8")) as { uid: string; deviceId: string }[]
    )[0];
    json(["device:activate", "--device", a.uid, "--keystore", path.join(fleetA, "keystore")]);
    expect(
      json<{ fromWhitelist: boolean }>([
        "device:activate",
        "--device",
        b.uid,
        "--keystore",
        path.join(fleetB, "keystore"),
        "--whitelist",
        whitelistFile,
      ]).fromWhitelist,
    ).to.equal(true);
    expect(
      json<{ status: string; owner: string; deviceTypeName: string }>(["device:status", "--device", b.deviceId]),
    ).to.include({ status: "active", owner: TREASURY, deviceTypeName: "lock" });

    const validated = json<{ valid: boolean; claimValid: boolean }>([
      "device:validate",
      "--device",
      a.uid,
      "--challenge",
      "random",
      "--keystore",
      path.join(fleetA, "keystore"),
    ]);
    expect(validated).to.include({ valid: true, claimValid: true });

    const rotated = json<{ newKey: string }>([
      "device:rotate-key",
      "--device",
      a.uid,
      "--keystore",
      path.join(fleetA, "keystore"),
    ]);
    expect(json<{ deviceKey: string }>(["device:status", "--device", a.uid]).deviceKey).to.equal(rotated.newKey);
    // The rotated keystore now signs valid identity claims.
    expect(
      json<{ claimValid: boolean }>([
        "device:validate",
        "--device",
        a.uid,
        "--challenge",
        "random",
        "--keystore",
        path.join(fleetA, "keystore"),
      ]).claimValid,
    ).to.equal(true);

    json(["device:transfer", "--device", a.uid, "--to", OPERATOR]);
    expect(json<{ owner: string }>(["device:status", "--device", a.uid]).owner).to.equal(OPERATOR);
    json(["device:revoke", "--device", a.uid, "--signer", "1", "--reason", "2"]);
    expect(json<{ status: string; valid: boolean }>(["device:validate", "--device", a.uid])).to.include({
      status: "revoked",
      valid: false,
    });

    // Bad input is refused in one line and changes nothing.
    const bad = hardhat(
      ["--network", "localhost", "device:activate", "--device", a.uid, "--keystore", path.join(fleetA, "keystore")],
      devEnv,
    );
    expect(errorLines(bad)).to.deep.equal([`Error: device ${a.deviceId} is revoked, not waiting for activation`]);
  });

  it("runs the device wallet flow through the tasks: create, device spend (relayed), propose, sign twice, exec, set-limit, freeze, status", async function () {
    const fleet = path.join(scratch, "fleet-wallet");
    const devEnv = { ...env, THINGLEDGER_KEYSTORE_PASSWORD: "test-password", THINGLEDGER_KEYSTORE_SCRYPT_N: "1024" };
    const json = <T>(args: string[]): T => {
      const run = hardhat(["--network", "localhost", ...args, "--json"], devEnv);
      expect(run.status, `${args.join(" ")}\n${run.stderr}`).to.equal(0);
      return JSON.parse(run.stdout) as T;
    };
    const provider = nodeProvider(node.url);
    const accounts = (await provider.send("eth_accounts", [])) as string[];
    const [ownerA, ownerB, ownerC] = accounts.slice(2, 5);
    // Account 1 is a manufacturer (admitted by the identity flow, or here); account 2 activates and creates.
    const makers = json<{ account: string; active: boolean }[]>(["manufacturer:list"]);
    if (!makers.some((m) => m.account === OPERATOR && m.active)) {
      json(["manufacturer:add", "--account", OPERATOR]);
      json(["token:transfer", "--to", OPERATOR, "--amount", "100"]);
    }
    json(["device:generate", "--count", "1", "--out", fleet, "--signer", "1"]);
    json(["device:register", "--file", path.join(fleet, "devices.csv"), "--signer", "1"]);
    const device = (JSON.parse(fs.readFileSync(path.join(fleet, "devices.json"), "utf8")) as { deviceId: string }[])[0];
    json(["token:transfer", "--to", ownerA, "--amount", "10"]);
    json(["device:activate", "--device", device.deviceId, "--keystore", path.join(fleet, "keystore"), "--signer", "2"]);
    const created = json<{ wallet: string; linked: boolean }>([
      "wallet:create",
      "--owners",
      [ownerA, ownerB, ownerC].join(","),
      "--threshold",
      "2",
      "--device",
      device.deviceId,
      "--limits",
      "eth=0.2",
      "--period",
      "12h",
      "--signer",
      "2",
    ]);
    expect(created.linked).to.equal(true);
    const funder = new Wallet(OWNER_KEY, provider);
    await (await funder.sendTransaction({ to: created.wallet, value: parseEther("2") })).wait();

    const recipient = Wallet.createRandom().address;
    const spent = json<{ relayed: boolean; availableAfter: string }>([
      "wallet:device-spend",
      "--wallet",
      created.wallet,
      "--device",
      device.deviceId,
      "--keystore",
      path.join(fleet, "keystore"),
      "--to",
      recipient,
      "--amount",
      "0.15",
      "--relayer",
      "5",
    ]);
    expect(spent).to.include({ relayed: true, availableAfter: parseEther("0.05").toString() });

    const file = path.join(scratch, "wallet-pay.json");
    json(["wallet:propose", "--wallet", created.wallet, "--to", recipient, "--value", "1", "--out", file]);
    json(["wallet:sign", "--file", file, "--signer", "3"]);
    expect(json<{ ready: boolean }>(["wallet:sign", "--file", file, "--signer", "4"]).ready).to.equal(true);
    expect(json<{ success: boolean }>(["wallet:exec", "--file", file, "--signer", "5"]).success).to.equal(true);
    expect(await provider.getBalance(recipient)).to.equal(parseEther("1.15"));

    const limit = path.join(scratch, "wallet-limit.json");
    json(["wallet:set-limit", "--wallet", created.wallet, "--asset", "eth", "--limit", "0.5", "--out", limit]);
    json(["wallet:sign", "--file", limit, "--signer", "2"]);
    json(["wallet:sign", "--file", limit, "--signer", "4"]);
    json(["wallet:exec", "--file", limit]);
    json(["wallet:freeze", "--wallet", created.wallet, "--signer", "3"]);
    const status = json<{ frozen: boolean; nonce: string; allowances: { limit: string; available: string }[] }>([
      "wallet:status",
      "--wallet",
      created.wallet,
    ]);
    expect(status).to.include({ frozen: true, nonce: "2" });
    expect(status.allowances[0]).to.include({
      limit: parseEther("0.5").toString(),
      available: parseEther("0.35").toString(),
    });
    const frozen = hardhat(
      [
        "wallet:device-spend",
        "--network",
        "localhost",
        "--wallet",
        created.wallet,
        "--device",
        device.deviceId,
        "--keystore",
        path.join(fleet, "keystore"),
        "--to",
        recipient,
        "--amount",
        "0.01",
        "--relayer",
        "5",
      ],
      devEnv,
    );
    expect(frozen.status).to.equal(1);
    expect(errorLines(frozen)).to.deep.equal([
      `Error: the device key of wallet ${created.wallet} is frozen by its owners`,
    ]);
  });

  it("runs sim:access against the node: the AS, clients and a device over real JSON-RPC", function () {
    const run = hardhat(
      ["sim:access", "--network", "localhost", "--clients", "3", "--slots", "2", "--as", "1", "--json"],
      env,
    );
    expect(run.status, run.stderr).to.equal(0);
    const sim = JSON.parse(run.stdout) as Record<string, unknown>;
    expect(sim).to.include({ network: "localhost", slotsBought: 6, receipts: 6, otpsAccepted: 6, otpsRejected: 1 });
    expect(sim.paidToAs).to.equal("0.006");
  });

  it("crash recovery: kill -9 the AS during a load run; every receipt whose OTP was delivered survives and the best closes each channel", async function () {
    const provider = nodeProvider(node.url);
    const owner = new Wallet(OWNER_KEY, provider);
    const book = JSON.parse(fs.readFileSync(path.join(deploymentDir, "deployed_addresses.json"), "utf8")) as Record<
      string,
      string
    >;
    const channelsAddress = book["PaymentChannels#PaymentChannels"];
    const channels = PaymentChannels__factory.connect(channelsAddress, owner);
    const domain = await readDomain(channels);
    const price = parseEther("0.001");
    const deposit = parseEther("1");
    const clientKeys = Array.from({ length: 8 }, (_, i) => new Wallet(keccak256(toUtf8Bytes(`crash-client-${i}`))));

    // One channel through the task (construction 2: one delegated client), seven more directly.
    const file = path.join(scratch, "crash-channel-0.json");
    const openRun = hardhat(
      [
        "channel:open",
        "--network",
        "localhost",
        "--as",
        OPERATOR,
        "--clients",
        clientKeys[0].address,
        "--deposit",
        "1",
        "--expiry",
        "7d",
        "--out",
        file,
        "--json",
      ],
      env,
    );
    expect(openRun.status, openRun.stderr).to.equal(0);
    const first = JSON.parse(fs.readFileSync(file, "utf8")) as ChannelFile;
    const keys: { channelId: string; clientRoot: string; salt: bigint; openBlock: bigint }[] = [
      {
        channelId: first.channelId,
        clientRoot: first.clientRoot,
        salt: BigInt(first.salt),
        openBlock: BigInt(first.openBlock),
      },
    ];
    const expiry = BigInt((await provider.getBlock("latest"))!.timestamp) + 7n * 86_400n;
    for (const key of clientKeys.slice(1)) {
      const tx = await channels.openEth(OPERATOR, expiry, clientLeaf(key.address), 1n, { value: deposit });
      const opened = openedChannel(channels, await tx.wait());
      keys.push(opened);
    }
    const clients = keys.map(
      (k, i) =>
        new ChannelClient(
          clientKeys[i],
          {
            owner: TREASURY,
            token: false,
            clientRoot: k.clientRoot,
            salt: k.salt.toString(),
            openBlock: k.openBlock.toString(),
            channelId: k.channelId,
            deposit,
          },
          [],
          domain,
        ),
    );

    const devicesFile = path.join(scratch, "as-devices.json");
    const deviceId = keccak256(toUtf8Bytes("CRASH-LOCK"));
    fs.writeFileSync(devicesFile, JSON.stringify([{ deviceId, secret: "c0".repeat(32), price: "0.001" }]));
    const db = path.join(scratch, "as-crash", "as.sqlite");
    const startAs = async (): Promise<{ child: ChildProcess; url: string }> => {
      const child = spawn(
        "npx",
        [
          "hardhat",
          "as:serve",
          "--network",
          "localhost",
          "--port",
          "0",
          "--db",
          db,
          "--devices",
          devicesFile,
          "--signer",
          "1",
          "--poll",
          "3600",
          // Hundreds of codes on one device that no one uses: no outstanding-codes bound.
          "--hotp-window",
          "1000000",
          ...(fs.existsSync(db) ? [] : ["--init"]),
          "--json",
        ],
        { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true },
      );
      let out = "";
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`as:serve did not start:\n${out}`)), 120_000);
        child.stdout?.on("data", (chunk: Buffer) => {
          out += chunk.toString();
          const match = /"url": "([^"]+)"/.exec(out);
          if (match !== null) {
            clearTimeout(timer);
            resolve(match[1]);
          }
        });
        child.stderr?.on("data", (chunk: Buffer) => (out += chunk.toString()));
        child.once("exit", (code) => reject(new Error(`as:serve exited with ${code}:\n${out}`)));
      });
      return { child, url };
    };

    // Load: one buyer per channel, all at once, until the AS is killed.
    const delivered = new Map<string, bigint>();
    let as = await startAs();
    let killed = false;
    const buyers = clients.map(async (client, i) => {
      for (;;) {
        try {
          const grant = await client.buy(as.url, deviceId, price);
          delivered.set(keys[i].channelId, BigInt(grant.amount));
        } catch (error) {
          if (killed) return;
          throw error;
        }
      }
    });
    const total = () => [...delivered.values()].reduce((a, b) => a + b / price, 0n);
    while (total() < 150n) await new Promise((r) => setTimeout(r, 20));
    killed = true;
    process.kill(-as.child.pid!, "SIGKILL");
    await Promise.all(buyers);

    // Every delivered OTP's receipt is on disk (the disk may hold a few more: stored, but the AS died
    // before answering; their clients lose at most that one slot).
    const store = new AsStore(db);
    const deliveredCount = Number(total());
    expect(deliveredCount).to.be.greaterThanOrEqual(150);
    expect(store.receiptCount()).to.be.greaterThanOrEqual(deliveredCount);
    console.log(`delivered ${deliveredCount}, on disk ${store.receiptCount()}`);
    for (const [channelId, amount] of delivered) {
      expect(store.receiptAmounts(channelId), channelId).to.include(amount);
      expect(store.bestReceipts().get(channelId)!.amount >= amount).to.equal(true);
    }
    store.close();

    // Restarted on the same database, the AS carries on where the disk says it was.
    as = await startAs();
    for (const client of clients) {
      const grant = await client.buy(as.url, deviceId, price);
      expect(BigInt(grant.amount)).to.be.greaterThan(0n);
    }
    const stopped = new Promise((resolve) => as.child.once("exit", resolve));
    process.kill(-as.child.pid!, "SIGTERM");
    await stopped;
    // npx may exit before the AS it started (and the AS's recovery process) have: wait for the whole process
    // group, the AS releasing its database's lock last.
    const group = -as.child.pid!;
    for (const deadline = Date.now() + 60_000; ; await new Promise((r) => setTimeout(r, 50))) {
      try {
        process.kill(group, 0);
      } catch {
        break;
      }
      if (Date.now() > deadline) throw new Error("the AS's process group did not exit within 60 s of SIGTERM");
    }

    const after = new AsStore(db);
    const best = after.bestReceipts();
    after.close();
    const close = hardhat(["channel:close", "--network", "localhost", "--db", db, "--signer", "1", "--json"], env);
    expect(close.status, close.stderr).to.equal(0);
    const closed = JSON.parse(close.stdout) as { closed: { channelId: string; paid: string }[] };
    expect(closed.closed).to.have.length(8);
    for (const c of closed.closed) {
      expect(BigInt(c.paid)).to.equal(best.get(c.channelId)!.amount);
      expect(BigInt(c.paid)).to.be.greaterThan(delivered.get(c.channelId) ?? 0n);
    }
    const status = hardhat(["channel:status", "--network", "localhost", "--channel", first.channelId, "--json"], env);
    expect(JSON.parse(status.stdout)).to.include({
      status: "closed",
      paid: best.get(first.channelId)!.amount.toString(),
    });
  });

  it("tops up, then reclaims an expired channel through the tasks", async function () {
    const json = <T>(args: string[]): T => {
      const run = hardhat(["--network", "localhost", ...args, "--json"], env);
      expect(run.status, `${args.join(" ")}\n${run.stderr}`).to.equal(0);
      return JSON.parse(run.stdout) as T;
    };
    const client = new Wallet(keccak256(toUtf8Bytes("reclaim-client"))).address;
    const opened = json<{ channelId: string }>([
      "channel:open",
      "--as",
      OPERATOR,
      "--clients",
      client,
      "--deposit",
      "0.2",
      "--expiry",
      "1h",
      "--asset",
      "token",
    ]);
    const topped = json<{ deposit: string }>(["channel:topup", "--channel", opened.channelId, "--amount", "0.3"]);
    expect(topped.deposit).to.equal(parseEther("0.5").toString());
    const early = hardhat(["--network", "localhost", "channel:reclaim", "--channel", opened.channelId], env);
    expect(errorLines(early)).to.have.length(1);
    expect(errorLines(early)[0]).to.match(/^Error: channel 0x[0-9a-f]{64} expires at \d+; chain time is \d+: wait$/);
    const provider = nodeProvider(node.url);
    await provider.send("evm_increaseTime", [7200]);
    await provider.send("evm_mine", []);
    expect(json<{ refunded: string }>(["channel:reclaim", "--channel", opened.channelId]).refunded).to.equal(
      parseEther("0.5").toString(),
    );
    expect(json<{ status: string; asset: string }>(["channel:status", "--channel", opened.channelId])).to.include({
      status: "reclaimed",
      asset: "token",
    });
  });

  it("a stale address book (contract missing at the recorded address) fails with one clear line", function () {
    const stale = `${path.basename(deploymentDir)}-stale`;
    const staleDir = path.join(ROOT, "deploy", "deployments", stale);
    fs.mkdirSync(staleDir, { recursive: true });
    const book = JSON.parse(fs.readFileSync(path.join(deploymentDir, "deployed_addresses.json"), "utf8")) as Record<
      string,
      string
    >;
    const missing = "0x000000000000000000000000000000000000bEEF";
    const balance = () =>
      hardhat(["token:balance", "--network", "localhost"], { ...env, THINGLEDGER_DEPLOYMENT_ID: stale });
    try {
      // One contract without code, the others deployed: that contract is missing.
      const bookFile = path.join(staleDir, "deployed_addresses.json");
      fs.writeFileSync(bookFile, JSON.stringify({ ...book, "ThingToken#ThingToken": missing }));
      // The chain record (the genesis block at deployment) comes along: this node is the same chain.
      fs.copyFileSync(
        path.join(deploymentDir, "thingledger-chain.json"),
        path.join(staleDir, "thingledger-chain.json"),
      );
      const one = balance();
      expect(one.status).to.equal(1);
      expect(errorLines(one)).to.deep.equal([
        `Error: ThingToken is not deployed on network "localhost": the address book says ${missing} but there is no code there. Deploy it with: npx hardhat deploy --network localhost`,
      ]);
      // No contract of the book has code: the chain was reset since (issue 17, item 1).
      fs.writeFileSync(bookFile, JSON.stringify(Object.fromEntries(Object.keys(book).map((k) => [k, missing]))));
      const all = balance();
      expect(all.status).to.equal(1);
      const [line, ...more] = errorLines(all);
      expect(more).to.deep.equal([]);
      expect(line).to.equal(
        `Error: the chain of network "localhost" was reset since deployment ${stale} (its genesis block is the recorded one, but none of the deployment's 4 contracts has code on it): redeploy with npx hardhat deploy --network localhost --reset`,
      );
      // Without the record, the line cannot tell a reset from another node with the same chain id.
      fs.rmSync(path.join(staleDir, "thingledger-chain.json"));
      expect(errorLines(balance())).to.deep.equal([
        `Error: the chain of network "localhost" was reset since deployment ${stale}, or it is another node with chain id 31337 (none of the deployment's 4 contracts has code on it; the deployment recorded no genesis block): redeploy with npx hardhat deploy --network localhost --reset`,
      ]);
    } finally {
      fs.rmSync(staleDir, { recursive: true, force: true });
    }
  });
});
