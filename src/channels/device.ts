import fs from "node:fs";
import path from "node:path";

import { UserError } from "../errors";
import { DEFAULT_HOTP, DEFAULT_WINDOW, deviceAck, hotpMatchUnused } from "./hotp";
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

export interface AccessOutcome {
  granted: boolean;
  reason?: "malformed" | "unknown or reused";
  /** The window base after this attempt. */
  counter: number;
  /** On a grant: the device's acknowledgement of its base, for the client to relay to the AS
   * (`POST /devices/:id/ack { base: counter, mac: ack }`), so the AS may issue further codes. */
  ack?: string;
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
      const stored = JSON.parse(fs.readFileSync(file, "utf8")) as DeviceState;
      this.state = { ...stored, used: stored.used ?? [] };
    }
  }

  get counter(): number {
    return this.state.counter;
  }

  get slotsGranted(): number {
    return this.state.slotsGranted;
  }

  /** The device's acknowledgement of its current base (see {@link AccessOutcome.ack}). */
  get ack(): { base: number; mac: string } {
    return { base: this.state.counter, mac: deviceAck(this.secret(), this.state.deviceId, this.state.counter) };
  }

  /**
   * Checks an OTP against every unused counter of the window [base, base + W). A match is marked used, the
   * base slides past the used prefix, and the new state is on disk (fsync, atomic rename) before the slot is
   * granted: the same OTP never works again, and codes may be used in any order.
   */
  present(otp: string): AccessOutcome {
    const base = this.state.counter;
    if (!/^\d+$/.test(otp)) return { granted: false, reason: "malformed", counter: base };
    const used = new Set(this.state.used);
    const flags = Array.from({ length: this.window }, (_, i) => used.has(base + i));
    const matched = hotpMatchUnused(this.secret(), otp, base, this.window, flags, this.config);
    if (matched === undefined) return { granted: false, reason: "unknown or reused", counter: base };
    used.add(matched);
    let next = base;
    while (used.has(next)) used.delete(next++);
    this.state = {
      ...this.state,
      counter: next,
      used: [...used].sort((a, b) => a - b),
      slotsGranted: this.state.slotsGranted + 1,
    };
    this.persist();
    return { granted: true, counter: next, ack: this.ack.mac };
  }

  private secret(): Buffer {
    return Buffer.from(this.state.secret, "hex");
  }

  private persist(): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.tmp`;
    const fd = fs.openSync(tmp, "w", 0o600);
    try {
      fs.writeFileSync(fd, JSON.stringify(this.state));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, this.file);
    const dir = fs.openSync(path.dirname(this.file), "r");
    try {
      fs.fsyncSync(dir);
    } finally {
      fs.closeSync(dir);
    }
  }
}
