import type { Signer } from "ethers";
import { vars } from "hardhat/config";
import type { HardhatRuntimeEnvironment } from "hardhat/types";

import { PreflightSigner } from "../../src/chain/preflight";
import { AccountSource, KeystoreSource, PrivateKeySource, parseSignerSpec } from "../../src/chain/signers";
import type { SignerSource } from "../../src/chain/signers";
import { UserError } from "../../src/errors";

/**
 * The signer a source resolves to, wrapped so that every transaction is simulated first and one that
 * would revert is never sent ({@link PreflightSigner}). Before its first transaction it prints on stderr which
 * address signs and how it was chosen (and, on the in-process network, that nothing persists).
 */
export async function signerFrom(hre: HardhatRuntimeEnvironment, source: SignerSource): Promise<Signer> {
  const signer = await source.connect(hre.ethers.provider);
  const line = `Signing as ${await signer.getAddress()} (${source.description})`;
  const inProcess = hre.network.name === "hardhat";
  return new PreflightSigner(signer, signer.provider, () => {
    console.error(line); // stderr: stdout stays the task's result (JSON with --json)
    if (inProcess) warnInProcess();
  });
}

/** The network's account at `index` (see {@link signerFrom}). */
export async function signerAt(hre: HardhatRuntimeEnvironment, index: number, option = "signer"): Promise<Signer> {
  return signerFrom(hre, accountSource(hre, option, index));
}

function accountSource(hre: HardhatRuntimeEnvironment, option: string, index: number): AccountSource {
  return new AccountSource(option, index, hre.network.name, () => hre.ethers.getSigners());
}

/**
 * What a signer-valued option (`--signer`, `--owner`, `--as`, `--relayer`) names: an account index, a
 * private key stored with `npx hardhat vars set NAME` (`vars:NAME`), or an encrypted JSON keystore file
 * (`parseSignerSpec` in `src/chain/signers.ts`). A new kind (a hardware wallet) is one more case here.
 */
export function signerSource(hre: HardhatRuntimeEnvironment, option: string, value: string): SignerSource {
  const spec = parseSignerSpec(option, value);
  switch (spec.kind) {
    case "index":
      return accountSource(hre, option, spec.index);
    case "keystore":
      return new KeystoreSource(option, spec.file);
    case "vars":
      if (!vars.has(spec.name)) {
        throw new UserError(
          `--${option} ${value}: no Hardhat variable ${spec.name} (set it with: npx hardhat vars set ${spec.name})`,
        );
      }
      return new PrivateKeySource(option, `vars ${spec.name}`, vars.get(spec.name));
  }
}

/** The signer an `--<option> VALUE` argument names (see {@link signerSource} and {@link signerFrom}). */
export async function signerOption(hre: HardhatRuntimeEnvironment, option: string, value: string): Promise<Signer> {
  return signerFrom(hre, signerSource(hre, option, value));
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
