import { definedTasks } from "../lib";
import { hardhatCommandLine, taskArgument } from "./cli-errors";

/**
 * The ThingLedger task (one declared with `defineTask`) that the `hardhat` command line runs, or undefined
 * when it runs another task (`test`, `coverage`, `help`, ...), none (Hardhat's help), or when Hardhat is not
 * run from its command line (a test runner or a script that imports it). Needs the tasks declared first.
 */
export function ownTaskOnCommandLine(argv: readonly string[] = process.argv): string | undefined {
  if (!hardhatCommandLine()) return undefined;
  const name = taskArgument(argv.slice(2));
  return name !== undefined && definedTasks().includes(name) ? name : undefined;
}

/**
 * Loads a Hardhat plugin that serves Hardhat's own tasks (`test`, `coverage`, `verify`, ...), not
 * ThingLedger's, unless the command line runs one of ThingLedger's tasks for which `usedBy` is false:
 * `npx hardhat device:status` starts without it. Hardhat's tasks, its help (which lists every task) and a
 * process that is not Hardhat's command line (a test runner, a script) load it as before. Returns whether
 * it loaded.
 */
export function loadPlugin(id: string, usedBy: (task: string) => boolean = () => false): boolean {
  const own = ownTaskOnCommandLine();
  if (own !== undefined && !usedBy(own)) return false;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require(id);
  return true;
}
