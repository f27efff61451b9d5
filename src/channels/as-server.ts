import { randomBytes } from "node:crypto";

import { getAddress } from "ethers";

import type { PaymentChannels } from "../../typechain-types";
import { TtlCache } from "../http/cache";
import { AsMetrics } from "../http/metrics";
import type { FastifyInstance } from "fastify";

import { HttpService, Rejected } from "../http/service";
import { isMember } from "../merkle/group";
import { DEFAULT_HOTP, DEFAULT_WINDOW, checkDeviceAck, deviceAdvance, hotp } from "./hotp";
import type { HotpConfig } from "./hotp";
import { ChainClock, ChainUnavailable, oneLine, readChannelState, withTimeout } from "./follower";
import type { ChainChannelState, ChannelEvent } from "./follower";
import { channelIdOf } from "./key";
import { CounterUsed, StoreUnavailable } from "./store";
import type { ChannelRecord, DeviceRecord, StoredReceipt } from "./store";
import { closeChannels } from "./as/closes";
import { CODE_TTL_META, forgetBelow, remember, windowFloor } from "./as/codes";
import { accessSchema, ackSchema, checkChannelParams, deviceParams, receiptSchema, redeliverSchema } from "./as/params";
import type {
  AccessGrant,
  AccessRequest,
  AsOptions,
  ChannelParams,
  CloseReport,
  CodeWindow,
  Due,
  RedeliveredGrant,
} from "./as/types";

export { MAX_TRACKED_EXPIRIES } from "./as/codes";
export type {
  AccessGrant,
  AccessRequest,
  AsOptions,
  ChannelParams,
  CloseNote,
  CloseReport,
  RedeliveredGrant,
} from "./as/types";

/**
 * The Authorization Server: trades receipts for one-time passwords. For each request it checks the
 * receipt (signature, group membership, amount = previous + the device's price, amount ≤ deposit, channel
 * open on chain and not near expiry), stores it durably, and only then returns the device's next OTP.
 */
export class AuthorizationServer extends HttpService<AsMetrics> {
  private readonly channels = new Map<string, ChannelRecord>();
  /** Channels found not open on chain, answered 404 without another chain read for a while. */
  private readonly notOpen: TtlCache<true>;
  /** The best durable receipt of each channel: what closes use. */
  private readonly best = new Map<string, StoredReceipt>();
  /** Receipts accepted but not yet on disk, newest per channel: the next receipt builds on them. */
  private readonly pending = new Map<string, StoredReceipt>();
  /** The exchanges in flight (from the moment /access has recovered the signer until it answers), by
   * `channelId:amount:signer`: a redelivery of one waits for all of them, chain reads and commit included. */
  private readonly exchanges = new Map<string, Set<Promise<unknown>>>();
  private readonly devices = new Map<string, DeviceRecord>();
  private readonly hotpConfig: HotpConfig;
  /** Chain time in seconds; throws a {@link Rejected} 503 when the chain cannot be read. */
  private readonly now: () => Promise<number>;
  /** When each channel's state was last read on chain (ms), and the reads in flight. */
  private readonly checkedAt = new Map<string, number>();
  private readonly refreshing = new Map<string, Promise<ChannelRecord>>();
  /** How a channel ended on chain, when the AS saw it (for the 409 message). */
  private readonly ended = new Map<string, string>();
  private readonly rpcTimeoutMs: number;
  private readonly windows = new Map<string, CodeWindow>();
  private readonly codeTtl: number;
  /** The lifetime given to codes whose expiry this process does not know (sold before it started). */
  private readonly unknownCodeTtl: number;
  /** A block the chain has reached (read before a channel's state): a "not open" read after it is final for
   * channels opened at or below it, and only those are remembered as not open. */
  private knownHead = 0n;
  /** The head read in flight, shared by concurrent requests. */
  private headRead?: Promise<bigint>;
  /** The head a request naming a later block was refused with, and until when it refuses more (`headCacheMs`). */
  private readonly notReached: TtlCache<bigint>;

