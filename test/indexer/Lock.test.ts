import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";

import { chainFileOf, claimDataDirChain, lockDataDir, lockFileOf, startIndexer } from "../../src/indexer/process";
import { freePort } from "../shared/node";

/** One indexer per PGlite folder (PGlite is not safe across processes): the folder's lock file. */
describe("indexer: one process per PGlite folder (its lock file beside it)", function () {
  let scratch: string;
  beforeEach(() => (scratch = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-lock-"))));
  afterEach(() => fs.rmSync(scratch, { recursive: true, force: true }));

  it("takes a new folder, and refuses it in one line while the holder runs", function () {
    const dir = path.join(scratch, "db");
    const lock = lockDataDir(dir);
    expect(lock).to.equal(`${dir}.lock`);
    expect(fs.existsSync(dir), "the folder itself is left to PGlite").to.equal(false);
    expect(fs.readFileSync(lock, "utf8")).to.equal(`${process.pid}\n`);
    expect(() => lockDataDir(dir)).to.throw(`${dir} is in use by another indexer (pid ${process.pid})`);
    expect(fs.readFileSync(lock, "utf8"), "the holder's lock is left as it was").to.equal(`${process.pid}\n`);
  });

  it("takes over a lock whose process is gone (a killed indexer)", function () {
    const gone = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]);
    const dead = Number(gone.stdout.toString());
    const dir = path.join(scratch, "db");
    fs.writeFileSync(lockFileOf(dir), `${dead}\n`);
    lockDataDir(dir);
    expect(fs.readFileSync(lockFileOf(dir), "utf8")).to.equal(`${process.pid}\n`);
  });

  describe("a kept folder is bound to its chain by the genesis block", function () {
    const first = `0x${"aa".repeat(32)}`;
    const second = `0x${"bb".repeat(32)}`;

    it("takes a new folder for this chain, and takes it again on the same chain", function () {
      const dir = path.join(scratch, "db");
      claimDataDirChain(dir, first);
      expect(fs.readFileSync(chainFileOf(dir), "utf8")).to.equal(`${first}\n`);
      fs.mkdirSync(dir);
      claimDataDirChain(dir, first.toUpperCase().replace("0X", "0x"));
      expect(fs.readFileSync(chainFileOf(dir), "utf8").trim().toLowerCase()).to.equal(first);
    });

    it("refuses in one line a folder that indexed another chain (a restarted development node), changing nothing", function () {
      const dir = path.join(scratch, "db");
      fs.mkdirSync(dir);
      claimDataDirChain(dir, first);
      expect(() => claimDataDirChain(dir, second)).to.throw(
        `${dir} holds the index of another chain (genesis block 0xaaaaaaaa…; this node's is 0xbbbbbbbb…: a development node that restarted?); delete the folder, or choose another --dir`,
      );
      expect(fs.readFileSync(chainFileOf(dir), "utf8")).to.equal(`${first}\n`);
    });

    it("lets a deleted folder take the new chain", function () {
      const dir = path.join(scratch, "db");
      claimDataDirChain(dir, first);
      claimDataDirChain(dir, second); // the folder was never made (or was deleted): nothing of the old chain is left
      expect(fs.readFileSync(chainFileOf(dir), "utf8")).to.equal(`${second}\n`);
    });

    it("a chain file that holds no whole hash (cut short) binds nothing: the folder takes this chain", function () {
      const dir = path.join(scratch, "db");
      fs.mkdirSync(dir);
      fs.writeFileSync(chainFileOf(dir), first.slice(0, 20));
      claimDataDirChain(dir, second);
      expect(fs.readFileSync(chainFileOf(dir), "utf8")).to.equal(`${second}\n`);
      expect(fs.existsSync(`${chainFileOf(dir)}.tmp`), "no temporary file left").to.equal(false);
    });

    it("startIndexer refuses another chain's folder before Ponder starts, and leaves no lock behind", async function () {
      const dir = path.join(scratch, "db");
      fs.mkdirSync(dir);
      claimDataDirChain(dir, first);
      const started = startIndexer({
        rpcUrl: "http://127.0.0.1:1",
        chainId: 31337n,
        deploymentDir: scratch,
        port: await freePort(),
        dataDir: dir,
        schema: "thingledger",
        genesis: second,
      });
      await expect(started).to.be.rejectedWith("holds the index of another chain");
      expect(fs.existsSync(lockFileOf(dir)), "the lock is released").to.equal(false);
      expect(fs.readdirSync(dir), "nothing written into the folder").to.deep.equal([]);
    });
  });
});
