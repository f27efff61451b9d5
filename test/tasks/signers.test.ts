import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import { HDNodeWallet, Wallet, encryptKeystoreJsonSync, getAddress, hexlify, parseEther, randomBytes } from "ethers";
import hre from "hardhat";
import { HardhatContext } from "hardhat/internal/context";
import { VarsManager } from "hardhat/internal/core/vars/vars-manager";

import { SIGNER_PASSWORD_ENV, parseSignerSpec, signerPassword } from "../../src/chain/signers";
import type { BalanceResult, TransferResult } from "../../src/token";
import { errorLines, hardhat, runInProcess } from "../shared/cli";
import { coverageRunning } from "../shared/gas";

const RECIPIENT = getAddress("0x00000000000000000000000000000000005a1e00");

/** Runs a task in this process with `--json`, returning its result and what it printed on stderr. */
async function capture<T>(name: string, args: Record<string, unknown>): Promise<{ result: T; stderr: string[] }> {
  const log = console.log;
  const error = console.error;
  const stderr: string[] = [];
  console.log = () => undefined;
  console.error = (...parts: unknown[]) => stderr.push(parts.map(String).join(" "));
  try {
    return { result: (await hre.run(name, { json: true, ...args })) as T, stderr };
  } finally {
    console.log = log;
    console.error = error;
  }
}

/** A fresh key, funded from account 0 with gas money and `thing` THING. */
async function fundedKey(thing: string): Promise<Wallet> {
  const key = new Wallet(hexlify(randomBytes(32)));
  const [funder] = await hre.ethers.getSigners();
  await (await funder.sendTransaction({ to: key.address, value: parseEther("1") })).wait();
  await runInProcess("token:transfer", { to: key.address, amount: thing, signer: "0" });
  return key;
}

async function balance(account: string): Promise<bigint> {
  return (await runInProcess<BalanceResult>("token:balance", { account })).balance;
}

/** Hardhat's `vars` store, pointed at a temporary file for the duration of a test (and the env's HARDHAT_VAR_*). */
function useTempVars(file: string): () => void {
  const context = HardhatContext.getHardhatContext();
  const saved = context.varsManager;
  context.varsManager = new VarsManager(file);
  return () => {
    context.varsManager = saved;
  };
}

