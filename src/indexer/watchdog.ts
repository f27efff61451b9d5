/*
 * Whether a running indexer can still advance. Ponder 0.16 keeps serving, and its `/ready` keeps answering
 * 200, after it met a chain it cannot follow: it logs a warning and retries on every new block, for ten
 * minutes of failures (which, on a node that mines a block per transaction, may never add up). The task
 * watches for that itself: Ponder's own words first, Ponder leaving, and, as a second guard, an indexed
 * block that stays behind the chain's head for longer than a bound.
 */

/** A zero parent hash: what Hardhat's `hardhat_mine` gives the blocks it mines after an `evm_revert`. */
const ZERO_HASH = `0x${"0".repeat(64)}`;

/**
 * The reason a line of Ponder's log means it cannot advance, or undefined. Two of its signals are final:
 * a reorg below the block it has finalized ("Encountered unrecoverable reorg", 30 blocks deep on chain
 * 31337), and a block whose parent hash is zero, which no block of the chain has (Ponder asks for it and
 * fails, again at each new block).
 */
export function ponderCannotAdvance(line: string): string | undefined {
  if (/Encountered unrecoverable .*reorg/.test(line)) {
    const below = /finali[sz]ed[_ ]block[= ](\d+)/.exec(line)?.[1];
    return `the chain reorganised below block ${below ?? "?"}, which Ponder had finalized (over 30 blocks deep), and Ponder cannot undo that; restart it on a fresh --dir or --schema`;
  }
  if (line.includes("BlockNotFoundError") && line.includes(ZERO_HASH))
    return `the node serves blocks whose parent hash is ${ZERO_HASH.slice(0, 10)}… (Hardhat's hardhat_mine after evm_revert does), so Ponder cannot link them to the chain it indexed`;
  return undefined;
}

/**
 * The second guard: an indexed block that has not moved for `stallMs` while the chain's head is elsewhere.
 * Fed one observation at a time (`indexed` from Ponder's `/status`, `head` from the chain, `now` in ms);
 * answers the reason once the bound is passed. An indexer at the head never stalls, however long the chain
 * stays still, and any move of the indexed block starts the clock again.
 */
export class StallGuard {
  private since: number | undefined;
  private last: number | undefined;

  constructor(private readonly stallMs: number) {}

  observe(indexed: number, head: number, now: number): string | undefined {
    if (indexed !== this.last || indexed === head) {
      this.last = indexed;
      this.since = indexed === head ? undefined : now;
      return undefined;
    }
    this.since ??= now;
    if (now - this.since < this.stallMs) return undefined;
    return `its indexed block ${indexed} has not moved for ${Math.round((now - this.since) / 1000)} s while the chain is at block ${head}`;
  }
}

/** What {@link watchIndexer} reads: the indexed block, the chain's head (either undefined when unknown), Ponder's fatal signal and its end. */
export interface WatchedIndexer {
  indexed(): Promise<number | undefined>;
  head(): Promise<number | undefined>;
  /** Resolves with a reason when Ponder says (or shows, by exiting) that it cannot go on. */
  failed: Promise<string>;
}

/** A watch on an indexer: resolves `failed` with the first reason it cannot advance; `stop` ends the polling. */
export interface IndexerWatch {
  failed: Promise<string>;
  stop(): void;
}

/**
 * Watches an indexer: the first of Ponder's own signal (`failed`) and, unless `stallMs` is 0, a stall seen by
 * {@link StallGuard} polling every `pollMs`. A read that fails (the chain or Ponder busy) is skipped, not
 * counted either way.
 */
export function watchIndexer(target: WatchedIndexer, options: { stallMs: number; pollMs?: number }): IndexerWatch {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let stalled: (reason: string) => void = () => undefined;
  const stall = new Promise<string>((resolve) => (stalled = resolve));
  if (options.stallMs > 0) {
    const guard = new StallGuard(options.stallMs);
    const poll = async (): Promise<void> => {
      const [indexed, head] = await Promise.all([
        target.indexed().catch(() => undefined),
        target.head().catch(() => undefined),
      ]);
      if (stopped) return;
      const reason = indexed === undefined || head === undefined ? undefined : guard.observe(indexed, head, Date.now());
      if (reason !== undefined) return stalled(reason);
      timer = setTimeout(() => void poll(), options.pollMs ?? 2000);
    };
    timer = setTimeout(() => void poll(), options.pollMs ?? 2000);
  }
  return {
    failed: Promise.race([target.failed, stall]).finally(() => {
      stopped = true;
      clearTimeout(timer);
    }),
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
