import { expect } from "chai";
import "hardhat";

import { hardhatCommandLine, taskArgument } from "../../tasks/support/cli-errors";
import { ownTaskOnCommandLine } from "../../tasks/support/plugins";

/**
 * The config loads the plugins that serve Hardhat's own tasks (chai matchers, solidity-coverage) unless the
 * command line runs one of ThingLedger's tasks (tasks/support/plugins.ts); test/cli/Startup.test.ts checks a
 * spawned task's modules.
 */
describe("plugins: which task the command line runs", function () {
  it("the task is the first argument past Hardhat's own parameters and their values", function () {
    expect(taskArgument(["device:status", "--device", "0x01"])).to.equal("device:status");
    expect(taskArgument(["--network", "localhost", "device:status", "--json"])).to.equal("device:status");
    expect(taskArgument(["--config", "other.ts", "--show-stack-traces", "--max-memory", "4096", "coverage"])).to.equal(
      "coverage",
    );
    // A task's own parameters and values come after its name: `test --grep device:status` runs `test`.
    expect(taskArgument(["test", "--grep", "device:status"])).to.equal("test");
    expect(taskArgument(["--help"])).to.equal(undefined);
    expect(taskArgument([])).to.equal(undefined);
  });

  it("only a ThingLedger task on Hardhat's command line counts as one (Hardhat's tasks and help load every plugin)", function () {
    const argv = (...args: string[]) => ["node", "hardhat", ...args];
    if (!hardhatCommandLine()) {
      // Run from another test runner: never one of ThingLedger's tasks.
      expect(ownTaskOnCommandLine(argv("device:status"))).to.equal(undefined);
      return;
    }
    expect(ownTaskOnCommandLine(argv("--network", "localhost", "device:status", "--device", "0x01"))).to.equal(
      "device:status",
    );
    expect(ownTaskOnCommandLine(argv("verify:system", "--network", "sepolia"))).to.equal("verify:system");
    expect(ownTaskOnCommandLine(argv("test", "--grep", "device:status"))).to.equal(undefined);
    expect(ownTaskOnCommandLine(argv("coverage"))).to.equal(undefined);
    expect(ownTaskOnCommandLine(argv("help", "device:status"))).to.equal(undefined);
    expect(ownTaskOnCommandLine(argv("--help"))).to.equal(undefined);
    expect(ownTaskOnCommandLine(argv("devise:status"))).to.equal(undefined);
  });

  it("this very run (Hardhat's `test` or `coverage`, or another runner) has the chai matchers", function () {
    // `revertedWithCustomError` exists only once the plugin is loaded (else chai refuses the unknown property).
    expect(typeof expect(0).revertedWithCustomError).to.equal("function");
  });
});
