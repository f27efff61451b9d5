import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";

import { expect } from "chai";
import { MaxUint256, Wallet, keccak256, toUtf8Bytes } from "ethers";
import type { HDNodeWallet, JsonRpcProvider } from "ethers";

import { DeviceRegistry__factory, ThingToken__factory } from "../../src/chain/factories";
import type { DeviceRegistry, ThingToken } from "../../typechain-types";
import { ROOT, freePort, hardhat } from "./cli";
import { outputOf, until } from "./process";

/** Hardhat's account 3: the demo's manufacturer (id 1). */
export const DEMO_MANUFACTURER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";

export interface TestDevice {
  id: string;
  key: Wallet | HDNodeWallet;
}

/**
 * Runs the demo on the node `env` names, and has its manufacturer register `count` devices named
 * `<label>-<n>`, each with a key of its own (the manufacturer approves the registry for its fees first).
 */
export async function demoWithDevices(
  env: NodeJS.ProcessEnv,
  provider: JsonRpcProvider,
  label: string,
  count: number,
): Promise<{ registry: DeviceRegistry; token: ThingToken; devices: TestDevice[] }> {
  const demo = hardhat(["demo", "--network", "localhost", "--json"], env);
  expect(demo.status, demo.stderr).to.equal(0);
  const { addresses } = JSON.parse(demo.stdout) as { addresses: { DeviceRegistry: string; ThingToken: string } };
  const registry = DeviceRegistry__factory.connect(addresses.DeviceRegistry, provider);
  const token = ThingToken__factory.connect(addresses.ThingToken, provider);
  const manufacturer = await provider.getSigner(DEMO_MANUFACTURER);
  await (await token.connect(manufacturer).approve(registry, MaxUint256)).wait();
  const devices: TestDevice[] = [];
  for (let n = 1; n <= count; n++)
    devices.push({ id: `0x00000001${keccak256(toUtf8Bytes(`${label}-${n}`)).slice(10)}`, key: Wallet.createRandom() });
  await (
    await registry.connect(manufacturer).registerDevices(
      MaxUint256,
      devices.map((d) => d.id),
      devices.map((d) => d.key.address),
      devices.map(() => 3),
    )
  ).wait();
  return { registry, token, devices };
}

/** What `relay:serve --json` prints once it listens. */
export interface RelayerSummary {
  url: string;
  relayer: string;
  maxFee: string;
}

/**
 * Starts `npx hardhat relay:serve --network localhost --json` with `args` in a process group of its own, on a
 * free port; resolves once it printed its summary (stdout; its log is on stderr).
 */
export async function startRelayer(
  env: NodeJS.ProcessEnv,
  args: readonly string[],
): Promise<{ child: ChildProcess; summary: RelayerSummary }> {
  const port = String(await freePort());
  const child = spawn("npx", ["hardhat", "relay:serve", "--network", "localhost", ...args, "--port", port, "--json"], {
    cwd: ROOT,
    env: { ...process.env, ...env, FORCE_COLOR: "0" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const output = outputOf(child);
  let stdout = "";
  child.stdout?.on("data", (c: Buffer) => (stdout += c.toString()));
  const summary = await until("relay:serve to listen", 120_000, async () => {
    if (child.exitCode !== null) throw new Error(`relay:serve exited: ${output()}`);
    // Pretty-printed JSON: parsed once it is whole.
    return JSON.parse(stdout.slice(stdout.indexOf("{"))) as RelayerSummary;
  });
  return { child, summary };
}
