import { HardhatPluginError } from "hardhat/plugins";
import { TASK_COMPILE } from "hardhat/builtin-tasks/task-names";
import type { HardhatRuntimeEnvironment } from "hardhat/types";

import { printJson } from "../src/cli/output";
import { UserError } from "../src/errors";

export const PLUGIN = "thingledger";

/**
 * Runs a task body: compiles first (so a fresh clone works, and typechain-types exist before `src/` is
 * loaded), turns a {@link UserError} into Hardhat's one-line plugin error, and prints either JSON or
 * the human summary.
 */
export async function runTask<T>(
  hre: HardhatRuntimeEnvironment,
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
  } catch (error) {
    if (error instanceof UserError) {
      throw new HardhatPluginError(PLUGIN, error.message);
    }
    throw error;
  }
}
