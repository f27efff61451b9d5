import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";

import { coverageRunning } from "../shared/gas";
import { ROOT, startNode } from "../shared/cli";
import type { LocalNode } from "../shared/cli";
import { stopGroups } from "../shared/process";

/**
 * The README's walkthroughs, in README order, each with what its output must show at the end. Their `sh`
 * blocks run verbatim (see {@link walkthroughScript}) in one temporary copy of the project, against one
 * `hardhat node`, so a later walkthrough finds what an earlier one left (fleet files, deployment, devices).
 */
const WALKTHROUGHS: { heading: string; shows: RegExp[] }[] = [
  {
    heading: "A device's life on a local node",
    shows: [/Device 0x[0-9a-f]{64} is VALID: status /, /identity claim for challenge \S+: signed by the device's key/],
  },
  {
    heading: "Paid access on a local node",
    shows: [/lock http:\/\/127\.0\.0\.1:8090: OPEN/],
  },
  {
    heading: "A device wallet on a local node",
    shows: [/threshold 2\), next nonce 1\n/, /balance 0\.95 ETH/],
  },
  {
    heading: "Reputation on a local node",
    shows: [/Epoch \d+ checks out: 1 report\(s\)/],
  },
];

/** Every shell command of the first ```sh block under `### heading`, a command continued with `\` kept whole. */
export function walkthroughCommands(readme: string, heading: string): string[] {
  const lines = readme.split("\n");
  const start = lines.indexOf(`### ${heading}`);
  if (start < 0) throw new Error(`README.md has no section "### ${heading}"`);
  let i = start + 1;
  while (i < lines.length && !lines[i].startsWith("```")) {
    if (/^#{1,3} /.test(lines[i])) throw new Error(`README section "${heading}" has no sh block`);
    i++;
  }
  if (lines[i] !== "```sh") throw new Error(`README section "${heading}" starts with ${lines[i]}, not a sh block`);
  const commands: string[] = [];
  let current: string[] = [];
  for (i++; i < lines.length && lines[i] !== "```"; i++) {
    current.push(lines[i]);
    if (!lines[i].endsWith("\\")) {
      commands.push(current.join("\n"));
      current = [];
    }
  }
  return commands.filter((c) => c.trim() !== "");
}

/** The `# terminal N` a README line is marked with, if any. */
function terminalOf(command: string): number | undefined {
  const mark = /#\s*terminal\s+(\d+)/.exec(command);
  return mark === null ? undefined : Number(mark[1]);
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * A bash script that runs a walkthrough's commands as written: `npx hardhat node` (terminal 1) is the test's
 * own node and skipped; a line marked `# terminal 3` or later is a service, started in the background in its
 * own process group (its id appended to `$WALK_PIDS`) and waited for until it prints (serve tasks print once
 * they listen); every other line runs in the script itself, which stops at the first failure. The shell's
 * exported variables are saved to `$WALK_STATE` at the end and loaded at the start, so a later walkthrough
 * sees what an earlier one exported (as the reader's terminal 2 does).
 */
export function walkthroughScript(commands: readonly string[]): string {
  const lines = [
    "set -euo pipefail",
    'if [ -f "$WALK_STATE" ]; then source "$WALK_STATE"; fi',
    "set -a",
    "trap 'export -p >\"$WALK_STATE\"' EXIT",
    "walk_service() {",
    '  local log="walk-service-$(wc -l <"$WALK_PIDS" | tr -d " ")"',
    '  setsid bash -c "$1" >"$log.out" 2>"$log.err" </dev/null &',
    "  local pid=$!",
    '  echo "$pid" >>"$WALK_PIDS"',
    "  for _ in $(seq 1 360); do",
    '    if [ -s "$log.out" ]; then cat "$log.out"; return 0; fi',
    '    if ! kill -0 "$pid" 2>/dev/null; then echo "service exited: $1" >&2; cat "$log.out" "$log.err" >&2; return 1; fi',
    "    sleep 0.5",
    "  done",
    '  echo "service printed nothing within 180 s: $1" >&2; return 1',
    "}",
  ];
  for (const command of commands) {
    const terminal = terminalOf(command);
    lines.push(`echo ${shellQuote(`$ ${command}`)}`);
    if (/^\s*npx hardhat node\b/.test(command)) {
      lines.push(": the test's own node");
    } else if (terminal !== undefined && terminal >= 3) {
      lines.push(`walk_service ${shellQuote(command)}`);
    } else {
      lines.push(command);
    }
  }
  return `${lines.join("\n")}\n`;
}

/**
 * A copy of the project's files (tracked and untracked, not ignored) with the build (artifacts, typechain-types,
 * and the compile cache moved to the copy's paths, so that no task recompiles) and `node_modules` linked.
 */
function copyProject(to: string): void {
  const listed = spawnSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
    cwd: ROOT,
    encoding: "utf8",
  });
  if (listed.status !== 0) throw new Error(`git ls-files failed: ${listed.stderr}`);
  for (const file of listed.stdout.split("\0")) {
    const from = path.join(ROOT, file);
    if (file === "" || !fs.existsSync(from)) continue;
    fs.mkdirSync(path.dirname(path.join(to, file)), { recursive: true });
    fs.copyFileSync(from, path.join(to, file));
  }
  for (const dir of ["artifacts", "typechain-types"]) {
    fs.cpSync(path.join(ROOT, dir), path.join(to, dir), { recursive: true });
  }
  fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(to, "node_modules"), "dir");
  const cache = JSON.parse(fs.readFileSync(path.join(ROOT, "cache", "solidity-files-cache.json"), "utf8")) as {
    files: Record<string, unknown>;
  };
  const files: Record<string, unknown> = {};
  for (const [file, entry] of Object.entries(cache.files)) {
    const relative = path.relative(ROOT, file);
    const own = !relative.startsWith("..") && !relative.startsWith("node_modules");
    files[own ? path.join(to, relative) : file] = entry;
  }
  fs.mkdirSync(path.join(to, "cache"));
  fs.writeFileSync(path.join(to, "cache", "solidity-files-cache.json"), JSON.stringify({ ...cache, files }));
}

