import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";

import { lockDataDir, lockFileOf } from "../../src/indexer/process";

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
});
