import fs from "node:fs";
import path from "node:path";

import writeFileAtomic from "write-file-atomic";

import { readJsonFile } from "../cli/json";
import { UserError } from "../errors";
import { DEFAULT_HOTP, DEFAULT_WINDOW, checkDeviceAdvance, deviceAck, hotpMatchUnused } from "./hotp";
import type { HotpConfig } from "./hotp";

/**
 * A constrained device of the SOFIE scheme: it holds only the secret it shares with the Authorization
 * Server and its HOTP window, persisted, and checks HMACs. No public-key cryptography at all.
 */
export interface DeviceState {
  deviceId: string;
  /** Hex of the shared secret. */
  secret: string;
  /** The window base: the lowest counter not used yet (every counter below it is spent). */
  counter: number;
  /** Counters above the base already used (the window's used-bitmap), ascending. */
  used?: number[];
  /** Actuation slots granted so far. */
  slotsGranted: number;
}

/** The AS's authenticated advance of a device's window base (see {@link SimulatedDevice.present}). */
export interface DeviceAdvance {
  base: number;
  mac: string;
}

/** The device's acknowledgement of its window, for a client to relay to the AS
 * (`POST /devices/:id/ack { base, next, challenge, mac }`): `next` is set only when it used counters above
 * `base`, `challenge` only when the AS's challenge was given to the device (the MAC covers it). */
export interface DeviceAckMessage {
  base: number;
  next?: number;
  challenge?: string;
  mac: string;
}

export interface AccessOutcome {
  granted: boolean;
  reason?: "malformed" | "unknown or reused";
  /** The window base after this attempt. */
  counter: number;
  /** The device's acknowledgement of its window after this attempt, on a grant and on a refusal alike
   * (`POST /devices/:id/ack { base: counter, next, mac: ack }`): the AS learns which codes were used, may
   * issue further ones, and an AS behind the device (a restored database) catches up at once. */
  ack: string;
  /** One above the highest counter used, when the device used counters above its base. */
  next?: number;
  /** The AS's challenge the acknowledgement covers, when one was given to {@link SimulatedDevice.present}. */
  challenge?: string;
}

const STATE_FILE = "a lock state file written by device:secret ({ deviceId, secret, counter, used, slotsGranted })";

/** A device's state file: not JSON, or not a state (a field missing or of the wrong kind), is one line naming it. */
export function readDeviceState(file: string): DeviceState {
  const s = readJsonFile(file, STATE_FILE) as Partial<DeviceState> | null;
  const count = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;
  const wrong =
    typeof s !== "object" || s === null || Array.isArray(s)
      ? "not an object"
      : typeof s.deviceId !== "string"
        ? '"deviceId" is not a string'
        : typeof s.secret !== "string" || !/^([0-9a-fA-F]{2})+$/.test(s.secret)
          ? '"secret" is not hex'
          : !count(s.counter)
            ? '"counter" is not a whole number'
            : !count(s.slotsGranted)
              ? '"slotsGranted" is not a whole number'
              : s.used !== undefined && !(Array.isArray(s.used) && s.used.every(count))
                ? '"used" is not a list of whole numbers'
                : undefined;
  if (wrong !== undefined) throw new UserError(`${file} is not a lock state (${wrong}): expected ${STATE_FILE}`);
  return s as DeviceState;
}

export class SimulatedDevice {
  private state: DeviceState;

  /**
   * @param window W: accepts any unused counter in [base, base + W); must be at least the AS's `hotpWindow`.
   */
  constructor(
    private readonly file: string,
    private readonly window = DEFAULT_WINDOW,
    private readonly config: HotpConfig = DEFAULT_HOTP,
    initial?: DeviceState,
  ) {
    if (initial !== undefined) {
      this.state = { ...initial, used: [...(initial.used ?? [])] };
      this.persist();
    } else {
      if (!fs.existsSync(file)) throw new UserError(`no device state at ${file}`);
      const stored = readDeviceState(file);
      this.state = { ...stored, used: stored.used ?? [] };
    }
  }

