/**
 * `npm run bench:startup [runs]`: how long a task takes to start, as a user types it. Starts a `hardhat node`
 * on a free port, deploys the system and runs the demo on it (not timed; a private address book, removed at
 * the end), then times `runs` (default 7) runs each of `npx hardhat --version` (Node, npx and Hardhat's own
 * start, the floor) and `npx hardhat device:status --network localhost --device <a demo device>`,
 * interleaved, after one untimed warm-up run (which fills the transpile cache). Prints each command's median
 * wall time and median CPU time (user + system of the child, from /proc on Linux: less sensitive than wall
 * time to other load on the machine), their ratio, and the target (median device:status wall time ≤ 1.5 s)
 * as met or `MISSED ... by ...`. A benchmark: it exits 0 on a miss.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";

import { ROOT, startNode } from "../test/shared/node";

const TARGET_SECONDS = 1.5;

interface Sample {
  wall: number;
  cpu: number;
}

/** CPU seconds (user + system) used by this process's waited-for children so far; NaN off Linux. */
function childrenCpuSeconds(): number {
  try {
    const stat = fs.readFileSync("/proc/self/stat", "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 16 and 17 of /proc/<pid>/stat (cutime, cstime), counted from the state field (3rd).
    return (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return Number.NaN;
  }
}

function run(args: string[], env: NodeJS.ProcessEnv): { sample: Sample; status: number | null; out: string } {
  const cpu0 = childrenCpuSeconds();
  const t0 = performance.now();
  const child = spawnSync("npx", ["hardhat", ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env, FORCE_COLOR: "0" },
    encoding: "utf8",
    timeout: 600_000,
  });
  const wall = (performance.now() - t0) / 1000;
  return {
    sample: { wall, cpu: childrenCpuSeconds() - cpu0 },
    status: child.status,
    out: `${child.stdout}${child.stderr}`,
  };
}

function must(args: string[], env: NodeJS.ProcessEnv): string {
  const r = run(args, env);
  if (r.status !== 0) throw new Error(`npx hardhat ${args.join(" ")} failed:\n${r.out}`);
  return r.out;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 7);
  if (!Number.isInteger(runs) || runs < 1)
    throw new Error(`runs must be a positive whole number, got ${process.argv[2]}`);
  const node = await startNode();
  const id = `bench-startup-${process.pid}`;
  const env = { THINGLEDGER_LOCALHOST_URL: node.url, THINGLEDGER_DEPLOYMENT_ID: id };
  try {
    console.log(`hardhat node at ${node.url}; deploying and running the demo (not timed)…`);
    must(["deploy", "--network", "localhost"], env);
    const demo = must(["demo", "--network", "localhost"], env);
    const device = /0x[0-9a-fA-F]{64}/.exec(demo)?.[0];
    if (device === undefined) throw new Error(`no device id in the demo's output:\n${demo}`);
    const status = ["device:status", "--network", "localhost", "--device", device];
    must(status, env); // warm-up: compile check and transpile cache
    must(["--version"], env);

    const samples: Record<"version" | "status", Sample[]> = { version: [], status: [] };
    for (let i = 0; i < runs; i++) {
      samples.version.push(run(["--version"], env).sample);
      const r = run(status, env);
      if (r.status !== 0) throw new Error(`device:status failed:\n${r.out}`);
      samples.status.push(r.sample);
    }
    const v = { wall: median(samples.version.map((s) => s.wall)), cpu: median(samples.version.map((s) => s.cpu)) };
    const s = { wall: median(samples.status.map((x) => x.wall)), cpu: median(samples.status.map((x) => x.cpu)) };
    const f = (n: number) => `${n.toFixed(2)} s`;
    console.log(`\nmedian of ${runs} runs            wall      CPU`);
    console.log(`npx hardhat --version       ${f(v.wall).padStart(8)} ${f(v.cpu).padStart(8)}`);
    console.log(`npx hardhat device:status   ${f(s.wall).padStart(8)} ${f(s.cpu).padStart(8)}`);
    console.log(
      `ratio status / version      ${`${(s.wall / v.wall).toFixed(1)}x`.padStart(8)} ${`${(s.cpu / v.cpu).toFixed(1)}x`.padStart(8)}`,
    );
    console.log(`all wall times (s): status ${samples.status.map((x) => x.wall.toFixed(2)).join(" ")}`);
    if (s.wall <= TARGET_SECONDS) {
      console.log(`\nmet: median device:status wall time ${f(s.wall)} ≤ ${f(TARGET_SECONDS)}`);
    } else {
      console.log(
        `\nMISSED: median device:status wall time ≤ ${f(TARGET_SECONDS)} by ${f(s.wall - TARGET_SECONDS)} (measured ${f(s.wall)}; CPU ${f(s.cpu)})`,
      );
    }
  } finally {
    await node.stop();
    fs.rmSync(path.join(ROOT, "deploy", "deployments", id), { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exitCode = 1;
});
