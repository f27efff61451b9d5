import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";

import { ROOT, hardhat } from "../shared/cli";
import { coverageRunning } from "../shared/gas";

const TRANSPILER = path.join(ROOT, "scripts", "ts-node-transpiler.js");
/** Whether ts-node loaded the project's transpiler for this very process (before this file required it). */
const transpilerInUse = TRANSPILER in require.cache;

interface Transpiler {
  transpile(input: string, options: { fileName: string }): { outputText: string; diagnostics?: unknown[] };
}

/** A fresh copy of the transpiler module, caching in `dir`. */
function transpilerCachingIn(dir: string): Transpiler {
  const saved = process.env.THINGLEDGER_TS_CACHE;
  process.env.THINGLEDGER_TS_CACHE = dir;
  const cached = require.cache[TRANSPILER];
  delete require.cache[TRANSPILER];
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { create } = require(TRANSPILER) as { create(o: unknown): Transpiler };
    return create({ service: { config: { options: { module: 1, target: 9, sourceMap: true } } } });
  } finally {
    if (cached !== undefined) require.cache[TRANSPILER] = cached;
    if (saved === undefined) delete process.env.THINGLEDGER_TS_CACHE;
    else process.env.THINGLEDGER_TS_CACHE = saved;
  }
}

describe("task start-up", function () {
  let scratch: string;

  before(function () {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-startup-"));
  });

  after(function () {
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it("Hardhat's ts-node transpiles with the project's caching transpiler (tsconfig.json)", function () {
    expect(transpilerInUse, `${TRANSPILER} was not loaded by ts-node`).to.equal(true);
    const tsconfig = JSON.parse(fs.readFileSync(path.join(ROOT, "tsconfig.json"), "utf8")) as {
      "ts-node"?: { transpiler?: string };
    };
    expect(tsconfig["ts-node"]?.transpiler).to.equal("./scripts/ts-node-transpiler.js");
  });

  it("every npm script that runs ts-node passes --transpile-only (ts-node refuses a custom transpiler with type-checking)", function () {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
      scripts: Record<string, string>;
    };
    const runs = Object.entries(pkg.scripts).flatMap(([name, line]) =>
      line.split("&&").flatMap((part) => (/\bts-node\b/.test(part) ? [{ name, part: part.trim() }] : [])),
    );
    expect(runs.length).to.be.greaterThan(0);
    for (const { name, part } of runs) expect(part, `npm run ${name}`).to.match(/^ts-node --transpile-only /);
  });

  it("the transpile cache stores each file's output once, reads it back, and transpiles an edited file afresh", function () {
    const dir = path.join(scratch, "cache");
    const transpiler = transpilerCachingIn(dir);
    const source = "export const answer: number = 42;\n";
    const first = transpiler.transpile(source, { fileName: "/p/a.ts" });
    expect(first.outputText).to.contain("exports.answer = 42;");
    const files = fs.readdirSync(dir);
    expect(files).to.have.length(1);
    const stored = path.join(dir, files[0]);
    expect((JSON.parse(fs.readFileSync(stored, "utf8")) as { outputText: string }).outputText).to.equal(
      first.outputText,
    );

    // A second start reads the stored output instead of transpiling (shown by a marked entry).
    fs.writeFileSync(stored, JSON.stringify({ outputText: "/* from the cache */" }));
    expect(transpilerCachingIn(dir).transpile(source, { fileName: "/p/a.ts" }).outputText).to.equal(
      "/* from the cache */",
    );

    // An edited file, or the same text under another name, is a new entry.
    const edited = transpiler.transpile("export const answer: number = 43;\n", { fileName: "/p/a.ts" });
    expect(edited.outputText).to.contain("exports.answer = 43;");
    transpiler.transpile(source, { fileName: "/p/b.ts" });
    expect(fs.readdirSync(dir)).to.have.length(3);
  });

  it("a file with a syntax error is reported and never stored", function () {
    const dir = path.join(scratch, "errors");
    const result = transpilerCachingIn(dir).transpile("export const = ;\n", { fileName: "/p/bad.ts" });
    expect(result.diagnostics).to.have.length.greaterThan(0);
    expect(fs.existsSync(dir) ? fs.readdirSync(dir) : []).to.deep.equal([]);
  });

  it("a task loads neither TypeChain's index of every factory, the gas reporter, Ignition's core, nor the test and coverage plugins", function () {
    // The child process compiles, which would overwrite coverage's instrumented build.
    if (coverageRunning()) this.skip();
    const list = path.join(scratch, "modules.json");
    const preload = path.join(scratch, "preload.js");
    fs.writeFileSync(
      preload,
      // npx's own process gets the preload too: only Hardhat's writes the list.
      `if (/hardhat/.test(process.argv[1])) process.on("exit", () => require("fs").writeFileSync(${JSON.stringify(list)}, JSON.stringify(Object.keys(require.cache))));\n`,
    );
    // Port 1 refuses: the task loads its modules, then fails to reach the node.
    const run = hardhat(["device:status", "--network", "localhost", "--device", "0x01"], {
      NODE_OPTIONS: `--require ${preload}`,
      THINGLEDGER_LOCALHOST_URL: "http://127.0.0.1:1",
      REPORT_GAS: "",
    });
    expect(run.status, run.stderr).to.equal(1);
    expect(run.stderr).to.contain('cannot reach network "localhost"');
    const loaded = (JSON.parse(fs.readFileSync(list, "utf8")) as string[]).map((f) => path.relative(ROOT, f));
    expect(loaded).to.include(path.join("src", "registry", "status.ts")); // the task's body did run
    // It loads the one registry module it needs, not the index of every registry operation.
    expect(loaded).not.to.include(path.join("src", "registry", "index.ts"));
    expect(loaded).to.include(path.join("src", "chain", "factories.ts"));
    expect(loaded).not.to.include(path.join("typechain-types", "index.ts"));
    expect(loaded.filter((f) => f.includes(`${path.sep}mocks${path.sep}`))).to.deep.equal([]);
    expect(loaded.filter((f) => f.includes("hardhat-gas-reporter"))).to.deep.equal([]);
    // The chai matchers and solidity-coverage serve Hardhat's `test` and `coverage` (tasks/support/plugins.ts).
    const plugins = ["hardhat-chai-matchers", "solidity-coverage"].map((p) => `${path.sep}${p}${path.sep}`);
    expect(loaded.filter((f) => plugins.some((p) => f.includes(p)))).to.deep.equal([]);
    expect(loaded).not.to.include(path.join("node_modules", "chai", "index.js"));
    // Ignition's core stays a stand-in (tasks/support/lazy-modules.ts): none of its own modules load.
    const core = path.join("node_modules", "@nomicfoundation", "ignition-core", "dist", "src");
    expect(loaded).to.include(path.join(core, "index.js"));
    expect(loaded.filter((f) => f.startsWith(core) && f !== path.join(core, "index.js"))).to.deep.equal([]);
    // So does the fs-extra that Ignition's plugin requires (Hardhat's own copy is another).
    const fsExtra = path.join("node_modules", "fs-extra", "lib");
    expect(loaded.filter((f) => f.startsWith(fsExtra) && f !== path.join(fsExtra, "index.js"))).to.deep.equal([]);
  });

  it("Hardhat's help still lists the tasks of the plugins that ThingLedger's tasks start without", function () {
    const help = hardhat(["--help"]);
    expect(help.status, help.stderr).to.equal(0);
    expect(help.stdout).to.match(/^\s+coverage\s/m);
    expect(help.stdout).to.match(/^\s+device:status\s/m);
    const coverage = hardhat(["help", "coverage"]);
    expect(coverage.status, coverage.stderr).to.equal(0);
    expect(coverage.stdout).to.contain("--testfiles");
  });
});
