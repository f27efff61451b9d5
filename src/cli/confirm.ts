import readline from "node:readline/promises";

import { UserError } from "../errors";

/** Where a confirmation is asked: a terminal's input, and where the question is written. */
export interface PromptIo {
  readonly input: NodeJS.ReadableStream & { isTTY?: boolean };
  readonly output: NodeJS.WritableStream;
}

/**
 * Asks `question` with a `[y/N]` answer and says whether the user answered yes. Without a terminal to
 * ask on, fails with `noTerminal` (one line, which should name the flag that skips the question).
 */
export async function confirm(
  question: string,
  noTerminal: string,
  io: PromptIo = { input: process.stdin, output: process.stderr },
): Promise<boolean> {
  if (io.input.isTTY !== true) throw new UserError(noTerminal);
  const rl = readline.createInterface({ input: io.input, output: io.output });
  try {
    // End of input (Ctrl-D) is a no, like an empty answer.
    const closed = new Promise<string>((resolve) => rl.once("close", () => resolve("")));
    const answer = await Promise.race([rl.question(`${question} [y/N] `).catch(() => ""), closed]);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}