  constructor(private readonly options: AsOptions) {
    super(
      new AsMetrics({ processMetrics: options.http?.processMetrics }),
      {
        provider: () => options.channels?.runner?.provider,
        probeDb: () => options.store.probeWrite(),
        extra: () => ({ receipts: options.store.receiptCount() }),
      },
      options.http,
    );
    this.hotpConfig = options.hotp ?? DEFAULT_HOTP;
    this.notOpen = new TtlCache((options.unknownChannelTtl ?? 15) * 1000);
    this.notReached = new TtlCache(options.headCacheMs ?? 1_000, 1);
    this.rpcTimeoutMs = options.rpcTimeoutMs ?? 5_000;
    const provider = options.channels?.runner?.provider ?? undefined;
    const clock =
      provider === undefined
        ? undefined
        : new ChainClock(provider, {
            maxAgeMs: Math.min(2_000, (options.stateMaxAge ?? 5) * 1000),
            staleMs: (options.stateMaxAge ?? 5) * 1000,
            timeoutMs: this.rpcTimeoutMs,
          });
    const fixed = options.now;
    this.now =
      fixed !== undefined
        ? async () => fixed()
        : clock === undefined
          ? async () => Math.floor(Date.now() / 1000)
          : async () => {
              try {
                return await clock.now();
              } catch (error) {
                this.options.log?.(`chain time unavailable: ${oneLine(error)}`);
                throw new Rejected(
                  503,
                  "chain unavailable: the AS cannot read the chain's time; try again shortly",
                  "chain_unavailable",
                );
              }
            };
    for (const c of options.store.channels()) this.channels.set(c.channelId, c);
    for (const [id, r] of options.store.bestReceipts()) this.best.set(id, r);
    for (const d of options.store.devices()) this.devices.set(d.deviceId.toLowerCase(), d);
    this.codeTtl = options.codeTtl ?? 600;
    const longest = Number(options.store.meta(CODE_TTL_META) ?? 0);
    this.unknownCodeTtl = Math.max(longest, this.codeTtl);
    if (this.codeTtl > longest) options.store.saveChannelsAndMeta([], CODE_TTL_META, String(this.codeTtl));
    this.routes((app) => this.defineRoutes(app));
  }

  /** The AS's routes: devices, receipts, the exchange, redelivery and the devices' acknowledgements. */
  private defineRoutes(app: FastifyInstance): void {
    app.get("/devices", async () =>
      [...this.devices.values()].map((d) => ({ deviceId: d.deviceId, price: d.price.toString() })),
    );
    app.get<{ Params: { id: string } }>("/channels/:id/receipt", { schema: receiptSchema }, async (request) => {
      const id = request.params.id.toLowerCase();
      // Durable receipts only: a pending one could still fail to be stored and roll back, and whoever had
      // read it could then present it to /access and take the code its signer paid for.
      const r = this.best.get(id);
      const c = this.channels.get(id);
      return r === undefined
        ? { channelId: id, amount: "0", deposit: c?.deposit.toString() ?? null }
        : {
            channelId: id,
            amount: r.amount.toString(),
            signer: r.signer,
            signature: r.signature,
            proof: r.proof,
            deposit: c?.deposit.toString() ?? null,
          };
    });
    app.post<{ Body: AccessRequest }>("/access", { schema: accessSchema }, async (request) => {
      checkChannelParams(request.body.channel);
      const grant = await this.access(request.body);
      this.metrics.exchanges.inc();
      return grant;
    });
    app.post<{ Params: { id: string }; Body: { amount: string; signature: string } }>(
      "/channels/:id/redeliver",
      { schema: redeliverSchema },
      async (request) => this.redeliver(request.params.id, BigInt(request.body.amount), request.body.signature),
    );
    app.post<{ Params: { id: string }; Body: { base: number; next?: number; challenge?: string; mac: string } }>(
      "/devices/:id/ack",
      { schema: { ...ackSchema, params: deviceParams } },
      async (request) => this.acknowledge(request.params.id, request.body),
    );
    app.get<{ Params: { id: string } }>(
      "/devices/:id/challenge",
      { schema: { params: deviceParams } },
      async (request) => {
        const device = this.devices.get(request.params.id.toLowerCase());
        if (device === undefined) throw new Rejected(404, `unknown device ${request.params.id}`, "unknown_device");
        return { deviceId: device.deviceId, challenge: this.codeWindow(device).challenge ?? null };
      },
    );
  }

