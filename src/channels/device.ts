import fs from "node:fs";
import path from "node:path";

import { UserError } from "../errors";
import { DEFAULT_HOTP, hotpMatch } from "./hotp";
import type { HotpConfig } from "./hotp";

/**
 * A constrained device of the SOFIE scheme: it holds only the secret it shares with the Authorization
 * Server and its HOTP counter, persisted, and checks HMACs. No public-key cryptography at all.
 */
export interface DeviceState {
  deviceId: string;
  /** Hex of the shared secret. */
  secret: string;
  /** The next counter the device will accept (everything below is spent). */
  counter: number;
  /** Actuation slots granted so far. */
  slotsGranted: number;
}

export interface AccessOutcome {
  granted: boolean;
  reason?: "malformed" | "unknown or reused";
  counter: number;
}

export class SimulatedDevice {
  private state: DeviceState;

  constructor(
    private readonly file: string,
    private readonly window = 5,
    private readonly config: HotpConfig = DEFAULT_HOTP,
    initial?: DeviceState,
  ) {
    if (initial !== undefined) {
      this.state = { ...initial };
      this.persist();
    } else {
      if (!fs.existsSync(file)) throw new UserError(`no device state at ${file}`);
      this.state = JSON.parse(fs.readFileSync(file, "utf8")) as DeviceState;
    }
  }

  get counter(): number {
    return this.state.counter;
  }

  get slotsGranted(): number {
    return this.state.slotsGranted;
  }

  /**
   * Checks an OTP within the look-ahead window. A match grants one slot of actuation and moves the counter
   * past it, durably, before the slot is granted, so the same OTP (or an earlier one) never works again.
   */
  present(otp: string): AccessOutcome {
    if (!/^\d+$/.test(otp)) return { granted: false, reason: "malformed", counter: this.state.counter };
    const matched = hotpMatch(Buffer.from(this.state.secret, "hex"), otp, this.state.counter, this.window, this.config);
    if (matched === undefined) return { granted: false, reason: "unknown or reused", counter: this.state.counter };
    this.state = { ...this.state, counter: matched + 1, slotsGranted: this.state.slotsGranted + 1 };
    this.persist();
    return { granted: true, counter: this.state.counter };
  }

  private persist(): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(this.state));
    fs.renameSync(tmp, this.file);
  }
}
