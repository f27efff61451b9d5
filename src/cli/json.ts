import fs from "node:fs";

import JSON5 from "json5";

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
    throw new UserError(`${shown} is not valid JSON (${jsonErrorAt(text, error as Error)}): expected ${what}`);
  }
}

/**
 * Where and why `text` is not JSON, as "line L column C: reason". Node's own message gives a character
 * position only for some errors, so the place comes from JSON5's parser (a superset of JSON that reports
 * line and column); a text JSON5 accepts (comments, trailing commas) falls back to Node's position, if any.
 */
export function jsonErrorAt(text: string, error: Error): string {
  try {
    JSON5.parse(text);
  } catch (located) {
    const e = located as { lineNumber?: number; columnNumber?: number; message: string };
    if (e.lineNumber !== undefined) {
      const reason = e.message.replace(/^JSON5: /, "").replace(/ at \d+:\d+$/, "");
      return `line ${e.lineNumber} column ${e.columnNumber ?? 1}: ${reason}`;
    }
  }
  const position = /at position (\d+)/.exec(error.message);
  // JSON5 accepted it: the first comment or trailing comma (JSON allows neither) is the likely culprit.
  const json5Only = /,\s*[}\]]|\/\/|\/\*/.exec(text);
  const at = position !== null ? Number(position[1]) : json5Only?.index;
  if (at === undefined) return "it uses syntax JSON does not allow (single quotes or unquoted names?)";
  const before = text.slice(0, at);
  const line = before.split("\n").length;
  const column = before.length - before.lastIndexOf("\n");
  const reason =
    position !== null
      ? error.message.replace(/ in JSON at position \d+.*$/, "")
      : "a comment or trailing comma, which JSON does not allow";
  return `line ${line} column ${column}: ${reason}`;
}
