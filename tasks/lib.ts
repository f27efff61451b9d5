import { HardhatError } from "hardhat/internal/core/errors";
import { HardhatPluginError } from "hardhat/plugins";
import { TASK_COMPILE } from "hardhat/builtin-tasks/task-names";
import type { HardhatRuntimeEnvironment } from "hardhat/types";

import { printJson } from "../src/cli/output";
import { UserError } from "../src/errors";

export const PLUGIN = "thingledger";

/**
 * True when `taskName` is the task the user typed on the command line (not one run from code or tests).
 * Hardhat prints full stack traces for every error on a headless Linux machine; a user error deserves
 * one line instead.
 */
function typedOnCommandLine(taskName: string): boolean {
  const cli = require.main?.filename ?? "";
  return /hardhat[\\/]internal[\\/]cli[\\/]/.test(cli) && process.argv.includes(taskName);
}

/**
 * Runs a task body: compiles first (so a fresh clone works, and typechain-types exist before `src/` is
 * loaded), turns a {@link UserError} into Hardhat's one-line plugin error, and prints either JSON or
 * the human summary.
 */
export async function runTask<T>(
  hre: HardhatRuntimeEnvironment,
  task: string,
  json: boolean,
  body: () => Promise<T>,
  human: (result: T) => string,
): Promise<T> {
  await hre.run(TASK_COMPILE, { quiet: true });
  try {
    const result = await body();
    if (json) {
      printJson(result);
    } else {
      console.log(human(result));
    }
    return result;
  } catch (caught) {
    let error = caught;
    if (HardhatError.isHardhatError(error) && error.number === 108) {
      const url = "url" in hre.network.config ? hre.network.config.url : hre.network.name;
      error = new UserError(
        `cannot reach network "${hre.network.name}" at ${url}: is the node running (npx hardhat node)?`,
      );
    }
    if (error instanceof UserError) {
      if (typedOnCommandLine(task) && !process.argv.includes("--show-stack-traces")) {
        console.error(`Error: ${error.message}`);
        process.exit(1);
      }
      throw new HardhatPluginError(PLUGIN, error.message);
    }
    throw error;
  }
}
