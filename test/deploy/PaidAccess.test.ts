import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

import { expect } from "chai";

import type { DeviceState } from "../../src/channels";
import { AsStore } from "../../src/channels/store";
import { coverageRunning } from "../shared/gas";
import { ROOT, freePort, startNode } from "../shared/cli";
import type { LocalNode } from "../shared/cli";

/** The README's "Paid access on a local node" block, its commands joined across `\` continuations. */
function walkthrough(): string[] {
  const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("### Paid access on a local node"));
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1];
  return block
    .replace(/\\\n/g, "\n\u0000")
    .split("\n")
    .reduce<string[]>((commands, line) => {
      if (line.startsWith("\u0000")) commands[commands.length - 1] += `\\\n${line.slice(1)}`;
      else if (line.trim() !== "") commands.push(line);
      return commands;
    }, []);
}

/** A service line of the walkthrough: it ends with `# terminal N` and runs until stopped. */
const SERVICE = /#\s*terminal\s+\d+\s*$/;

/**
 * Runs the README's paid-access walkthrough as written, in bash, against a `hardhat node` of its own: every
 * command verbatim except that the node is this test's (the `npx hardhat node` line is skipped;
 * `THINGLEDGER_LOCALHOST_URL` points `--network localhost` at it) and the AS's and lock's ports 8088 and 8090
 * are free ports. Service lines (`# terminal N`) run in the background, each awaited until it listens. Files
 * land in a scratch folder inside the (gitignored) `.thingledger/`, where Hardhat finds the project.
 */
describe("README walkthrough: paid access on a local node, to the point where the lock opens", function () {
  this.timeout(600_000);
  let node: LocalNode;
  let scratch: string;
  let deploymentDir: string;
  let shell: ReturnType<typeof spawn> | undefined;

  before(async function () {
    if (coverageRunning()) this.skip();
    node = await startNode();
    fs.mkdirSync(path.join(ROOT, ".thingledger"), { recursive: true });
    scratch = fs.mkdtempSync(path.join(ROOT, ".thingledger", "paid-access-"));
  });

  after(async function () {
    if (shell?.pid !== undefined) stopGroup(shell.pid);
    await node?.stop();
    if (deploymentDir !== undefined) fs.rmSync(deploymentDir, { recursive: true, force: true });
    if (scratch !== undefined) fs.rmSync(scratch, { recursive: true, force: true });
    // .thingledger/ itself only if this test made it (nothing else is in it).
    if (scratch !== undefined && fs.readdirSync(path.dirname(scratch)).length === 0)
      fs.rmdirSync(path.dirname(scratch));
  });

  it("creates the clients and the device secret, serves the AS and the lock, opens a channel, and buys a code the lock accepts", async function () {
    const [asPort, lockPort] = [await freePort(), await freePort()];
    const id = `test-paid-${process.pid}-${Date.now()}`;
    deploymentDir = path.join(ROOT, "deploy", "deployments", id);
    const lines = ["set -euo pipefail", "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT"];
    let services = 0;
    for (const command of walkthrough()) {
      if (command.startsWith("npx hardhat node")) continue;
      const line = command.replace(/\b8088\b/g, String(asPort)).replace(/\b8090\b/g, String(lockPort));
      if (!SERVICE.test(line)) {
        lines.push(line);
        continue;
      }
      const log = `service-${++services}.log`;
      lines.push(`${line.replace(SERVICE, "")} > ${log} 2>&1 &`);
      lines.push(
        `for i in $(seq 600); do grep -q 'listening at' ${log} && break; kill -0 $! 2>/dev/null || { cat ${log} >&2; exit 1; }; sleep 0.5; done`,
      );
    }
    expect(services, "the walkthrough's services").to.equal(2);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      THINGLEDGER_LOCALHOST_URL: node.url,
      THINGLEDGER_DEPLOYMENT_ID: id,
      THINGLEDGER_KEYSTORE_SCRYPT_N: "1024",
      FORCE_COLOR: "0",
      NO_COLOR: "1",
    };
    delete env.THINGLEDGER_KEYSTORE_PASSWORD;
    shell = spawn("bash", ["-c", lines.join("\n")], { cwd: scratch, env, detached: true });
    let stdout = "";
    let stderr = "";
    shell.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    shell.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const status = await new Promise<number | null>((resolve) => shell!.once("exit", resolve));
    expect(status, `${stdout}\n${stderr}`).to.equal(0);
    stopGroup(shell.pid!);

    // The last command bought a code and the lock opened with it.
    expect(stdout).to.match(new RegExp(`Code \\d{8} for device 0x[0-9a-f]{64} \\(counter 0\\)`));
    expect(stdout).to.contain(`lock http://127.0.0.1:${lockPort}: OPEN`);
    const lock = JSON.parse(fs.readFileSync(path.join(scratch, "data", "lock-1.json"), "utf8")) as DeviceState;
    expect(lock).to.include({ counter: 1, slotsGranted: 1 });
    // The AS (stopped with the shell) stored the client's receipt of one slot.
    const channel = JSON.parse(fs.readFileSync(path.join(scratch, "data", "channel.json"), "utf8")) as {
      channelId: string;
      clients: { address: string }[];
    };
    expect(channel.clients).to.have.length(2);
    const store = await openStoreWhenFree(path.join(scratch, "data", "as", "as.sqlite"));
    try {
      expect(store.receiptAmounts(channel.channelId)).to.deep.equal([10n ** 15n]);
    } finally {
      store.close();
    }
  });
});

/** Stops the shell's process group: the services it started in the background (npx does not pass its
 * `kill` on to them). */
function stopGroup(pid: number): void {
  try {
    process.kill(-pid, "SIGTERM");
  } catch {
    // the group is gone
  }
}

/** Opens the AS's database once the AS (killed with its shell) has let go of it. */
async function openStoreWhenFree(db: string): Promise<AsStore> {
  for (let attempt = 0; ; attempt++) {
    try {
      return new AsStore(db);
    } catch (error) {
      if (attempt > 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  }
}
