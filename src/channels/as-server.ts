import { getAddress } from "ethers";

import type { PaymentChannels } from "../../typechain-types";
import type { OverloadOptions } from "../http/overload";
import { HttpService, Rejected } from "../http/service";
import { isMember } from "../merkle/group";
import { DEFAULT_HOTP, hotp } from "./hotp";
import type { HotpConfig } from "./hotp";
import { channelIdOf, closeOutcome, isFinalSkip, submitCloses } from "./key";
import type { CloseSkipReason } from "./key";
import type { AsStore, ChannelRecord, DeviceRecord, StoredReceipt } from "./store";
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
  /** Current time in seconds (chain time in tests); defaults to the wall clock. */
  now?: () => number;
  /** Load shedding: requests in flight beyond which the AS answers 503 at once (src/http/overload.ts). */
  overload?: OverloadOptions;
}

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

/**
 * The Authorization Server: trades receipts for one-time passwords. For each request it checks the
 * receipt (signature, group membership, amount = previous + the device's price, amount ≤ deposit, channel
 * open on chain and not near expiry), stores it durably, and only then returns the device's next OTP.
 */
export class AuthorizationServer extends HttpService {
  private readonly channels = new Map<string, ChannelRecord>();
  private readonly best = new Map<string, StoredReceipt>();
  private readonly devices = new Map<string, DeviceRecord>();
  private readonly hotpConfig: HotpConfig;
  private readonly now: () => number;

