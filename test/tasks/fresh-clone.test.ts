import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { spawnSync } from "node:child_process";

import { expect } from "chai";

import { ROOT } from "../shared/cli";

/**
 * A fresh clone has no typechain-types until its first compile, and `hardhat compile` loads
 * hardhat.config.ts, so every task file first: none may load the TypeChain factories at top level
 * (tasks/indexer.ts once did, and `npx hardhat compile` failed on a clean clone).
 */
describe("tasks: loading the config without typechain-types (a fresh clone)", function () {
  this.timeout(180_000);

  it("hardhat loads every task without resolving anything in typechain-types", function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-fresh-"));
    try {
      const hook = path.join(dir, "no-typechain.js");
      fs.writeFileSync(
        hook,
        `const Module = require("module");
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request.includes("typechain-types")) throw new Error("loaded at start-up: " + request);
  return resolve.call(this, request, ...rest);
};
`,
      );
      const run = spawnSync("npx", ["hardhat", "--help"], {
        cwd: ROOT,
        env: { ...process.env, NODE_OPTIONS: `--require ${hook}`, FORCE_COLOR: "0" },
        encoding: "utf8",
        timeout: 150_000,
      });
      expect(run.status, run.stderr).to.equal(0);
      expect(run.stdout).to.contain("indexer");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
