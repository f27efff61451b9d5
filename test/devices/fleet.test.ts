import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import { AbiCoder, Wallet, keccak256 } from "ethers";

import { readFleetFile, resolveDeviceId, deviceIdOf } from "../../src/devices/fleet";
import { loadDeviceKey, saveDeviceKey } from "../../src/devices/keystore";
import { UserError } from "../../src/errors";
import { buildWhitelist, deviceLeaf, rootFromProof } from "../../src/merkle/whitelist";
import { generateFleet } from "../../src/registry";

describe("off-chain device tools", function () {
  let dir: string;
  const key = (i: number) => new Wallet(`0x${(i + 1).toString(16).padStart(64, "0")}`);

  beforeEach(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-fleet-"));
  });
  afterEach(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function write(name: string, text: string): string {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  }

  function problems(file: string): string {
    try {
      readFleetFile(file);
    } catch (error) {
      expect(error).to.be.instanceOf(UserError);
      return (error as Error).message;
    }
    throw new Error("expected the file to be rejected");
  }

  it("reads a CSV fleet file, deriving each device's id hash and key address", function () {
    const file = write(
      "ok.csv",
      `uid,publicKey,type\nSN-1,${key(1).signingKey.publicKey},sensor\nSN-2,${key(2).signingKey.compressedPublicKey},3\n`,
    );
    const devices = readFleetFile(file);
    expect(devices.map((d) => [d.uid, d.deviceId, d.deviceKey, d.deviceType, d.line])).to.deep.equal([
      ["SN-1", deviceIdOf("SN-1"), key(1).address, 1, 2],
      ["SN-2", deviceIdOf("SN-2"), key(2).address, 3, 3],
    ]);
    expect(resolveDeviceId("SN-1")).to.equal(deviceIdOf("SN-1"));
    expect(resolveDeviceId(deviceIdOf("SN-1"))).to.equal(deviceIdOf("SN-1"));
  });

  it("reports every bad row with its line number: bad hex, wrong key length, unknown type, duplicates", function () {
    const pub = key(1).signingKey.publicKey;
    const file = write(
      "bad.csv",
      [
        "uid,publicKey,type",
        `SN-1,${pub},sensor`,
        "SN-2,0xZZ12,sensor",
        `SN-3,${pub.slice(0, 60)},sensor`,
        `SN-4,${key(4).signingKey.publicKey},toaster`,
        `SN-1,${key(5).signingKey.publicKey},sensor`,
        `SN-6,${pub},sensor`,
        `,${key(7).signingKey.publicKey},sensor`,
        `SN-8,0x04${"00".repeat(64)},sensor`,
      ].join("\n"),
    );
    const message = problems(file);
    expect(message).to.contain("7 problem(s), nothing was sent");
    expect(message).to.contain('line 3: publicKey "0xZZ12" is not hex');
    expect(message).to.contain("line 4: publicKey has 29 bytes");
    expect(message).to.contain('line 5: unknown device type "toaster"');
    expect(message).to.contain('line 6: duplicate uid "SN-1" (first on line 2)');
    expect(message).to.contain("line 7: duplicate publicKey (first on line 2)");
    expect(message).to.contain("line 8: uid is missing");
    expect(message).to.contain("line 9: publicKey is not a point on secp256k1");
  });

  it("reads JSON fleet files with line numbers, and rejects malformed files in one line", function () {
    const file = write(
      "fleet.json",
      `[\n  { "uid": "A", "publicKey": "${key(1).signingKey.publicKey}", "type": 1 },\n  { "uid": "B", "publicKey": "${key(2).signingKey.publicKey}", "type": 99 }\n]\n`,
    );
    expect(problems(file)).to.contain('line 3: unknown device type "99"');
    expect(problems(write("x.json", "{ nope"))).to.contain("is not valid JSON");
    expect(problems(write("x.csv", "id,key\n1,2\n"))).to.contain("line 1: the CSV header must name the columns");
    expect(problems(write("empty.csv", "uid,publicKey,type\n"))).to.contain("lists no devices");
    expect(problems(path.join(dir, "missing.csv"))).to.contain("does not exist");
  });

  it("keeps device keys only in encrypted keystores; a wrong password fails in one line", function () {
    process.env.THINGLEDGER_KEYSTORE_SCRYPT_N = "1024";
    try {
      const fleet = generateFleet(3, dir, "correct horse", undefined, false);
      const everything = [
        fleet.csv,
        fleet.json,
        ...fs.readdirSync(fleet.keystoreDir).map((f) => path.join(fleet.keystoreDir, f)),
      ]
        .map((f) => fs.readFileSync(f, "utf8"))
        .join("\n");
      for (const d of fleet.devices) {
        const { wallet, meta } = loadDeviceKey(fleet.keystoreDir, d.deviceId, "correct horse");
        expect(wallet.address).to.equal(d.deviceKey);
        expect(meta.uid).to.equal(d.uid);
        expect(everything).to.not.contain(wallet.privateKey.slice(2));
      }
      expect(() => loadDeviceKey(fleet.keystoreDir, fleet.devices[0].deviceId, "wrong")).to.throw(
        UserError,
        "wrong password",
      );
      expect(readFleetFile(fleet.csv).map((d) => d.deviceKey)).to.deep.equal(fleet.devices.map((d) => d.deviceKey));
      const w = key(9);
      saveDeviceKey(dir, { uid: "X", deviceId: deviceIdOf("X") }, w, "pw");
      expect(loadDeviceKey(dir, deviceIdOf("X"), "pw").wallet.address).to.equal(w.address);
    } finally {
      delete process.env.THINGLEDGER_KEYSTORE_SCRYPT_N;
    }
  });

  it("whitelist proofs built by index all lead to the root; the fast leaf encoding equals the ABI one", function () {
    const devices = Array.from({ length: 37 }, (_, i) => ({
      deviceId: deviceIdOf(`D${i}`),
      deviceKey: key(i).address,
      deviceType: 1 + (i % 6),
    }));
    const whitelist = buildWhitelist(devices, 7);
    whitelist.entries.forEach((e, i) => {
      // The reference encoding, with ethers' ABI coder, as DeviceLeaf.hash does on chain.
      const abi = AbiCoder.defaultAbiCoder().encode(
        ["bytes32", "address", "uint32", "uint32"],
        [devices[i].deviceId, devices[i].deviceKey, devices[i].deviceType, 7],
      );
      expect(e.leaf).to.equal(keccak256(keccak256(abi)));
      expect(deviceLeaf(devices[i], 7)).to.equal(e.leaf);
      expect(rootFromProof(e.leaf, e.proof)).to.equal(whitelist.root);
    });
    expect(() => buildWhitelist([], 1)).to.throw("at least one device");
  });
});