  constructor(private readonly options: AsOptions) {
    super({ overload: options.overload });
    this.hotpConfig = options.hotp ?? DEFAULT_HOTP;
    this.now = options.now ?? (() => Math.floor(Date.now() / 1000));
    for (const c of options.store.channels()) this.channels.set(c.channelId, c);
    for (const [id, r] of options.store.bestReceipts()) this.best.set(id, r);
    for (const d of options.store.devices()) this.devices.set(d.deviceId.toLowerCase(), d);
    this.app.get("/health", async () => ({ ok: true, receipts: this.options.store.receiptCount() }));
    this.app.get("/devices", async () =>
      [...this.devices.values()].map((d) => ({ deviceId: d.deviceId, price: d.price.toString() })),
    );
    this.app.get<{ Params: { id: string } }>("/channels/:id/receipt", async (request) => {
      const id = request.params.id.toLowerCase();
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
    this.app.post<{ Body: AccessRequest }>("/access", { schema: accessSchema }, async (request) =>
      this.access(request.body),
    );
  }

  /** Registers (or re-prices) a device and its shared secret. The secret never leaves the AS but as OTPs. */
  provisionDevice(deviceId: string, secret: string, price: bigint): void {
    const existing = this.devices.get(deviceId.toLowerCase());
    const record = { deviceId: deviceId.toLowerCase(), secret, price, counter: existing?.counter ?? 0 };
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

  private async channel(params: ChannelParams): Promise<ChannelRecord> {
    const id = this.channelIdOf(params);
    let record = this.channels.get(id);
    if (record === undefined) {
      if (this.options.channels === undefined) throw new Rejected(404, `channel ${id} is not known to this AS`);
      const state = await this.options.channels.getChannel(id);
      if (state.status !== 1n) throw new Rejected(404, `channel ${id} is not open for this AS on chain`);
      const needed = this.options.minConfirmations ?? 0;
      if (needed > 0) {
        const head = BigInt((await this.options.channels.runner?.provider?.getBlockNumber()) ?? 0);
        const confirmations = head - BigInt(params.openBlock);
        if (confirmations < BigInt(needed))
          throw new Rejected(409, `channel ${id} has ${confirmations} confirmations; this AS waits for ${needed}`);
      }
      record = {
        channelId: id,
        owner: getAddress(params.owner),
        token: params.token,
        clientRoot: params.clientRoot.toLowerCase(),
        salt: BigInt(params.salt),
        openBlock: BigInt(params.openBlock),
        deposit: state.deposit,
        expiry: Number(state.expiry),
        closed: false,
      };
      this.options.store.saveChannel(record);
      this.channels.set(id, record);
    }
    return record;
  }

  private async access(body: AccessRequest): Promise<AccessGrant> {
    const channel = await this.channel(body.channel);
    if (channel.closed) throw new Rejected(409, `channel ${channel.channelId} is closed`);
    if (channel.expiry - this.now() < (this.options.expiryMargin ?? 60)) {
      throw new Rejected(
        409,
        `channel ${channel.channelId} expires at ${channel.expiry}: too close to accept receipts`,
      );
    }
    const device = this.devices.get(body.deviceId.toLowerCase());
    if (device === undefined) throw new Rejected(404, `unknown device ${body.deviceId}`);
    const previous = this.best.get(channel.channelId)?.amount ?? 0n;
    const amount = BigInt(body.amount);
    const expected = previous + device.price;
    if (amount !== expected) {
      throw new Rejected(
        409,
        `amount must be ${expected} (previous ${previous} + price ${device.price}), got ${amount}`,
      );
    }
    if (amount > channel.deposit) {
      throw new Rejected(402, `amount ${amount} exceeds the channel's deposit ${channel.deposit}`);
    }
    const signer = this.options.verifier.recover(channel.channelId, amount, body.signature);
    if (signer === undefined) throw new Rejected(400, "the receipt signature is malformed or not canonical (high s)");
    if (!isMember(channel.clientRoot, signer, body.proof)) {
      throw new Rejected(403, `receipt signer ${signer} is not in the channel's client group`);
    }
    // Reserve synchronously (the event loop makes this atomic), then make it durable before answering.
    const receipt: StoredReceipt = {
      channelId: channel.channelId,
      amount,
      signer,
      signature: body.signature,
      proof: body.proof,
      deviceId: device.deviceId,
      otpCounter: device.counter,
    };
    this.best.set(channel.channelId, receipt);
    device.counter += 1;
    await this.options.store.commit(receipt);
    const otp = hotp(Buffer.from(device.secret, "hex"), receipt.otpCounter, this.hotpConfig);
    return { deviceId: device.deviceId, otp, counter: receipt.otpCounter, amount: amount.toString() };
  }

  /** Channels whose expiry is within `margin` seconds and that have a receipt to cash. */
  dueChannels(margin: number): { channel: ChannelRecord; receipt: StoredReceipt }[] {
    const now = this.now();
    const due: { channel: ChannelRecord; receipt: StoredReceipt }[] = [];
    for (const channel of this.channels.values()) {
      const receipt = this.best.get(channel.channelId);
      if (!channel.closed && receipt !== undefined && channel.expiry - now <= margin) due.push({ channel, receipt });
    }
    return due;
  }

  /**
   * Closes channels with their best receipts: one `closeBatch` (even for one channel), the AS paid once
   * per asset. A channel that cannot settle (expired, already closed or reclaimed) is skipped on chain
   * rather than failing the others. The settled channels, and the skipped ones that can never settle, are
   * marked closed, so they are not tried again; a channel skipped in its opening block stays due.
   */
  async closeChannels(items: { channel: ChannelRecord; receipt: StoredReceipt }[]): Promise<{
    closed: string[];
    skipped: { channelId: string; reason: CloseSkipReason }[];
    gasUsed: bigint;
  }> {
    if (items.length === 0) return { closed: [], skipped: [], gasUsed: 0n };
    const contract = this.options.channels;
    if (contract === undefined) throw new Error("this AS has no chain connection to close channels with");
    const tx = await submitCloses(
      contract,
      items.map(({ channel, receipt }) => ({
        ...channel,
        amount: receipt.amount,
        signature: receipt.signature,
        proof: receipt.proof,
      })),
      { batch: true },
    );
    const mined = await tx.wait();
    const outcome = closeOutcome(contract, mined);
    const done = new Set([
      ...outcome.closed.map((c) => c.channelId),
      ...outcome.skipped.filter((s) => isFinalSkip(s.reason)).map((s) => s.channelId),
    ]);
    for (const { channel } of items) {
      if (!done.has(channel.channelId)) continue;
      channel.closed = true;
      this.options.store.saveChannel(channel);
    }
    return { closed: outcome.closed.map((c) => c.channelId), skipped: outcome.skipped, gasUsed: mined?.gasUsed ?? 0n };
  }
}
