import { writeJsonOutput } from "../cli/files";
import type { WriteOptions } from "../cli/files";
import { readJsonFile } from "../cli/json";
import { parseProposal } from "./proposal";
import type { Proposal } from "./proposal";

/**
 * Writes a proposal file atomically (a reader never sees half a file). By default it replaces the file
 * (signing updates it in place); a new proposal passes the task's `--force` and `--out`.
 */
export function writeProposal(file: string, p: Proposal, options: WriteOptions = { force: true, flag: "file" }): void {
  writeJsonOutput(file, p, options);
}

/** Reads a proposal file; anything malformed fails with one line naming the problem. */
export function readProposal(file: string): Proposal {
  return parseProposal(readJsonFile(file, "a wallet proposal (npx hardhat wallet:propose)"), file);
}
