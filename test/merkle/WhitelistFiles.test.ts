import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import { Wallet, hexlify, keccak256, toUtf8Bytes } from "ethers";
import hre, { ethers } from "hardhat";

import { parseRegisterOptions } from "../../src/cli/devices";
import { readFleetFile } from "../../src/devices/fleet";
import { activate, deviceStatus, registerFleet } from "../../src/registry";
import { treeWhitelistEntry } from "../../src/merkle/lookup";
import { TreeFile } from "../../src/merkle/tree";
import { buildWhitelist, whitelistFiles, writeWhitelist } from "../../src/merkle/whitelist";
import type { WhitelistFiles, WhitelistManifest } from "../../src/merkle/whitelist";
import { loadSystem } from "../../tasks/support/deployments";
import type { MerkleProofMock } from "../../typechain-types";
import { coverageRunning } from "../shared/gas";

function device(i: number) {
  return {
    deviceId: keccak256(toUtf8Bytes(`wl-file-device-${i}`)),
    deviceKey: hexlify(keccak256(toUtf8Bytes(`wl-file-key-${i}`))).slice(0, 42),
    deviceType: 1 + (i % 5),
  };
}

/** First, last, and a few spread between. */
function someIndexes(size: number): number[] {
  return [...new Set([0, size - 1, size >> 1, Math.floor(size / 3), (size * 7) >> 3])];
}

function manifestOf(files: WhitelistFiles): WhitelistManifest {
  return JSON.parse(fs.readFileSync(files.json, "utf8")) as WhitelistManifest;
}

/** Writes a `tree` whitelist of `size` devices and returns its files and the in-memory reference. */
function treeWhitelist(dir: string, size: number, manufacturerId = 4) {
  const devices = Array.from({ length: size }, (_, i) => device(i + size));
  const files = whitelistFiles(path.join(dir, `w${size}.json`), "tree");
  const written = writeWhitelist(() => devices, manufacturerId, files, "tree");
  return { devices, files, written, expected: buildWhitelist(devices, manufacturerId) };
}

