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

/** Whether any process of the group `pid` leads is still alive. */
export function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops a `detached` child's process group (e.g. `npx hardhat …` and what it started), and waits for it to exit
 * and then for the whole group to be gone: `npx` may exit before the task it started has stopped what it
 * serves. A group still alive after `ms` is killed.
 */
export async function stopGroup(child: ChildProcess | undefined, ms = 30_000): Promise<void> {
  // A child already gone is left alone: its group id could by now lead someone else's group.
  if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const pid = child.pid;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  signalGroup(pid, "SIGTERM");
  await exited;
  await stopGroups([pid], ms);
}

/**
 * Stops the process groups the `pids` lead (e.g. background services a shell started, by the pids it wrote):
 * SIGTERM to each group still alive, then waits until all are gone; a group still alive after `ms` is killed.
 */
export async function stopGroups(pids: number[], ms = 30_000): Promise<void> {
  for (const pid of pids.filter(groupAlive)) signalGroup(pid, "SIGTERM");
  for (const deadline = Date.now() + ms; pids.some(groupAlive) && Date.now() < deadline;)
    await new Promise((r) => setTimeout(r, 100));
  for (const pid of pids.filter(groupAlive)) signalGroup(pid, "SIGKILL");
}

/** Signals the group `pid` leads, if any of it is left (a group gone in between is not an error). */
function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // gone
  }
}
