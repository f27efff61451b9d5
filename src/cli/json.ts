import fs from "node:fs";

import { UserError } from "../errors";

/**
 * The one reader for the JSON files users hand to tasks (permits, proposals, clients, whitelists, address
 * books): a missing file or bad JSON fails with one line that names the file and what it should hold.
 */
export function readJsonFile(file: string, what: string): unknown {
  const shown = file;
  if (!fs.existsSync(file)) throw new UserError(`${shown} does not exist: expected ${what}`);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    throw new UserError(
      `${shown} cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"}): expected ${what}`,
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new UserError(`${shown} is not valid JSON (${(error as Error).message}): expected ${what}`);
  }
}
