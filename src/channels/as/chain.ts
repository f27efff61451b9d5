import { getAddress } from "ethers";

import type { PaymentChannels } from "../../../typechain-types";
import { TtlCache } from "../../http/cache";
import type { AsMetrics } from "../../http/metrics";
import { Rejected } from "../../http/service";
import { ChainClock, ChainUnavailable, oneLine, readChannelState, withTimeout } from "../follower";
import type { ChainChannelState, ChannelEvent } from "../follower";
import { channelIdOf } from "../key";
import type { ChannelRecord } from "../store";
import type { AsOptions, ChannelParams } from "./types";

/**
 * The AS's channels and what it knows of them on chain: read when first named, re-read when older than
 * `stateMaxAge`, updated by the event follower; channels not open (yet) are remembered for a while.
 */
export class ChannelBook {
  readonly channels = new Map<string, ChannelRecord>();
  /** Channels found not open on chain, answered 404 without another chain read for a while. */
  readonly notOpen: TtlCache<true>;
  /** When each channel's state was last read on chain (ms), and the reads in flight. */
  readonly checkedAt = new Map<string, number>();
  private readonly refreshing = new Map<string, Promise<ChannelRecord>>();
  /** How a channel ended on chain, when the AS saw it (for the 409 message). */
  readonly ended = new Map<string, string>();
  /** A block the chain has reached (read before a channel's state): a "not open" read after it is final for
   * channels opened at or below it, and only those are remembered as not open. */
  private knownHead = 0n;
  /** The head read in flight, shared by concurrent requests. */
  private headRead?: Promise<bigint>;
  /** The head a request naming a later block was refused with, and until when it refuses more (`headCacheMs`). */
  private readonly notReached: TtlCache<bigint>;

  constructor(
    private readonly options: AsOptions,
    private readonly metrics: AsMetrics,
    private readonly rpcTimeoutMs: number,
  ) {
    this.notOpen = new TtlCache((options.unknownChannelTtl ?? 15) * 1000);
    this.notReached = new TtlCache(options.headCacheMs ?? 1_000, 1);
    for (const c of options.store.channels()) this.channels.set(c.channelId, c);
  }

  channelIdOf(params: ChannelParams): string {
    return channelIdOf({
      owner: params.owner,
      payee: this.options.payee,
      token: params.token,
      clientRoot: params.clientRoot,
      salt: BigInt(params.salt),
      openBlock: BigInt(params.openBlock),
    });
  }

  /**
   * The channel a request names, with its state no older than `stateMaxAge` seconds: read on chain the
   * first time, and re-read when the cached state is older (a closed channel stays closed). A failed read
   * is a 503: the AS never sells on state it could not refresh.
   */
  async channel(params: ChannelParams): Promise<ChannelRecord> {
    const id = this.channelIdOf(params);
    const record = this.channels.get(id);
    if (record === undefined) {
      if (this.options.channels === undefined)
        throw new Rejected(404, `channel ${id} is not known to this AS`, "unknown_channel");
      return this.discover(id, params);
    }
    if (record.closed || this.options.channels === undefined) return record;
    const age = Date.now() - (this.checkedAt.get(id) ?? 0);
    if (age <= (this.options.stateMaxAge ?? 5) * 1000) return record;
    return this.refresh(record);
  }

  /** A channel the AS has not seen: read on chain, checked open and confirmed, then stored. */
  private async discover(id: string, params: ChannelParams): Promise<ChannelRecord> {
    const contract = this.options.channels!;
    const needed = this.options.minConfirmations ?? 0;
    // A channel found not open is remembered for `unknownChannelTtl` and answered 404 without another read;
    // concurrent reads of one id share one call.
    if (this.notOpen.has(id)) {
      this.metrics.unknownChannelHits.inc();
      throw new Rejected(404, `channel ${id} is not open for this AS on chain`, "unknown_channel");
    }
    // A channel can be open only once its block exists; until the AS has seen that block, a "not open" is
    // not final (the open may be pending): read the head first, and remember only answers read after it.
    const openBlock = BigInt(params.openBlock);
    if (openBlock > this.knownHead) {
      const cached = this.notReached.get("head");
      const head = cached ?? (await this.readOnChain(id, () => this.chainHead(contract)));
      if (head > this.knownHead) this.knownHead = head;
      if (openBlock > head && cached === undefined) this.notReached.set("head", head);
      if (openBlock > head)
        throw new Rejected(
          404,
          `channel ${id} is not open on chain: it names block ${openBlock}, and the chain is at block ${head}`,
          "unknown_channel",
        );
    }
    const read = await this.notOpen.shared(id, () =>
      this.readOnChain(id, () => readChannelState(contract, id, { minConfirmations: 0, timeoutMs: this.rpcTimeoutMs })),
    );
    const state = read.value;
    if (!state.open) {
      this.notOpen.set(id, true);
      if (read.joined) this.metrics.unknownChannelHits.inc();
      throw new Rejected(404, `channel ${id} is not open for this AS on chain`, "unknown_channel");
    }
    if (needed > 0) {
      const head = await this.readOnChain(id, () => this.chainHead(contract));
      const confirmations = head - BigInt(params.openBlock);
      if (confirmations < BigInt(needed))
        throw new Rejected(
          409,
          `channel ${id} has ${confirmations} confirmations; this AS waits for ${needed}`,
          "unconfirmed_channel",
        );
    }
    // Another request may have discovered it meanwhile: keep one record per channel.
    const existing = this.channels.get(id);
    if (existing !== undefined) return existing;
    const record: ChannelRecord = {
      channelId: id,
      owner: getAddress(params.owner),
      token: params.token,
      clientRoot: params.clientRoot.toLowerCase(),
      salt: BigInt(params.salt),
      openBlock: BigInt(params.openBlock),
      deposit: state.deposit,
      expiry: state.expiry,
      closed: false,
    };
    this.options.store.saveChannel(record);
    this.channels.set(id, record);
    this.checkedAt.set(id, Date.now());
    return record;
  }

