import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { freePort } from "./node";

/** A throwaway Postgres cluster of this test run's own: its URL, and how to end it (and delete its files). */
export interface ScratchPostgres {
  url: string;
  stop(): void;
}

/** The folder of Postgres's server programs (Debian's `postgresql` package, or on PATH), if installed. */
export function postgresBin(): string | undefined {
  const debian = "/usr/lib/postgresql";
  if (fs.existsSync(debian)) {
    const versions = fs
      .readdirSync(debian)
      .filter((v) => fs.existsSync(path.join(debian, v, "bin", "initdb")))
      .sort((a, b) => Number(b) - Number(a));
    if (versions.length > 0) return path.join(debian, versions[0], "bin");
  }
  for (const dir of (process.env.PATH ?? "").split(path.delimiter))
    if (dir !== "" && fs.existsSync(path.join(dir, "initdb")) && fs.existsSync(path.join(dir, "pg_ctl"))) return dir;
  return undefined;
}

/**
 * Skips the calling suite when Postgres is not installed, except in CI (`.ci/run` installs it), where its
 * absence fails the suite: the Postgres tests must run there.
 */
export function requirePostgres(context: Mocha.Context): string {
  const bin = postgresBin();
  if (bin !== undefined) return bin;
  if (process.env.CI === "true") throw new Error("Postgres is not installed (.ci/run installs Debian's postgresql)");
  context.skip();
}

/**
 * Starts a new cluster in a temp folder on a free port of 127.0.0.1 (trust authentication, user `postgres`).
 * Postgres refuses to run as root, so as root it runs as the `postgres` user the Debian package makes.
 */
export async function startScratchPostgres(bin: string): Promise<ScratchPostgres> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-pg-"));
  const data = path.join(dir, "data");
  const port = await freePort();
  const root = process.getuid?.() === 0;
  if (root) execFileSync("chown", ["postgres", dir]);
  const run = (program: string, args: string[]): void => {
    const command = path.join(bin, program);
    if (root) execFileSync("runuser", ["-u", "postgres", "--", command, ...args], { stdio: "pipe" });
    else execFileSync(command, args, { stdio: "pipe" });
  };
  run("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync"]);
  const settings = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  run("pg_ctl", ["-D", data, "-l", path.join(dir, "log"), "-o", settings, "-w", "start"]);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop() {
      try {
        run("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
