import path from "node:path";

import { Wallet } from "ethers";

import { Progress } from "../cli/progress";
import { deviceIdOf, writeFleetFiles } from "./fleet";
import type { FleetDevice } from "./fleet";
import { randomDeviceKey, saveDeviceKey } from "./keystore";
import { DEVICE_TYPES } from "./types";

export interface GeneratedFleet {
  count: number;
  csv: string;
  json: string;
  keystoreDir: string;
  devices: { uid: string; deviceId: string; deviceKey: string; deviceType: number }[];
}

/**
 * Generates `count` simulated devices of manufacturer `manufacturerId` (their ids are in its namespace): a
 * unique id, a fresh secp256k1 key and a type each. Writes the fleet file (public data only) and one
 * encrypted keystore per device under `outDir/keystore`.
 */
export function generateFleet(
  manufacturerId: number,
  count: number,
  outDir: string,
  password: string,
  deviceType?: number,
  showProgress = true,
): GeneratedFleet {
  const keystoreDir = path.join(outDir, "keystore");
  const types = Object.keys(DEVICE_TYPES).map(Number);
  const progress = new Progress("generating devices", count, showProgress);
  const devices: Omit<FleetDevice, "line">[] = [];
  for (let i = 0; i < count; i++) {
    const wallet = randomDeviceKey();
    const uid = `TL-${wallet.address.slice(2, 10).toUpperCase()}-${String(i + 1).padStart(6, "0")}`;
    const deviceId = deviceIdOf(manufacturerId, uid);
    saveDeviceKey(keystoreDir, { uid, deviceId }, new Wallet(wallet.privateKey), password);
    devices.push({
      uid,
      deviceId,
      publicKey: wallet.signingKey.publicKey,
      deviceKey: wallet.address,
      deviceType: deviceType ?? types[i % types.length],
    });
    progress.update(i + 1);
  }
  const files = writeFleetFiles(outDir, devices);
  return {
    count,
    ...files,
    keystoreDir,
    devices: devices.map((d) => ({
      uid: d.uid,
      deviceId: d.deviceId,
      deviceKey: d.deviceKey,
      deviceType: d.deviceType,
    })),
  };
}