/** Stops every service a walkthrough started (each in its own process group) and waits until they are gone. */
async function stopServices(pidsFile: string): Promise<void> {
  if (!fs.existsSync(pidsFile)) return;
  const pids = fs
    .readFileSync(pidsFile, "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map(Number);
  await stopGroups(pids, 10_000);
}

describe("README walkthroughs, verbatim against a local hardhat node", function () {
  this.timeout(1_200_000);

  const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
  let node: LocalNode | undefined;
  let work: string;
  let env: NodeJS.ProcessEnv;
  let failed = false;

  before(async function () {
    // Child processes would recompile the contracts over coverage's instrumented build.
    if (coverageRunning()) this.skip();
    work = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-walk-"));
    const project = path.join(work, "project");
    copyProject(project);
    node = await startNode();
    env = { ...process.env, FORCE_COLOR: "0", NO_COLOR: "1" };
    // What the walkthroughs export themselves must come from them, not from the developer's shell.
    for (const name of Object.keys(env))
      if (name.startsWith("THINGLEDGER_") || name.startsWith("AS_")) delete env[name];
    Object.assign(env, {
      THINGLEDGER_LOCALHOST_URL: node.url,
      THINGLEDGER_DEPLOYMENT_ID: `walk-${process.pid}`,
      WALK_STATE: path.join(work, "state.sh"),
      WALK_PIDS: path.join(work, "pids"),
    });
    fs.writeFileSync(path.join(work, "pids"), "");
  });

  after(async function () {
    if (work !== undefined) await stopServices(path.join(work, "pids"));
    await node?.stop();
    if (work !== undefined) fs.rmSync(work, { recursive: true, force: true });
  });

  it("every walkthrough's block is found and holds no <placeholder> to fill in by hand", function () {
    for (const { heading } of WALKTHROUGHS) {
      const commands = walkthroughCommands(readme, heading);
      expect(commands, heading).to.not.be.empty;
      expect(
        commands.filter((c) => /<[A-Za-z][^>]*>/.test(c)),
        heading,
      ).to.deep.equal([]);
    }
  });

  for (const { heading, shows } of WALKTHROUGHS) {
    const title = `### ${heading}: every command succeeds and the last ones show the outcome`;
    it(title, function () {
      // The walkthroughs build on each other: after a failed one, the next would only fail for its reason.
      if (failed) this.skip();
      failed = true;
      const script = path.join(work, `${heading.replace(/\W+/g, "-")}.sh`);
      fs.writeFileSync(script, walkthroughScript(walkthroughCommands(readme, heading)));
      const run = spawnSync("bash", [script], {
        cwd: path.join(work, "project"),
        env,
        encoding: "utf8",
        timeout: 1_100_000,
        maxBuffer: 64 * 1024 * 1024,
      });
      const output = `${run.stdout}\n--- stderr ---\n${run.stderr}`;
      expect(run.status, `the walkthrough failed:\n${output.slice(-6000)}`).to.equal(0);
      for (const shown of shows) expect(run.stdout, output.slice(-6000)).to.match(shown);
      failed = false;
    });
  }
});

describe("the walkthrough runner", function () {
  let work: string;
  let env: NodeJS.ProcessEnv;

  beforeEach(function () {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-walk-runner-"));
    env = { ...process.env, WALK_STATE: path.join(work, "state.sh"), WALK_PIDS: path.join(work, "pids") };
    fs.writeFileSync(path.join(work, "pids"), "");
  });

  afterEach(async function () {
    await stopServices(path.join(work, "pids"));
    fs.rmSync(work, { recursive: true, force: true });
  });

  function runBlock(block: string): { status: number | null; stdout: string; stderr: string } {
    const readme = `### Block\n\n\`\`\`sh\n${block}\n\`\`\`\n`;
    const script = path.join(work, "block.sh");
    fs.writeFileSync(script, walkthroughScript(walkthroughCommands(readme, "Block")));
    return spawnSync("bash", [script], { cwd: work, env, encoding: "utf8", timeout: 60_000 });
  }

  it("keeps a command continued with a backslash whole, and stops at the first command that fails", function () {
    const run = runBlock("echo one \\\n  two\nfalse | cat\necho never");
    expect(run.status).to.equal(1);
    expect(run.stdout).to.contain("one two\n");
    expect(run.stdout).to.contain("$ false | cat");
    expect(run.stdout).to.not.contain("never\n");
  });

  it("skips the node of terminal 1 and hands a later block the variables an earlier one set", function () {
    expect(
      runBlock("npx hardhat node   # terminal 1\nexport GREETING=hello   # terminal 2\nNAME=$(echo world)").status,
    ).to.equal(0);
    const later = runBlock('echo "$GREETING $NAME"');
    expect(later.status, later.stderr).to.equal(0);
    expect(later.stdout).to.contain("hello world\n");
  });

  it("starts a terminal-3 service in the background, waits until it prints, and reports one that exits", function () {
    const marker = path.join(work, "served");
    const started = runBlock(`bash -c 'echo listening; touch ${marker}; sleep 60'   # terminal 3\necho next`);
    expect(started.status, started.stderr).to.equal(0);
    expect(started.stdout).to.match(/listening\n[^]*next\n/);
    const [pid] = fs.readFileSync(path.join(work, "pids"), "utf8").trim().split("\n").map(Number);
    expect(() => process.kill(-pid, 0)).to.not.throw();
    expect(fs.existsSync(marker)).to.equal(true);

    const died = runBlock("bash -c 'echo port taken >&2; exit 3'   # terminal 4\necho never");
    expect(died.status).to.equal(1);
    expect(died.stderr).to.contain("service exited: bash -c 'echo port taken >&2; exit 3'");
    expect(died.stderr).to.contain("port taken");
    expect(died.stdout).to.not.contain("never\n");
  });
});
