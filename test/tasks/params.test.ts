import { expect } from "chai";
import hre from "hardhat";
import type { TaskDefinition } from "hardhat/types";

import { definedTasks } from "../../tasks/lib";
import { paramExample } from "../../tasks/support/params";

/** `--help` gives an example for every parameter of every ThingLedger task (tasks/support/params.ts). */
describe("task parameter examples", function () {
  it("every ThingLedger task parameter has an example in the table, shown in its description", function () {
    const missing: string[] = [];
    const unshown: string[] = [];
    expect(definedTasks().length).to.be.greaterThan(40);
    // Test files declare throwaway tasks ("test:…") of their own: only the project's tasks are checked.
    for (const name of definedTasks().filter((n) => !n.startsWith("test:"))) {
      const task = hre.tasks[name] as TaskDefinition;
      for (const param of [...Object.values(task.paramDefinitions), ...task.positionalParamDefinitions]) {
        if (param.isFlag) continue;
        if (paramExample(name, param.name) === undefined) missing.push(`${name} --${param.name}`);
        else if (!/\be\.g\. \S/.test(param.description ?? "")) unshown.push(`${name} --${param.name}`);
      }
    }
    expect(missing, "parameters without an example in tasks/support/params.ts").to.deep.equal([]);
    expect(unshown, "parameters whose --help shows no example").to.deep.equal([]);
  });

  it("the example ends the description, and a per-task entry wins over the plain name", function () {
    const port = hre.tasks["auditor:serve"].paramDefinitions.port;
    expect(port.description).to.match(/ \(e\.g\. 8547\)$/);
    expect(hre.tasks["as:serve"].paramDefinitions.port.description).to.match(/ \(e\.g\. 8088\)$/);
    expect(hre.tasks["device:activate"].paramDefinitions.keystore.description).to.equal(
      "Directory of device keystores (e.g. data/fleet/keystore)",
    );
  });

  it("no ThingLedger task takes a positional argument: every parameter is a --flag", function () {
    const positional = definedTasks().filter(
      (name) => !name.startsWith("test:") && hre.tasks[name].positionalParamDefinitions.length > 0,
    );
    expect(positional).to.deep.equal([]);
    expect(hre.tasks["reputation:show"].paramDefinitions.device.isOptional).to.equal(false);
    expect(hre.tasks["auditor:add"].paramDefinitions.address.isOptional).to.equal(false);
  });
});
