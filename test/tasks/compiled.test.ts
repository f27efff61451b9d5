import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import type { HardhatRuntimeEnvironment } from "hardhat/types";

import { COMPILED_MARK, compileIfChanged } from "../../tasks/support/compiled";

/** A project on disk and an hre whose compile task is a stand-in that records each run and writes output. */
function project(root: string) {
  const paths = {
    root,
    sources: path.join(root, "contracts"),
    cache: path.join(root, "cache"),
    artifacts: path.join(root, "artifacts"),
  };
  fs.mkdirSync(path.join(paths.sources, "sub"), { recursive: true });
  fs.writeFileSync(path.join(paths.sources, "A.sol"), "contract A {}\n");
  fs.writeFileSync(path.join(paths.sources, "sub", "B.sol"), "contract B {}\n");
  const runs: string[] = [];
  let fail = false;
  const hre = {
    config: {
      paths,
      solidity: { compilers: [{ version: "0.8.30", settings: { viaIR: true } }] },
      typechain: { outDir: "types" },
    },
    run: async (name: string) => {
      runs.push(name);
      if (fail) throw new Error("compile failed");
      fs.mkdirSync(path.join(paths.artifacts, "build-info"), { recursive: true });
      fs.mkdirSync(path.join(root, "types"), { recursive: true });
      fs.mkdirSync(paths.cache, { recursive: true });
      fs.writeFileSync(path.join(paths.cache, "solidity-files-cache.json"), `{"runs":${runs.length}}`);
    },
  };
  return {
    paths,
    runs,
    hre: hre as unknown as HardhatRuntimeEnvironment,
    settings: hre.config.solidity.compilers[0].settings as Record<string, unknown>,
    failNext: (value: boolean) => (fail = value),
  };
}

describe("tasks: a task compiles only when its inputs or outputs changed", function () {
  let root: string;

  beforeEach(function () {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-compiled-"));
  });

  afterEach(function () {
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("compiles on the first task, records it in Hardhat's cache folder, and skips the compile check after", async function () {
    const p = project(root);
    expect(await compileIfChanged(p.hre)).to.equal(true);
    expect(p.runs).to.deep.equal(["compile"]);
    const mark = JSON.parse(fs.readFileSync(path.join(p.paths.cache, COMPILED_MARK), "utf8")) as {
      fingerprint: string;
    };
    expect(mark.fingerprint).to.match(/^[0-9a-f]{64}$/);
    expect(await compileIfChanged(p.hre)).to.equal(false);
    expect(await compileIfChanged(p.hre)).to.equal(false);
    expect(p.runs).to.have.length(1);
  });

  it("compiles again after an edited, added or removed contract, a settings change, or deleted output", async function () {
    const p = project(root);
    await compileIfChanged(p.hre);
    const changes: Array<[string, () => void]> = [
      ["edited contract", () => fs.appendFileSync(path.join(p.paths.sources, "sub", "B.sol"), "// edited\n")],
      ["added contract", () => fs.writeFileSync(path.join(p.paths.sources, "C.sol"), "contract C {}\n")],
      ["removed contract", () => fs.rmSync(path.join(p.paths.sources, "C.sol"))],
      ["compiler settings", () => (p.settings.viaIR = false)],
      ["artifacts deleted", () => fs.rmSync(p.paths.artifacts, { recursive: true })],
      ["TypeChain output deleted", () => fs.rmSync(path.join(root, "types"), { recursive: true })],
      [
        "packages installed",
        () => {
          fs.mkdirSync(path.join(root, "node_modules"), { recursive: true });
          fs.writeFileSync(path.join(root, "node_modules", ".package-lock.json"), "{}");
        },
      ],
      ["another compile", () => fs.writeFileSync(path.join(p.paths.cache, "solidity-files-cache.json"), "{}")],
    ];
    for (const [what, change] of changes) {
      change();
      const before = p.runs.length;
      expect(await compileIfChanged(p.hre), what).to.equal(true);
      expect(p.runs.length, what).to.equal(before + 1);
      expect(await compileIfChanged(p.hre), `${what}, then unchanged`).to.equal(false);
    }
  });

  it("a failed compile leaves no mark: the next task compiles again", async function () {
    const p = project(root);
    await compileIfChanged(p.hre);
    fs.appendFileSync(path.join(p.paths.sources, "A.sol"), "broken(\n");
    p.failNext(true);
    let error: unknown;
    await compileIfChanged(p.hre).catch((e: unknown) => (error = e));
    expect((error as Error).message).to.equal("compile failed");
    p.failNext(false);
    expect(await compileIfChanged(p.hre)).to.equal(true);
    expect(p.runs).to.have.length(3);
  });

  it("a mark that is not JSON is ignored (compiles and rewrites it)", async function () {
    const p = project(root);
    fs.mkdirSync(p.paths.cache, { recursive: true });
    fs.writeFileSync(path.join(p.paths.cache, COMPILED_MARK), "{not json");
    expect(await compileIfChanged(p.hre)).to.equal(true);
    expect(await compileIfChanged(p.hre)).to.equal(false);
  });
});
