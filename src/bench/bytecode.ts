import fs from "node:fs";
import path from "node:path";

import { formatTable } from "../cli/output";

/** EIP-170: the largest runtime bytecode a contract may deploy, in bytes. */
export const MAX_RUNTIME_SIZE = 24_576;

/** Source folders whose contracts are never deployed on their own (test doubles, libraries, interfaces). */
const NOT_DEPLOYED = ["contracts/mocks/", "contracts/libraries/", "contracts/interfaces/"];

interface Artifact {
  contractName: string;
  sourceName: string;
  deployedBytecode: string;
}

function artifactFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return artifactFiles(full);
    return entry.name.endsWith(".json") && !entry.name.endsWith(".dbg.json") ? [full] : [];
  });
}

/**
 * The runtime (deployed) bytecode size in bytes of every deployable contract compiled into `artifactsDir`
 * (Hardhat's `artifacts/`), by contract name, sorted: abstract contracts, interfaces, libraries and mocks
 * are left out.
 */
export function runtimeSizes(artifactsDir: string): Record<string, number> {
  const sizes: Record<string, number> = {};
  for (const file of artifactFiles(path.join(artifactsDir, "contracts"))) {
    const a = JSON.parse(fs.readFileSync(file, "utf8")) as Artifact;
    if (NOT_DEPLOYED.some((prefix) => a.sourceName.startsWith(prefix))) continue;
    const bytes = (a.deployedBytecode.length - 2) / 2;
    if (bytes > 0) sizes[a.contractName] = bytes;
  }
  return Object.fromEntries(Object.entries(sizes).sort(([x], [y]) => x.localeCompare(y)));
}

const HEADERS = ["contract", "runtime bytes", "EIP-170 headroom"];

function sizeRows(sizes: Record<string, number>): string[][] {
  return Object.entries(sizes).map(([name, bytes]) => [
    name,
    bytes.toLocaleString("en-US"),
    (MAX_RUNTIME_SIZE - bytes).toLocaleString("en-US"),
  ]);
}

/** A text table of contract | runtime bytes | headroom under the EIP-170 limit. */
export function renderSizes(sizes: Record<string, number>): string {
  return formatTable(HEADERS, sizeRows(sizes));
}

/** The same table in Markdown. */
export function renderSizesMarkdown(sizes: Record<string, number>): string {
  return [HEADERS, ["---", "---:", "---:"], ...sizeRows(sizes)].map((r) => `| ${r.join(" | ")} |`).join("\n");
}
