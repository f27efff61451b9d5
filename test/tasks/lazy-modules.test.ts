import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";

import { loadOnFirstUse } from "../../tasks/support/lazy-modules";
import { coverageRunning } from "../shared/gas";

/** Counts how often each test module's body ran (the modules below add to it). */
const loads: Record<string, number> = {};
(globalThis as { __lazyModuleLoads?: Record<string, number> }).__lazyModuleLoads = loads;

describe("tasks: a module loaded on first use (Ignition's core at start-up)", function () {
  let dir: string;
  let counter = 0;

  /** A new CommonJS module on disk that counts its loads and exports a class, a function and a value. */
  function moduleFile(): string {
    const name = `m${counter++}`;
    const file = path.join(dir, `${name}.js`);
    fs.writeFileSync(
      file,
      `globalThis.__lazyModuleLoads[${JSON.stringify(name)}] = (globalThis.__lazyModuleLoads[${JSON.stringify(name)}] ?? 0) + 1;
class Failure extends Error {}
exports.Failure = Failure;
exports.twice = (n) => 2 * n;
exports.answer = 42;
`,
    );
    return file;
  }
  const loadsOf = (file: string) => loads[path.basename(file, ".js")] ?? 0;

  before(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-lazy-"));
  });

  after(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("require gives a stand-in that loads the module once, on the first read, and answers from it", function () {
    const file = moduleFile();
    loadOnFirstUse(file);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const standIn = require(file) as { Failure: new () => Error; twice(n: number): number; answer: number };
    expect(loadsOf(file)).to.equal(0);
    expect(standIn.twice(21)).to.equal(42);
    expect(loadsOf(file)).to.equal(1);
    expect(standIn.answer).to.equal(42);
    expect(Object.keys(standIn)).to.deep.equal(["Failure", "twice", "answer"]);
    expect("answer" in standIn).to.equal(true);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const real = require(file) as typeof standIn;
    expect(real).to.not.equal(standIn);
    expect(new real.Failure()).to.be.instanceOf(standIn.Failure);
    expect({ ...standIn }).to.deep.equal({ Failure: real.Failure, twice: real.twice, answer: 42 });
    expect(loadsOf(file)).to.equal(1);
  });

  it("a module already loaded is left as it is", function () {
    const file = moduleFile();
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const real = require(file) as object;
    loadOnFirstUse(file);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    expect(require(file)).to.equal(real);
    expect(loadsOf(file)).to.equal(1);
  });

  it("with the config's deferred Ignition core, a deployment still deploys the system", async function () {
    // A second Ignition deployment of the instrumented contracts fails its simulation under coverage; this test
    // is about module loading, not the contracts.
    if (coverageRunning()) this.skip();
    const hre = (await import("hardhat")).default;
    const core = require.resolve("@nomicfoundation/ignition-core");
    const { deploySystem, loadSystem } = await import("../../tasks/support/deployments");
    const { registryAt } = await import("../../src/chain/context");
    const [first] = await hre.ethers.getSigners();
    const tasksSystem = await loadSystem(hre);
    const system = await deploySystem(hre);
    expect(await hre.ethers.provider.getCode(system.addresses.ThingToken)).to.not.equal("0x");
    // Tasks keep the in-process system they deployed (the first account its manufacturer #1), not this one:
    // a deployment made for another purpose must not leave later tasks on a registry without a manufacturer.
    const after = await loadSystem(hre);
    expect(after.addresses).to.deep.equal(tasksSystem.addresses);
    expect(system.addresses.DeviceRegistry).to.not.equal(after.addresses.DeviceRegistry);
    expect((await registryAt(after).getManufacturer(first.address)).active).to.equal(true);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    expect(typeof (require(core) as { deploy?: unknown }).deploy).to.equal("function");
  });
});
