import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";

import { TASK_COMPILE } from "hardhat/builtin-tasks/task-names";
import type { HardhatRuntimeEnvironment } from "hardhat/types";
import writeFileAtomic from "write-file-atomic";

/** Where the fingerprint of the last compile a task ran is kept (in Hardhat's cache: `hardhat clean` removes it). */
export const COMPILED_MARK = "thingledger-compiled.json";

/** A file's or folder's place in the fingerprint: its size and modification time, or that it is missing. */
function stamp(file: string): string {
  try {
    const s = fs.statSync(file);
    return `${s.size}:${s.mtimeMs}`;
  } catch {
    return "missing";
  }
}

/** Every file under `dir` with its stamp, sorted by path. */
function stampTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (at: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(at, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const full = path.join(at, entry.name);
      if (entry.isDirectory()) walk(full);
      else out.push(`${path.relative(dir, full)}=${stamp(full)}`);
    }
  };
  walk(dir);
  return out.sort();
}

/**
 * What a compile depends on and leaves behind: the compiler settings, every contract source, the installed
 * packages (imported sources such as OpenZeppelin's), Hardhat's own solidity cache, the artifacts and the
 * TypeChain output. Any edit, added or removed contract, `npm install`, settings change, other compile or
 * deleted output changes it.
 */
export function compileFingerprint(hre: HardhatRuntimeEnvironment): string {
  const { paths } = hre.config;
  const typechain = (hre.config as { typechain?: { outDir?: string } }).typechain?.outDir;
  const parts = [
    JSON.stringify(hre.config.solidity),
    ...stampTree(paths.sources),
    stamp(path.join(paths.root, "node_modules", ".package-lock.json")),
    stamp(path.join(paths.cache, "solidity-files-cache.json")),
    stamp(paths.artifacts),
    stamp(path.join(paths.artifacts, "build-info")),
    typechain === undefined ? "" : stamp(path.resolve(paths.root, typechain)),
  ];
  return crypto.createHash("sha256").update(parts.join("\n")).digest("hex");
}

/**
 * Runs Hardhat's compile task unless nothing it depends on changed since the last one this ran to the
 * end (Hardhat's own up-to-date check reads and resolves every source: about half a second of each
 * task's start). A failed compile leaves no mark, so the next task compiles again.
 */
export async function compileIfChanged(hre: HardhatRuntimeEnvironment): Promise<boolean> {
  const mark = path.join(hre.config.paths.cache, COMPILED_MARK);
  let recorded: string | undefined;
  try {
    recorded = (JSON.parse(fs.readFileSync(mark, "utf8")) as { fingerprint?: string }).fingerprint;
  } catch {
    recorded = undefined;
  }
  if (recorded !== undefined && recorded === compileFingerprint(hre)) return false;
  await hre.run(TASK_COMPILE, { quiet: true });
  try {
    fs.mkdirSync(hre.config.paths.cache, { recursive: true });
    writeFileAtomic.sync(mark, JSON.stringify({ fingerprint: compileFingerprint(hre) }));
  } catch {
    // a read-only or full disk only costs the next task its compile check
  }
  return true;
}
