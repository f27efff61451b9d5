import { LRUCache } from "lru-cache";

/**
 * Remembers what a lookup found (a value, or `true` for "found absent") for a time to live, at most
 * `maxEntries` at once (least recently used dropped first), and shares one lookup among concurrent callers
 * for the same key: a flood of requests for the same thing costs one lookup per TTL, not one per request.
 * A remembered value may be that long out of date. Built on `lru-cache` (which times entries with
 * `performance.now()`, so a wall-clock jump neither extends nor ends them).
 */
export class TtlCache<V extends NonNullable<unknown>> {
  private readonly entries: LRUCache<string, V>;
  private readonly inFlight = new Map<string, Promise<unknown>>();

  /** `ttlMs`: how long a value set without its own TTL is remembered; 0 or less remembers nothing. */
  constructor(
    private readonly ttlMs: number,
    maxEntries = 10_000,
  ) {
    this.entries = new LRUCache<string, V>({ max: maxEntries });
  }

  /** The value remembered for `key`, while it is fresh. */
  get(key: string): V | undefined {
    return this.entries.get(key);
  }

  /** True while a value is remembered for `key`. */
  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** Remembers `value` for `key` for `ttlMs` (the cache's TTL unless given; no-op when it is 0 or less). */
  set(key: string, value: V, ttlMs = this.ttlMs): void {
    if (ttlMs <= 0) return;
    this.entries.set(key, value, { ttl: Math.ceil(ttlMs) });
  }

  /** Forgets `key` (it changed, e.g. a channel was opened). */
  delete(key: string): void {
    this.entries.delete(key);
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
