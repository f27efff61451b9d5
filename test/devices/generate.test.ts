import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";

import { generateFleet } from "../../src/devices/generate";
import { PASSWORD_ENV, loadDeviceKey, newKeystorePassword } from "../../src/devices/keystore";
import { UserError } from "../../src/errors";
import { ROOT } from "../shared/cli";

/** A scripted terminal: answers the prompts in order and records them. */
function scripted(...answers: string[]) {
  const prompts: string[] = [];
  const reader = (prompt: string) => {
    prompts.push(prompt);
    return Promise.resolve(answers.shift() ?? "");
  };
  return { reader, prompts };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected a rejection");
}

describe("device generation on disk: no overwrite, no orphans, confirmed passwords", function () {
  this.timeout(120_000);
  let scratch: string;
  beforeEach(() => (scratch = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-generate-"))));
  afterEach(() => fs.rmSync(scratch, { recursive: true, force: true }));

  describe("a new keystore password", function () {
    let saved: string | undefined;
    beforeEach(() => {
      saved = process.env[PASSWORD_ENV];
      delete process.env[PASSWORD_ENV];
    });
    afterEach(() => {
      if (saved === undefined) delete process.env[PASSWORD_ENV];
      else process.env[PASSWORD_ENV] = saved;
    });

    it("is asked twice on a terminal and returned when both answers match", async function () {
      const t = scripted("s3cret", "s3cret");
      expect(await newKeystorePassword(t.reader)).to.equal("s3cret");
      expect(t.prompts).to.deep.equal(["New device keystore password: ", "Repeat the password: "]);
    });

    it("is refused in one line when the two answers differ, or when it is empty", async function () {
      const typo = await rejection(newKeystorePassword(scripted("s3cret", "s3cert").reader));
      expect(typo).to.be.instanceOf(UserError);
      expect(typo.message).to.equal("the two passwords differ; nothing was written");
      const empty = await rejection(newKeystorePassword(scripted("").reader));
      expect(empty.message).to.equal("an empty keystore password is not allowed");
    });

    it("comes from THINGLEDGER_KEYSTORE_PASSWORD without any prompt; without either, one line", async function () {
      process.env[PASSWORD_ENV] = "from-env";
      const t = scripted("never", "asked");
      expect(await newKeystorePassword(t.reader)).to.equal("from-env");
      expect(t.prompts).to.deep.equal([]);
      delete process.env[PASSWORD_ENV];
      const none = await rejection(newKeystorePassword(undefined));
      expect(none.message).to.equal(
        "no keystore password: set THINGLEDGER_KEYSTORE_PASSWORD, or run on a terminal to be asked for it",
      );
    });
  });

  it("encrypts on several threads with the scrypt N asked for, and refuses a folder that holds a fleet", async function () {
    const out = path.join(scratch, "fleet");
    const fleet = await generateFleet(1, 6, out, "first", { scryptN: 1024, showProgress: false, threads: 2 });
    const names = fs.readdirSync(out).sort();
    expect(names).to.deep.equal(["devices.csv", "devices.json", "keystore"]);
    const keystores = fs.readdirSync(fleet.keystoreDir).sort();
    expect(keystores).to.have.length(6);
    for (const d of fleet.devices) {
      expect(loadDeviceKey(fleet.keystoreDir, d.deviceId, "first").wallet.address).to.equal(d.deviceKey);
      const stored = JSON.parse(fs.readFileSync(path.join(fleet.keystoreDir, `${d.deviceId}.json`), "utf8"));
      expect(stored.Crypto.kdfparams.n).to.equal(1024);
    }
    const csv = fs.readFileSync(fleet.csv, "utf8");
    const again = await rejection(generateFleet(1, 2, out, "second", { scryptN: 1024, showProgress: false }));
    expect(again).to.be.instanceOf(UserError);
    expect(again.message).to.equal(
      `${out} already holds a fleet (devices.csv, devices.json, keystore); choose another folder, or pass --force to replace it (its keystores are kept aside)`,
    );
    // Nothing changed: the same fleet file, the same keystores, no staging folder.
    expect(fs.readFileSync(fleet.csv, "utf8")).to.equal(csv);
    expect(fs.readdirSync(fleet.keystoreDir).sort()).to.deep.equal(keystores);
    expect(fs.readdirSync(out).sort()).to.deep.equal(names);
  });

  it("with force, replaces the fleet and keeps the old keystores aside: never two passwords in one folder", async function () {
    const out = path.join(scratch, "fleet");
    const old = await generateFleet(1, 3, out, "first", { scryptN: 1024, showProgress: false });
    const fresh = await generateFleet(1, 2, out, "second", { scryptN: 1024, showProgress: false, force: true });
    expect(fresh.replacedKeystores).to.match(/keystore\.old-/);
    expect(fs.readdirSync(fresh.keystoreDir)).to.have.length(2);
    for (const d of fresh.devices) loadDeviceKey(fresh.keystoreDir, d.deviceId, "second");
    for (const d of old.devices) loadDeviceKey(fresh.replacedKeystores!, d.deviceId, "first");
    expect(fs.readFileSync(fresh.csv, "utf8").trim().split("\n")).to.have.length(3);
  });

  it("Ctrl-C during device:generate leaves no keystores and no fleet file behind (a real SIGINT)", async function () {
    const out = path.join(scratch, "fleet");
    const child = spawn(
      process.execPath,
      [
        path.join(ROOT, "node_modules", "hardhat", "internal", "cli", "cli.js"),
        "device:generate",
        "--manufacturer",
        "1",
        "--count",
        "5000",
        "--out",
        out,
        "--dev-scrypt",
      ],
      { cwd: ROOT, env: { ...process.env, [PASSWORD_ENV]: "pw", FORCE_COLOR: "0" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      // Wait until keystores are being written in the staging folder, then interrupt.
      const staged = () =>
        fs.existsSync(out)
          ? fs
              .readdirSync(out)
              .filter((n) => n.startsWith(".generating-"))
              .flatMap((n) => {
                const dir = path.join(out, n, "keystore");
                return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
              })
          : [];
      const deadline = Date.now() + 90_000;
      while (staged().length < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(staged().length, stderr).to.be.at.least(20);
      child.kill("SIGINT");
      expect(await exited).to.equal(130);
    } finally {
      child.kill("SIGKILL");
    }
    expect(stderr).to.contain(`device:generate interrupted; nothing was written to ${out}. Re-run it.`);
    expect(fs.readdirSync(out)).to.deep.equal([]);
  });
});
