import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import { AbiCoder, Wallet, keccak256, toUtf8Bytes } from "ethers";

import { deviceIdOf, labelId, manufacturerIdOf, readFleetFile, resolveDeviceId } from "../../src/devices/fleet";
import { loadDeviceKey, saveDeviceKey } from "../../src/devices/keystore";
import { UserError } from "../../src/errors";
import { buildWhitelist, deviceLeaf, rootFromProof } from "../../src/merkle/whitelist";
import { generateFleet } from "../../src/devices/generate";

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
      readFleetFile(file, 1);
    } catch (error) {
      expect(error).to.be.instanceOf(UserError);
      return (error as Error).message;
    }
    throw new Error("expected the file to be rejected");
  }

  it("reads a CSV fleet file, deriving each device's id (in the manufacturer's namespace) and key address", async function () {
    const file = write(
      "ok.csv",
      `uid,publicKey,type\nSN-1,${key(1).signingKey.publicKey},sensor\nSN-2,${key(2).signingKey.compressedPublicKey},3\n`,
    );
    const devices = readFleetFile(file, 7);
    expect(devices.map((d) => [d.uid, d.deviceId, d.deviceKey, d.deviceType, d.line])).to.deep.equal([
      ["SN-1", deviceIdOf(7, "SN-1"), key(1).address, 1, 2],
      ["SN-2", deviceIdOf(7, "SN-2"), key(2).address, 3, 3],
    ]);
    expect(await resolveDeviceId(deviceIdOf(7, "SN-1"))).to.equal(deviceIdOf(7, "SN-1"));
    await expect(resolveDeviceId("SN-1")).to.be.rejectedWith(UserError, "name it by its 0x id");
    // 0x-hex of the wrong length is a mistyped id, not a raw unique id (whose id would be another one).
    const registry = { manufacturerCount: async () => 1n, getStatuses: async (ids: string[]) => ids.map(() => 0n) };
    for (const wrong of ["0x1234", `0x${"ab".repeat(31)}`, "0x"]) {
      await expect(resolveDeviceId(wrong, { registry }), wrong).to.be.rejectedWith(
        UserError,
        `"${wrong}" is not a device id (${(wrong.length - 2) / 2} bytes): a device id is 0x and 64 hex digits (32 bytes)`,
      );
    }
  });

  it("a device id is the manufacturer id over the low 224 bits of keccak256(uid)", function () {
    const hash = keccak256(toUtf8Bytes("SN-1"));
    expect(deviceIdOf(1, "SN-1")).to.equal(`0x00000001${hash.slice(10)}`);
    expect(deviceIdOf(0xfffffffen, "SN-1")).to.equal(`0xfffffffe${hash.slice(10)}`);
    expect(manufacturerIdOf(deviceIdOf(42, "SN-1"))).to.equal(42);
    expect(deviceIdOf(1, "SN-1")).to.not.equal(deviceIdOf(2, "SN-1"));
    expect(() => deviceIdOf(0, "SN-1")).to.throw(UserError, "is not 1 to 2^32 - 1");
    expect(() => deviceIdOf(2n ** 32n, "SN-1")).to.throw(UserError, "is not 1 to 2^32 - 1");
    // Labels that are not registry devices (the AS's locks) keep the plain hash.
    expect(labelId("LOCK-1")).to.equal(keccak256(toUtf8Bytes("LOCK-1")));
    expect(labelId(hash.toUpperCase().replace("0X", "0x"))).to.equal(hash);
  });

  it("resolves a raw unique id through a keystore, or the one manufacturer that registered it", async function () {
    saveDeviceKey(dir, { uid: "SN-5", deviceId: deviceIdOf(3, "SN-5") }, key(5), "pw");
    fs.writeFileSync(path.join(dir, "junk.json"), "{ not json");
    expect(await resolveDeviceId("SN-5", { keystoreDir: dir })).to.equal(deviceIdOf(3, "SN-5"));
    const registry = (count: number, registeredBy: number[]) => ({
      manufacturerCount: async () => BigInt(count),
      getStatuses: async (ids: string[]) => ids.map((id) => (registeredBy.includes(manufacturerIdOf(id)) ? 1n : 0n)),
    });
    expect(await resolveDeviceId("SN-9", { keystoreDir: dir, registry: registry(3, [2]) })).to.equal(
      deviceIdOf(2, "SN-9"),
    );
    // A single manufacturer: its namespace, registered or not (so "not registered" can be said).
    expect(await resolveDeviceId("SN-9", { registry: registry(1, []) })).to.equal(deviceIdOf(1, "SN-9"));
    await expect(resolveDeviceId("SN-9", { registry: registry(3, []) })).to.be.rejectedWith(
      UserError,
      'device "SN-9" is registered by none of the 3 manufacturers',
    );
    await expect(resolveDeviceId("SN-9", { registry: registry(3, [1, 3]) })).to.be.rejectedWith(
      UserError,
      'device "SN-9" is registered by manufacturers 1, 3; name it by its 0x id',
    );
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

  it("parses CSV properly: a quoted uid with a comma or a quote is one field; line numbers stay right", function () {
    const file = write(
      "quoted.csv",
      [
        "uid,publicKey,type",
        `"SN-1, rev ""B""",${key(1).signingKey.publicKey},sensor`,
        "",
        `SN-2,${key(2).signingKey.publicKey},"toaster, large"`,
      ].join("\n"),
    );
    expect(problems(file)).to.contain('line 4: unknown device type "toaster, large"');
    fs.writeFileSync(file, `uid,publicKey,type\n"SN-1, rev ""B""",${key(1).signingKey.publicKey},sensor\n`);
    expect(readFleetFile(file, 1).map((d) => [d.uid, d.deviceId, d.line])).to.deep.equal([
      ['SN-1, rev "B"', deviceIdOf(1, 'SN-1, rev "B"'), 2],
    ]);
    expect(problems(write("open.csv", `uid,publicKey,type\nSN-1,0x04,sensor\n"SN-2,0x04,sensor\n`))).to.match(
      /open\.csv is not a valid CSV file: .*line 3/,
    );
    expect(problems(write("broken.json", '[\n  { "uid": "A",\n    "type": 1 }\n  { "uid": "B" }\n]'))).to.contain(
      "is not valid JSON: line 4 column 3",
    );
  });

  it("refuses an unknown CSV column or JSON key in one line naming it and the known ones", function () {
    const pub = key(1).signingKey.publicKey;
    const known = "(known: uid, publicKey, type, metadataHash, deviceId, deviceKey); nothing was sent";
    const misspelt = write(
      "misspelt.csv",
      `uid,publicKey,type,metadata_hash\nSN-1,${pub},sensor,0x${"ab".repeat(32)}\n`,
    );
    expect(problems(misspelt)).to.equal(`${misspelt}: line 1: unknown column "metadata_hash" ${known}`);
    const extra = write("extra.csv", `uid,publicKey,type,color\nSN-1,${pub},sensor,red\n`);
    expect(problems(extra)).to.equal(`${extra}: line 1: unknown column "color" ${known}`);
    const json = write(
      "lower.json",
      `[\n  { "uid": "A", "publicKey": "${pub}", "type": 1 },\n  { "uid": "B", "publicKey": "${key(2).signingKey.publicKey}", "type": 1, "metadatahash": "0x${"ab".repeat(32)}" }\n]\n`,
    );
    expect(problems(json)).to.equal(`${json}: line 3: unknown key "metadatahash" ${known}`);
    // What device:generate writes is read back as is.
    const generated = write(
      "generated.json",
      JSON.stringify([{ uid: "A", deviceId: deviceIdOf(1, "A"), publicKey: pub, deviceKey: key(1).address, type: 1 }]),
    );
    expect(readFleetFile(generated, 1).map((d) => d.deviceKey)).to.deep.equal([key(1).address]);
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
    const foreign = write(
      "foreign.json",
      `[{ "uid": "A", "deviceId": "${deviceIdOf(2, "A")}", "publicKey": "${key(1).signingKey.publicKey}", "type": 1 }]`,
    );
    expect(problems(foreign)).to.contain(
      `line 1: deviceId ${deviceIdOf(2, "A")} is not manufacturer 1's id for uid "A" (${deviceIdOf(1, "A")}); was the fleet generated for manufacturer 2?`,
    );
  });

  it("keeps device keys only in encrypted keystores; a wrong password fails in one line", async function () {
    process.env.THINGLEDGER_KEYSTORE_SCRYPT_N = "1024";
    try {
      const fleet = await generateFleet(5, 3, dir, "correct horse", { scryptN: 1024, showProgress: false });
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
      expect(manufacturerIdOf(fleet.devices[0].deviceId)).to.equal(5);
      expect(readFleetFile(fleet.json, 5).map((d) => d.deviceKey)).to.deep.equal(fleet.devices.map((d) => d.deviceKey));
      const w = key(9);
      saveDeviceKey(dir, { uid: "X", deviceId: deviceIdOf(1, "X") }, w, "pw");
      expect(loadDeviceKey(dir, deviceIdOf(1, "X"), "pw").wallet.address).to.equal(w.address);
    } finally {
      delete process.env.THINGLEDGER_KEYSTORE_SCRYPT_N;
    }
  });

  it("whitelist proofs built by index all lead to the root; the fast leaf encoding equals the ABI one", function () {
    const devices = Array.from({ length: 37 }, (_, i) => ({
      deviceId: deviceIdOf(7, `D${i}`),
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
