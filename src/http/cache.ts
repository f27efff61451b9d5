import { performance } from "node:perf_hooks";

/**
 * Remembers keys found absent (for `ttlMs`, at most `maxEntries`, oldest dropped first) and shares one
 * lookup among concurrent callers for the same key: a flood of requests for the same unknown thing costs
 * one lookup per `ttlMs`, not one per request.
 */
export class AbsentCache {
  private readonly absent = new Map<string, number>();
  private readonly inFlight = new Map<string, Promise<unknown>>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  /** True while `key` is remembered as absent. */
  has(key: string): boolean {
    const until = this.absent.get(key);
    if (until === undefined) return false;
    if (performance.now() < until) return true;
    this.absent.delete(key);
    return false;
  }

  /** Remembers `key` as absent for the TTL (no-op with a TTL of 0). */
  add(key: string): void {
    if (this.ttlMs <= 0) return;
    this.absent.delete(key);
    this.absent.set(key, performance.now() + this.ttlMs);
    if (this.absent.size > this.maxEntries) this.absent.delete(this.absent.keys().next().value as string);
  }

  /** Forgets `key` (it appeared, e.g. a channel was opened). */
  delete(key: string): void {
    this.absent.delete(key);
  }

  /** Runs `lookup` for `key`, or joins the one already running (`joined`: this caller made no lookup). */
  async shared<T>(key: string, lookup: () => Promise<T>): Promise<{ value: T; joined: boolean }> {
    const running = this.inFlight.get(key) as Promise<T> | undefined;
    if (running !== undefined) return { value: await running, joined: true };
    const started = lookup().finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, started);
    return { value: await started, joined: false };
  }
}
