/**
 * `npm run bench:gas`: runs every `[gas]` test, collects the gas of each named operation, and prints and
 * writes (`gas-report.json`, `gas-report.md`, the README's "Gas" table) a table of operation | gas | lower bound |
 * gas/bound | L2 sizes | target | anchor | anchor source | ratio, saying plainly which rows miss their target or
 * 1.10× their bound, and by how much.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import prettier from "prettier";

import { renderSizes, renderSizesMarkdown, runtimeSizes } from "../src/bench/bytecode";
import type { MeasuredTx } from "../src/bench/bound";
import { buildGasReport, renderMarkdown, renderReadmeTable, renderText, spliceReadme } from "../src/bench/report";

const root = path.join(__dirname, "..");
const measuredFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-gas-")), "measured.json");

console.log("Measuring gas: running the [gas] tests on the in-process network…");
const run = spawnSync("npx", ["hardhat", "test", "--grep", "\\[gas\\]"], {
  cwd: root,
  stdio: ["ignore", "inherit", "inherit"],
  env: { ...process.env, GAS_MEASURE_OUT: measuredFile },
});
if (run.status !== 0 || !fs.existsSync(measuredFile)) {
  console.error("bench:gas: the gas tests failed; no report written");
  process.exit(1);
}
const measured = JSON.parse(fs.readFileSync(measuredFile, "utf8")) as {
  gas: Record<string, number>;
  transactions: Record<string, MeasuredTx>;
};
const report = buildGasReport(measured.gas, new Date().toISOString(), measured.transactions);
// The test run compiled the contracts: their artifacts give the runtime sizes.
const sizes = runtimeSizes(path.join(root, "artifacts"));
fs.writeFileSync(
  path.join(root, "gas-report.json"),
  `${JSON.stringify({ ...report, runtimeSizes: sizes }, null, 2)}\n`,
);
fs.writeFileSync(
  path.join(root, "gas-report.md"),
  `${renderMarkdown(report)}\n## Runtime bytecode sizes\n\n${renderSizesMarkdown(sizes)}\n`,
);
const readmeFile = path.join(root, "README.md");
void (async () => {
  const readme = spliceReadme(fs.readFileSync(readmeFile, "utf8"), renderReadmeTable(report));
  const options = (await prettier.resolveConfig(readmeFile)) ?? {};
  fs.writeFileSync(readmeFile, await prettier.format(readme, { ...options, filepath: readmeFile }));
  console.log(`\n${renderText(report)}\n\nRuntime bytecode sizes:\n${renderSizes(sizes)}`);
  console.log("\nWrote gas-report.json, gas-report.md and the README's gas table");
})();