  /**
   * A device's acknowledgement, relayed by a client: the device's window base (and `next`, one above the
   * highest counter it used) with its MAC under the shared secret, which only the device (and the AS) can
   * make. Every counter below the base was used, so the AS may issue up to base + W; it never issues a
   * counter below `next` again (an AS restored behind its device catches up). A replayed or older
   * acknowledgement changes nothing. Only one covering this process's current challenge ends a `--resync`
   * wait; while the wait goes on, the answer names the challenge (`awaitsChallenge`).
   */
  private async acknowledge(
    id: string,
    ack: { base: number; next?: number; challenge?: string; mac: string },
  ): Promise<{ deviceId: string; acked: number; counter: number; awaitsChallenge?: string }> {
    const { base, next, challenge, mac } = ack;
    const device = this.devices.get(id.toLowerCase());
    if (device === undefined) throw new Rejected(404, `unknown device ${id}`, "unknown_device");
    if (next !== undefined && next < base)
      throw new Rejected(400, `body/next ${next} is below body/base ${base}`, "bad_ack");
    if (!checkDeviceAck(Buffer.from(device.secret, "hex"), device.deviceId, base, mac, next, challenge))
      throw new Rejected(403, `the acknowledgement of device ${device.deviceId} has a wrong MAC`, "bad_mac");
    const top = Math.max(base, next ?? base);
    const previousAcked = device.acked ?? 0;
    const codes = this.codeWindow(device);
    const raises = top > device.counter;
    // The device used codes this AS may not know it issued (a restored database): from now on no sale takes
    // a counter below `top`, also while the acknowledgement is being stored.
    codes.usedBelow = Math.max(codes.usedBelow, top);
    if (raises) device.counter = top;
    if (base > previousAcked || raises) {
      // Stored in the next group commit (one fsync with the receipts), answered once durable. The window
      // widens (acked) only then: a sale never relies on an acknowledgement that could still be lost.
      try {
        await this.options.store.setAcked(device.deviceId, base, top);
      } catch {
        throw new Rejected(503, "the AS cannot write its database now; retry later", "store_unavailable");
      }
      if (base > (device.acked ?? 0)) device.acked = base;
    }
    if (codes.challenge !== undefined && challenge === codes.challenge) {
      this.options.log?.(`device ${device.deviceId} acknowledged base ${base} (challenged): selling resumes`);
      codes.challenge = undefined;
    }
    forgetBelow(codes.expiry, previousAcked, device.acked ?? 0);
    return {
      deviceId: device.deviceId,
      acked: device.acked ?? 0,
      counter: device.counter,
      ...(codes.challenge === undefined ? {} : { awaitsChallenge: codes.challenge }),
    };
  }

  private codeWindow(device: DeviceRecord): CodeWindow {
    let codes = this.windows.get(device.deviceId);
    if (codes === undefined) {
      codes = {
        voided: device.voided ?? 0,
        expiry: new Map(),
        usedBelow: 0,
        ...(this.options.resync === true ? { challenge: randomBytes(16).toString("hex") } : {}),
      };
      this.windows.set(device.deviceId, codes);
    }
    return codes;
  }

  /** Wall-clock seconds (or the test clock `now`), for code lifetimes: the device has no clock to check. */
  private clock(): number {
    return this.options.now?.() ?? Math.floor(Date.now() / 1000);
  }

