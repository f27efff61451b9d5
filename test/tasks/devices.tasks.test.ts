import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import { Wallet } from "ethers";

import { TreeFile } from "../../src/merkle/tree";
import { coverageRunning } from "../shared/gas";
import { errorLines, hardhat } from "../shared/cli";

/** The identity tasks on the in-process network, run as a user runs them. */
describe("device and manufacturer tasks (in-process network)", function () {
  this.timeout(300_000);
  let scratch: string;
  const env = { THINGLEDGER_KEYSTORE_PASSWORD: "pw", THINGLEDGER_KEYSTORE_SCRYPT_N: "1024" };

  before(function () {
    // Child processes recompile the contracts, which would overwrite coverage's instrumented build.
    if (coverageRunning()) this.skip();
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-devtasks-"));
  });
  after(function () {
    if (scratch !== undefined) fs.rmSync(scratch, { recursive: true, force: true });
  });

  const tasks = [
    "manufacturer:add",
    "manufacturer:remove",
    "manufacturer:list",
    "manufacturer:propose-account",
    "manufacturer:accept-account",
    "device:generate",
    "device:register",
    "device:activate",
    "device:status",
    "device:validate",
    "device:transfer",
    "device:revoke",
    "device:rotate-key",
  ];
  it("every identity task has --help with --json", function () {
    for (const name of tasks) {
      const run = hardhat([name, "--help"]);
      expect(run.status, `${name}: ${run.stderr}`).to.equal(0);
      expect(run.stdout).to.contain(`Usage: hardhat [GLOBAL OPTIONS] ${name}`);
      expect(run.stdout, name).to.contain("--json");
    }
  });

  it("generates a fleet and registers it in batches or by Merkle root in one run", function () {
    const dir = path.join(scratch, "fleet");
    const generated = hardhat(["device:generate", "--count", "5", "--out", dir, "--json"], env);
    expect(generated.status, generated.stderr).to.equal(0);
    expect(JSON.parse(generated.stdout).devices).to.have.length(5);
    const batch = hardhat(
      ["device:register", "--file", path.join(dir, "devices.csv"), "--batch-size", "2", "--json"],
      env,
    );
    expect(batch.status, batch.stderr).to.equal(0);
    expect(JSON.parse(batch.stdout)).to.include({ mode: "batch", registered: 5, skipped: 0, transactions: 4 });
    const whitelist = path.join(dir, "wl.json");
    // A root fixes its activation fee for good: a ceiling below the fee in force refuses before sending.
    const capped = hardhat(
      ["device:register", "--file", path.join(dir, "devices.json"), "--merkle", "--max-activation-fee", "0.001"],
      env,
    );
    expect(capped.status).to.equal(1);
    expect(errorLines(capped)).to.have.length(1);
    expect(errorLines(capped)[0]).to.match(
      /the activation fee is .* THING, above the maximum activation fee of 0.001 THING; nothing was sent/,
    );
    const misplaced = hardhat(
      ["device:register", "--file", path.join(dir, "devices.csv"), "--max-activation-fee", "1"],
      env,
    );
    expect(errorLines(misplaced)).to.deep.equal([
      "Error: --max-activation-fee applies to --merkle only (a whitelist root fixes its activation fee)",
    ]);
    const merkle = hardhat(
      ["device:register", "--file", path.join(dir, "devices.json"), "--merkle", "--whitelist-out", whitelist],
      env,
    );
    expect(merkle.status, merkle.stderr).to.equal(0);
    expect(merkle.stdout).to.contain("Committed whitelist root");
    const written = JSON.parse(fs.readFileSync(whitelist, "utf8")) as { entries: unknown[]; root: string };
    expect(written.entries).to.have.length(5);
    expect(fs.readFileSync(whitelist.replace(/\.json$/, ".csv"), "utf8").split("\n")[0]).to.equal(
      "index,deviceId,deviceKey,deviceType,leaf,proof",
    );
    // The tree file beside them serves any proof by index.
    const tree = TreeFile.open(whitelist.replace(/\.json$/, ".tree"));
    expect([tree.root, tree.count, tree.proof(4)]).to.deep.equal([
      written.root,
      5,
      (written.entries[4] as { proof: string[] }).proof,
    ]);
    tree.close();
    expect(merkle.stdout).to.contain(`tree file ${whitelist.replace(/\.json$/, ".tree")}`);
  });

  it("reports a bad fleet file with line numbers before sending anything", function () {
    const pub = new Wallet(`0x${"11".repeat(32)}`).signingKey.publicKey;
    const file = path.join(scratch, "bad.csv");
    fs.writeFileSync(file, `uid,publicKey,type\nA,${pub},sensor\nB,0xnothex,sensor\nA,${pub},teapot\n`);
    const run = hardhat(["device:register", "--file", file], env);
    expect(run.status).to.equal(1);
    const lines = errorLines(run);
    expect(lines[0]).to.equal(`Error: ${file}: 4 problem(s), nothing was sent:`);
    expect(lines.slice(1)).to.deep.equal([
      'line 3: publicKey "0xnothex" is not hex (0x…)',
      'line 4: unknown device type "teapot" (known: 1=sensor, 2=actuator, 3=lock, 4=camera, 5=meter, 6=gateway)',
      'line 4: duplicate uid "A" (first on line 2)',
      "line 4: duplicate publicKey (first on line 2)",
    ]);
  });

  it("refuses to activate an unregistered device without a usable whitelist, in one line", function () {
    const dir = path.join(scratch, "unregistered");
    const generated = hardhat(["device:generate", "--count", "1", "--out", dir, "--json"], env);
    expect(generated.status, generated.stderr).to.equal(0);
    const [device] = (JSON.parse(generated.stdout) as { devices: { deviceId: string }[] }).devices;
    const fleetFile = path.join(dir, "devices.json"); // JSON, but not a whitelist
    const cases: [string[], string][] = [
      [[], `Error: device ${device.deviceId} is not registered, and no whitelist was given to register it from`],
      [
        ["--whitelist", "/nonexistent.json"],
        "Error: /nonexistent.json does not exist: expected a whitelist with proofs (device:register --merkle)",
      ],
      [["--whitelist", fleetFile], `Error: ${fleetFile} is not a ThingLedger whitelist`],
    ];
    for (const [extra, message] of cases) {
      const run = hardhat(
        ["device:activate", "--device", device.deviceId, "--keystore", path.join(dir, "keystore"), ...extra],
        env,
      );
      expect(run.status, run.stderr).to.equal(1);
      expect(errorLines(run)).to.deep.equal([message]);
    }
  });

  const oneLine: [string, string[], string][] = [
    [
      "a missing fleet file",
      ["device:register", "--file", "/nonexistent.csv"],
      "fleet file /nonexistent.csv does not exist",
    ],
    [
      "a zero batch size",
      ["device:register", "--file", "x.csv", "--batch-size", "0"],
      '--batch-size: "0" is not a whole number ≥ 1',
    ],
    [
      "an unknown device type",
      ["device:generate", "--count", "1", "--out", "/tmp/x", "--type", "toaster"],
      '--type: unknown device type "toaster"',
    ],
    [
      "a challenge without keystore",
      ["device:validate", "--device", "SN-1", "--challenge", "random"],
      "--challenge needs --keystore",
    ],
    ["a malformed challenge", ["device:validate", "--device", "SN-1", "--challenge", "0x12"], "is not 32 bytes of hex"],
    [
      "activation of an unregistered device",
      ["device:activate", "--device", "SN-1", "--keystore", "/nonexistent"],
      "no keystore for device",
    ],
    [
      "a transfer of an unregistered device",
      ["device:transfer", "--device", "SN-1", "--to", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"],
      "is unknown; only active devices",
    ],
    ["a revocation by a stranger", ["device:revoke", "--device", "SN-1"], "is not registered"],
    [
      "a revocation reason above 255",
      ["device:revoke", "--device", "SN-1", "--reason", "256"],
      "--reason must be 0-255",
    ],
    [
      "a manufacturer admitted by a non-admin",
      ["manufacturer:add", "--account", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "--signer", "2"],
      "is not the network admin",
    ],
    [
      "a score above 1000",
      ["manufacturer:add", "--account", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "--score", "1001"],
      "a default score of 1001 is above 1000",
    ],
    [
      "an account proposal by a non-manufacturer",
      ["manufacturer:propose-account", "--account", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "--signer", "2"],
      "is not a manufacturer",
    ],
    ["an account proposal naming no account", ["manufacturer:propose-account"], "pass either --account ADDR"],
    [
      "an account acceptance with no proposal",
      ["manufacturer:accept-account", "--id", "1", "--signer", "1"],
      "manufacturer #1 has no pending account change",
    ],
  ];
  for (const [what, args, message] of oneLine) {
    it(`rejects ${what} in one line`, function () {
      const run = hardhat(args, env);
      expect(run.status).to.equal(1);
      const lines = errorLines(run);
      expect(lines, run.stderr).to.have.length(1);
      expect(lines[0]).to.contain(message);
    });
  }

  it("manufacturer:propose-account proposes the dev manufacturer's next account", function () {
    const next = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
    const run = hardhat(["manufacturer:propose-account", "--account", next, "--json"]);
    expect(run.status, run.stderr).to.equal(0);
    expect(JSON.parse(run.stdout)).to.include({ id: 1, newAccount: next });
  });

  it("device:status of an unregistered device fails in one line with exit code 1 (JSON with --json); manufacturer:list shows the dev manufacturer", function () {
    const status = hardhat(["device:status", "--device", "SN-404"]);
    expect(status.status, status.stderr).to.equal(1);
    expect(errorLines(status)).to.have.length(1);
    expect(errorLines(status)[0]).to.match(/^Error: device 0x[0-9a-f]{64} is not registered on network "hardhat"$/);
    const json = hardhat(["device:status", "--device", "SN-404", "--json"]);
    expect(json.status).to.equal(1);
    expect(JSON.parse(json.stdout).error).to.match(/is not registered on network "hardhat"/);
    const list = hardhat(["manufacturer:list", "--json"]);
    expect(JSON.parse(list.stdout)[0]).to.include({ id: 1, active: true });
  });
});
