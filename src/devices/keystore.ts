import fs from "node:fs";
import path from "node:path";

import { Wallet, decryptKeystoreJsonSync, encryptKeystoreJsonSync, hexlify, randomBytes } from "ethers";
import writeFileAtomic from "write-file-atomic";

import { askHidden } from "../cli/prompt";
import { UserError } from "../errors";

/**
 * A fresh random key from 32 random bytes. `Wallet.createRandom()` derives an HD wallet from a new mnemonic
 * (2,048 PBKDF2 rounds, ~10 ms a key), so a 1,000-device fleet blocked the event loop for 10 s, long
 * enough for a node's keep-alive to close the RPC socket under the next request.
 */
export function randomDeviceKey(): Wallet {
  return new Wallet(hexlify(randomBytes(32)));
}

/** Where device keys are kept: one encrypted ethers (Web3 Secret Storage v3) keystore per device. */
export const PASSWORD_ENV = "THINGLEDGER_KEYSTORE_PASSWORD";

/** The scrypt N of `device:generate --dev-scrypt`: SIMULATION ONLY, ~60 times less work than ethers' default. */
export const DEV_SCRYPT_N = 1024;
/** Ethers' (and geth's) default scrypt N: the strength real device keys deserve. */
export const PRODUCTION_SCRYPT_N = 131_072;
/** The scrypt N unless THINGLEDGER_KEYSTORE_SCRYPT_N says otherwise: ~60 ms a key, for simulated fleets. */
export const DEFAULT_SCRYPT_N = 16_384;

/**
 * scrypt N for simulated devices. Ethers' default (2^17) takes about a second per key; a simulated fleet
 * of hundreds would take minutes. 2^14 ({@link DEFAULT_SCRYPT_N}) keeps each key behind ~60 ms of work. Set
 * THINGLEDGER_KEYSTORE_SCRYPT_N={@link PRODUCTION_SCRYPT_N} (131072) for production-strength keystores; `dev` (device:generate
 * --dev-scrypt) takes {@link DEV_SCRYPT_N}, for simulations only.
 */
export function scryptN(dev = false): number {
  if (dev) return DEV_SCRYPT_N;
  const value = Number(process.env.THINGLEDGER_KEYSTORE_SCRYPT_N ?? DEFAULT_SCRYPT_N);
  if (!Number.isInteger(value) || value < 1024 || (value & (value - 1)) !== 0) {
    throw new UserError("THINGLEDGER_KEYSTORE_SCRYPT_N must be a power of two ≥ 1024");
  }
  return value;
}

/** Reads one line after `prompt` without echoing it (the terminal), or from a test's script. */
export type SecretReader = (prompt: string) => Promise<string>;

/** A {@link SecretReader} on the terminal (hidden input on stderr), or undefined when stdin is not one. */
export function terminalReader(): SecretReader | undefined {
  if (!process.stdin.isTTY) return undefined;
  return askHidden;
}

function passwordFromEnv(): string | undefined {
  const fromEnv = process.env[PASSWORD_ENV];
  return fromEnv !== undefined && fromEnv !== "" ? fromEnv : undefined;
}

function needReader(reader: SecretReader | undefined): SecretReader {
  if (reader === undefined) {
    throw new UserError(`no keystore password: set ${PASSWORD_ENV}, or run on a terminal to be asked for it`);
  }
  return reader;
}

/** The keystore password: from THINGLEDGER_KEYSTORE_PASSWORD, or asked for (hidden) on a terminal. */
export async function keystorePassword(reader: SecretReader | undefined = terminalReader()): Promise<string> {
  const fromEnv = passwordFromEnv();
  if (fromEnv !== undefined) return fromEnv;
  const answer = await needReader(reader)("Device keystore password: ");
  if (answer === "") throw new UserError("an empty keystore password is not allowed");
  return answer;
}

/**
 * The password for NEW keystores: from THINGLEDGER_KEYSTORE_PASSWORD as is, or asked for twice on a
 * terminal, the two answers must match (one typo would lock every key it encrypts).
 */
