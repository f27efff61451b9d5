import { MaxUint256, Wallet, keccak256, toBeHex, zeroPadValue } from "ethers";
import type { JsonRpcProvider } from "ethers";

import { DeviceRegistry__factory, ThingToken__factory } from "../chain/factories";
import { compact, signActivation } from "../eip712/device";
import { readDomain } from "../eip712/domain";

/*
 * A large fleet on a local node with unlocked accounts (`hardhat node`), for the benchmarks that need one
 * (bench:indexer, bench:app): registrations in batches, then device-signed activations, mined with
 * automine off, a few batches or a few hundred activations a block.
 */

/** The demo's manufacturer (Hardhat's account 3, manufacturer 1), who registers the fleet. */
export const BENCH_MANUFACTURER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";

export interface FleetOptions {
  /** The registry and the token (e.g. from the demo's `--json`). */
  addresses: { DeviceRegistry: string; ThingToken: string };
  devices: number;
  /** Devices per `registerDevices` transaction (two transactions a block). */
  batch: number;
  /** How many of the first devices are activated (by account 0, who pays the fee). */
  activations: number;
  /** Activations sent before each mined block. */
  perBlock?: number;
}

export interface SeededFleet {
  /** Every device id, in registration order (ids are ascending: the indexer's order too). */
  ids: string[];
  registerSeconds: number;
  activateSeconds: number;
}

/** Checks the sizes a fleet bench was given, in one line naming what is wrong. */
export function checkFleetOptions(o: Pick<FleetOptions, "devices" | "batch" | "activations">): void {
  if (!Number.isInteger(o.batch) || o.batch < 1)
    throw new Error(`the batch must be a whole number >= 1, got ${o.batch}`);
  if (!Number.isInteger(o.devices) || o.devices < o.batch)
    throw new Error(`the devices must be a whole number >= the batch (${o.batch}), got ${o.devices}`);
  if (!Number.isInteger(o.activations) || o.activations < 0 || o.activations > o.devices)
    throw new Error(`the activations must be a whole number from 0 to ${o.devices}, got ${o.activations}`);
}

/** The i-th bench device's id (manufacturer 1, then i + 1): ascending with i. */
const deviceId = (i: number): string => `0x00000001${zeroPadValue(toBeHex(i + 1), 28).slice(2)}`;

/**
 * Registers `devices` devices (types 1 to 8 in turn) and activates the first `activations` of them, each
 * signed by its own key. Fees are paid in THING, as on a real chain: the treasury (account 0) funds the
 * manufacturer. Fails when the statuses read back are not what was sent (a transaction reverted).
 */
export async function seedFleet(provider: JsonRpcProvider, options: FleetOptions): Promise<SeededFleet> {
  checkFleetOptions(options);
  const { devices, batch, activations } = options;
  const perBlock = options.perBlock ?? 250;
  const admin = await provider.getSigner(0);
  const manufacturer = await provider.getSigner(BENCH_MANUFACTURER);
  const registry = DeviceRegistry__factory.connect(options.addresses.DeviceRegistry, provider);
  const token = ThingToken__factory.connect(options.addresses.ThingToken, provider);
  const need = (await registry.registrationFee()) * BigInt(devices);
  await (await token.connect(admin).transfer(BENCH_MANUFACTURER, need)).wait();
  await (await token.connect(manufacturer).approve(registry, MaxUint256)).wait();
  await (await token.connect(admin).approve(registry, MaxUint256)).wait();

  const started = performance.now();
  const keys = Array.from({ length: activations }, (_, i) => new Wallet(keccak256(toBeHex(i + 1, 32))));
  const ids = Array.from({ length: devices }, (_, i) => deviceId(i));
  const keyOf = (i: number): string =>
    i < activations ? keys[i].address : zeroPadValue(toBeHex(i + 1_000_000), 20).toLowerCase();
  const send = (from: string, data: string, gas: number, nonce: number): Promise<unknown> =>
    provider.send("eth_sendTransaction", [
      { from, to: options.addresses.DeviceRegistry, data, gas: toBeHex(gas), nonce: toBeHex(nonce) },
    ]);
  await provider.send("evm_setAutomine", [false]);
  try {
    let nonce = await provider.getTransactionCount(BENCH_MANUFACTURER, "pending");
    for (let start = 0; start < devices; start += batch * 2) {
      // Two batches a block (each ~12 M gas), sent together.
      const sends = [start, start + batch]
        .filter((s) => s < devices)
        .map((s) => {
          const slice = ids.slice(s, s + batch);
          const data = registry.interface.encodeFunctionData("registerDevices", [
            MaxUint256,
            slice,
            slice.map((_, j) => keyOf(s + j)),
            slice.map((_, j) => 1 + ((s + j) % 8)),
          ]);
          return send(BENCH_MANUFACTURER, data, 16_000_000, nonce++);
        });
      await Promise.all(sends);
      await provider.send("evm_mine", []);
    }
    const registered = performance.now();

    // Activations: each device key signs its activation (owner: the admin, who pays the fee).
    const domain = await readDomain(registry);
    const deadline = BigInt(Math.floor(Date.now() / 1000) + 30 * 86_400);
    const owner = await admin.getAddress();
    nonce = await provider.getTransactionCount(owner, "pending");
    for (let first = 0; first < activations; first += perBlock) {
      const sends: Promise<unknown>[] = [];
      for (let i = first; i < Math.min(first + perBlock, activations); i++) {
        const [r, vs] = compact(await signActivation(keys[i], domain, { deviceId: ids[i], owner, deadline }));
        const data = registry.interface.encodeFunctionData("activateDevice", [
          MaxUint256,
          ids[i],
          owner,
          deadline,
          r,
          vs,
        ]);
        sends.push(send(owner, data, 300_000, nonce++));
      }
      await Promise.all(sends);
      await provider.send("evm_mine", []);
    }
    const activated = performance.now();
    const statuses = await registry.getStatuses([ids[0], ids[Math.max(activations - 1, 0)], ids[devices - 1]]);
    const lastStatus = activations === devices ? 2 : 1;
    if (Number(statuses[2]) !== lastStatus || (activations > 0 && Number(statuses[1]) !== 2))
      throw new Error(`seeding failed: statuses ${statuses.join(",")} (a transaction reverted?)`);
    return {
      ids,
      registerSeconds: (registered - started) / 1000,
      activateSeconds: (activated - registered) / 1000,
    };
  } finally {
    await provider.send("evm_setAutomine", [true]);
  }
}
