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
  return new PreflightSigner(signer);
}

/** The local account an `--<option> N` argument names. */
export async function signerOption(hre: HardhatRuntimeEnvironment, option: string, value: string): Promise<Signer> {
  return signerAt(hre, parseCount(option, value));
}
