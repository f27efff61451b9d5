import { HardhatError } from "hardhat/internal/core/errors";
import { HardhatPluginError } from "hardhat/plugins";
import { TASK_COMPILE } from "hardhat/builtin-tasks/task-names";
import type { HardhatRuntimeEnvironment } from "hardhat/types";

import { printJson } from "../src/cli/output";
import { liveNetwork, missingRpcUrl } from "../src/config/networks";
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

/** A low-level failure (DNS, refused, timed out) to reach the network's own RPC host, as Node reports it. */
function isRpcConnectionError(hre: HardhatRuntimeEnvironment, error: unknown): boolean {
  if (!("url" in hre.network.config)) return false;
  const e = (error ?? {}) as { code?: unknown; hostname?: unknown; address?: unknown };
  const codes = ["ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT"];
  if (typeof e.code !== "string" || !codes.includes(e.code)) return false;
  const host = new URL(hre.network.config.url).hostname;
  return e.hostname === host || e.address === host;
}

/**
 * One line for a network that cannot be reached or answers with another chain id. A live network's RPC
 * URL often carries an API key, so only its host is shown.
 */
function networkProblem(hre: HardhatRuntimeEnvironment, wrongChain: string | undefined): string {
  const name = hre.network.name;
  const url = "url" in hre.network.config ? hre.network.config.url : name;
  const live = liveNetwork(name);
  const where = live === undefined ? url : new URL(url).host;
  const fix = live === undefined ? "is the node running (npx hardhat node)?" : `check ${live.prefix}_RPC_URL`;
  if (wrongChain !== undefined) {
    const found = /chain with id (\d+)/.exec(wrongChain)?.[1] ?? "another chain";
    return `network "${name}" at ${where} is chain ${found}, not chain ${hre.network.config.chainId}: ${fix}`;
  }
  return `cannot reach network "${name}" at ${where}: ${fix}`;
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
    const unconfigured = missingRpcUrl(hre.network.name);
    if (unconfigured !== undefined) throw new UserError(unconfigured);
    const result = await body();
    if (json) {
      printJson(result);
    } else {
      console.log(human(result));
    }
    return result;
  } catch (caught) {
    let error = caught;
    if (HardhatError.isHardhatError(error) && (error.number === 108 || error.number === 101)) {
      error = new UserError(networkProblem(hre, error.number === 101 ? error.message : undefined));
    } else if (isRpcConnectionError(hre, error)) {
      error = new UserError(networkProblem(hre, undefined));
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
