import fs from "node:fs";
import path from "node:path";

import { Progress } from "../cli/progress";
import { UserError } from "../errors";
import { makeEncryptedKeys } from "./encrypt";
import { deviceIdOf, writeFleetFiles } from "./fleet";
import type { FleetDevice } from "./fleet";
import { keystoreFile, writeKeystore } from "./keystore";
import { DEVICE_TYPES } from "./types";

export interface GeneratedFleet {
  count: number;
  csv: string;
  json: string;
  keystoreDir: string;
  /** scrypt N of the keystores (below PRODUCTION_SCRYPT_N, 131072: simulation strength). */
  scryptN: number;
  /** With --force over an old fleet: where its keystores were moved (nothing is deleted). */
  replacedKeystores?: string;
  devices: { uid: string; deviceId: string; deviceKey: string; deviceType: number }[];
}

export interface GenerateOptions {
  /** Device type for all of them; default: a mix of the catalogue. */
  deviceType?: number;
  /** scrypt N for the keystores. */
  scryptN: number;
  /** Replace a fleet already in the folder (its keystores are moved to keystore.old-<time>). */
  force?: boolean;
  showProgress?: boolean;
  /** Encryption threads; default: one per core, at most four. */
  threads?: number;
}

/** The files of a fleet folder, the ones `device:generate` writes. */
function fleetPaths(outDir: string) {
  return {
    csv: path.join(outDir, "devices.csv"),
    json: path.join(outDir, "devices.json"),
    keystoreDir: path.join(outDir, "keystore"),
  };
}

/**
 * Refuses, before anything is asked or written, a folder that already holds a fleet (devices.csv,
 * devices.json or keystore/) unless `force`: a second fleet would overwrite the first's fleet file and mix
 * its keystores (maybe under another password) with the new ones.
 */
export function ensureFleetFolder(outDir: string, force: boolean): void {
  const present = Object.values(fleetPaths(outDir)).filter((f) => fs.existsSync(f));
  if (present.length > 0 && !force) {
    throw new UserError(
      `${outDir} already holds a fleet (${present.map((f) => path.basename(f)).join(", ")}); choose another folder, or pass --force to replace it (its keystores are kept aside)`,
    );
  }
  if (fs.existsSync(outDir) && !fs.statSync(outDir).isDirectory()) {
    throw new UserError(`${outDir} is a file, not a folder`);
  }
}

/**
 * Runs `body` with a fresh staging folder inside `outDir`; the staging folder is removed when `body`
 * fails and when the process is interrupted (Ctrl-C, SIGTERM), which then exits with 130 or 143.
 */
async function withStaging<T>(outDir: string, body: (staging: string) => Promise<T>): Promise<T> {
  fs.mkdirSync(outDir, { recursive: true });
  const staging = fs.mkdtempSync(path.join(outDir, ".generating-"));
  const discard = () => fs.rmSync(staging, { recursive: true, force: true });
  const onSignal = (signal: NodeJS.Signals) => {
    discard();
    process.stderr.write(`\ndevice:generate interrupted; nothing was written to ${outDir}. Re-run it.\n`);
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    return await body(staging);
  } catch (error) {
    discard();
    throw error;
  } finally {
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
  }
}

/**
 * Generates `count` simulated devices of manufacturer `manufacturerId` (their ids are in its namespace): a
 * unique id, a fresh secp256k1 key and a type each. Writes the fleet file (public data only) and one
 * encrypted keystore per device under `outDir/keystore`. All of it is written in a staging folder and
 * moved into place at the end, so an interrupted run leaves no keystores without their fleet file; the
 * keys are made and encrypted on several threads.
 */
export async function generateFleet(
  manufacturerId: number,
  count: number,
  outDir: string,
  password: string,
  options: GenerateOptions,
): Promise<GeneratedFleet> {
  ensureFleetFolder(outDir, options.force ?? false);
  const types = Object.keys(DEVICE_TYPES).map(Number);
  const devices: Omit<FleetDevice, "line">[] = new Array(count);
  const final = fleetPaths(outDir);
  const replacedKeystores = await withStaging(outDir, async (staging) => {
    const keystores = path.join(staging, "keystore");
    fs.mkdirSync(keystores, { mode: 0o700 });
    const progress = new Progress("generating devices", count, options.showProgress ?? true);
    let done = 0;
    await makeEncryptedKeys(
      count,
      password,
      options.scryptN,
      (i, key) => {
        const uid = `TL-${key.address.slice(2, 10).toUpperCase()}-${String(i + 1).padStart(6, "0")}`;
        const deviceId = deviceIdOf(manufacturerId, uid);
        devices[i] = {
          uid,
          deviceId,
          publicKey: key.publicKey,
          deviceKey: key.address,
          deviceType: options.deviceType ?? types[i % types.length],
        };
        writeKeystore(keystoreFile(keystores, deviceId), key.keystore, { uid, deviceId }, true);
        progress.update(++done);
      },
      options.threads,
    );
    const staged = writeFleetFiles(staging, devices);
    // Into place: the old fleet's keystores aside (never deleted), then the keys, then the fleet files.
    let aside: string | undefined;
    if (fs.existsSync(final.keystoreDir)) {
      aside = `${final.keystoreDir}.old-${new Date().toISOString().replace(/[:.]/g, "-")}`;
      fs.renameSync(final.keystoreDir, aside);
    }
    fs.renameSync(keystores, final.keystoreDir);
    fs.renameSync(staged.csv, final.csv);
    fs.renameSync(staged.json, final.json);
    fs.rmSync(staging, { recursive: true, force: true });
    return aside;
  });
  return {
    count,
    csv: final.csv,
    json: final.json,
    keystoreDir: final.keystoreDir,
    scryptN: options.scryptN,
    ...(replacedKeystores === undefined ? {} : { replacedKeystores }),
    devices: devices.map((d) => ({
      uid: d.uid,
      deviceId: d.deviceId,
      deviceKey: d.deviceKey,
      deviceType: d.deviceType,
    })),
  };
}
