import type { Signer } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types";

import { PreflightSigner } from "../../src/chain/preflight";
import { parseCount } from "../../src/cli/parse";
import { UserError } from "../../src/errors";

/**
 * Picks the signer at `index` among the network's configured accounts, wrapped so that every transaction
 * is simulated first and one that would revert is never sent ({@link PreflightSigner}).
 */
export async function signerAt(hre: HardhatRuntimeEnvironment, index: number): Promise<Signer> {
  const signers = await hre.ethers.getSigners();
  if (signers.length === 0) {
    throw new UserError(
      `network "${hre.network.name}" has no accounts: set DEPLOYER_PRIVATE_KEY (environment or \`npx hardhat vars set DEPLOYER_PRIVATE_KEY\`)`,
    );
  }
  const signer = signers[index];
  if (signer === undefined) {
    throw new UserError(`--signer ${index}: network "${hre.network.name}" has only ${signers.length} account(s)`);
  }
  return new PreflightSigner(signer, signer.provider, hre.network.name === "hardhat" ? warnInProcess : undefined);
}

let warned = false;

/**
 * One line, once per run, before the first transaction a task sends on the in-process network: it
 * vanishes when the task exits, which a user who forgot `--network` must hear (the demo, which is meant to
 * run there, signs with its own accounts and is not warned).
 */
function warnInProcess(): void {
  if (warned) return;
  warned = true;
  console.error(
    'Warning: network "hardhat" is in-process: nothing this task sends persists after it exits (pass --network localhost or a live network)',
  );
}

/** The local account an `--<option> N` argument names. */
export async function signerOption(hre: HardhatRuntimeEnvironment, option: string, value: string): Promise<Signer> {
  return signerAt(hre, parseCount(option, value));
}
