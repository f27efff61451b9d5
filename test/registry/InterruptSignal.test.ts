import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import hre from "hardhat";
import { JsonRpcServer } from "hardhat/internal/hardhat-network/jsonrpc/server";

import { SYSTEM_CONTRACTS } from "../../src/chain/context";
import type { SystemContract } from "../../src/chain/context";
import { loadSystem } from "../../tasks/support/deployments";
import { DeviceRegistry__factory } from "../../typechain-types";
import { ROOT } from "../shared/cli";
import { fleetDevices } from "../shared/fixtures";
import { coverageRunning } from "../shared/gas";

const DEVICES = 120;

/**
 * The Ctrl-C wiring of `device:register` (src/cli/interrupt.ts) with a real signal: one spawned `hardhat`
 * process registers a fleet on this process's in-process chain, served over JSON-RPC as `--network
 * localhost`, and receives SIGINT after its first batch. The chain is then read here.
 */
describe("device:register receives a real Ctrl-C (SIGINT)", function () {
  this.timeout(300_000);

  let server: JsonRpcServer | undefined;
  let child: ChildProcess | undefined;
  let snapshot: string | undefined;
  const cleanup: string[] = [];

  before(function () {
    // The child process recompiles the contracts, which would overwrite coverage's instrumented build.
    if (coverageRunning()) this.skip();
  });

  after(async function () {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await server?.close();
    if (snapshot !== undefined) await hre.network.provider.send("evm_revert", [snapshot]);
    for (const dir of cleanup) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("stops after the batch in flight with its documented lines, exits 1, and the chain holds exactly the devices it reports", async function () {
    const system = await loadSystem(hre);
    snapshot = (await hre.network.provider.send("evm_snapshot", [])) as string;
    server = new JsonRpcServer({ hostname: "127.0.0.1", port: 0, provider: hre.network.provider });
    // As for `hardhat node` (hardhat.config.ts): no keep-alive timeout for the child's client to race.
    (server as unknown as { _httpServer: { keepAliveTimeout: number } })._httpServer.keepAliveTimeout = 0;
    const { port } = await server.listen();

    const id = `test-interrupt-${process.pid}-${Date.now()}`;
    const deployment = path.join(ROOT, "deploy", "deployments", id);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-sigint-"));
    cleanup.push(deployment, dir);
    fs.mkdirSync(deployment, { recursive: true });
    const book = Object.entries(SYSTEM_CONTRACTS).map(([name, future]) => [
      future,
      system.addresses[name as SystemContract],
    ]);
    fs.writeFileSync(path.join(deployment, "deployed_addresses.json"), JSON.stringify(Object.fromEntries(book)));
    const devices = fleetDevices(DEVICES, 97_000);
    const file = path.join(dir, "fleet.csv");
    const rows = devices.map((d) => `${d.uid},${d.publicKey},${d.deviceType}`);
    fs.writeFileSync(file, `uid,publicKey,type\n${rows.join("\n")}\n`);

    // The hardhat command itself (not npx, which would pass the signal on a second time: "again to quit at once").
    const cli = path.join(ROOT, "node_modules", "hardhat", "internal", "cli", "bootstrap.js");
    const args = ["device:register", "--network", "localhost", "--file", file, "--batch-size", "1"];
    const env = { THINGLEDGER_LOCALHOST_URL: `http://127.0.0.1:${port}`, THINGLEDGER_DEPLOYMENT_ID: id };
    const started = spawn(process.execPath, [cli, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env, FORCE_COLOR: "0", NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child = started;
    let stdout = "";
    let stderr = "";
    started.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => started.once("exit", (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      started.stderr?.on("data", (chunk: Buffer) => {
        stderr += chunk.toString();
        if (new RegExp(`registering devices: \\d+/${DEVICES}`).test(stderr)) resolve();
      });
      started.once("exit", () => reject(new Error(`device:register ended before its first batch:\n${stderr}`)));
    });
    started.kill("SIGINT");
    const code = await exited;

    expect(code, stderr).to.equal(1);
    expect(stdout).to.equal("");
    expect(stderr).to.contain("\nSIGINT: stopping after the transaction in flight (again to quit at once)\n");
    const line = new RegExp(
      `^Error: interrupted: (\\d+) of ${DEVICES} devices registered, the rest not sent; re-run the same command to resume$`,
      "m",
    ).exec(stderr);
    expect(line, stderr).to.not.equal(null);
    const registered = Number(line?.[1]);
    expect(registered).to.be.within(1, DEVICES - 1);
    expect(stderr).to.contain(
      `registering devices: interrupted after ${registered} of ${DEVICES} devices; re-run to resume\n`,
    );
    expect(stderr).to.not.match(/^\s+at /m);

    // Exactly the devices it reports are registered: the first ones, in file order; none of the rest was sent.
    const registry = DeviceRegistry__factory.connect(system.addresses.DeviceRegistry, hre.ethers.provider);
    const statuses = (await registry.getStatuses(devices.map((d) => d.deviceId))).map(Number);
    expect(statuses).to.deep.equal([
      ...Array<number>(registered).fill(1),
      ...Array<number>(DEVICES - registered).fill(0),
    ]);
  });
});
