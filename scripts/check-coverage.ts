/**
 * Enforces the contracts' coverage floor after `hardhat coverage`: lines and branches must each reach
 * the threshold (default 95%, `COVERAGE_MIN` to override). Exits non-zero, naming each shortfall.
 */
import fs from "node:fs";
import path from "node:path";

interface Metric {
  total: number;
  covered: number;
  pct: number | "Unknown";
}
type Summary = Record<string, { lines: Metric; branches: Metric }>;

const min = Number(process.env.COVERAGE_MIN ?? "95");
const file = path.join(__dirname, "..", "coverage", "coverage-summary.json");
if (!fs.existsSync(file)) {
  console.error(`coverage summary not found at ${file}: run \`npx hardhat coverage\` first`);
  process.exit(1);
}
const summary = JSON.parse(fs.readFileSync(file, "utf8")) as Summary;
const failures: string[] = [];
const pct = (m: Metric): number => (m.total === 0 ? 100 : (100 * m.covered) / m.total);
for (const [name, entry] of Object.entries(summary)) {
  for (const kind of ["lines", "branches"] as const) {
    const value = pct(entry[kind]);
    if (name === "total" && value < min) {
      failures.push(`all contracts: ${kind} ${value.toFixed(2)}% < ${min}%`);
    } else if (name !== "total" && value < min) {
      failures.push(`${path.relative(process.cwd(), name)}: ${kind} ${value.toFixed(2)}% < ${min}%`);
    }
  }
}
const total = summary.total;
console.log(
  `contract coverage: lines ${pct(total.lines).toFixed(2)}%, branches ${pct(total.branches).toFixed(2)}% (floor ${min}%)`,
);
if (failures.length > 0) {
  console.error(`coverage below the floor:\n  ${failures.join("\n  ")}`);
  process.exit(1);
}
