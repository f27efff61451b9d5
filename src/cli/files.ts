import fs from "node:fs";
import path from "node:path";

import writeFileAtomic from "write-file-atomic";

import { UserError } from "../errors";

/** How a task writes a file the user asked for. */
export interface WriteOptions {
  /** Overwrite an existing file (the task's `--force`). */
  force: boolean;
  /** The flag that named the file, for the refusal's message (e.g. "out"). */
  flag: string;
  /** File mode for a new file (e.g. 0o600 for secrets). */
  mode?: number;
}

/**
 * Refuses, before anything is written or sent, to overwrite `file` without `--force`, and a folder at
 * `file` always. Tasks call it first, for every file they will write, so a refusal changes nothing.
 */
export function ensureWritable(file: string, options: Pick<WriteOptions, "force" | "flag">): void {
  // A folder is never overwritten, --force or not (the rename would fail with EISDIR).
  if (fs.statSync(file, { throwIfNoEntry: false })?.isDirectory() === true) {
    throw new UserError(`--${options.flag}: ${file} is a directory; name a file`);
  }
  if (!options.force && fs.existsSync(file)) {
    throw new UserError(`--${options.flag}: ${file} exists; pass --force to overwrite it`);
  }
}

/**
 * Writes `data` to `file` atomically (a temporary file beside it, flushed, then renamed over it, with
 * npm's `write-file-atomic`): a crash or Ctrl-C leaves either the old file or the new one, never half of
 * one. Creates a missing parent folder. Refuses to overwrite without `--force`.
 */
export function writeOutput(file: string, data: string | Buffer, options: WriteOptions): void {
  ensureWritable(file, options);
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  writeFileAtomic.sync(file, data, { fsync: true, ...(options.mode === undefined ? {} : { mode: options.mode }) });
}

/** {@link writeOutput} for a JSON document, pretty-printed with a final newline. */
export function writeJsonOutput(file: string, value: unknown, options: WriteOptions): void {
  writeOutput(file, `${JSON.stringify(value, null, 2)}\n`, options);
}
