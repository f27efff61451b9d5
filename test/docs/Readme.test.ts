import fs from "node:fs";
import path from "node:path";

import { expect } from "chai";

import { renderReadmeTable, spliceReadme } from "../../src/bench/report";
import type { GasReport } from "../../src/bench/report";

const ROOT = path.join(__dirname, "..", "..");
const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");

/** The README is the operator's manual: it must keep up with the tasks and the gas report. */
describe("README", function () {
  it("gives the two-command quickstart", function () {
    expect(readme).to.contain("npm ci && npx hardhat demo\nnpm test");
  });

  it("has a reference row for every task the project defines", function () {
    const names = fs
      .readdirSync(path.join(ROOT, "tasks"))
      .filter((f) => f.endsWith(".ts"))
      // `defineTask("name", …)`, or a `["name", description, …]` entry of a loop that defines similar tasks.
      .flatMap((f) =>
        [
          ...fs
            .readFileSync(path.join(ROOT, "tasks", f), "utf8")
            .matchAll(/\bdefineTask\(\s*"([^"]+)"|^\s*\["([a-z]+:[a-z-]+)",/gm),
        ].map((m) => m[1] ?? m[2]),
      );
    expect(names).to.include.members(["demo", "auditor:add", "auditor:remove", "wallet:status"]);
    const missing = names.filter(
      (name) => !new RegExp(`^\\| \`${name}[\` ]`, "m").test(readme) && !readme.includes(`/ \`${name}`),
    );
    expect(missing, `tasks missing from the README's task table: ${missing.join(", ")}`).to.deep.equal([]);
  });

  it("shows the gas table of the committed gas report", function () {
    const report = JSON.parse(fs.readFileSync(path.join(ROOT, "gas-report.json"), "utf8")) as GasReport;
    const spliced = spliceReadme(readme, renderReadmeTable(report));
    // Same rows (prettier only pads the cells): every operation with its gas.
    for (const row of report.rows) {
      const line = readme.split("\n").find((l) => l.startsWith(`| ${row.operation.replace(/\|/g, "\\|")} `));
      expect(line, row.operation).to.not.equal(undefined);
      expect(line).to.contain(` ${row.gas.toLocaleString("en-US")} `);
    }
    expect(spliced).to.contain("<!-- gas-table:end -->");
  });

  it("draws the architecture in mermaid", function () {
    expect(readme).to.match(/```mermaid\nflowchart/);
  });
});
