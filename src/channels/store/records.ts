import { UserError } from "../../errors";

/** A receipt the AS accepted, as stored. */
export interface StoredReceipt {
  channelId: string;
  amount: bigint;
  signer: string;
  signature: string;
  proof: string[];
  deviceId: string;
  otpCounter: number;
}

export interface ChannelRecord {
  channelId: string;
  owner: string;
  token: boolean;
  clientRoot: string;
  salt: bigint;
  openBlock: bigint;
  deposit: bigint;
  expiry: number;
  closed: boolean;
}

export interface DeviceRecord {
  deviceId: string;
  /** Hex of the shared secret (decrypted; encrypted at rest when the store has a key). */
  secret: string;
  price: bigint;
  /** The next HOTP counter the AS issues. */
  counter: number;
  /** The device's window base as last acknowledged by the device: every counter below it was used. */
  acked?: number;
  /** Codes below this expired unused and were voided by the AS (grants above it carry an advance to it). */
  voided?: number;
}

export interface AsStoreOptions {
  /** Create the database if it does not exist (`as:serve --init`). Default false: a missing database is an
   * error, so a database deleted behind the AS's back is never silently recreated with every counter at 0. */
  create?: boolean;
  /** How long a commit waits for others to share its transaction and fsync (ms). Default 0: until the end of
   * the event loop's turn (the requests read in it share it); receipts that arrive during an fsync wait for
   * it and share the next. */
  groupCommitMs?: number;
  /** 32-byte key (`AS_SECRET_KEY`): device secrets are stored AES-256-GCM encrypted under it. */
  secretKey?: Buffer;
}

/** The `AS_SECRET_KEY` environment value (64 hex characters) as a key; undefined when unset or empty. */
export function secretKeyFrom(value: string | undefined): Buffer | undefined {
  if (value === undefined || value === "") return undefined;
  if (!/^[0-9a-fA-F]{64}$/.test(value)) throw new UserError("AS_SECRET_KEY must be 64 hex characters (32 bytes)");
  return Buffer.from(value, "hex");
}

/** A write the store could not make durable: nothing of it was stored, and the caller's reservation was undone
 * (unless it is a {@link StoreLost} that says the write may be stored). */
export class StoreUnavailable extends Error {}

/**
 * The store stopped for good (its database or WAL deleted or replaced, or an fsync failed): nothing more is
 * written. `mayBeStored`: the write was made before its fsync failed, so it may be on disk (and a close may
 * be paid with it); otherwise it was not written and its reservation was undone.
 */
export class StoreLost extends StoreUnavailable {
  constructor(
    message: string,
    readonly mayBeStored = false,
  ) {
    super(message);
  }
}

/** A receipt not written because its counter turned out used (`stale`): nothing stored, the reservation undone. */
export class CounterUsed extends Error {}

/** A receipt to store, or another write (`write`) made durable by the same group commit. */
export interface Job {
  receipt?: StoredReceipt;
  /** With a receipt: the device's voided floor to store with it (durable before its grant's advance). */
  voided?: number;
  /** With a receipt: asked just before it is written; true (its counter is known used now) fails it alone. */
  stale?: () => boolean;
  write?: () => void;
  undo: () => void;
  done: (error?: Error) => void;
}

export interface ReceiptRow {
  channel_id: string;
  amount: string;
  signer: string;
  signature: string;
  proof: string;
  device_id: string;
  otp_counter: number;
}

export function toReceipt(r: ReceiptRow): StoredReceipt {
  return {
    channelId: r.channel_id,
    amount: BigInt(r.amount),
    signer: r.signer,
    signature: r.signature,
    proof: JSON.parse(r.proof) as string[],
    deviceId: r.device_id,
    otpCounter: r.otp_counter,
  };
}

export interface ChannelRow {
  channel_id: string;
  owner: string;
  token: number;
  client_root: string;
  salt: string;
  open_block: string;
  deposit: string;
  expiry: number;
  closed: number;
}

export function toChannel(r: ChannelRow): ChannelRecord {
  return {
    channelId: r.channel_id,
    owner: r.owner,
    token: r.token === 1,
    clientRoot: r.client_root,
    salt: BigInt(r.salt),
    openBlock: BigInt(r.open_block),
    deposit: BigInt(r.deposit),
    expiry: r.expiry,
    closed: r.closed === 1,
  };
}