describe("Whitelist files: --proofs tree (manifest, tree file, device file)", function () {
  this.timeout(120_000);
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-wlfiles-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("writes a manifest, a tree file and a device file (no proof text); each device's entry, looked up by id, is buildWhitelist's at sizes 1, 2, 3, 5, 9, 17 and 65,537 (2^k + 1)", function () {
    for (const size of [1, 2, 3, 5, 9, 17, 65_537]) {
      const { devices, files, written, expected } = treeWhitelist(dir, size);
      expect(written).to.deep.equal({ root: expected.root, capacity: size });
      expect(Object.keys(files).sort()).to.deep.equal(["devices", "json", "tree"]);
      expect(manifestOf(files)).to.deep.equal({
        kind: "thingledger/whitelist",
        manufacturerId: 4,
        root: expected.root,
        capacity: size,
        proofs: "tree",
      });
      expect(fs.statSync(files.devices as string).size).to.equal(16 + 56 * size);
      expect(fs.statSync(files.tree).size).to.be.below(16 + 32 * 2 * size + 32 * 64);
      for (const i of someIndexes(size)) {
        const entry = treeWhitelistEntry(files.json, manifestOf(files), devices[i].deviceId);
        expect(entry, `size ${size}, index ${i}`).to.deep.equal(expected.entries[i]);
      }
      expect(treeWhitelistEntry(files.json, manifestOf(files), device(size * 10 + 3).deviceId)).to.equal(undefined);
    }
  });

  it("a damaged, truncated or mismatched file gives one line naming it, never a wrong proof", function () {
    const { devices, files } = treeWhitelist(dir, 9);
    const manifest = manifestOf(files);
    const lookup = () => treeWhitelistEntry(files.json, manifest, devices[8].deviceId);
    const deviceFile = files.devices as string;
    const pristine = { devices: fs.readFileSync(deviceFile), tree: fs.readFileSync(files.tree) };
    const restore = () => {
      fs.writeFileSync(deviceFile, pristine.devices);
      fs.writeFileSync(files.tree, pristine.tree);
    };
    const oneLine = (fn: () => unknown, message: string) => {
      expect(fn).to.throw(message);
      try {
        fn();
      } catch (error) {
        expect((error as Error).message).to.not.contain("\n");
      }
    };

    fs.truncateSync(deviceFile, 16 + 56 * 8 + 10);
    oneLine(lookup, `${deviceFile} is truncated: 9 devices need 520 bytes, found 474`);
    restore();
    fs.writeFileSync(deviceFile, "not a device file at all");
    oneLine(lookup, `${deviceFile} is not a whitelist device file`);
    fs.rmSync(deviceFile);
    oneLine(lookup, `${deviceFile} does not exist: the whitelist's device file is missing`);
    restore();

    fs.truncateSync(files.tree, 100);
    oneLine(lookup, `${files.tree} is truncated: 9 leaves need`);
    restore();
    // A flipped byte in the last device's leaf, in one of its proof's nodes, or in its record.
    const tree = Buffer.from(pristine.tree);
    tree[16 + 32 * 8] ^= 1;
    fs.writeFileSync(files.tree, tree);
    oneLine(lookup, `${deviceFile} and ${files.tree} disagree at device 8: one of them is damaged`);
    const node = Buffer.from(pristine.tree);
    // Levels of 9, 5, 3, 2 and 1 nodes: device 8's only proof node is level 3's node 0.
    node[16 + 32 * (9 + 5 + 3)] ^= 1;
    fs.writeFileSync(files.tree, node);
    oneLine(lookup, `${files.tree} is damaged: device 8's proof does not lead to its root`);
    restore();
    const record = Buffer.from(pristine.devices);
    record[16 + 56 * 8 + 40] ^= 1; // the last device's key
    fs.writeFileSync(deviceFile, record);
    oneLine(lookup, `${deviceFile} and ${files.tree} disagree at device 8: one of them is damaged`);
    restore();

    // Files of another whitelist beside this manifest.
    const other = treeWhitelist(dir, 10);
    fs.copyFileSync(other.files.devices as string, deviceFile);
    oneLine(lookup, `${deviceFile} holds 10 devices, but ${files.json} lists 9: the files do not match`);
    restore();
    fs.copyFileSync(treeWhitelist(dir, 9, 5).files.tree, files.tree);
    oneLine(lookup, `${files.tree} is not the tree of ${files.json}: its root is`);
    restore();
    expect(lookup()?.index).to.equal(8);
  });

  it("device:register's --proofs: json or tree with --merkle; anything else, or without --merkle, is refused in one line", function () {
    const args = { merkle: true, batchSize: "100", json: true };
    expect(parseRegisterOptions({ ...args, proofs: "tree" })).to.include({ merkle: true, proofs: "tree" });
    expect(parseRegisterOptions({ ...args, proofs: "json" })).to.include({ merkle: true, proofs: "json" });
    expect(parseRegisterOptions(args)).to.include({ merkle: true, proofs: undefined });
    expect(() => parseRegisterOptions({ ...args, proofs: "hex" })).to.throw(
      '--proofs: "hex" is neither json (every proof as hex) nor tree (the tree file)',
    );
    expect(() => parseRegisterOptions({ ...args, merkle: false, proofs: "tree" })).to.throw(
      "--proofs applies to --merkle only (a whitelist's proofs)",
    );
  });

  describe("on chain", function () {
    let mock: MerkleProofMock;
    before(async function () {
      mock = (await (await ethers.getContractFactory("MerkleProofMock")).deploy()) as unknown as MerkleProofMock;
    });

    it("proofs read from a tree whitelist verify with OpenZeppelin MerkleProof against its root (first, last, random; sizes 1, 2, 3, 5, 33)", async function () {
      for (const size of [1, 2, 3, 5, 33]) {
        const { devices, files } = treeWhitelist(dir, size);
        const manifest = manifestOf(files);
        const tree = TreeFile.open(files.tree);
        try {
          for (const i of someIndexes(size)) {
            const entry = treeWhitelistEntry(files.json, manifest, devices[i].deviceId);
            if (entry === undefined) throw new Error(`device ${i} not found`);
            expect(await mock.verify(entry.proof, manifest.root, entry.leaf), `size ${size}, index ${i}`).to.equal(
              true,
            );
            expect(entry.proof).to.deep.equal(tree.proof(i));
            if (size > 1) {
              const wrong = tree.proof((i + 1) % size);
              expect(await mock.verify(wrong, manifest.root, entry.leaf)).to.equal(wrong.join() === entry.proof.join());
            }
          }
        } finally {
          tree.close();
        }
      }
    });

    it("registerFleet with proofs: tree commits the root; device activation by proof reads the tree and device files (first and last device); a damaged file is refused in one line", async function () {
      // hre's contracts are the deployment's; coverage recompiles them (see files.tasks.test.ts).
      if (coverageRunning()) this.skip();
      const ctx = await loadSystem(hre, ["ThingToken", "DeviceRegistry"]);
      // The manufacturer (the deployer, who holds THING) also owns the devices: it pays the activation fees.
      const [manufacturer] = await hre.ethers.getSigners();
      const owner = manufacturer;
      const keys = Array.from({ length: 5 }, () => Wallet.createRandom());
      const file = path.join(dir, "devices.csv");
      const uid = `WLF-${Date.now()}`;
      const rows = keys.map((k, i) => `${uid}-${i},${k.signingKey.publicKey},sensor`);
      fs.writeFileSync(file, `uid,publicKey,type\n${rows.join("\n")}\n`);
      const fleet = readFleetFile(file, 1);
      const whitelistOut = path.join(dir, "out", "whitelist.json");
      const result = await registerFleet(ctx, manufacturer, fleet, {
        merkle: true,
        whitelistOut,
        proofs: "tree",
        showProgress: false,
      });
      expect(result).to.include({ mode: "merkle", proofs: "tree", registered: 5 });
      expect(fs.readdirSync(path.dirname(whitelistOut)).sort()).to.deep.equal([
        "whitelist.devices",
        "whitelist.json",
        "whitelist.tree",
      ]);
      expect(manifestOf({ json: whitelistOut, tree: "" }).root).to.equal(result.root);
      for (const i of [0, 4]) {
        const wallet = new Wallet(keys[i].privateKey);
        const activated = await activate(ctx, owner, wallet, fleet[i].deviceId, whitelistOut);
        expect(activated).to.include({ deviceId: fleet[i].deviceId, fromWhitelist: true });
        const info = await deviceStatus(ctx, fleet[i].deviceId);
        expect([info.status, info.owner, info.deviceKey]).to.deep.equal(["active", owner.address, wallet.address]);
      }
      const devicesFile = path.join(dir, "out", "whitelist.devices");
      fs.truncateSync(devicesFile, 100);
      await expect(
        activate(ctx, owner, new Wallet(keys[2].privateKey), fleet[2].deviceId, whitelistOut),
      ).to.be.rejectedWith(`${devicesFile} is truncated: 5 devices need 296 bytes, found 100`);
    });
  });
});
