import { expect } from "chai";
import "hardhat";

import { definedTasks } from "../../tasks/lib";
import { usageError } from "../../tasks/support/cli-errors";

/**
 * Hardhat's own usage errors of a task (HH301-HH311), as the command line prints them, become one line that
 * names the problem and the task's usage (tasks/support/cli-errors.ts); the spawned checks are in
 * test/tasks/preflight.test.ts.
 */
describe("CLI usage errors: one line naming the task's usage", function () {
  it("a bare value where a named parameter is expected names the value, the parameter and the usage", function () {
    const missing = "HH306: The '--device' parameter of task 'reputation:show' expects a value, but none was passed.";
    expect(usageError(missing, ["reputation:show", "0x1234"])).to.equal(
      '"0x1234" was given without a name (--device 0x1234): reputation:show takes --device <device> [options]; see npx hardhat help reputation:show',
    );
    // Hardhat's own parameters, before or after the task name, and the values of the task's parameters are not bare.
    expect(usageError(missing, ["--network", "localhost", "reputation:show", "--json"])).to.equal(
      "--device is required: reputation:show takes --device <device> [options]; see npx hardhat help reputation:show",
    );
    expect(usageError(missing, ["reputation:show", "--network", "localhost", "--device"])).to.equal(
      "--device needs a value: reputation:show takes --device <device> [options]; see npx hardhat help reputation:show",
    );
  });

  it("an unknown, repeated or mistyped parameter and a value of the wrong type name the usage too", function () {
    const argv = ["--network", "localhost", "device:generate", "--count", "abc"];
    const usage = "device:generate takes --count <count> --out <out> [options]; see npx hardhat help device:generate";
    expect(usageError("HH305: Unrecognized param --bogus", argv)).to.equal(`unknown parameter --bogus: ${usage}`);
    expect(usageError("HH309: Repeated parameter --count", argv)).to.equal(`--count is given more than once: ${usage}`);
    expect(usageError("HH301: Invalid value abc for argument count of type int", argv)).to.equal(
      `abc is not a valid int for --count: ${usage}`,
    );
    expect(usageError("HH310: Invalid param --Count. Command line params must be lowercase.", argv)).to.equal(
      `--Count: parameter names are lower case: ${usage}`,
    );
    expect(usageError("HH305: Unrecognized param --bogus", ["fees:set", "--bogus", "1"])).to.equal(
      "unknown parameter --bogus: fees:set takes named options only; see npx hardhat help fees:set",
    );
  });

  it("every ThingLedger task gets the same line for a bare value (one mechanism)", function () {
    for (const task of definedTasks()) {
      const line = usageError("HH308: Unrecognized positional argument 0x1234", [task, "0x1234"]);
      expect(line, task).to.match(
        new RegExp(`^"0x1234" was given without a parameter name: ${task} takes .+; see npx hardhat help ${task}$`),
      );
    }
  });

  it("other errors (an unknown task, a network error) and a command line naming no task are left alone", function () {
    expect(usageError("HH303: Unrecognized task 'tokn:balance'", ["tokn:balance"])).to.equal(undefined);
    expect(usageError("HH305: Unrecognized param --bogus", ["--network", "x"])).to.equal(undefined);
    expect(usageError("HH108: Cannot connect to the network localhost.", ["token:balance"])).to.equal(undefined);
  });
});
