import { getAddress } from "ethers";
import type { Provider } from "ethers";

import type { PaymentChannels } from "../../typechain-types";
import { channelIdOf } from "./key";
import type { ChannelRecord } from "./store";

/** The chain could not be read (the RPC failed, or did not answer in time). The message is for logs. */
export class ChainUnavailable extends Error {
  override readonly name = "ChainUnavailable";
}

/** The first line of an error's message, without ethers' long JSON tail: for logs, never for clients. */
export function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message
    .split("\n")[0]
    .replace(/ \(.*$/, "")
    .slice(0, 200);
}

/**
 * Runs one RPC read with a deadline: a hung RPC makes it fail with {@link ChainUnavailable} after `ms`
 * milliseconds, as does any error of the read itself.
 */
export async function withTimeout<T>(what: string, ms: number, run: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ChainUnavailable(`${what}: no answer from the RPC within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([run(), deadline]);
  } catch (error) {
    if (error instanceof ChainUnavailable) throw error;
    throw new ChainUnavailable(`${what}: ${oneLine(error)}`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
}

/** A channel's state on chain as the AS trusts it: open or not, its deposit and expiry. */
export interface ChainChannelState {
  open: boolean;
  deposit: bigint;
  expiry: number;
}

/**
 * Reads a channel with `getChannel`. With confirmations, it is read both at the latest block and at the
 * block `minConfirmations` below it: it counts as open only if open in both, and its deposit and expiry
 * are the smaller (a top-up that a reorg could undo does not count yet; a close or reclaim counts at once).
 */
export async function readChannelState(
  channels: PaymentChannels,
  channelId: string,
  o: { minConfirmations: number; timeoutMs: number },
): Promise<ChainChannelState> {
  return withTimeout(`reading channel ${channelId}`, o.timeoutMs, async () => {
    const latest = await channels.getChannel(channelId);
    let state = { open: latest.status === 1n, deposit: latest.deposit, expiry: Number(latest.expiry) };
    if (state.open && o.minConfirmations > 0) {
      const head = await channels.runner!.provider!.getBlockNumber();
      const confirmed = await channels.getChannel(channelId, { blockTag: Math.max(0, head - o.minConfirmations) });
      state = {
        open: confirmed.status === 1n,
        deposit: confirmed.deposit < state.deposit ? confirmed.deposit : state.deposit,
        expiry: Math.min(Number(confirmed.expiry), state.expiry),
      };
    }
    return state;
  });
}

/**
 * Chain time: the latest block's timestamp, read at most every `maxAgeMs`, advanced by the wall time since,
 * and never less than the wall clock (the next block is at least that late on a live chain, and later
 * still on a dev chain whose time was moved ahead). Expiries are judged by it, never by the wall clock
 * alone. When the RPC fails, the last reading serves for up to `staleMs`; after that, {@link now} throws.
 */
export class ChainClock {
  private reading?: { timestamp: number; at: number };
  private pending?: Promise<void>;

  constructor(
    private readonly provider: Provider,
    private readonly o: { maxAgeMs: number; staleMs: number; timeoutMs: number },
  ) {}

  async now(): Promise<number> {
    const age = this.reading === undefined ? Infinity : Date.now() - this.reading.at;
    if (age > this.o.maxAgeMs) {
      try {
        this.pending ??= this.refresh().finally(() => (this.pending = undefined));
        await this.pending;
      } catch (error) {
        if (age > this.o.staleMs) throw error;
      }
    }
    const r = this.reading!;
    return Math.floor(Math.max(Date.now() / 1000, r.timestamp + (Date.now() - r.at) / 1000));
  }

  /** The latest block's own timestamp, read now: what a transaction sent now is at least judged by. */
  async latestTimestamp(): Promise<number> {
    await this.refresh();
    return this.reading!.timestamp;
  }

  private async refresh(): Promise<void> {
    const block = await withTimeout("reading the latest block", this.o.timeoutMs, () =>
      this.provider.getBlock("latest"),
    );
    if (block === null) throw new ChainUnavailable("the RPC returned no latest block");
    this.reading = { timestamp: block.timestamp, at: Date.now() };
  }
}

/** A change to one of the payee's channels, read from the contract's events. */
export type ChannelEvent =
  | ({ kind: "opened" } & Omit<ChannelRecord, "closed">)
  | { kind: "topped-up"; channelId: string; deposit: bigint; expiry: number }
  | { kind: "closed"; channelId: string; paid: bigint }
  | { kind: "reclaimed"; channelId: string; refunded: bigint };

export interface FollowerOptions {
  channels: PaymentChannels;
  payee: string;
  /** Blocks on top of a block before its events are applied (a deeper reorg is not handled). */
  minConfirmations: number;
  timeoutMs: number;
  /** Most blocks per `eth_getLogs` (public RPCs limit the range). Default 2,000. */
  maxRange?: number;
  /** The last block applied, from the AS store; undefined on a first run. */
  cursor: () => number | undefined;
  /** Applies the events of blocks up to `toBlock` (in order) and stores `toBlock` as the cursor, atomically. */
  apply: (events: ChannelEvent[], toBlock: number) => void;
  /** First run (no cursor): re-reads every known channel, before the cursor is set to the safe head. */
  resync: () => Promise<void>;
}

/**
 * Follows the PaymentChannels contract for one payee: its `ChannelOpened` (for this payee), and the
 * `ChannelToppedUp`, `ChannelClosed` (single and batch closes emit one per channel) and
 * `ChannelReclaimed` of any channel, which the AS applies to the channels it knows. Only blocks with
 * `minConfirmations` blocks on top are read; the last one applied is stored with the changes, so a
 * restart resumes where it stopped and a crash never skips or half-applies a block.
 */
export class ChannelFollower {
  private readonly topics: string[];
  private readonly address: string;
  private readonly payee: string;
  private running?: Promise<number>;

  constructor(private readonly o: FollowerOptions) {
    const i = o.channels.interface;
    this.topics = (["ChannelOpened", "ChannelToppedUp", "ChannelClosed", "ChannelReclaimed"] as const).map(
      (name) => i.getEvent(name).topicHash,
    );
    this.address = getAddress(o.channels.target as string);
    this.payee = getAddress(o.payee);
  }

  /** Reads and applies every confirmed block not applied yet; returns the last block applied. Never runs twice at once. */
  poll(): Promise<number> {
    this.running ??= this.catchUp().finally(() => (this.running = undefined));
    return this.running;
  }

  private async catchUp(): Promise<number> {
    const provider = this.o.channels.runner!.provider!;
    const head = await withTimeout("reading the block number", this.o.timeoutMs, () => provider.getBlockNumber());
    const safe = head - this.o.minConfirmations;
    let cursor = this.o.cursor();
    if (cursor === undefined) {
      await this.o.resync();
      this.o.apply([], Math.max(safe, 0));
      return Math.max(safe, 0);
    }
    const range = this.o.maxRange ?? 2_000;
    while (cursor < safe) {
      const from = cursor + 1;
      const to = Math.min(safe, cursor + range);
      const logs = await withTimeout(`reading channel events of blocks ${from}-${to}`, this.o.timeoutMs, () =>
        provider.getLogs({ address: this.address, fromBlock: from, toBlock: to, topics: [this.topics] }),
      );
      const events: ChannelEvent[] = [];
      for (const log of logs) {
        const parsed = this.o.channels.interface.parseLog(log);
        if (parsed === null) continue;
        const a = parsed.args;
        const channelId = (a.channelId as string).toLowerCase();
        if (parsed.name === "ChannelOpened") {
          if (getAddress(a.payee as string) !== this.payee) continue;
          const key = {
            owner: getAddress(a.owner as string),
            payee: this.payee,
            token: a.token as boolean,
            clientRoot: (a.clientRoot as string).toLowerCase(),
            salt: a.salt as bigint,
            openBlock: BigInt(log.blockNumber),
          };
          if (channelIdOf(key) !== channelId) continue; // not the contract's own event shape: ignore
          events.push({ kind: "opened", channelId, ...key, deposit: a.deposit as bigint, expiry: Number(a.expiry) });
        } else if (parsed.name === "ChannelToppedUp") {
          events.push({ kind: "topped-up", channelId, deposit: a.deposit as bigint, expiry: Number(a.expiry) });
        } else if (parsed.name === "ChannelClosed") {
          events.push({ kind: "closed", channelId, paid: a.paid as bigint });
        } else if (parsed.name === "ChannelReclaimed") {
          events.push({ kind: "reclaimed", channelId, refunded: a.refunded as bigint });
        }
      }
      this.o.apply(events, to);
      cursor = to;
    }
    return cursor;
  }
}
