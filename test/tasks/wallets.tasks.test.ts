import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import { getAddress, parseEther } from "ethers";
import hre from "hardhat";

import type { GeneratedFleet } from "../../src/devices/generate";
import type {
  CreateWalletResult,
  DeviceSpendResult,
  ExecResult,
  FundResult,
  Proposal,
  SignResult,
  WalletStatus,
} from "../../src/wallets";
import { errorLines, hardhat, runInProcess as run } from "../shared/cli";
import { coverageRunning } from "../shared/gas";

const RECIPIENT = getAddress("0x00000000000000000000000000000000000d0d0d");

/** The wallet tasks, driven as `hre.run` on the in-process network (one chain across tasks). */
describe("device wallet tasks (in-process network)", function () {
  this.timeout(300_000);
  let scratch: string;
  let keystore: string;
  let deviceId: string;
  let deviceKey: string;
  let wallet: string;
  let owners: string[];
  const saved = { ...process.env };

  before(async function () {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-wallettasks-"));
    process.env.THINGLEDGER_KEYSTORE_PASSWORD = "pw";
    process.env.THINGLEDGER_KEYSTORE_SCRYPT_N = "1024";
    const signers = await hre.ethers.getSigners();
    owners = [signers[1].address, signers[2].address, signers[3].address];
    // A device, registered by account 0 (manufacturer #1 in-process) and activated by account 1.
    const fleet = await run<GeneratedFleet>("device:generate", { count: "1", out: scratch });
    deviceId = fleet.devices[0].deviceId;
    deviceKey = fleet.devices[0].deviceKey;
    keystore = path.join(scratch, "keystore");
    await run("device:register", { file: path.join(scratch, "devices.csv"), batchSize: "10", signer: "0" });
    await run("token:transfer", { to: signers[1].address, amount: "10", signer: "0" });
    await run("device:activate", { device: deviceId, keystore, signer: "1" });
  });
  after(function () {
    process.env = saved;
    if (scratch !== undefined) fs.rmSync(scratch, { recursive: true, force: true });
  });

  it("creates a wallet that takes over its device; the device spends alone and through a relayer", async function () {
    const created = await run<CreateWalletResult>("wallet:create", {
      owners: owners.join(","),
      threshold: "2",
      device: deviceId,
      limits: "eth=0.5,token=20",
      period: "1d",
      signer: "1",
    });
    wallet = created.wallet;
    expect(created).to.include({ deviceTransferred: true, linked: true, deviceKey, threshold: 2, period: 86_400 });
    expect(created.next).to.equal(undefined);
    const [funder] = await hre.ethers.getSigners();
    const funded = await run<FundResult>("wallet:fund", { wallet, amounts: "eth=3", signer: "0" });
    expect(funded).to.include({ wallet, from: funder.address });
    expect(funded.sent).to.have.length(1);
    expect(funded.sent[0]).to.include({ symbol: "ETH", amount: parseEther("3") });
    expect(await hre.ethers.provider.getBalance(wallet)).to.equal(parseEther("3"));
    await funder.sendTransaction({ to: deviceKey, value: parseEther("0.1") });

    const self = await run<DeviceSpendResult>("wallet:device-spend", {
      wallet,
      device: deviceId,
      keystore,
      to: RECIPIENT,
      amount: "0.2",
      asset: "eth",
    });
    expect(self).to.include({ relayed: false, amount: parseEther("0.2"), availableAfter: parseEther("0.3") });
    const relayed = await run<DeviceSpendResult>("wallet:device-spend", {
      wallet,
      device: deviceId,
      keystore,
      to: RECIPIENT,
      amount: "0.1",
      asset: "eth",
      relayer: "5",
    });
    expect(relayed).to.include({ relayed: true, availableAfter: parseEther("0.2") });
    expect(await hre.ethers.provider.getBalance(RECIPIENT)).to.equal(parseEther("0.3"));

    // Above what is left: refused before anything is sent.
    const before = await hre.ethers.provider.getBalance(wallet);
    await expect(
      run("wallet:device-spend", { wallet, device: deviceId, keystore, to: RECIPIENT, amount: "0.3", asset: "eth" }),
    ).to.be.rejectedWith(/above what the device may spend now \(0\.2 ETH of 0\.5 ETH per period\)/);
    await expect(
      run("wallet:device-spend", { wallet, device: deviceId, keystore, to: RECIPIENT, amount: "1", asset: "token" }),
    ).to.be.rejectedWith(/the wallet holds 0\.0 THING/);
    expect(await hre.ethers.provider.getBalance(wallet)).to.equal(before);

    // The same configuration twice is refused with the address it already has.
    await expect(
      run("wallet:create", {
        owners: owners.join(","),
        threshold: "2",
        device: deviceId,
        limits: "eth=0.5,token=20",
        period: "1d",
        signer: "1",
      }),
    ).to.be.rejectedWith(new RegExp(`already exists at ${wallet}`));
  });

  it("owners propose, sign on their own, and execute; set-limit, freeze and unfreeze go the same way", async function () {
    const file = path.join(scratch, "pay.json");
    const proposed = await run<Proposal>("wallet:propose", { wallet, to: RECIPIENT, value: "1.5", out: file });
    expect(proposed).to.include({ nonce: "0", to: RECIPIENT, value: parseEther("1.5").toString(), gasLimit: "0" });
    const first = await run<SignResult>("wallet:sign", { file, signer: "2" });
    expect(first).to.include({ signatures: 1, threshold: 2, ready: false });
    await expect(run("wallet:exec", { file, signer: "5" })).to.be.rejectedWith(
      /has 1 owner signature\(s\); the wallet needs 2/,
    );
    await expect(run("wallet:sign", { file, signer: "2" })).to.be.rejectedWith(/has already signed/);
    await expect(run("wallet:sign", { file, signer: "6" })).to.be.rejectedWith(/is not an owner of wallet/);
    const second = await run<SignResult>("wallet:sign", { file, signer: "3" });
    expect(second.ready).to.equal(true);

    // A tampered file (amount raised after signing) is refused before anything is sent.
    const tampered = path.join(scratch, "tampered.json");
    const content = JSON.parse(fs.readFileSync(file, "utf8")) as Proposal;
    fs.writeFileSync(tampered, JSON.stringify({ ...content, value: parseEther("2.5").toString() }));
    await expect(run("wallet:exec", { file: tampered })).to.be.rejectedWith(
      /was made by 0x[0-9a-fA-F]{40}, or over other content/,
    );

    const executed = await run<ExecResult>("wallet:exec", { file, signer: "5" });
    expect(executed).to.include({ success: true, nonce: 0n, value: parseEther("1.5") });
    expect(await hre.ethers.provider.getBalance(RECIPIENT)).to.equal(parseEther("1.8"));
    await expect(run("wallet:exec", { file })).to.be.rejectedWith(/is stale: its nonce 0 is already used/);

    // The owners raise the ETH limit to 1.
    const limitFile = path.join(scratch, "limit.json");
    await run("wallet:set-limit", { wallet, asset: "eth", limit: "1", out: limitFile });
    await run("wallet:sign", { file: limitFile, signer: "1" });
    await run("wallet:sign", { file: limitFile, signer: "3" });
    expect((await run<ExecResult>("wallet:exec", { file: limitFile })).success).to.equal(true);
    let status = await run<WalletStatus>("wallet:status", { wallet });
    expect(status.allowances.find((a) => a.symbol === "ETH")).to.include({
      limit: parseEther("1"),
      available: parseEther("0.7"),
    });

    // One owner freezes at once; the device cannot spend; two owners unfreeze.
    await run("wallet:freeze", { wallet, signer: "2" });
    await expect(
      run("wallet:device-spend", { wallet, device: deviceId, keystore, to: RECIPIENT, amount: "0.1" }),
    ).to.be.rejectedWith(/is frozen by its owners/);
    await expect(run("wallet:freeze", { wallet, signer: "1" })).to.be.rejectedWith(/already frozen/);
    const unfreeze = path.join(scratch, "unfreeze.json");
    await run("wallet:propose", { wallet, unfreeze: true, out: unfreeze });
    await run("wallet:sign", { file: unfreeze, signer: "1" });
    await run("wallet:sign", { file: unfreeze, signer: "2" });
    await run("wallet:exec", { file: unfreeze });
    await run("wallet:device-spend", { wallet, device: deviceId, keystore, to: RECIPIENT, amount: "0.1" });

    status = await run<WalletStatus>("wallet:status", { wallet });
    expect(status).to.include({
      frozen: false,
      linked: true,
      deviceStatus: "active",
      deviceOwnedByWallet: true,
      threshold: 2,
    });
    expect(status.nonce).to.equal(3n);
    expect(status.owners).to.deep.equal([...owners].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1)));
  });

  it("a failed inner call is reported as failed and spends the nonce", async function () {
    const file = path.join(scratch, "too-much.json");
    // 1,000 THING: the wallet holds none, so the token transfer fails inside execute.
    await run("wallet:propose", {
      wallet,
      to: RECIPIENT,
      asset: "token",
      amount: "1000",
      gasLimit: "80000",
      out: file,
    });
    await run("wallet:sign", { file, signer: "1" });
    await run("wallet:sign", { file, signer: "2" });
    const nonce = (await run<WalletStatus>("wallet:status", { wallet })).nonce;
    const executed = await run<ExecResult>("wallet:exec", { file });
    expect(executed.success).to.equal(false);
    expect((await run<WalletStatus>("wallet:status", { wallet })).nonce).to.equal(nonce + 1n);
  });

  it("refuses bad input with one line, sending nothing", async function () {
    await expect(
      run("wallet:create", {
        owners: `${owners[0]},${owners[0]}`,
        threshold: "1",
        device: deviceId,
        limits: "eth=1",
        period: "1d",
        signer: "1",
      }),
    ).to.be.rejectedWith(/an owner is listed twice/);
    await expect(
      run("wallet:create", {
        owners: owners.join(","),
        threshold: "4",
        device: deviceId,
        limits: "eth=1",
        period: "1d",
        signer: "1",
      }),
    ).to.be.rejectedWith(/the threshold must be between 1 and 3 \(the number of owners\)/);
    await expect(
      run("wallet:create", {
        owners: owners.join(","),
        threshold: "2",
        device: deviceId,
        limits: "eth=5000",
        period: "1d",
        signer: "1",
      }),
    ).to.be.rejectedWith(/above the wallet's maximum of 4722\.366482869645213695 ETH per period/);
    await expect(
      run("wallet:create", {
        owners: owners.join(","),
        threshold: "2",
        device: deviceId,
        limits: "gold=1",
        period: "1d",
        signer: "1",
      }),
    ).to.be.rejectedWith(/asset "gold" is neither eth, token nor an ERC-20 address/);
    await expect(
      run("wallet:create", {
        owners: owners.join(","),
        threshold: "2",
        device: `0x${"ab".repeat(32)}`,
        limits: "eth=1",
        period: "1d",
        signer: "1",
      }),
    ).to.be.rejectedWith(/is not registered on this network/);
    await expect(run("wallet:status", { wallet: RECIPIENT })).to.be.rejectedWith(/there is no device wallet at/);
    // Funding: a shortfall in any asset sends nothing (not even the ETH listed first); no wallet, no send.
    const statusBefore = await run<WalletStatus>("wallet:status", { wallet });
    const funderBefore = await hre.ethers.provider.getBalance(owners[0]);
    await expect(run("wallet:fund", { wallet, amounts: "eth=1,token=2000000000", signer: "1" })).to.be.rejectedWith(
      /holds .* THING, less than the 2000000000\.0 THING to send/,
    );
    await expect(run("wallet:fund", { wallet: RECIPIENT, amounts: "eth=1", signer: "1" })).to.be.rejectedWith(
      /there is no device wallet at/,
    );
    await expect(run("wallet:fund", { wallet, amounts: "eth=1,ETH=2", signer: "1" })).to.be.rejectedWith(
      /--amounts: ETH is given twice/,
    );
    await expect(run("wallet:fund", { wallet, amounts: "eth=0", signer: "1" })).to.be.rejectedWith(
      /--amounts: the amount must be greater than zero/,
    );
    expect((await run<WalletStatus>("wallet:status", { wallet })).balances).to.deep.equal(statusBefore.balances);
    expect(await hre.ethers.provider.getBalance(owners[0])).to.equal(funderBefore);
    const bad = path.join(scratch, "bad.json");
    fs.writeFileSync(bad, "{ not json");
    await expect(run("wallet:sign", { file: bad })).to.be.rejectedWith(/is not valid JSON/);
    fs.writeFileSync(bad, JSON.stringify({ kind: "other" }));
    await expect(run("wallet:exec", { file: bad })).to.be.rejectedWith(/is not a wallet proposal/);
    const otherChain = path.join(scratch, "other-chain.json");
    await run("wallet:propose", { wallet, to: RECIPIENT, value: "0.1", out: otherChain });
    const p = JSON.parse(fs.readFileSync(otherChain, "utf8")) as Proposal;
    fs.writeFileSync(otherChain, JSON.stringify({ ...p, chainId: "1" }));
    await expect(run("wallet:sign", { file: otherChain, signer: "1" })).to.be.rejectedWith(
      /is for chain 1, but network "hardhat" is chain 31337/,
    );
    // An existing --out is refused first (nothing is checked or written without --force) ...
    await expect(run("wallet:propose", { wallet, to: RECIPIENT, value: "100", out: otherChain })).to.be.rejectedWith(
      /exists; pass --force to overwrite it/,
    );
    // ... and a proposal the wallet cannot pay is refused, writing no file.
    const tooMuch = path.join(scratch, "unpayable.json");
    await expect(run("wallet:propose", { wallet, to: RECIPIENT, value: "100", out: tooMuch })).to.be.rejectedWith(
      /the wallet holds .* ETH, less than the 100\.0 proposed/,
    );
    expect(fs.existsSync(tooMuch)).to.equal(false);
  });

  it("after the owners rotate the device key in the registry, the old key is refused until they set the new one", async function () {
    const { deviceSpend, resolveAsset } = await import("../../src/wallets");
    const { compact, signKeyRotation } = await import("../../src/eip712/device");
    const { readDomain } = await import("../../src/eip712/domain");
    const { registryAt } = await import("../../src/chain/context");
    const { loadSystem } = await import("../../tasks/support/deployments");
    const ctx = await loadSystem(hre);
    const registry = registryAt(ctx);
    const fresh = hre.ethers.Wallet.createRandom();
    const deadline = BigInt((await hre.ethers.provider.getBlock("latest"))!.timestamp) + 3600n;
    const consent = await signKeyRotation(fresh, await readDomain(registry), {
      deviceId,
      newKey: fresh.address,
      nonce: await registry.keyNonce(deviceId),
      deadline,
    });
    const data = registry.interface.encodeFunctionData("rotateDeviceKey", [
      deviceId,
      fresh.address,
      deadline,
      ...compact(consent),
    ]);
    // The wallet owns the device: its owners rotate the key in the registry through an execution.
    const rotate = path.join(scratch, "rotate.json");
    await run("wallet:propose", { wallet, to: await registry.getAddress(), data, out: rotate });
    await run("wallet:sign", { file: rotate, signer: "1" });
    await run("wallet:sign", { file: rotate, signer: "3" });
    expect((await run<ExecResult>("wallet:exec", { file: rotate })).success).to.equal(true);
    const status = await run<WalletStatus>("wallet:status", { wallet });
    expect(status).to.include({ deviceKey, registryKey: fresh.address, linked: false });

    // The old key (the keystore still holds it) is refused before anything is sent.
    const before = await hre.ethers.provider.getBalance(wallet);
    await expect(
      run("wallet:device-spend", { wallet, device: deviceId, keystore, to: RECIPIENT, amount: "0.01" }),
    ).to.be.rejectedWith(new RegExp(`the registry holds ${fresh.address} as the key of device`));
    expect(await hre.ethers.provider.getBalance(wallet)).to.equal(before);
    // The wallet's key can only follow the registry's.
    const file = path.join(scratch, "set-key.json");
    await expect(run("wallet:propose", { wallet, rotateKey: RECIPIENT, out: file })).to.be.rejectedWith(
      /rotate the key in the registry first/,
    );
    await run("wallet:propose", { wallet, rotateKey: fresh.address, out: file });
    await run("wallet:sign", { file, signer: "2" });
    await run("wallet:sign", { file, signer: "3" });
    expect((await run<ExecResult>("wallet:exec", { file })).success).to.equal(true);
    const [, relayer] = await hre.ethers.getSigners();
    const spent = await deviceSpend(ctx, {
      wallet,
      device: fresh,
      asset: await resolveAsset(ctx, "eth"),
      to: RECIPIENT,
      amount: parseEther("0.01"),
      relayer,
    });
    expect(spent).to.include({ relayed: true, amount: parseEther("0.01") });
    expect((await run<WalletStatus>("wallet:status", { wallet })).linked).to.equal(true);
    // A new wallet can only name the registry's key: the old one is refused before anything is sent.
    await expect(
      run("wallet:create", {
        owners: owners.join(","),
        threshold: "1",
        device: deviceId,
        deviceKey,
        limits: "eth=1",
        period: "1d",
        signer: "1",
      }),
    ).to.be.rejectedWith(new RegExp(`the registry holds ${fresh.address} for device`));
  });

  it("every wallet task has --help with --json, and CLI errors are one line", function () {
    if (coverageRunning()) this.skip();
    for (const name of [
      "wallet:create",
      "wallet:propose",
      "wallet:sign",
      "wallet:exec",
      "wallet:device-spend",
      "wallet:set-limit",
      "wallet:freeze",
      "wallet:fund",
      "wallet:status",
    ]) {
      const help = hardhat([name, "--help"]);
      expect(help.status, `${name}: ${help.stderr}`).to.equal(0);
      expect(help.stdout).to.contain(`Usage: hardhat [GLOBAL OPTIONS] ${name}`);
      expect(help.stdout, name).to.contain("--json");
    }
    const missing = hardhat(["wallet:status", "--wallet", "0x1234"]);
    expect(missing.status).to.equal(1);
    expect(errorLines(missing)).to.deep.equal([
      'Error: --wallet: "0x1234" is not an Ethereum address (0x followed by 40 hex digits)',
    ]);
  });
});
