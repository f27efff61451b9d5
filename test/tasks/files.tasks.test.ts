import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import { Wallet, keccak256, toUtf8Bytes } from "ethers";
import hre from "hardhat";

import { readFleetFile } from "../../src/devices/fleet";
import { deviceStatus, registerFleet } from "../../src/registry";
import { loadSystem } from "../../tasks/support/deployments";
import { coverageRunning } from "../shared/gas";

const OTHER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

/** Issue 17, item 6: no silent loss on disk. In-process: the library and the tasks through hre.run. */
describe("files: metadata is stored or refused, outputs are never overwritten silently (in-process)", function () {
  this.timeout(300_000);
  let scratch: string;
  let serial = 0;
  before(function () {
    // hre.run compiles first, which would overwrite coverage's instrumented build.
    if (coverageRunning()) this.skip();
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-files-"));
  });
  after(() => {
    if (scratch !== undefined) fs.rmSync(scratch, { recursive: true, force: true });
  });

  /** A fresh folder with a fleet CSV of `count` new devices; `meta(i)` gives a device's metadata column. */
  function fleetCsv(count: number, meta: (i: number) => string = () => "") {
    const dir = path.join(scratch, `case-${++serial}`);
    fs.mkdirSync(dir);
    const rows = Array.from({ length: count }, (_, i) => {
      const key = Wallet.createRandom();
      return `SN-${serial}-${i},${key.signingKey.publicKey},sensor,${meta(i)}`;
    });
    const file = path.join(dir, "devices.csv");
    fs.writeFileSync(file, `uid,publicKey,type,metadataHash\n${rows.join("\n")}\n`);
    return { dir, file };
  }

  async function setup() {
    const ctx = await loadSystem(hre, ["ThingToken", "DeviceRegistry"]);
    const [manufacturer] = await hre.ethers.getSigners();
    return { ctx, manufacturer };
  }

  it("batch mode stores each listed metadataHash on chain (those devices one a transaction), the rest in batches", async function () {
    const { ctx, manufacturer } = await setup();
    const hashes = [keccak256(toUtf8Bytes("model A, rev 2")), "", keccak256(toUtf8Bytes("model B")), ""];
    const { file } = fleetCsv(4, (i) => hashes[i]);
    const devices = readFleetFile(file, 1);
    const result = await registerFleet(ctx, manufacturer, devices, {
      merkle: false,
      batchSize: 10,
      showProgress: false,
    });
    expect(result).to.include({ registered: 4, skipped: 0 });
    // The two without metadata in one batch, the two with metadata one each (plus a possible fee top-up).
    expect(result.transactions).to.be.oneOf([3, 4]);
    const stored = await Promise.all(devices.map(async (d) => (await deviceStatus(ctx, d.deviceId)).metadataHash));
    expect(stored).to.deep.equal(hashes.map((h) => (h === "" ? `0x${"0".repeat(64)}` : h)));
  });

  it("Merkle mode refuses a metadataHash column in one line: no file written, nothing sent", async function () {
    const { ctx, manufacturer } = await setup();
    const { dir, file } = fleetCsv(3, (i) => (i === 1 ? keccak256(toUtf8Bytes("meta")) : ""));
    const block = await hre.ethers.provider.getBlockNumber();
    await expect(
      registerFleet(ctx, manufacturer, readFleetFile(file, 1), {
        merkle: true,
        whitelistOut: path.join(dir, "wl", "whitelist.json"),
        showProgress: false,
      }),
    ).to.be.rejectedWith(
      "line 3: a Merkle whitelist cannot carry metadataHash (its leaf is id, key, type); drop the column, or register without --merkle to store it; nothing was written or sent",
    );
    expect(fs.readdirSync(dir)).to.deep.equal(["devices.csv"]);
    expect(await hre.ethers.provider.getBlockNumber()).to.equal(block);
  });

  it("a refused register --merkle writes no whitelist files; existing ones need --force", async function () {
    const { ctx, manufacturer } = await setup();
    const { dir, file } = fleetCsv(3);
    const devices = readFleetFile(file, 1);
    await registerFleet(ctx, manufacturer, devices.slice(0, 1), { merkle: false, batchSize: 10, showProgress: false });
    const out = path.join(dir, "out", "whitelist.json");
    const block = await hre.ethers.provider.getBlockNumber();
    // One device is already registered: refused after the tree is built, and nothing of it is left.
    await expect(
      registerFleet(ctx, manufacturer, devices, { merkle: true, whitelistOut: out, showProgress: false }),
    ).to.be.rejectedWith(/is already registered \(1 in all\); a whitelist must list new devices only/);
    expect(fs.readdirSync(dir)).to.deep.equal(["devices.csv"]);
    expect(await hre.ethers.provider.getBlockNumber()).to.equal(block);

    // An existing whitelist file is refused before anything; with force, all three are replaced.
    fs.mkdirSync(path.dirname(out));
    fs.writeFileSync(path.join(dir, "out", "whitelist.csv"), "keep me\n");
    const fresh = devices.slice(1);
    await expect(
      registerFleet(ctx, manufacturer, fresh, { merkle: true, whitelistOut: out, showProgress: false }),
    ).to.be.rejectedWith(
      `--whitelist-out: ${path.join(dir, "out", "whitelist.csv")} exists; pass --force to overwrite it`,
    );
    expect(fs.readdirSync(path.dirname(out))).to.deep.equal(["whitelist.csv"]);
    expect(fs.readFileSync(path.join(dir, "out", "whitelist.csv"), "utf8")).to.equal("keep me\n");
    expect(await hre.ethers.provider.getBlockNumber()).to.equal(block);
    const done = await registerFleet(ctx, manufacturer, fresh, {
      merkle: true,
      whitelistOut: out,
      force: true,
      showProgress: false,
    });
    expect(done.registered).to.equal(2);
    expect(fs.readdirSync(path.dirname(out)).sort()).to.deep.equal([
      "whitelist.csv",
      "whitelist.json",
      "whitelist.tree",
    ]);
    expect(JSON.parse(fs.readFileSync(out, "utf8")).root).to.equal(done.root);
    expect(fs.readFileSync(path.join(dir, "out", "whitelist.csv"), "utf8")).to.not.contain("keep me");
    // A re-run (same devices, same root, same files) needs no --force, and charges nothing.
    const json = fs.readFileSync(out, "utf8");
    const again = await registerFleet(ctx, manufacturer, fresh, {
      merkle: true,
      whitelistOut: out,
      showProgress: false,
    });
    expect(again).to.include({ registered: 0, transactions: 0, root: done.root });
    expect(fs.readFileSync(out, "utf8")).to.equal(json);
  });

  it("tasks with --out refuse an existing file in one line, leave it as it was, and send nothing", async function () {
    const existing = path.join(scratch, "existing.json");
    fs.writeFileSync(existing, "precious\n");
    const block = await hre.ethers.provider.getBlockNumber();
    const refusal = `--out: ${existing} exists; pass --force to overwrite it`;
    const runs: [string, Record<string, unknown>][] = [
      ["wallet:propose", { wallet: OTHER, out: existing, to: OTHER, value: "1" }],
      ["wallet:set-limit", { wallet: OTHER, asset: "eth", limit: "1", out: existing }],
      ["channel:open", { as: OTHER, clients: OTHER, deposit: "0.1", expiry: "1h", out: existing }],
      [
        "reputation:report",
        {
          reporter: `0x${"11".repeat(32)}`,
          keystore: scratch,
          subject: `0x${"22".repeat(32)}`,
          interaction: "ride-1",
          rating: "90",
          evidence: `0x${"33".repeat(65)}`,
          out: existing,
        },
      ],
      ["device:generate", { count: "1", out: scratch, manufacturer: "1" }],
    ];
    fs.writeFileSync(path.join(scratch, "devices.csv"), "uid,publicKey,type\n");
    for (const [name, args] of runs) {
      const error = (await hre.run(name, args).catch((e: unknown) => e)) as Error;
      const expected =
        name === "device:generate"
          ? `${scratch} already holds a fleet (devices.csv); choose another folder, or pass --force to replace it (its keystores are kept aside)`
          : refusal;
      expect(error.message, name).to.equal(expected);
    }
    expect(fs.readFileSync(existing, "utf8")).to.equal("precious\n");
    expect(fs.readFileSync(path.join(scratch, "devices.csv"), "utf8")).to.equal("uid,publicKey,type\n");
    expect(await hre.ethers.provider.getBlockNumber()).to.equal(block);
  });

  it("--out naming a directory is refused in one line, with or without --force, and the folder is left as it was", async function () {
    const folder = path.join(scratch, "out-folder");
    fs.mkdirSync(folder);
    fs.writeFileSync(path.join(folder, "keep.txt"), "kept\n");
    const block = await hre.ethers.provider.getBlockNumber();
    for (const force of [true, false]) {
      const error = (await hre
        .run("token:permit", { spender: OTHER, amount: "1", out: folder, force })
        .catch((e: unknown) => e)) as Error;
      expect(error.message, `force ${force}`).to.equal(`--out: ${folder} is a directory; name a file`);
      const proposal = (await hre
        .run("wallet:propose", { wallet: OTHER, out: folder, to: OTHER, value: "1", force })
        .catch((e: unknown) => e)) as Error;
      expect(proposal.message, `wallet:propose, force ${force}`).to.equal(
        `--out: ${folder} is a directory; name a file`,
      );
    }
    expect(fs.readdirSync(folder)).to.deep.equal(["keep.txt"]);
    expect(await hre.ethers.provider.getBlockNumber()).to.equal(block);
  });
});
