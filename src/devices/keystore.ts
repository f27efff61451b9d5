import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";

import { Wallet, decryptKeystoreJsonSync, encryptKeystoreJsonSync, hexlify, randomBytes } from "ethers";

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

/**
 * scrypt N for simulated devices. Ethers' default (2^17) takes about a second per key; a simulated fleet
 * of hundreds would take minutes. 2^14 keeps each key behind ~60 ms of work. Set
 * THINGLEDGER_KEYSTORE_SCRYPT_N=131072 for production-strength keystores.
 */
export function scryptN(): number {
  const value = Number(process.env.THINGLEDGER_KEYSTORE_SCRYPT_N ?? 16_384);
  if (!Number.isInteger(value) || value < 1024 || (value & (value - 1)) !== 0) {
    throw new UserError("THINGLEDGER_KEYSTORE_SCRYPT_N must be a power of two ≥ 1024");
  }
  return value;
}

/** The keystore password: from THINGLEDGER_KEYSTORE_PASSWORD, or asked for (hidden) on a terminal. */
export async function keystorePassword(): Promise<string> {
  const fromEnv = process.env[PASSWORD_ENV];
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  if (!process.stdin.isTTY) {
    throw new UserError(`no keystore password: set ${PASSWORD_ENV}, or run on a terminal to be asked for it`);
  }
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  const muted = rl as unknown as { _writeToOutput: (s: string) => void };
  process.stderr.write("Device keystore password: ");
  muted._writeToOutput = () => undefined;
  const answer = await new Promise<string>((resolve) => rl.question("", resolve));
  rl.close();
  process.stderr.write("\n");
  if (answer === "") throw new UserError("an empty keystore password is not allowed");
  return answer;
}

export interface DeviceKeystoreMeta {
  uid: string;
  deviceId: string;
}

export function keystoreFile(dir: string, deviceId: string): string {
  return path.join(dir, `${deviceId.toLowerCase()}.json`);
}

/** Encrypts a device's private key to `dir/<deviceId>.json`. The key itself is never printed or written in clear. */
export function saveDeviceKey(dir: string, meta: DeviceKeystoreMeta, wallet: Wallet, password: string): string {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const json = JSON.parse(
    encryptKeystoreJsonSync({ address: wallet.address, privateKey: wallet.privateKey }, password, {
      scrypt: { N: scryptN() },
    }),
  ) as Record<string, unknown>;
  json["x-thingledger"] = meta;
  const file = keystoreFile(dir, meta.deviceId);
  fs.writeFileSync(file, `${JSON.stringify(json)}\n`, { mode: 0o600 });
  return file;
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
  try {
    const account = decryptKeystoreJsonSync(text, password);
    return { wallet: new Wallet(account.privateKey), meta };
  } catch {
    throw new UserError(`cannot decrypt ${file}: wrong password or corrupt keystore`);
  }
}
