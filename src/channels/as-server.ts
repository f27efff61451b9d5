import { randomBytes } from "node:crypto";

import { getAddress } from "ethers";

import type { PaymentChannels } from "../../typechain-types";
import { TtlCache } from "../http/cache";
import { AsMetrics } from "../http/metrics";
import { HttpService, Rejected } from "../http/service";
import type { HttpOptions } from "../http/service";
import { isMember } from "../merkle/group";
import { CHALLENGE_PATTERN, DEFAULT_HOTP, DEFAULT_WINDOW, checkDeviceAck, deviceAdvance, hotp } from "./hotp";
import type { HotpConfig } from "./hotp";
import { ChainClock, ChainUnavailable, oneLine, readChannelState, withTimeout } from "./follower";
import type { ChainChannelState, ChannelEvent } from "./follower";
import { channelIdOf, closeOutcome, isFinalSkip, submitCloses } from "./key";
import type { CloseSkipReason } from "./key";
import { CounterUsed, StoreUnavailable } from "./store";
import type { AsStore, ChannelRecord, DeviceRecord, StoredReceipt } from "./store";
import { checksumHex } from "../chain/address";
import type { ReceiptVerifier } from "./verify";

export interface ChannelParams {
  owner: string;
  token: boolean;
  clientRoot: string;
  /** Decimal strings, as JSON has no big integers. */
  salt: string;
  openBlock: string;
}

export interface AccessRequest {
  channel: ChannelParams;
  deviceId: string;
  amount: string;
  signature: string;
  proof: string[];
}

export interface AccessGrant {
  deviceId: string;
  otp: string;
  counter: number;
  amount: string;
  /** Unix seconds: the code is never voided before this; once it passed, the AS may void it when the
   * device's window is full (see {@link AsOptions.codeTtl}). */
  expiresAt: number;
  /** The AS's authenticated advance of the device's base past expired codes: the client hands it to the
   * device with the code (`SimulatedDevice.present(otp, advance)`). Present while the device has not yet
   * acknowledged a base at or above it. */
  advance?: { base: number; mac: string };
}

/** A code given again to the signer of a stored receipt whose answer was lost (`POST /channels/:id/redeliver`). */
export interface RedeliveredGrant extends AccessGrant {
  redelivered: true;
  /** The device acknowledged this counter as used (or passed it): it will refuse the code. */
  used: boolean;
  note?: string;
}

export interface AsOptions {
  /** The channels contract, connected to the AS's signer. Without it, only channels already in the store
   * are served and nothing can be closed (the throughput benchmark runs so). */
  channels?: PaymentChannels;
  payee: string;
  verifier: ReceiptVerifier;
  store: AsStore;
  hotp?: HotpConfig;
  /** Refuse receipts for channels expiring within this many seconds (they must be closed first). */
  expiryMargin?: number;
  /** Serve a channel only once its open has this many blocks on top (its id depends on its block). */
  minConfirmations?: number;
  /** Current time in seconds, overriding the chain clock (tests). Default: chain time (the latest block's
   * timestamp, read at most every 2 s, never less than the wall clock); the wall clock without `channels`. */
  now?: () => number;
  /** The devices' HOTP window W: at most W codes outstanding per device (issued, not yet acknowledged as
   * used by the device), so every paid code stays inside the device's window. Default {@link DEFAULT_WINDOW}. */
  hotpWindow?: number;
  /** Lifetime of a code in seconds (default 600): an unused code holds its place in the device's window until
   * then; once the window is full, expired codes at its bottom are voided with an advance. */
  codeTtl?: number;
  /** After restoring a database (`as:serve --resync`): sell nothing for a device until the device's own
   * acknowledgement of its window, covering a random challenge of this process, arrives (409 until then), so
   * no code the device already used is sold. An older acknowledgement (replayed) does not end the wait. */
  resync?: boolean;
  /** Re-read a channel on chain (`getChannel`) before a sale when its cached state is older than this many
   * seconds (default 5). If the re-read fails, the sale is refused with 503 rather than made on older state. */
  stateMaxAge?: number;
  /** Give up on any RPC read or close transaction after this many milliseconds (default 5,000). */
  rpcTimeoutMs?: number;
  /** Channels per `closeBatch` transaction (default 50); a batch that reverts is split and retried. */
  maxCloseBatch?: number;
  /** Diagnostics (RPC errors); never sent to clients. */
  log?: (line: string) => void;
  /** Limits, logger and health thresholds of the HTTP service. */
  http?: HttpOptions;
  /** A channel found not open on chain is answered 404 from memory for this many seconds. Default 15. */
  unknownChannelTtl?: number;
  /** A request naming an open block the chain has not reached is refused (404); the head block it was refused
   * with then refuses any later block for this many milliseconds without another read (concurrent reads are
   * shared too), so a flood naming future blocks costs one head read per period. A client racing its own
   * open during such a flood may be refused that long. Default 1,000; 0 reads every time. */
  headCacheMs?: number;
}

