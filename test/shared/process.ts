import type { ChildProcess } from "node:child_process";

/**
 * Polls `check` until it returns a value (not undefined), every `every` ms; fails after `ms` with `what`.
 * A `check` that throws counts as not yet, except an {@link Exited}: a process it waits on is gone, so it
 * fails at once rather than at the timeout.
 */
export async function until<T>(what: string, ms: number, check: () => Promise<T | undefined>, every = 300): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check().catch((e: unknown) => {
      if (e instanceof Exited) throw e;
      return undefined;
    });
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** Thrown inside an {@link until} check when the process it waits on has exited. */
export class Exited extends Error {}

/** A child process's stdout and stderr, as one growing text. */
export function outputOf(child: ChildProcess): () => string {
  let output = "";
  child.stdout?.on("data", (c: Buffer) => (output += c.toString()));
  child.stderr?.on("data", (c: Buffer) => (output += c.toString()));
  return () => output;
}

/** Stops a `detached` child's process group (e.g. `npx hardhat …` and what it started), and waits for it to exit. */
export async function stopGroup(child: ChildProcess | undefined): Promise<void> {
  if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  process.kill(-child.pid, "SIGTERM");
  await exited;
}
