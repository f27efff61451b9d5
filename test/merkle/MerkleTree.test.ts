import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import { getAddress, hexlify, keccak256, toUtf8Bytes } from "ethers";
import fc from "fast-check";
import { ethers } from "hardhat";
import { SimpleMerkleTree } from "@openzeppelin/merkle-tree";

import { buildGroup, clientLeaf } from "../../src/merkle/group";
import { MerkleTree, TreeFile, TreeFileWriter, rootFromProof, writeTreeFile } from "../../src/merkle/tree";
import { checksumAddress } from "../../src/chain/address";
import { buildWhitelist, readWhitelistDevices, whitelistCsv, writeWhitelist } from "../../src/merkle/whitelist";
import type { MerkleProofMock } from "../../typechain-types";

import { referenceTree, referenceWhitelist } from "./reference";

const leafSet = (maxLength: number) =>
  fc
    .uniqueArray(fc.uint8Array({ minLength: 32, maxLength: 32 }), {
      minLength: 1,
      maxLength,
      selector: (b) => Buffer.from(b).toString("hex"),
    })
    .map((raw) => raw.map((b) => Buffer.from(b)));

/** A proof that must not verify: one byte of one node flipped, or (for a single leaf) a node added. */
function wrongProof(proof: string[], pick: number): string[] {
  if (proof.length === 0) return [`0x${"11".repeat(32)}`];
  const k = pick % proof.length;
  const node = Buffer.from(proof[k].slice(2), "hex");
  node[pick % 32] ^= 0x01;
  return proof.map((p, i) => (i === k ? `0x${node.toString("hex")}` : p));
}

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-merkle-"));
}

function device(i: number) {
  return {
    deviceId: keccak256(toUtf8Bytes(`merkle-device-${i}`)),
    deviceKey: hexlify(keccak256(toUtf8Bytes(`merkle-key-${i}`))).slice(0, 42),
    deviceType: 1 + (i % 5),
  };
}