/** What became of one due channel in a close round. */
export interface CloseNote {
  channelId: string;
  outcome: "closed" | "skipped" | "ended" | "failed" | "not-due";
  detail: string;
}

export interface CloseReport {
  /** Channels settled by this round's transactions. */
  closed: string[];
  /** Channels the AS will not try again: skipped by the contract, or found closed, reclaimed or expired on chain. */
  skipped: { channelId: string; reason: CloseSkipReason }[];
  /** Channels left due: the chain could not be read, or their transaction failed. The next round retries. */
  failed: { channelId: string; error: string }[];
  gasUsed: bigint;
  /** One line per channel, for the log. */
  notes: CloseNote[];
}

interface Due {
  channel: ChannelRecord;
  receipt: StoredReceipt;
}

/** The AS's view of one device's window of outstanding codes, in memory. */
interface CodeWindow {
  /** Codes below this are void (expired, and an advance to it handed out). */
  voided: number;
  /** Expiry (unix seconds) of outstanding counters; a counter without one is given `now + longest TTL`. */
  expiry: Map<number, number>;
  /** `--resync`: nothing is sold until the device's acknowledgement of this random challenge arrives. */
  challenge?: string;
  /** The highest `next` (or base) the device acknowledged to this process: no counter below it is issued
   * again, also not by the undo of a failed write that was reserved before the acknowledgement came. */
  usedBelow: number;
}

/**
 * Expiries remembered per device at most. Only W codes can be outstanding, but W may be huge (`--hotp-window`):
 * a code whose expiry is not remembered counts as expiring one lifetime after the AS first looks at it, so
 * forgetting one only delays its voiding, never brings it forward.
 */
export const MAX_TRACKED_EXPIRIES = 4_096;

/** The `meta` key of the longest code lifetime this database has used (codes outstanding at a start get it). */
const CODE_TTL_META = "code_ttl_max";

