import type { FastifyInstance } from "fastify";

import { AsMetrics } from "../http/metrics";
import { HttpService, Rejected } from "../http/service";
import { isMember } from "../merkle/group";
import { DEFAULT_HOTP, DEFAULT_WINDOW, deviceAdvance, hotp } from "./hotp";
import type { HotpConfig } from "./hotp";
import { oneLine } from "./follower";
import type { ChainChannelState, ChannelEvent } from "./follower";
import { RecoveryProcess } from "./recovery/process";
import type { RecoveryStatus } from "./recovery/process";
import { CounterUsed, StoreLost, StoreUnavailable } from "./store";
import type { ChannelRecord, DeviceRecord, StoredReceipt } from "./store";
import { ChannelBook, asClock } from "./as/chain";
import { acknowledge, codeWindowOf, redeliver, saleLost, storeLost, track } from "./as/devices";
import type { DeviceContext } from "./as/devices";
import { closeChannels } from "./as/closes";
import { CODE_TTL_META, remember, windowFloor } from "./as/codes";
import { accessSchema, ackSchema, checkChannelParams, deviceParams, receiptSchema, redeliverSchema } from "./as/params";
import type { AccessGrant, AccessRequest, AsOptions, ChannelParams, CloseReport, CodeWindow, Due } from "./as/types";

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
  /** The best durable receipt of each channel: what closes use. */
  private readonly best = new Map<string, StoredReceipt>();
  /** Receipts accepted but not yet on disk, newest per channel: the next receipt builds on them. */
  private readonly pending = new Map<string, StoredReceipt>();
  /** The exchanges in flight (from the moment /access has recovered the signer until it answers), by
   * `channelId:amount:signer`: a redelivery of one waits for all of them, chain reads and commit included;
   * before that, while their signer is recovered, in `recovering` by `channelId:amount`. */
  private readonly exchanges = new Map<string, Set<Promise<unknown>>>();
  private readonly recovering = new Map<string, Set<Promise<unknown>>>();
  private readonly devices = new Map<string, DeviceRecord>();
  private readonly hotpConfig: HotpConfig;
  /** Chain time in seconds; throws a {@link Rejected} 503 when the chain cannot be read. */
  private readonly now: () => Promise<number>;
  private readonly rpcTimeoutMs: number;
  /** The channels and their state on chain. */
  private readonly book: ChannelBook;
  private readonly windows = new Map<string, CodeWindow>();
  private readonly codeTtl: number;
  /** The lifetime given to codes whose expiry this process does not know (sold before it started). */
  private readonly unknownCodeTtl: number;
  /** What acknowledgements and redeliveries need (src/channels/as/devices.ts). */
  private readonly deviceContext: DeviceContext;
  /** Receipts' signers recovered on a second core (`recoveryProcess`). */
  private readonly recovery?: RecoveryProcess;

  constructor(private readonly options: AsOptions) {
    super(
      new AsMetrics({ processMetrics: options.http?.processMetrics }),
      {
        provider: () => options.channels?.runner?.provider,
        probeDb: () => options.store.probeWrite(),
        extra: () => ({ receipts: options.store.receiptCount(), recovery: this.recovery?.state ?? "event loop" }),
      },
      options.http,
    );
    this.hotpConfig = options.hotp ?? DEFAULT_HOTP;
    this.rpcTimeoutMs = options.rpcTimeoutMs ?? 5_000;
    this.book = new ChannelBook(options, this.metrics, this.rpcTimeoutMs);
    this.now = asClock(options, this.rpcTimeoutMs);
    for (const [id, r] of options.store.bestReceipts()) this.best.set(id, r);
    for (const d of options.store.devices()) this.devices.set(d.deviceId.toLowerCase(), d);
    this.codeTtl = options.codeTtl ?? 600;
    const longest = Number(options.store.meta(CODE_TTL_META) ?? 0);
    this.unknownCodeTtl = Math.max(longest, this.codeTtl);
    if (this.codeTtl > longest) options.store.saveChannelsAndMeta([], CODE_TTL_META, String(this.codeTtl));
    this.deviceContext = {
      devices: this.devices,
      codeWindow: (device) => this.codeWindow(device),
      store: options.store,
      log: options.log,
      verifier: options.verifier,
      exchanges: this.exchanges,
      recovering: this.recovering,
      hotpConfig: this.hotpConfig,
      clock: () => this.clock(),
      unknownCodeTtl: this.unknownCodeTtl,
    };
    if (options.recoveryProcess === true) this.recovery = new RecoveryProcess(options.verifier, { log: options.log });
    this.routes((app) => this.defineRoutes(app));
  }

  /** The recovery process's state, id and counts (`recoveryProcess`); undefined when recovery is on the event loop. */
  get recoveryStatus(): RecoveryStatus | undefined {
    return this.recovery?.status();
  }

  override async stop(): Promise<void> {
    await super.stop();
    await this.recovery?.close();
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
      const c = this.book.channels.get(id);
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
      async (request) =>
        redeliver(this.deviceContext, request.params.id, BigInt(request.body.amount), request.body.signature),
    );
    app.post<{ Params: { id: string }; Body: { base: number; next?: number; challenge?: string; mac: string } }>(
      "/devices/:id/ack",
      { schema: { ...ackSchema, params: deviceParams } },
      async (request) => acknowledge(this.deviceContext, request.params.id, request.body),
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

  private codeWindow(device: DeviceRecord): CodeWindow {
    return codeWindowOf(this.windows, device, this.options.resync === true);
  }

  /** Wall-clock seconds (or the test clock `now`), for code lifetimes: the device has no clock to check. */
  private clock(): number {
    return this.options.now?.() ?? Math.floor(Date.now() / 1000);
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
    return this.book.channelIdOf(params);
  }

  /**
   * Applies events the chain follower read (confirmed blocks `..toBlock`) and stores them with the
   * follower's cursor under `cursorKey`, in one transaction. New channels for this payee are added.
   */
  applyChainEvents(events: readonly ChannelEvent[], cursorKey: string, toBlock: number): void {
    this.book.applyChainEvents(events, cursorKey, toBlock);
  }

  /** Re-reads every open channel the AS knows (the follower's first run, with no cursor yet). */
  async refreshAll(): Promise<void> {
    await this.book.refreshAll();
  }

  private async access(body: AccessRequest): Promise<AccessGrant> {
    if (this.options.store.lost !== undefined) throw storeLost("the AS has stopped selling");
    // Every check that needs no chain read comes first: a request that would fail anyway costs no RPC.
    const id = this.channelIdOf(body.channel);
    const device = this.devices.get(body.deviceId.toLowerCase());
    if (device === undefined) throw new Rejected(404, `unknown device ${body.deviceId}`, "unknown_device");
    const amount = BigInt(body.amount);
    // In flight from here (before any await): a redelivery asked meanwhile (its client timed out during a
    // chain read) waits for this exchange to end instead of answering "not stored" before it is stored. While
    // its signer is recovered it is known by receipt; once recovered (before that settles), by its signer too.
    const started = this.recover(id, amount, body.signature).then((signer) => {
      if (signer === undefined)
        throw new Rejected(400, "the receipt signature is malformed or not canonical (high s)", "bad_signature");
      // The channel id commits to its client root: the request's root is the channel's.
      if (!isMember(body.channel.clientRoot, signer, body.proof))
        throw new Rejected(403, `receipt signer ${signer} is not in the channel's client group`, "not_member");
      return {
        exchange: track(this.exchanges, `${id}:${amount}:${signer}`, this.exchange(body, device, amount, signer)),
      };
    });
    return (await track(this.recovering, `${id}:${amount}`, started)).exchange;
  }

  /** A receipt's signer, recovered natively (`verify.ts`): by the recovery process if there is one, else on the event loop. */
  private async recover(id: string, amount: bigint, signature: string): Promise<string | undefined> {
    return (this.recovery ?? this.options.verifier).recover(id, amount, signature);
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
      if (error instanceof StoreLost) throw saleLost(error, channel.channelId);
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
    const channel = await this.book.channel(body.channel);
    if (channel.closed) {
      const how = this.book.ended.get(channel.channelId) ?? "closed";
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
    for (const channel of this.book.channels.values()) {
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

  /** Closes channels with their best receipts (see {@link closeChannels} in src/channels/as/closes.ts). */
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
      ended: this.book.ended,
      checkedAt: this.book.checkedAt,
      applyState: (record: ChannelRecord, state: ChainChannelState, how: string) =>
        this.book.applyState(record, state, how),
    };
    return closeChannels(ctx, items, report, o);
  }
}