describe("Merkle tree builder (src/merkle/tree.ts)", function () {
  it("property: same root and proofs as merkletreejs with sorted pairs; every proof verifies with @openzeppelin/merkle-tree, a wrong one fails", function () {
    fc.assert(
      fc.property(leafSet(80), fc.nat(), (leaves, pick) => {
        const mine = new MerkleTree(leaves);
        const theirs = referenceTree(leaves);
        expect(mine.count).to.equal(leaves.length);
        expect(mine.root).to.equal(theirs.root);
        leaves.forEach((leaf, i) => {
          const proof = mine.proof(i);
          expect(proof).to.deep.equal(theirs.proof(i));
          expect(mine.leaf(i)).to.equal(hexlify(leaf));
          expect(rootFromProof(hexlify(leaf), proof)).to.equal(mine.root);
          expect(SimpleMerkleTree.verify(mine.root, leaf, proof)).to.equal(true);
          expect(SimpleMerkleTree.verify(mine.root, leaf, wrongProof(proof, pick + i))).to.equal(false);
        });
        const last = leaves.length - 1;
        if (last > 0) expect(SimpleMerkleTree.verify(mine.root, leaves[0], mine.proof(last))).to.equal(false);
      }),
      { numRuns: 50 },
    );
  });

  it("property: a tree file gives the in-memory tree's root and every proof, by index and in order", function () {
    const dir = tmpDir();
    try {
      fc.assert(
        fc.property(leafSet(70), (leaves) => {
          const file = path.join(dir, "t.tree");
          const written = writeTreeFile(file, leaves);
          const memory = new MerkleTree(leaves);
          expect(written).to.deep.equal({ root: memory.root, count: leaves.length });
          expect(fs.statSync(file).size).to.equal(16 + 32 * levelNodes(leaves.length));
          const tree = TreeFile.open(file);
          try {
            expect(tree.root).to.equal(memory.root);
            expect(tree.count).to.equal(leaves.length);
            const inOrder: string[][] = [];
            tree.forEachProof((p) => {
              expect(p.index).to.equal(inOrder.length);
              expect(hexlify(p.leaf.subarray(p.leafAt, p.leafAt + 32))).to.equal(hexlify(leaves[p.index]));
              inOrder.push(p.nodes.map((n, k) => hexlify(n.subarray(p.at[k], p.at[k] + 32))));
              // The same nodes and leaf as hex text, for writers that copy them.
              expect(p.hex.map((h, k) => `0x${h.toString("latin1", 2 * p.at[k], 2 * p.at[k] + 64)}`)).to.deep.equal(
                inOrder[p.index],
              );
              expect(`0x${p.leafHex.toString("latin1", 2 * p.leafAt, 2 * p.leafAt + 64)}`).to.equal(
                hexlify(leaves[p.index]),
              );
            });
            leaves.forEach((_, i) => {
              expect(tree.proof(i)).to.deep.equal(memory.proof(i));
              expect(tree.leaf(i)).to.equal(memory.leaf(i));
              expect(inOrder[i]).to.deep.equal(memory.proof(i));
            });
          } finally {
            tree.close();
          }
        }),
        { numRuns: 40 },
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a tree file of 70,001 leaves (levels longer than one read block, odd sizes) matches the reference", function () {
    const dir = tmpDir();
    try {
      const count = 70_001;
      const leaves = Array.from({ length: count }, (_, i) => {
        const leaf = Buffer.alloc(32);
        leaf.writeUInt32BE(Math.imul(i, 0x9e3779b1) >>> 0, 0);
        leaf.writeUInt32BE(i, 28);
        return leaf;
      });
      const file = path.join(dir, "big.tree");
      const { root } = writeTreeFile(file, leaves);
      const reference = referenceTree(leaves);
      expect(root).to.equal(reference.root);
      const tree = TreeFile.open(file);
      try {
        for (const i of [0, 1, 65_535, 65_536, 65_537, 70_000]) expect(tree.proof(i)).to.deep.equal(reference.proof(i));
        let checked = 0;
        tree.forEachProof((p) => {
          if (p.index % 997 !== 0 && p.index < count - 3) return;
          const proof = p.nodes.map((n, k) => hexlify(n.subarray(p.at[k], p.at[k] + 32)));
          expect(proof, `proof ${p.index}`).to.deep.equal(reference.proof(p.index));
          checked++;
        });
        expect(checked).to.equal(Math.floor((count - 4) / 997) + 1 + 3);
      } finally {
        tree.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses an empty tree, a missing index, a file that is not a tree file and a truncated one", function () {
    expect(() => new MerkleTree([])).to.throw("a Merkle tree needs at least one leaf");
    expect(() => new MerkleTree([Buffer.alloc(31)])).to.throw("a Merkle node is 32 bytes");
    expect(() => new MerkleTree([Buffer.alloc(32)]).proof(1)).to.throw("no leaf at index 1");
    const dir = tmpDir();
    try {
      const empty = new TreeFileWriter(path.join(dir, "empty.tree"));
      expect(() => empty.finish()).to.throw("a Merkle tree needs at least one leaf");
      const file = path.join(dir, "t.tree");
      writeTreeFile(file, [Buffer.alloc(32, 1), Buffer.alloc(32, 2), Buffer.alloc(32, 3)]);
      const tree = TreeFile.open(file);
      expect(() => tree.proof(3)).to.throw("no leaf at index 3");
      expect(() => tree.proof(-1)).to.throw("no leaf at index -1");
      tree.close();
      fs.writeFileSync(path.join(dir, "x.tree"), "not a tree at all, not at all");
      expect(() => TreeFile.open(path.join(dir, "x.tree"))).to.throw(
        `${path.join(dir, "x.tree")} is not a Merkle tree file`,
      );
      fs.truncateSync(file, 16 + 32 * 5);
      expect(() => TreeFile.open(file)).to.throw(`${file} is truncated: 3 leaves need 208 bytes`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  describe("on chain: OpenZeppelin MerkleProof (MerkleProofMock)", function () {
    let mock: MerkleProofMock;
    before(async function () {
      mock = (await (await ethers.getContractFactory("MerkleProofMock")).deploy()) as unknown as MerkleProofMock;
    });

    it("property: every proof verifies on chain against the root, a wrong proof and another leaf's proof do not", async function () {
      await fc.assert(
        fc.asyncProperty(leafSet(40), fc.nat(), async (leaves, pick) => {
          const tree = new MerkleTree(leaves);
          for (let i = 0; i < leaves.length; i++) {
            expect(await mock.verify(tree.proof(i), tree.root, leaves[i])).to.equal(true);
            expect(await mock.verify(wrongProof(tree.proof(i), pick + i), tree.root, leaves[i])).to.equal(false);
          }
          if (leaves.length > 2) expect(await mock.verify(tree.proof(2), tree.root, leaves[0])).to.equal(false);
        }),
        { numRuns: 15 },
      );
    });

    it("a whitelist's and a client group's proofs verify on chain", async function () {
      const w = buildWhitelist(
        Array.from({ length: 13 }, (_, i) => device(i)),
        3,
      );
      for (const e of w.entries) expect(await mock.verify(e.proof, w.root, e.leaf)).to.equal(true);
      const clients = Array.from({ length: 7 }, (_, i) =>
        getAddress(hexlify(keccak256(toUtf8Bytes(`c${i}`))).slice(0, 42)),
      );
      const group = buildGroup(clients);
      for (const c of clients) expect(await mock.verify(group.proofs[c], group.root, clientLeaf(c))).to.equal(true);
    });
  });
});

/** Nodes in every level of a tree of `n` leaves. */
function levelNodes(n: number): number {
  let total = n;
  while (n > 1) {
    n = Math.ceil(n / 2);
    total += n;
  }
  return total;
}

describe("Whitelist (src/merkle/whitelist.ts)", function () {
  it("roots do not change: the same whitelist, root and proofs as the old merkletreejs path, at sizes 1 to 70", function () {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 70 }), fc.nat(1000), (size, offset) => {
        const devices = Array.from({ length: size }, (_, i) => device(offset + i));
        expect(buildWhitelist(devices, 9)).to.deep.equal(referenceWhitelist(devices, 9));
      }),
      { numRuns: 40 },
    );
  });

  it("pins a known root (a 5-device whitelist of manufacturer 1)", function () {
    const devices = Array.from({ length: 5 }, (_, i) => device(i));
    expect(buildWhitelist(devices, 1).root).to.equal(referenceWhitelist(devices, 1).root);
    expect(buildWhitelist(devices, 1).root).to.equal(PINNED_ROOT);
  });

  it("writeWhitelist streams the same JSON and CSV as buildWhitelist, plus a tree file with its root; a device list read back from the CSV gives the same files", function () {
    const dir = tmpDir();
    try {
      for (const size of [1, 2, 3, 17]) {
        const devices = Array.from({ length: size }, (_, i) => device(i + size));
        const files = { json: path.join(dir, "w.json"), csv: path.join(dir, "w.csv"), tree: path.join(dir, "w.tree") };
        const result = writeWhitelist(() => devices, 4, files);
        const expected = buildWhitelist(devices, 4);
        expect(result).to.deep.equal({ root: expected.root, capacity: size });
        expect(fs.readFileSync(files.json, "utf8")).to.equal(`${JSON.stringify(expected, null, 2)}\n`);
        expect(fs.readFileSync(files.csv, "utf8")).to.equal(whitelistCsv(expected));
        const tree = TreeFile.open(files.tree);
        expect(tree.root).to.equal(expected.root);
        expect(tree.proof(size - 1)).to.deep.equal(expected.entries[size - 1].proof);
        tree.close();
        const again = { json: path.join(dir, "a.json"), csv: path.join(dir, "a.csv"), tree: path.join(dir, "a.tree") };
        writeWhitelist(() => readWhitelistDevices(files.csv), 4, again);
        expect(fs.readFileSync(again.json, "utf8")).to.equal(fs.readFileSync(files.json, "utf8"));
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("property: writeWhitelist writes the same JSON and CSV as buildWhitelist at sizes 1 to 80 (proof text reused between devices)", function () {
    const dir = tmpDir();
    try {
      const files = { json: path.join(dir, "w.json"), csv: path.join(dir, "w.csv"), tree: path.join(dir, "w.tree") };
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 80 }), fc.nat(1000), (size, offset) => {
          const devices = Array.from({ length: size }, (_, i) => device(offset + i));
          writeWhitelist(() => devices, 3, files);
          const expected = buildWhitelist(devices, 3);
          expect(fs.readFileSync(files.json, "utf8")).to.equal(`${JSON.stringify(expected, null, 2)}\n`);
          expect(fs.readFileSync(files.csv, "utf8")).to.equal(whitelistCsv(expected));
        }),
        { numRuns: 25 },
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("writeWhitelist of 65,541 devices (past one block of the tree file) writes the same JSON and CSV as buildWhitelist", function () {
    this.timeout(120_000);
    const dir = tmpDir();
    try {
      const devices = Array.from({ length: 65_541 }, (_, i) => {
        const id = Buffer.alloc(32);
        id.writeUInt32BE(Math.imul(i, 0x9e3779b1) >>> 0, 0);
        id.writeUInt32BE(i, 28);
        return { deviceId: hexlify(id), deviceKey: hexlify(id.subarray(0, 20)), deviceType: 1 + (i % 3) };
      });
      const files = { json: path.join(dir, "w.json"), csv: path.join(dir, "w.csv"), tree: path.join(dir, "w.tree") };
      writeWhitelist(() => devices, 2, files);
      const expected = buildWhitelist(devices, 2);
      expect(fs.readFileSync(files.csv, "utf8")).to.equal(whitelistCsv(expected));
      expect(fs.readFileSync(files.json, "utf8")).to.equal(`${JSON.stringify(expected, null, 2)}\n`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a bad device row with a message naming it", function () {
    const dir = tmpDir();
    try {
      const files = { json: path.join(dir, "w.json"), csv: path.join(dir, "w.csv"), tree: path.join(dir, "w.tree") };
      const bad = [device(1), { ...device(2), deviceKey: "0x1234" }];
      expect(() => writeWhitelist(() => bad, 1, files)).to.throw("device key 0x1234 is not an address");
      const list = path.join(dir, "list.csv");
      fs.writeFileSync(list, "deviceId,deviceKey\n");
      expect(() => [...readWhitelistDevices(list)]).to.throw(
        `${list}: line 1 must name deviceId, deviceKey and deviceType`,
      );
      fs.writeFileSync(list, `deviceId,deviceKey,deviceType\n${device(1).deviceId},${device(1).deviceKey},x\n`);
      expect(() => [...readWhitelistDevices(list)]).to.throw(`${list}: line 2: device type "x" is not a uint32`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("property: checksumAddress agrees with ethers' getAddress, and refuses a bad checksum", function () {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 20, maxLength: 20 }), (bytes) => {
        const lower = hexlify(bytes);
        expect(checksumAddress(lower)).to.equal(getAddress(lower));
        expect(checksumAddress(lower.toUpperCase().replace("0X", "0x"))).to.equal(getAddress(lower));
      }),
      { numRuns: 200 },
    );
    const good = getAddress(device(1).deviceKey);
    const flipped = good.replace(/[a-f]/, (c) => c.toUpperCase());
    expect(() => checksumAddress(flipped)).to.throw(`"${flipped}" has a bad checksum`);
  });
});

/** Computed with the code on main before the one builder (merkletreejs + keccak256). */
const PINNED_ROOT = "0xdfb8ef282666d8e46ad067b67c0b014c7a6131b8ee4ee393bd8819c98246e0ad";
