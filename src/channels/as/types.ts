import type { PaymentChannels } from "../../../typechain-types";
import type { HttpOptions } from "../../http/service";
import type { HotpConfig } from "../hotp";
import type { CloseSkipReason } from "../key";
import type { AsStore, ChannelRecord, StoredReceipt } from "../store";
import type { ReceiptVerifier } from "../verify";

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
  /** Recover receipts' signers in a separate process (`recovery/process.ts`), on a second core: the event loop
   * then spends a few microseconds per receipt instead of a recovery. Until that process is ready, and
   * whenever it fails or hangs, signers are recovered on the event loop. Default false. */
  recoveryProcess?: boolean;
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

export interface Due {
  channel: ChannelRecord;
  receipt: StoredReceipt;
}

/** The AS's view of one device's window of outstanding codes, in memory. */
export interface CodeWindow {
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
