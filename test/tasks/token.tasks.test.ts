import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import hre from "hardhat";
import { HardhatPluginError } from "hardhat/plugins";

import { loadSystem } from "../../tasks/support/deployments";
import { coverageRunning } from "../shared/gas";
import { errorLines, hardhat, printedBy, runInProcess } from "../shared/cli";

const OPERATOR = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

/** The token tasks on the in-process network, run as a user runs them. */
describe("token tasks (in-process network)", function () {
  this.timeout(300_000);
  let scratch: string;

  before(function () {
    // Child processes recompile the contracts, which would overwrite coverage's instrumented build.
    if (coverageRunning()) this.skip();
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-tasks-"));
  });
  after(function () {
    if (scratch !== undefined) fs.rmSync(scratch, { recursive: true, force: true });
  });

  for (const name of [
    "demo",
    "deploy",
    "token:balance",
    "token:transfer",
    "token:permit",
    "token:permit-submit",
    "sim:access",
  ]) {
    // Hardhat's own help task, in this process (what `--help` runs; a child process per task cost ~4 s each).
    it(`${name} --help explains its options`, async function () {
      const help = await printedBy(() => hre.run("help", { scopeOrTask: name }));
      expect(help).to.contain(`Usage: hardhat [GLOBAL OPTIONS] ${name}`);
      if (name !== "verify:system") expect(help).to.contain("--json");
    });
  }

  it("token:transfer prints a human summary and, with --json, the same as data", function () {
    const human = hardhat(["token:transfer", "--to", OPERATOR, "--amount", "2.5"]);
    expect(human.status, human.stderr).to.equal(0);
    expect(human.stdout).to.match(/Sent 2\.5 THING from 0xf39F.* to 0x7099/);
    const json = hardhat(["token:transfer", "--to", OPERATOR, "--amount", "2.5", "--json"]);
    const parsed = JSON.parse(json.stdout) as { amount: string; gasUsed: string; balances: { to: string } };
    expect(parsed.amount).to.equal((25n * 10n ** 17n).toString());
    expect(parsed.balances.to).to.equal(parsed.amount);
    expect(Number(parsed.gasUsed)).to.be.greaterThan(21_000);
  });

  const badInput: [string, string, Record<string, string>, string][] = [
    ["a bad address", "token:transfer", { to: "0x123", amount: "1" }, '--to: "0x123" is not an Ethereum address'],
    [
      "an address with a broken checksum",
      "token:transfer",
      { to: "0x90F79bf6EB2c31937Cf4c875Dbd08ED5Ab5FC9b6", amount: "1" },
      '--to: "0x90F79bf6EB2c31937Cf4c875Dbd08ED5Ab5FC9b6" fails its EIP-55 checksum',
    ],
    ["a bad amount", "token:transfer", { to: OPERATOR, amount: "1e5" }, '--amount: "1e5" is not a decimal amount'],
    [
      "too many decimals",
      "token:transfer",
      { to: OPERATOR, amount: "0.0000000000000000001" },
      "has more than 18 decimals",
    ],
    ["a zero amount", "token:transfer", { to: OPERATOR, amount: "0" }, "the amount must be greater than zero"],
    [
      "an amount above the balance",
      "token:transfer",
      // More than exists: the in-process chain is shared with other test files, which may fund account 3.
      { signer: "3", to: OPERATOR, amount: "1000000000000" },
      "THING, less than the 1000000000000.0 THING to send",
    ],
    [
      "a missing account",
      "token:transfer",
      { signer: "99", to: OPERATOR, amount: "1" },
      '--signer 99: network "hardhat" has only 20 account(s)',
    ],
    [
      "a past deadline",
      "token:permit",
      { spender: OPERATOR, amount: "1", out: "x.json", deadline: "5" },
      "--deadline: 5 is in the past",
    ],
    [
      "a missing permit file",
      "token:permit-submit",
      { file: "/nonexistent/permit.json" },
      "/nonexistent/permit.json does not exist: expected a signed permit",
    ],
  ];
  // In this process: the task's one-line error (what the command line prints as `Error: <message>` with exit
  // code 1, shown once below for a real process) and an unchanged chain.
  for (const [what, name, args, message] of badInput) {
    it(`rejects ${what} in one line, sending nothing`, async function () {
      await loadSystem(hre); // the in-process system is deployed on first use: before the count
      const block = await hre.ethers.provider.getBlockNumber();
      let error: unknown;
      await runInProcess(name, args).catch((e: unknown) => (error = e));
      expect(error, "no error").to.be.instanceOf(HardhatPluginError);
      const text = (error as Error).message;
      expect(text).to.contain(message);
      expect(text).not.to.contain("\n");
      expect(await hre.ethers.provider.getBlockNumber(), "a transaction was mined").to.equal(block);
    });
  }

  it("on the command line, a rejected input is one line on stderr and exit code 1", function () {
    const run = hardhat(["token:transfer", "--to", "0x123", "--amount", "1"]);
    expect(run.status).to.equal(1);
    const lines = errorLines(run);
    expect(lines, run.stderr).to.have.length(1);
    expect(lines[0]).to.equal('Error: --to: "0x123" is not an Ethereum address (0x followed by 40 hex digits)');
  });

  it("token:permit refuses to overwrite a file without --force", function () {
    const file = path.join(scratch, "exists.json");
    fs.writeFileSync(file, "keep me");
    const run = hardhat(["token:permit", "--spender", OPERATOR, "--amount", "1", "--out", file]);
    expect(errorLines(run)).to.deep.equal([`Error: --out: ${file} exists; pass --force to overwrite it`]);
    expect(fs.readFileSync(file, "utf8")).to.equal("keep me");
  });

  it("token:permit-submit checks a permit file before sending anything: malformed, wrong chain, wrong signer", function () {
    const file = path.join(scratch, "permit.json");
    const signed = hardhat(["token:permit", "--spender", OPERATOR, "--amount", "10", "--out", file]);
    expect(signed.status, signed.stderr).to.equal(0);
    const permit = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, string>;

    const cases: [string, string, string][] = [
      ["not-json.json", "{ not json", "is not valid JSON"],
      ["wrong-kind.json", JSON.stringify({ ...permit, kind: "other" }), "is not a ThingLedger permit file"],
      ["bad-field.json", JSON.stringify({ ...permit, value: "ten" }), 'field "value" is missing or malformed'],
      ["other-chain.json", JSON.stringify({ ...permit, chainId: "1" }), "the permit was signed for chain 1"],
      ["raised-value.json", JSON.stringify({ ...permit, value: "999" }), "not by its owner"],
    ];
    for (const [name, content, message] of cases) {
      const bad = path.join(scratch, name);
      fs.writeFileSync(bad, content);
      const run = hardhat(["token:permit-submit", "--file", bad]);
      expect(run.status, name).to.equal(1);
      const lines = errorLines(run);
      expect(lines, `${name}: ${run.stderr}`).to.have.length(1);
      expect(lines[0], name).to.contain(message);
    }

    // The untouched file is valid: the in-process network redeploys the token at the same address.
    const ok = hardhat(["token:permit-submit", "--file", file, "--signer", "5", "--json"]);
    expect(ok.status, ok.stderr).to.equal(0);
    expect(JSON.parse(ok.stdout)).to.include({ spender: OPERATOR, allowance: (10n * 10n ** 18n).toString() });
  });

  it("a live network without configuration is refused by name", function () {
    const run = hardhat(["token:balance", "--network", "sepolia"], { SEPOLIA_RPC_URL: "" });
    expect(run.status).to.not.equal(0);
    expect(run.stderr).to.contain("sepolia");
  });

  it("sim:access runs clients, an AS and a device, and reports slots, OTPs, gas and balances", function () {
    const run = hardhat(["sim:access", "--clients", "3", "--slots", "2", "--json"]);
    expect(run.status, run.stderr).to.equal(0);
    const r = JSON.parse(run.stdout) as {
      slotsBought: number;
      receipts: number;
      otpsAccepted: number;
      otpsRejected: number;
      paidToAs: string;
    };
    expect(r).to.include({ slotsBought: 6, receipts: 6, otpsAccepted: 6, otpsRejected: 1, paidToAs: "0.006" });
    const bad = hardhat(["sim:access", "--clients", "0"]);
    expect(errorLines(bad)).to.deep.equal(['Error: --clients: "0" is not a whole number ≥ 1']);
  });

  it("demo --json reports every step with its gas", function () {
    const run = hardhat(["demo", "--json"]);
    expect(run.status, run.stderr).to.equal(0);
    const result = JSON.parse(run.stdout) as { steps: { title: string; gasUsed: string }[]; totalGas: string };
    const titles = result.steps.map((s) => s.title);
    expect(titles).to.include("Fund a device operator");
    expect(titles).to.include.members([
      "The device pays for a service under its limit",
      "The owners approve a larger spend",
    ]);
    const sum = result.steps.reduce((acc, s) => acc + BigInt(s.gasUsed), 0n);
    expect(result.totalGas).to.equal(sum.toString());
  });
});