  /**
   * The code of a stored receipt again, for its signer only (a `Redeliver` signature: the receipt itself is
   * public). For a client whose answer was lost after the receipt was stored (a dropped connection, a
   * timeout, an AS killed before answering): it paid, and re-sending the receipt is a 409. No counter is
   * issued: the code is the one the receipt bought; if the device already used it (or passed it), it says so.
   */
  private async redeliver(id: string, amount: bigint, signature: string): Promise<RedeliveredGrant> {
    const channelId = id.toLowerCase();
    const signer = this.options.verifier.recoverRedeliver(channelId, amount, signature);
    if (signer === undefined)
      throw new Rejected(400, "the redelivery signature is malformed or not canonical (high s)", "bad_signature");
    // The signer's own exchanges of this receipt still running (a chain read, the commit): their outcome first.
    await Promise.allSettled(this.exchanges.get(`${channelId}:${amount}:${signer}`) ?? []);
    let receipt: StoredReceipt | undefined;
    try {
      receipt = this.options.store.receipt(channelId, amount);
    } catch {
      throw new Rejected(503, "the AS cannot read its database now; retry later", "store_unavailable");
    }
    if (receipt === undefined)
      throw new Rejected(
        404,
        `channel ${channelId} has no stored receipt of amount ${amount} (a receipt that was refused or not stored was not charged)`,
        "no_stored_receipt",
      );
    if (signer !== receipt.signer)
      throw new Rejected(
        403,
        `the receipt of amount ${amount} was signed by ${receipt.signer}; only its signer can have its code again, not ${signer}`,
        "not_signer",
      );
    const device = this.devices.get(receipt.deviceId.toLowerCase());
    if (device === undefined) throw new Rejected(404, `unknown device ${receipt.deviceId}`, "unknown_device");
    const secret = Buffer.from(device.secret, "hex");
    const otp = hotp(secret, receipt.otpCounter, this.hotpConfig);
    const codes = this.codeWindow(device);
    const voided = receipt.otpCounter >= (device.acked ?? 0) && receipt.otpCounter < codes.voided;
    const used = receipt.otpCounter < (device.acked ?? 0) || voided;
    let expiresAt = codes.expiry.get(receipt.otpCounter);
    if (expiresAt === undefined) {
      expiresAt = this.clock() + (used ? 0 : this.unknownCodeTtl);
      if (!used) remember(codes.expiry, receipt.otpCounter, expiresAt);
    }
    return {
      deviceId: device.deviceId,
      otp,
      counter: receipt.otpCounter,
      amount: amount.toString(),
      expiresAt,
      ...(codes.voided > (device.acked ?? 0) && !used
        ? { advance: { base: codes.voided, mac: deviceAdvance(secret, device.deviceId, codes.voided) } }
        : {}),
      redelivered: true,
      used,
      ...(used
        ? {
            note: voided
              ? `code ${receipt.otpCounter} of device ${device.deviceId} expired unused and was voided: it will refuse it`
              : `device ${device.deviceId} reported code ${receipt.otpCounter} used: it will refuse it`,
          }
        : {}),
    };
  }