const hex32 = "^0x[0-9a-fA-F]{64}$";
const accessSchema = {
  body: {
    type: "object",
    required: ["channel", "deviceId", "amount", "signature", "proof"],
    additionalProperties: false,
    properties: {
      channel: {
        type: "object",
        required: ["owner", "token", "clientRoot", "salt", "openBlock"],
        additionalProperties: false,
        properties: {
          owner: { type: "string", pattern: "^0x[0-9a-fA-F]{40}$" },
          token: { type: "boolean" },
          clientRoot: { type: "string", pattern: hex32 },
          salt: { type: "string", pattern: "^[0-9]{1,29}$" },
          openBlock: { type: "string", pattern: "^[0-9]{1,19}$" },
        },
      },
      deviceId: { type: "string", pattern: hex32 },
      amount: { type: "string", pattern: "^[0-9]{1,29}$" },
      signature: { type: "string", pattern: "^0x[0-9a-fA-F]{130}$" },
      proof: { type: "array", maxItems: 32, items: { type: "string", pattern: hex32 } },
    },
  },
} as const;
const ackSchema = {
  body: {
    type: "object",
    required: ["base", "mac"],
    additionalProperties: false,
    properties: {
      base: { type: "integer", minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
      next: { type: "integer", minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
      challenge: { type: "string", pattern: CHALLENGE_PATTERN },
      mac: { type: "string", pattern: "^[0-9a-f]{32}$" },
    },
  },
} as const;
const receiptSchema = {
  params: {
    type: "object",
    required: ["id"],
    properties: { id: { type: "string", pattern: hex32 } },
  },
} as const;
/** A device id in the path (`/devices/:id/…`): 32 bytes of hex, as in bodies. */
const deviceParams = receiptSchema.params;
const redeliverSchema = {
  ...receiptSchema,
  body: {
    type: "object",
    required: ["amount", "signature"],
    additionalProperties: false,
    properties: {
      amount: { type: "string", pattern: "^[0-9]{1,29}$" },
      signature: { type: "string", pattern: "^0x[0-9a-fA-F]{130}$" },
    },
  },
} as const;

/** What the schema cannot say: the owner's EIP-55 checksum (when mixed case) and the uint96 salt. */
function checkChannelParams(params: ChannelParams): void {
  // The schema has checked 0x + 40 hex digits; a mixed-case address must be its own checksummed form
  // (the native keccak: ethers' getAddress hashes in pure JS, a twentieth of an exchange's time).
  const digits = params.owner.slice(2);
  const lower = digits.toLowerCase();
  if (digits !== lower && digits !== digits.toUpperCase() && checksumHex(lower) !== params.owner) {
    throw new Rejected(
      400,
      `body/channel/owner ${params.owner} fails its EIP-55 checksum (send it checksummed, or all lower case)`,
      "bad_checksum",
    );
  }
  if (BigInt(params.salt) >= 2n ** 96n)
    throw new Rejected(400, `body/channel/salt ${params.salt} does not fit in 96 bits`, "salt_too_large");
}

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
    this.routes((app) => {
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
    });
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
   * The lowest counter still live for `device`: at least its acknowledged base. When the window is full,
   * the expired codes at its bottom are voided first (never one whose lifetime is not over), and grants
   * carry the advance to the new floor until the device acknowledges it.
   */
  private windowFloor(device: DeviceRecord, codes: CodeWindow, window: number): number {
    const acked = device.acked ?? 0;
    let floor = Math.max(acked, codes.voided);
    if (device.counter < floor + window) return floor;
    const now = this.clock();
    while (floor < device.counter) {
      let expiresAt = codes.expiry.get(floor);
      if (expiresAt === undefined) remember(codes.expiry, floor, (expiresAt = now + this.unknownCodeTtl));
      if (expiresAt > now) break;
      codes.expiry.delete(floor++);
    }
    if (floor > Math.max(acked, codes.voided)) {
      this.options.log?.(`device ${device.deviceId}: codes below ${floor} expired unused and are voided`);
      codes.voided = floor;
    }
    return floor;
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
    const floor = this.windowFloor(device, codes, window);
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
    const note = (channelId: string, outcome: CloseNote["outcome"], detail: string) =>
      report.notes.push({ channelId, outcome, detail });
    const fail = (channelId: string, error: string) => {
      report.failed.push({ channelId, error });
      note(channelId, "failed", error);
    };
    const end = (channel: ChannelRecord, reason: CloseSkipReason, detail: string) => {
      channel.closed = true;
      this.ended.set(channel.channelId, detail);
      this.options.store.saveChannel(channel);
      report.skipped.push({ channelId: channel.channelId, reason });
      note(channel.channelId, "ended", detail);
    };
    let latest: number;
    try {
      latest = await withTimeout("reading the latest block", this.rpcTimeoutMs, async () => {
        const block = await contract.runner!.provider!.getBlock("latest");
        if (block === null) throw new Error("no latest block");
        return block.timestamp;
      });
    } catch (error) {
      for (const { channel } of items) fail(channel.channelId, `chain unavailable: ${oneLine(error)}`);
      return report;
    }
    const open: Due[] = [];
    for (let i = 0; i < items.length; i += 16) {
      const states = await Promise.allSettled(
        items
          .slice(i, i + 16)
          .map(({ channel }) =>
            readChannelState(contract, channel.channelId, { minConfirmations: 0, timeoutMs: this.rpcTimeoutMs }),
          ),
      );
      for (const [j, settled] of states.entries()) {
        const item = items[i + j];
        const { channel } = item;
        if (channel.closed) continue;
        if (settled.status === "rejected") {
          fail(channel.channelId, `chain unavailable: ${oneLine(settled.reason)}`);
          continue;
        }
        const state = settled.value;
        if (!state.open) end(channel, "not-open", await this.howEnded(channel));
        else if (latest > state.expiry)
          end(
            channel,
            "expired",
            `expired on chain at ${state.expiry} (chain time ${latest}): only its owner can reclaim it`,
          );
        else {
          this.applyState(channel, state, "closed or reclaimed on chain");
          this.checkedAt.set(channel.channelId, Date.now());
          if (o.margin !== undefined && channel.expiry - latest > o.margin)
            note(channel.channelId, "not-due", `a top-up moved its expiry to ${channel.expiry}: not due yet`);
          else open.push(item);
        }
      }
    }
    const size = Math.max(1, this.options.maxCloseBatch ?? 50);
    const round = { down: false };
    for (let i = 0; i < open.length; i += size) await this.sendCloses(contract, open.slice(i, i + size), report, round);
    return report;
  }

  /**
   * Sends one `closeBatch`; if it reverts, closes each half on its own; a lone channel that reverts fails.
   * Once the RPC is found down (`round.down`), the round's remaining batches fail without being sent.
   */
  private async sendCloses(
    contract: PaymentChannels,
    batch: Due[],
    report: CloseReport,
    round: { down: boolean },
  ): Promise<void> {
    let sent: string | undefined;
    try {
      if (round.down) throw new ChainUnavailable("the RPC failed earlier in this round");
      const tx = await withTimeout("sending closeBatch", this.rpcTimeoutMs * 2, () =>
        submitCloses(
          contract,
          batch.map(({ channel, receipt }) => ({
            ...channel,
            amount: receipt.amount,
            signature: receipt.signature,
            proof: receipt.proof,
          })),
          { batch: true },
        ),
      );
      sent = tx.hash;
      const mined = await withTimeout(`waiting for closeBatch ${tx.hash}`, this.rpcTimeoutMs * 12, () => tx.wait());
      const outcome = closeOutcome(contract, mined);
      report.gasUsed += mined?.gasUsed ?? 0n;
      const paid = new Map(outcome.closed.map((c) => [c.channelId.toLowerCase(), c.paid]));
      const skipped = new Map(outcome.skipped.map((s) => [s.channelId.toLowerCase(), s.reason]));
      for (const { channel } of batch) {
        const id = channel.channelId;
        const reason = skipped.get(id);
        if (paid.has(id)) {
          channel.closed = true;
          this.ended.set(id, "closed by this AS");
          this.options.store.saveChannel(channel);
          report.closed.push(id);
          report.notes.push({ channelId: id, outcome: "closed", detail: `paid ${paid.get(id)} in ${tx.hash}` });
        } else if (reason !== undefined) {
          report.skipped.push({ channelId: id, reason });
          if (isFinalSkip(reason)) {
            channel.closed = true;
            this.ended.set(id, `not closable (${reason})`);
            this.options.store.saveChannel(channel);
          }
          report.notes.push({
            channelId: id,
            outcome: "skipped",
            detail: `skipped by closeBatch: ${reason}${isFinalSkip(reason) ? "" : " (retried next round)"}`,
          });
        }
      }
    } catch (error) {
      // A revert (the transaction or its gas estimate) is the batch's content: split it. Anything else (the
      // RPC down, a transaction sent but not confirmed in time) is retried next round, after a re-check.
      // An RPC that is down can look like a revert without data: split only while the chain answers.
      const reverted = isRevert(error) && !round.down && (await this.chainAnswers(contract));
      if (!reverted) round.down ||= !(await this.chainAnswers(contract));
      if (reverted && batch.length > 1) {
        const half = Math.ceil(batch.length / 2);
        await this.sendCloses(contract, batch.slice(0, half), report, round);
        await this.sendCloses(contract, batch.slice(half), report, round);
        return;
      }
      const what = reverted
        ? "closeBatch reverted"
        : sent === undefined
          ? "closeBatch failed"
          : "closeBatch not confirmed";
      const why = `${what}${sent === undefined ? "" : ` (${sent})`}: ${oneLine(error)}`;
      for (const { channel } of batch) {
        report.failed.push({ channelId: channel.channelId, error: why });
        report.notes.push({ channelId: channel.channelId, outcome: "failed", detail: why });
      }
    }
  }

  private async chainAnswers(contract: PaymentChannels): Promise<boolean> {
    try {
      await withTimeout("reading the block number", this.rpcTimeoutMs, () =>
        contract.runner!.provider!.getBlockNumber(),
      );
      return true;
    } catch {
      return false;
    }
  }

  /** How a channel that reads as not open ended, from its events (for the log); best effort. */
  private async howEnded(channel: ChannelRecord): Promise<string> {
    const contract = this.options.channels!;
    try {
      return await withTimeout(`reading the end of channel ${channel.channelId}`, this.rpcTimeoutMs, async () => {
        const from = Number(channel.openBlock);
        const [closed] = await contract.queryFilter(contract.filters.ChannelClosed(channel.channelId), from);
        if (closed !== undefined) return `closed on chain, paid ${closed.args.paid} (${closed.transactionHash})`;
        const [reclaimed] = await contract.queryFilter(contract.filters.ChannelReclaimed(channel.channelId), from);
        if (reclaimed !== undefined)
          return `reclaimed by its owner on chain, refunded ${reclaimed.args.refunded} (${reclaimed.transactionHash})`;
        return "not open on chain";
      });
    } catch {
      return "not open on chain";
    }
  }
}

/** Records a code's expiry, unless {@link MAX_TRACKED_EXPIRIES} are remembered already (see there). */
function remember(expiry: Map<number, number>, counter: number, at: number): void {
  if (expiry.size < MAX_TRACKED_EXPIRIES || expiry.has(counter)) expiry.set(counter, at);
}

/** Forgets the expiries of counters in [from, to): O(min(to - from, remembered)), not a scan per acknowledgement. */
function forgetBelow(expiry: Map<number, number>, from: number, to: number): void {
  if (to - from <= expiry.size) for (let c = from; c < to; c++) expiry.delete(c);
  else for (const c of expiry.keys()) if (c < to) expiry.delete(c);
}

/** Whether an error is a revert (of a transaction or its gas estimate), as opposed to an RPC failure. */
function isRevert(error: unknown): boolean {
  const e = error as { code?: string; message?: string; cause?: { code?: string } };
  if (e?.code === "CALL_EXCEPTION" || e?.cause?.code === "CALL_EXCEPTION") return true;
  return /revert|out of gas/i.test(e?.message ?? "");
}