describe("signers: --signer takes an account index, vars:NAME or a keystore file (issue 17, item 2)", function () {
  this.timeout(300_000);
  const saved = { ...process.env };
  let scratch: string;
  let keystoreKey: Wallet;
  let keystoreFile: string;
  let restoreVars: (() => void) | undefined;

  before(async function () {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-signers-"));
    keystoreKey = await fundedKey("50");
    keystoreFile = path.join(scratch, "admin.json");
    const json = encryptKeystoreJsonSync(
      { address: keystoreKey.address, privateKey: keystoreKey.privateKey },
      "correct horse",
      { scrypt: { N: 1024 } },
    );
    fs.writeFileSync(keystoreFile, json);
  });
  afterEach(function () {
    process.env = { ...saved };
    restoreVars?.();
    restoreVars = undefined;
  });
  after(function () {
    process.env = saved;
    if (scratch !== undefined) fs.rmSync(scratch, { recursive: true, force: true });
  });

  it("reads the option unambiguously: digits an index, vars: a variable, anything else a file", function () {
    expect(parseSignerSpec("signer", "0")).to.deep.equal({ kind: "index", index: 0 });
    expect(parseSignerSpec("owner", "12")).to.deep.equal({ kind: "index", index: 12 });
    expect(parseSignerSpec("signer", "vars:ADMIN_KEY")).to.deep.equal({ kind: "vars", name: "ADMIN_KEY" });
    expect(parseSignerSpec("signer", "./3")).to.deep.equal({ kind: "keystore", file: "./3" });
    expect(parseSignerSpec("signer", "ops/admin.json")).to.deep.equal({ kind: "keystore", file: "ops/admin.json" });
    expect(() => parseSignerSpec("as", "vars:1KEY")).to.throw(
      '--as vars:1KEY: "1KEY" is not a variable name (letters, digits and _, not starting with a digit)',
    );
    expect(() => parseSignerSpec("signer", "")).to.throw(
      "--signer is empty: give an account index, vars:NAME, or the path of an encrypted JSON keystore",
    );
  });

  it("attack: a raw private key given as --signer is refused without being printed back (with or without 0x)", function () {
    const key = Wallet.createRandom().privateKey;
    for (const value of [key, key.slice(2), key.toUpperCase(), `vars:${key.slice(2)}`, `vars:${key}`]) {
      let message = "";
      try {
        parseSignerSpec("signer", value);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).to.match(/^--signer looks like a raw private key, which is never taken on the command line/);
      expect(message).to.contain("vars:NAME");
      expect(message.toLowerCase()).to.not.contain(key.slice(2, 12).toLowerCase());
    }
  });

  it("a keystore key that holds THING but no ETH for gas: one line saying so, nothing sent", async function () {
    const broke = new Wallet(hexlify(randomBytes(32)));
    await runInProcess("token:transfer", { to: broke.address, amount: "5", signer: "0" });
    const file = path.join(scratch, "broke.json");
    const json = encryptKeystoreJsonSync({ address: broke.address, privateKey: broke.privateKey }, "correct horse", {
      scrypt: { N: 1024 },
    });
    fs.writeFileSync(file, json);
    process.env[SIGNER_PASSWORD_ENV] = "correct horse";
    const block = await hre.ethers.provider.getBlockNumber();
    await expect(runInProcess("token:transfer", { to: RECIPIENT, amount: "1", signer: file })).to.be.rejectedWith(
      /^the signing account has too little ETH for this transaction's gas \(and value\): fund it, or sign with another --signer$/,
    );
    expect(await hre.ethers.provider.getBlockNumber()).to.equal(block);
  });

  it("a fleet file that is a folder, and an output in a folder that does not exist yet", async function () {
    await expect(runInProcess("device:register", { file: scratch, signer: "0" })).to.be.rejectedWith(
      `fleet file ${scratch} is a folder, not a CSV or JSON file`,
    );
    const out = path.join(scratch, "new", "folder", "permit.json");
    await runInProcess("token:permit", { spender: RECIPIENT, amount: "1", out, signer: "0" });
    expect(JSON.parse(fs.readFileSync(out, "utf8"))).to.have.property("signature");
  });

  it("a keystore file signs a real transfer, with the password from THINGLEDGER_SIGNER_PASSWORD, and says who signs", async function () {
    process.env[SIGNER_PASSWORD_ENV] = "correct horse";
    const before = await balance(RECIPIENT);
    const { result, stderr } = await capture<TransferResult>("token:transfer", {
      to: RECIPIENT,
      amount: "7",
      signer: keystoreFile,
    });
    expect(result.from).to.equal(keystoreKey.address);
    expect(await balance(RECIPIENT)).to.equal(before + parseEther("7"));
    expect(await balance(keystoreKey.address)).to.equal(parseEther("43"));
    expect(stderr[0]).to.equal(`Signing as ${keystoreKey.address} (keystore ${keystoreFile})`);
  });

  it("a vars entry signs a real transfer (from the vars file, or HARDHAT_VAR_*), and says who signs", async function () {
    const stored = await fundedKey("20");
    const fromEnv = await fundedKey("20");
    process.env.HARDHAT_VAR_SIGNERS_TEST_ENV_KEY = fromEnv.privateKey.slice(2); // without 0x: also accepted
    restoreVars = useTempVars(path.join(scratch, "vars.json"));
    HardhatContext.getHardhatContext().varsManager.set("SIGNERS_TEST_KEY", stored.privateKey);

    const before = await balance(RECIPIENT);
    const cases: [Wallet, string, string][] = [
      [stored, "SIGNERS_TEST_KEY", "5"],
      [fromEnv, "SIGNERS_TEST_ENV_KEY", "2"],
    ];
    for (const [key, name, amount] of cases) {
      const { result, stderr } = await capture<TransferResult>("token:transfer", {
        to: RECIPIENT,
        amount,
        signer: `vars:${name}`,
      });
      expect(result.from, name).to.equal(key.address);
      expect(stderr[0]).to.equal(`Signing as ${key.address} (vars ${name})`);
    }
    expect(await balance(RECIPIENT)).to.equal(before + parseEther("7"));
    expect(await balance(stored.address)).to.equal(parseEther("15"));
    expect(await balance(fromEnv.address)).to.equal(parseEther("18"));
  });

  it("an account index signs as before, and says which account", async function () {
    const [first] = await hre.ethers.getSigners();
    const { result, stderr } = await capture<TransferResult>("token:transfer", {
      to: RECIPIENT,
      amount: "1",
      signer: "0",
    });
    expect(result.from).to.equal(first.address);
    expect(stderr[0]).to.equal(`Signing as ${first.address} (account #0)`);
  });

  it("on the command line: a keystore signs with --json (stdout stays JSON); without a password off a terminal, one line", function () {
    // Under coverage a spawned task recompiles the instrumented contracts first and prints that on stdout.
    if (coverageRunning()) this.skip();
    // The in-process network of a new process is a fresh chain: the keystore holds account #0's key (the treasury).
    const first = HDNodeWallet.fromPhrase("test test test test test test test test test test test junk");
    const file = path.join(scratch, "treasury.json");
    fs.writeFileSync(
      file,
      encryptKeystoreJsonSync({ address: first.address, privateKey: first.privateKey }, "pw", { scrypt: { N: 1024 } }),
    );
    const args = ["token:transfer", "--to", RECIPIENT, "--amount", "4", "--signer", file];
    const sent = hardhat([...args, "--json"], { [SIGNER_PASSWORD_ENV]: "pw" });
    expect(sent.status, sent.stderr).to.equal(0);
    expect(JSON.parse(sent.stdout)).to.include({ from: first.address, to: RECIPIENT });
    expect(errorLines(sent)).to.deep.equal([
      `Signing as ${first.address} (keystore ${file})`,
      'Warning: network "hardhat" is in-process: nothing this task sends persists after it exits (pass --network localhost or a live network)',
    ]);
    const locked = hardhat(args, { [SIGNER_PASSWORD_ENV]: "" }); // spawnSync's stdin is a pipe, not a terminal
    expect(locked.status).to.equal(1);
    expect(locked.stdout).to.not.contain("Sent");
    expect(errorLines(locked)).to.deep.equal([
      `Error: --signer ${file}: no password: set THINGLEDGER_SIGNER_PASSWORD, or run on a terminal to be asked for it`,
    ]);
  });

  describe("every bad signer fails in one line, sending nothing", function () {
    let notKeystore: string;
    let badJson: string;

    before(function () {
      notKeystore = path.join(scratch, "not-a-keystore.json");
      fs.writeFileSync(notKeystore, JSON.stringify({ address: "0x00", hello: "world" }));
      badJson = path.join(scratch, "bad.json");
      fs.writeFileSync(badJson, "{ not json");
    });

    /** Runs token:transfer with `signer` and expects exactly `message`, in one line. */
    async function refused(signer: string, message: string | RegExp): Promise<void> {
      let caught: unknown;
      try {
        await runInProcess("token:transfer", { to: RECIPIENT, amount: "1", signer });
      } catch (error) {
        caught = error;
      }
      expect(caught, signer).to.be.instanceOf(Error);
      const text = (caught as Error).message;
      if (typeof message === "string") expect(text, signer).to.equal(message);
      else expect(text, signer).to.match(message);
      expect(text.split("\n"), signer).to.have.length(1);
    }

    // Nothing was sent by any refusal: the chain has no new block.
    let blockBefore: number;
    beforeEach(async function () {
      blockBefore = await hre.ethers.provider.getBlockNumber();
    });
    afterEach(async function () {
      expect(await hre.ethers.provider.getBlockNumber()).to.equal(blockBefore);
    });

    it("a keystore: wrong password, no password off a terminal, missing, a directory, not a keystore, not JSON", async function () {
      process.env[SIGNER_PASSWORD_ENV] = "wrong horse";
      await refused(keystoreFile, `--signer ${keystoreFile}: wrong password for this keystore`);
      delete process.env[SIGNER_PASSWORD_ENV];
      const stdin = Object.getOwnPropertyDescriptor(process.stdin, "isTTY");
      Object.defineProperty(process.stdin, "isTTY", { value: false, configurable: true });
      try {
        await refused(
          keystoreFile,
          `--signer ${keystoreFile}: no password: set THINGLEDGER_SIGNER_PASSWORD, or run on a terminal to be asked for it`,
        );
      } finally {
        if (stdin === undefined) delete (process.stdin as { isTTY?: boolean }).isTTY;
        else Object.defineProperty(process.stdin, "isTTY", stdin);
      }
      process.env[SIGNER_PASSWORD_ENV] = "correct horse";
      const missing = path.join(scratch, "missing.json");
      await refused(
        missing,
        `--signer ${missing}: no such file (the option takes an account index, vars:NAME, or the path of an encrypted JSON keystore)`,
      );
      await refused(scratch, `--signer ${scratch}: is a directory, not a keystore file`);
      await refused(notKeystore, `--signer ${notKeystore}: not an encrypted JSON keystore`);
      await refused(badJson, /is not valid JSON \(.*\): expected an encrypted JSON keystore$/);
    });

    it("the password supplier refuses off a terminal and reads the environment first", async function () {
      delete process.env[SIGNER_PASSWORD_ENV];
      let caught: unknown;
      await signerPassword("--signer x.json", { isTTY: false }).catch((error: unknown) => (caught = error));
      expect((caught as Error).message).to.equal(
        "--signer x.json: no password: set THINGLEDGER_SIGNER_PASSWORD, or run on a terminal to be asked for it",
      );
      process.env[SIGNER_PASSWORD_ENV] = "from env";
      expect(await signerPassword("--signer x.json", { isTTY: true })).to.equal("from env");
    });

    it("a vars entry: unknown name, a value that is not a key (never printed); an index out of range", async function () {
      restoreVars = useTempVars(path.join(scratch, "vars-errors.json"));
      HardhatContext.getHardhatContext().varsManager.set("NOT_A_KEY", "hunter2-secret");
      await refused(
        "vars:NO_SUCH_KEY",
        "--signer vars:NO_SUCH_KEY: no Hardhat variable NO_SUCH_KEY (set it with: npx hardhat vars set NO_SUCH_KEY)",
      );
      await refused(
        "vars:NOT_A_KEY",
        "--signer: vars NOT_A_KEY does not hold a private key (64 hex digits, with or without 0x)",
      );
      const accounts = (await hre.ethers.getSigners()).length;
      await refused(String(accounts), `--signer ${accounts}: network "hardhat" has only ${accounts} account(s)`);
      await refused(
        "vars:",
        '--signer vars:: "" is not a variable name (letters, digits and _, not starting with a digit)',
      );
    });
  });
});