  get deviceId(): string {
    return this.state.deviceId;
  }

  get counter(): number {
    return this.state.counter;
  }

  get slotsGranted(): number {
    return this.state.slotsGranted;
  }

  /**
   * The device's acknowledgement of its window now (see {@link AccessOutcome.ack}), covering the AS's
   * `challenge` when given (`GET /devices/:id/challenge` of an AS started with `--resync`).
   */
  ack(challenge?: string): DeviceAckMessage {
    const base = this.state.counter;
    const used = this.state.used ?? [];
    const next = used.length === 0 ? undefined : used[used.length - 1] + 1;
    return {
      base,
      ...(next === undefined ? {} : { next }),
      ...(challenge === undefined ? {} : { challenge }),
      mac: deviceAck(this.secret(), this.state.deviceId, base, next, challenge),
    };
  }

  /**
   * Checks an OTP against every unused counter of the window [base, base + W). A match is marked used, the
   * base slides past the used prefix, and the new state is on disk (fsync, atomic rename) before the slot is
   * granted: the same OTP never works again, and codes may be used in any order.
   *
   * `advance`, handed out by the AS with a code, is applied first when its MAC is the AS's and its base is
   * above the device's: the counters below it die (the AS voids only codes whose lifetime is over) and the
   * window moves on. A forged, replayed or older advance changes nothing. Every answer, a refusal too,
   * carries the device's acknowledgement of its window (covering the AS's `challenge`, when given).
   */
  present(otp: string, advance?: DeviceAdvance, challenge?: string): AccessOutcome {
    if (
      advance !== undefined &&
      advance.base > this.state.counter &&
      checkDeviceAdvance(this.secret(), this.state.deviceId, advance.base, advance.mac)
    )
      this.moveTo(
        advance.base,
        (this.state.used ?? []).filter((c) => c >= advance.base),
        this.state.slotsGranted,
      );
    const base = this.state.counter;
    const refused = (reason: AccessOutcome["reason"]): AccessOutcome => ({
      granted: false,
      reason,
      ...this.outcome(challenge),
    });
    if (!/^\d+$/.test(otp)) return refused("malformed");
    const used = new Set(this.state.used);
    const flags = Array.from({ length: this.window }, (_, i) => used.has(base + i));
    const matched = hotpMatchUnused(this.secret(), otp, base, this.window, flags, this.config);
    if (matched === undefined) return refused("unknown or reused");
    this.moveTo(base, [...used, matched], this.state.slotsGranted + 1);
    return { granted: true, ...this.outcome(challenge) };
  }

  /** Base `base` with counters `used` above it, the base slid past the used prefix; persisted. */
  private moveTo(base: number, usedAbove: number[], slotsGranted: number): void {
    const used = new Set(usedAbove);
    let next = base;
    while (used.has(next)) used.delete(next++);
    this.state = { ...this.state, counter: next, used: [...used].sort((a, b) => a - b), slotsGranted };
    this.persist();
  }

  private outcome(challenge?: string): Omit<AccessOutcome, "granted" | "reason"> {
    const { base, next, mac } = this.ack(challenge);
    return {
      counter: base,
      ack: mac,
      ...(next === undefined ? {} : { next }),
      ...(challenge === undefined ? {} : { challenge }),
    };
  }

  private secret(): Buffer {
    return Buffer.from(this.state.secret, "hex");
  }

  /** The state on disk before any answer: atomically (write-file-atomic: a temporary file, fsync, rename), and
   * the folder fsynced so the rename survives a power cut. A crash leaves the old state or the new, never half. */
  private persist(): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    writeFileAtomic.sync(this.file, JSON.stringify(this.state), { mode: 0o600, fsync: true });
    const dir = fs.openSync(path.dirname(this.file), "r");
    try {
      fs.fsyncSync(dir);
    } finally {
      fs.closeSync(dir);
    }
  }
}
