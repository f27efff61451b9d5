import fs from "node:fs";

import { Wallet, isKeystoreJson } from "ethers";
import type { Provider, Signer } from "ethers";

import { readJsonFile } from "../cli/json";
import { decryptKey } from "../devices/keystore";
import { askHidden } from "../cli/prompt";
import { UserError } from "../errors";

/**
 * Where a task's signing key comes from. A source is chosen by a signer-valued option (`--signer`,
 * `--owner`, `--as`, `--relayer`; {@link parseSignerSpec}) and resolved once, before anything is sent.
 * The three kinds here are a local account by index ({@link AccountSource}), an encrypted JSON keystore
 * ({@link KeystoreSource}) and a raw private key held in a named secret store ({@link PrivateKeySource});
 * another kind (a hardware wallet, a remote signer) implements this interface and returns any ethers
 * `Signer`. Its errors are one-line {@link UserError}s that name the option and never the key.
 */
export interface SignerSource {
  /** How the signer was chosen, as the "Signing as" line shows it: "account #2", "keystore ops/admin.json". */
  readonly description: string;
  /** The signer, connected to `provider`. */
  connect(provider: Provider): Promise<Signer>;
}

/** What a signer-valued option names: a local account's index, a named secret, or a keystore file. */
export type SignerSpec =
  { kind: "index"; index: number } | { kind: "vars"; name: string } | { kind: "keystore"; file: string };

/** The option's syntax, for error messages. */
export const SIGNER_SYNTAX = "an account index, vars:NAME, or the path of an encrypted JSON keystore";

/**
 * Reads a signer-valued option: digits only are an account index (`3`); `vars:NAME` is a private key stored
 * with `npx hardhat vars set NAME`; anything else is the path of an encrypted JSON keystore (a keystore
 * file named like a number is written `./3`).
 */
export function parseSignerSpec(option: string, value: string): SignerSpec {
  // A private key pasted on the command line (alone, after vars:, any case of 0x) is already in the shell's
  // history: it is refused first, and never printed back (into a terminal's scrollback or a CI log).
  if (/^(vars:)?(0x)?[0-9a-f]{64}$/i.test(value.trim()))
    throw new UserError(
      `--${option} looks like a raw private key, which is never taken on the command line (nor printed back): store it with npx hardhat vars set NAME and pass --${option} vars:NAME, or use an encrypted keystore file; remove it from your shell history`,
    );
  if (/^\d+$/.test(value)) {
    const index = Number(value);
    if (!Number.isSafeInteger(index)) throw new UserError(`--${option} ${value}: not an account index`);
    return { kind: "index", index };
  }
  if (value.startsWith("vars:")) {
    const name = value.slice("vars:".length);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new UserError(
        `--${option} ${value}: "${name}" is not a variable name (letters, digits and _, not starting with a digit)`,
      );
    }
    return { kind: "vars", name };
  }
  if (value.trim() === "") throw new UserError(`--${option} is empty: give ${SIGNER_SYNTAX}`);
  return { kind: "keystore", file: value };
}

/** The Nth of the network's configured accounts (the node's, or DEPLOYER_PRIVATE_KEY on a live network). */
export class AccountSource implements SignerSource {
  readonly description: string;

  constructor(
    private readonly option: string,
    private readonly index: number,
    private readonly network: string,
    private readonly accounts: () => Promise<Signer[]>,
  ) {
    this.description = `account #${index}`;
  }

  async connect(provider: Provider): Promise<Signer> {
    const accounts = await this.accounts();
    if (accounts.length === 0) {
      throw new UserError(
        `network "${this.network}" has no accounts: set DEPLOYER_PRIVATE_KEY (environment or \`npx hardhat vars set DEPLOYER_PRIVATE_KEY\`)`,
      );
    }
    const account = accounts[this.index];
    if (account === undefined) {
      throw new UserError(
        `--${this.option} ${this.index}: network "${this.network}" has only ${accounts.length} account(s)`,
      );
    }
    return account.provider === provider ? account : account.connect(provider);
  }
}

/** The environment variable that holds the password of a `--signer` keystore. */
export const SIGNER_PASSWORD_ENV = "THINGLEDGER_SIGNER_PASSWORD";

/**
 * A keystore's password: THINGLEDGER_SIGNER_PASSWORD, else asked for (hidden) on a terminal, else a
 * one-line refusal (a script or a service must set the variable).
 */
export async function signerPassword(where: string, input: { isTTY?: boolean } = process.stdin): Promise<string> {
  const fromEnv = process.env[SIGNER_PASSWORD_ENV];
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  if (input.isTTY !== true) {
    throw new UserError(`${where}: no password: set ${SIGNER_PASSWORD_ENV}, or run on a terminal to be asked for it`);
  }
  return askHidden(`Password for ${where}: `);
}

/** An encrypted JSON keystore (Web3 Secret Storage v3, as ethers, geth and MetaMask write it). */
export class KeystoreSource implements SignerSource {
  readonly description: string;

  constructor(
    private readonly option: string,
    private readonly file: string,
    private readonly password: (where: string) => Promise<string> = signerPassword,
  ) {
    this.description = `keystore ${file}`;
  }

  async connect(provider: Provider): Promise<Signer> {
    const where = `--${this.option} ${this.file}`;
    if (!fs.existsSync(this.file)) {
      throw new UserError(`${where}: no such file (the option takes ${SIGNER_SYNTAX})`);
    }
    if (fs.statSync(this.file).isDirectory()) throw new UserError(`${where}: is a directory, not a keystore file`);
    const json = readJsonFile(this.file, "an encrypted JSON keystore");
    const text = JSON.stringify(json);
    if (!isKeystoreJson(text)) throw new UserError(`${where}: not an encrypted JSON keystore`);
    const password = await this.password(where);
    return decryptKey(where, text, password).connect(provider);
  }
}

/** A raw private key that a secret store holds under a name (Hardhat's `vars`, read by the task layer). */
export class PrivateKeySource implements SignerSource {
  constructor(
    private readonly option: string,
    readonly description: string,
    private readonly key: string,
  ) {}

  connect(provider: Provider): Promise<Signer> {
    const hex = this.key.trim().replace(/^0x/i, "");
    if (!/^[0-9a-fA-F]{64}$/.test(hex) || /^0+$/.test(hex)) {
      throw new UserError(
        `--${this.option}: ${this.description} does not hold a private key (64 hex digits, with or without 0x)`,
      );
    }
    try {
      return Promise.resolve(new Wallet(`0x${hex}`, provider));
    } catch {
      throw new UserError(`--${this.option}: ${this.description} does not hold a valid private key`);
    }
  }
}