  /** The head block number; concurrent callers share one read. */
  private chainHead(contract: PaymentChannels): Promise<bigint> {
    this.headRead ??= withTimeout("reading the block number", this.rpcTimeoutMs, async () =>
      BigInt((await contract.runner?.provider?.getBlockNumber()) ?? 0),
    ).finally(() => (this.headRead = undefined));
    return this.headRead;
  }

  /** Re-reads a known channel on chain (one read in flight per channel) and applies what it finds. */
  private refresh(record: ChannelRecord): Promise<ChannelRecord> {
    const id = record.channelId;
    let pending = this.refreshing.get(id);
    if (pending === undefined) {
      const contract = this.options.channels!;
      const o = { minConfirmations: this.options.minConfirmations ?? 0, timeoutMs: this.rpcTimeoutMs };
      pending = this.readOnChain(id, () => readChannelState(contract, id, o))
        .then((state) => {
          this.applyState(record, state, "closed or reclaimed on chain");
          this.checkedAt.set(id, Date.now());
          return record;
        })
        .finally(() => this.refreshing.delete(id));
      this.refreshing.set(id, pending);
    }
    return pending;
  }

  /** Runs a chain read for a sale: a failure is logged and answered 503, without its internal text. */
  private async readOnChain<T>(id: string, read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (error) {
      this.options.log?.(`chain read for channel ${id} failed: ${oneLine(error)}`);
      this.metrics.rpcErrors.inc({ call: "getChannel", kind: error instanceof ChainUnavailable ? "timeout" : "error" });
      throw new Rejected(
        503,
        `chain unavailable: the AS cannot check channel ${id} on chain; try again shortly`,
        "chain_unavailable",
      );
    }
  }

  /** Applies a state read on chain: closed stays closed; deposit and expiry only grow while open. */
  applyState(record: ChannelRecord, state: ChainChannelState, how: string): void {
    if (record.closed) return;
    if (!state.open) {
      record.closed = true;
      this.ended.set(record.channelId, how);
    } else if (state.deposit > record.deposit || state.expiry > record.expiry) {
      if (state.deposit > record.deposit) record.deposit = state.deposit;
      if (state.expiry > record.expiry) record.expiry = state.expiry;
    } else {
      return;
    }
    this.options.store.saveChannel(record);
  }

  /**
   * Applies events the chain follower read (confirmed blocks `..toBlock`) and stores them with the
   * follower's cursor under `cursorKey`, in one transaction. New channels for this payee are added.
   */
  applyChainEvents(events: readonly ChannelEvent[], cursorKey: string, toBlock: number): void {
    const changed = new Map<string, ChannelRecord>();
    for (const e of events) {
      const record = this.channels.get(e.channelId);
      if (e.kind === "opened") {
        this.notOpen.delete(e.channelId);
        if (record !== undefined) continue;
        const fresh: ChannelRecord = {
          channelId: e.channelId,
          owner: e.owner,
          token: e.token,
          clientRoot: e.clientRoot,
          salt: e.salt,
          openBlock: e.openBlock,
          deposit: e.deposit,
          expiry: e.expiry,
          closed: false,
        };
        this.channels.set(e.channelId, fresh);
        changed.set(e.channelId, fresh);
        continue;
      }
      if (record === undefined || record.closed) continue;
      if (e.kind === "topped-up") {
        if (e.deposit > record.deposit) record.deposit = e.deposit;
        if (e.expiry > record.expiry) record.expiry = e.expiry;
      } else {
        const how =
          e.kind === "closed"
            ? `closed on chain, paid ${e.paid}`
            : `reclaimed by its owner on chain, refunded ${e.refunded}`;
        record.closed = true;
        this.ended.set(e.channelId, how);
        this.options.log?.(`channel ${e.channelId} ended: ${how} (seen by the event follower)`);
      }
      changed.set(e.channelId, record);
    }
    this.options.store.saveChannelsAndMeta([...changed.values()], cursorKey, String(toBlock));
  }

  /** Re-reads every open channel the AS knows (the follower's first run, with no cursor yet). */
  async refreshAll(): Promise<void> {
    const open = [...this.channels.values()].filter((c) => !c.closed);
    for (let i = 0; i < open.length; i += 16) {
      await Promise.all(
        open.slice(i, i + 16).map((c) => this.refresh(c).catch((error: Error) => this.options.log?.(error.message))),
      );
    }
  }
}

/** The AS's clock: chain time in seconds (or the test clock `now`), cached; throws a {@link Rejected} 503 when the chain cannot be read. */
export function asClock(options: AsOptions, rpcTimeoutMs: number): () => Promise<number> {
  const provider = options.channels?.runner?.provider ?? undefined;
  const clock =
    provider === undefined
      ? undefined
      : new ChainClock(provider, {
          maxAgeMs: Math.min(2_000, (options.stateMaxAge ?? 5) * 1000),
          staleMs: (options.stateMaxAge ?? 5) * 1000,
          timeoutMs: rpcTimeoutMs,
        });
  const fixed = options.now;
  return fixed !== undefined
    ? async () => fixed()
    : clock === undefined
      ? async () => Math.floor(Date.now() / 1000)
      : async () => {
          try {
            return await clock.now();
          } catch (error) {
            options.log?.(`chain time unavailable: ${oneLine(error)}`);
            throw new Rejected(
              503,
              "chain unavailable: the AS cannot read the chain's time; try again shortly",
              "chain_unavailable",
            );
          }
        };
}