  /** Registers (or re-prices) a device and its shared secret. The secret never leaves the AS but as OTPs. */
  provisionDevice(deviceId: string, secret: string, price: bigint): void {
    const existing = this.devices.get(deviceId.toLowerCase());
    const record = {
      deviceId: deviceId.toLowerCase(),
      secret,
      price,
      counter: existing?.counter ?? 0,
      acked: existing?.acked ?? 0,
      voided: existing?.voided ?? 0,
    };
    this.options.store.upsertDevice(record);
    this.devices.set(record.deviceId, record);
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
  private async channel(params: ChannelParams): Promise<ChannelRecord> {
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
  private applyState(record: ChannelRecord, state: ChainChannelState, how: string): void {
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

  private async access(body: AccessRequest): Promise<AccessGrant> {
    if (this.options.store.lost !== undefined)
      throw new Rejected(
        503,
        "the AS has stopped selling: its database was removed or failed while it ran; an operator must act",
        "store_lost",
      );
    // Every check that needs no chain read comes first: a request that would fail anyway costs no RPC.
    const id = this.channelIdOf(body.channel);
    const device = this.devices.get(body.deviceId.toLowerCase());
    if (device === undefined) throw new Rejected(404, `unknown device ${body.deviceId}`, "unknown_device");
    const amount = BigInt(body.amount);
    const signer = this.options.verifier.recover(id, amount, body.signature);
    if (signer === undefined)
      throw new Rejected(400, "the receipt signature is malformed or not canonical (high s)", "bad_signature");
    // The channel id commits to its client root: the request's root is the channel's.
    if (!isMember(body.channel.clientRoot, signer, body.proof)) {
      throw new Rejected(403, `receipt signer ${signer} is not in the channel's client group`, "not_member");
    }
    // In flight from here (before any await): a redelivery asked meanwhile (its client timed out during a
    // chain read) waits for this exchange to end instead of answering "not stored" before it is stored.
    const key = `${id}:${amount}:${signer}`;
    const exchange = this.exchange(body, device, amount, signer);
    const running = this.exchanges.get(key) ?? new Set<Promise<unknown>>();
    running.add(exchange);
    this.exchanges.set(key, running);
    return exchange.finally(() => {
      running.delete(exchange);
      if (running.size === 0 && this.exchanges.get(key) === running) this.exchanges.delete(key);
    });
  }

  /** The rest of an exchange whose signature and membership are checked: chain state, window, amount, commit. */
  private async exchange(
    body: AccessRequest,
    device: DeviceRecord,
    amount: bigint,
    signer: string,
  ): Promise<AccessGrant> {
    const { channel, codes } = await this.checkSale(body, device, amount);
    // Reserve synchronously (the event loop makes this atomic), then make it durable before answering. If the
    // write fails, the store undoes the reservation (newest first) before anything else runs: the best
    // receipt and the counter are back at their durable values, and the same amount works next time. The
    // store may lower receipt.otpCounter (a failed receipt before it gave its counter back): read it after.
    const receipt: StoredReceipt = {
      channelId: channel.channelId,
      amount,
      signer,
      signature: body.signature,
      proof: body.proof,
      deviceId: device.deviceId,
      otpCounter: device.counter,
    };
    const expiresAt = this.clock() + this.codeTtl;
    const previousPending = this.pending.get(channel.channelId);
    this.pending.set(channel.channelId, receipt);
    device.counter += 1;
    try {
      const timer = this.metrics.commitSeconds.startTimer();
      // The voided floor is stored with the receipt: a redelivery after a restart still carries the advance.
      const undo = () => {
        if (previousPending === undefined) this.pending.delete(channel.channelId);
        else this.pending.set(channel.channelId, previousPending);
        // Never below a `next` the device acknowledged meanwhile: it used those counters. A reservation
        // overtaken by such an acknowledgement (`stale`) holds a counter below it: nothing to give back.
        if (receipt.otpCounter >= codes.usedBelow) device.counter = Math.max(device.counter - 1, codes.usedBelow);
      };
      // An acknowledgement that arrived after the reservation may name its counter as used (a restored
      // database): the receipt is then not written, and the client buys again with a counter above it.
      const stale = () => receipt.otpCounter < codes.usedBelow;
      await this.options.store.commit(receipt, undo, { voided: codes.voided, stale }).finally(timer);
      // Durable now: the best receipt a close may use (never one that could still fail to be stored).
      if (receipt.amount > (this.best.get(channel.channelId)?.amount ?? 0n)) this.best.set(channel.channelId, receipt);
      if (this.pending.get(channel.channelId) === receipt) this.pending.delete(channel.channelId);
      if (receipt.otpCounter >= (device.acked ?? 0)) remember(codes.expiry, receipt.otpCounter, expiresAt);
      this.metrics.outstandingCodes.set(
        { device: device.deviceId },
        device.counter - Math.max(device.acked ?? 0, codes.voided),
      );
    } catch (error) {
      if (error instanceof CounterUsed)
        throw new Rejected(
          503,
          `device ${device.deviceId} acknowledged counters up to ${codes.usedBelow - 1} as used while this receipt was being stored, so it was not accepted and nothing was charged: retry the same amount`,
          "counter_used",
        );
      if (!(error instanceof StoreUnavailable)) throw error;
      throw new Rejected(
        503,
        `the AS could not store this receipt, so it was not accepted and nothing was charged: retry the same amount later`,
        "store_unavailable",
      );
    }
    const secret = Buffer.from(device.secret, "hex");
    const otp = hotp(secret, receipt.otpCounter, this.hotpConfig);
    const grant: AccessGrant = {
      deviceId: device.deviceId,
      otp,
      counter: receipt.otpCounter,
      amount: amount.toString(),
      expiresAt,
    };
    // Codes above the device's acknowledged window: the device must first move its base past the voided ones.
    if (codes.voided > (device.acked ?? 0))
      grant.advance = { base: codes.voided, mac: deviceAdvance(secret, device.deviceId, codes.voided) };
    return grant;
  }

  /** The checks of a sale that need the chain or the device's window: channel open and not expiring, window, amount. */
  private async checkSale(
    body: AccessRequest,
    device: DeviceRecord,
    amount: bigint,
  ): Promise<{ channel: ChannelRecord; codes: CodeWindow }> {
    const channel = await this.channel(body.channel);
    if (channel.closed) {
      const how = this.ended.get(channel.channelId) ?? "closed";
      throw new Rejected(409, `channel ${channel.channelId} is ${how}: it can no longer be paid`, "channel_closed");
    }
    if (channel.expiry - (await this.now()) < (this.options.expiryMargin ?? 60)) {
      throw new Rejected(
        409,
        `channel ${channel.channelId} expires at ${channel.expiry}: too close to accept receipts`,
        "channel_expiring",
      );
    }
    const window = this.options.hotpWindow ?? DEFAULT_WINDOW;
    const codes = this.codeWindow(device);
    if (codes.challenge !== undefined)
      throw new Rejected(
        409,
        `device ${device.deviceId} awaits its own acknowledgement (the AS restarted with --resync): relay the device's acknowledgement of challenge ${codes.challenge} (GET /devices/${device.deviceId}/challenge) to POST /devices/${device.deviceId}/ack, then buy`,
        "awaiting_device_ack",
      );
    const floor = windowFloor(device, codes, window, () => this.clock(), this.unknownCodeTtl, this.options.log);
    if (device.counter >= floor + window) {
      throw new Rejected(
        429,
        `device ${device.deviceId}'s window of ${window} codes is full: code ${floor}, the oldest its device has not acknowledged as used, is outstanding until ${codes.expiry.get(floor)}; use it (and relay the device's acknowledgement) or buy after then`,
        "window_full",
      );
    }
    const previous = (this.pending.get(channel.channelId) ?? this.best.get(channel.channelId))?.amount ?? 0n;
    const expected = previous + device.price;
    if (amount !== expected) {
      throw new Rejected(
        409,
        `amount must be ${expected} (previous ${previous} + price ${device.price}), got ${amount}`,
        "wrong_amount",
      );
    }
    if (amount > channel.deposit) {
      throw new Rejected(
        402,
        `amount ${amount} exceeds the channel's deposit ${channel.deposit}`,
        "insufficient_deposit",
      );
    }
    return { channel, codes };
  }

  /** Channels whose expiry is within `margin` seconds of chain time and that have a receipt to cash. */
  async dueChannels(margin: number): Promise<Due[]> {
    const now = await this.now();
    const due: Due[] = [];
    for (const channel of this.channels.values()) {
      const receipt = this.best.get(channel.channelId);
      if (!channel.closed && receipt !== undefined && channel.expiry - now <= margin) due.push({ channel, receipt });
    }
    return due;
  }

  /** One round of the close loop: the due channels, re-checked on chain, closed with their best receipts. */
  async closeDue(margin: number): Promise<CloseReport> {
    let due: Due[];
    try {
      due = await this.dueChannels(margin);
    } catch (error) {
      const message = error instanceof Rejected ? error.message : oneLine(error);
      return { closed: [], skipped: [], failed: [{ channelId: "*", error: message }], gasUsed: 0n, notes: [] };
    }
    return this.closeChannels(due, { margin });
  }

  /**
   * Closes channels with their best receipts. Each is first re-read on chain: one found closed (by an
   * earlier close whose result the AS did not record, e.g. it crashed), reclaimed or expired is marked
   * closed and not sent; one whose expiry a top-up moved out of `margin` waits. The rest go in
   * `closeBatch` transactions of at most `maxCloseBatch` (the contract skips, with its reason, a channel
   * that cannot settle, and the AS is paid once per asset). A transaction that reverts (e.g. out of gas)
   * is split in halves and retried, so one bad channel never stops the others; an RPC failure leaves the
   * channels due for the next round, which re-checks them on chain first.
   */
  async closeChannels(items: Due[], o: { margin?: number } = {}): Promise<CloseReport> {
    const report: CloseReport = { closed: [], skipped: [], failed: [], gasUsed: 0n, notes: [] };
    if (items.length === 0) return report;
    const contract = this.options.channels;
    if (contract === undefined) throw new Error("this AS has no chain connection to close channels with");
    const ctx = {
      contract,
      rpcTimeoutMs: this.rpcTimeoutMs,
      maxCloseBatch: this.options.maxCloseBatch,
      store: this.options.store,
      ended: this.ended,
      checkedAt: this.checkedAt,
      applyState: (record: ChannelRecord, state: ChainChannelState, how: string) => this.applyState(record, state, how),
    };
    return closeChannels(ctx, items, report, o);
  }
}
