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

/**
 * Remembers values found (for `ttlMs`, at most `maxEntries`, oldest dropped first): a flood of requests for
 * the same thing costs one lookup per `ttlMs`. The value may be that long out of date.
 */
export class TtlCache<V> {
  private readonly entries = new Map<string, { until: number; value: V }>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  /** The value remembered for `key`, while it is fresh. */
  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (performance.now() < entry.until) return entry.value;
    this.entries.delete(key);
    return undefined;
  }

  /** Remembers `value` for `key` for the TTL (no-op with a TTL of 0). */
  set(key: string, value: V): void {
    if (this.ttlMs <= 0) return;
    this.entries.delete(key);
    this.entries.set(key, { until: performance.now() + this.ttlMs, value });
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
  }
}