export async function newKeystorePassword(reader: SecretReader | undefined = terminalReader()): Promise<string> {
  const fromEnv = passwordFromEnv();
  if (fromEnv !== undefined) return fromEnv;
  const ask = needReader(reader);
  const first = await ask("New device keystore password: ");
  if (first === "") throw new UserError("an empty keystore password is not allowed");
  const second = await ask("Repeat the password: ");
  if (second !== first) throw new UserError("the two passwords differ; nothing was written");
  return first;
}

export interface DeviceKeystoreMeta {
  uid: string;
  deviceId: string;
}

export function keystoreFile(dir: string, deviceId: string): string {
  return path.join(dir, `${deviceId.toLowerCase()}.json`);
}

/**
 * The one writer of key files (device keys, client keys, and the keystores `device:generate`'s threads
 * encrypted): `keystore` (an ethers / Web3 Secret Storage v3 JSON text) with ThingLedger's metadata, if any,
 * under "x-thingledger", to `file`, 0600, atomically (a temporary file, then a rename: a key rotation
 * interrupted here keeps the old keystore whole), or, `staged`, plainly into a folder renamed into place whole.
 */
export function writeKeystore(file: string, keystore: string, meta?: DeviceKeystoreMeta, staged = false): string {
  const json = JSON.parse(keystore) as Record<string, unknown>;
  if (meta !== undefined) json["x-thingledger"] = meta;
  const text = `${JSON.stringify(json)}\n`;
  // In a staging folder that is renamed into place whole (device:generate), a plain write is as safe, and
  // 10,000 keys do not wait for 10,000 fsyncs.
  if (staged) fs.writeFileSync(file, text, { mode: 0o600 });
  else writeFileAtomic.sync(file, text, { mode: 0o600, fsync: true });
  return file;
}

/** Encrypts `wallet`'s key under `password` (scrypt N from {@link scryptN}) into `file` ({@link writeKeystore}). */
export function saveKey(file: string, wallet: Wallet, password: string, meta?: DeviceKeystoreMeta): string {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const keystore = encryptKeystoreJsonSync({ address: wallet.address, privateKey: wallet.privateKey }, password, {
    scrypt: { N: scryptN() },
  });
  return writeKeystore(file, keystore, meta);
}

/** Encrypts a device's private key to `dir/<deviceId>.json`. The key itself is never printed or written in clear. */
export function saveDeviceKey(dir: string, meta: DeviceKeystoreMeta, wallet: Wallet, password: string): string {
  return saveKey(keystoreFile(dir, meta.deviceId), wallet, password, meta);
}

/**
 * The one reader of key files: the key in the keystore text `text` (of `where`, for messages) under
 * `password`. A wrong password and a keystore that cannot be decrypted are each one line naming `where`.
 */
export function decryptKey(where: string, text: string, password: string): Wallet {
  try {
    return new Wallet(decryptKeystoreJsonSync(text, password).privateKey);
  } catch (error) {
    const e = error as { code?: unknown; argument?: unknown };
    if (e.code === "INVALID_ARGUMENT" && e.argument === "password")
      throw new UserError(`${where}: wrong password for this keystore`);
    throw new UserError(`${where}: the keystore is corrupt (it cannot be decrypted)`);
  }
}

/** A device's key from the keystore in `dir`, with the password from the environment or the terminal. */
export async function unlockDeviceKey(dir: string, deviceId: string): Promise<Wallet> {
  return loadDeviceKey(dir, deviceId, await keystorePassword()).wallet;
}

/** Decrypts a device's key from its keystore; a wrong password or a corrupt file fails with one line. */
export function loadDeviceKey(
  dir: string,
  deviceId: string,
  password: string,
): { wallet: Wallet; meta: DeviceKeystoreMeta } {
  const file = keystoreFile(dir, deviceId);
  if (!fs.existsSync(file)) {
    throw new UserError(`no keystore for device ${deviceId} in ${dir}`);
  }
  let text: string;
  let meta: DeviceKeystoreMeta;
  try {
    text = fs.readFileSync(file, "utf8");
    meta = (JSON.parse(text) as { "x-thingledger": DeviceKeystoreMeta })["x-thingledger"];
  } catch (error) {
    throw new UserError(`${file} is not a keystore: ${(error as Error).message}`);
  }
  return { wallet: decryptKey(file, text, password), meta };
}
