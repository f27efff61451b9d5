import type { BaseWallet, TypedDataDomain } from "ethers";

import { signReceipt, signRedeliver } from "../eip712/receipt";
import { fetchJson } from "../http/client";
import type { JsonAnswer } from "../http/client";
import { isMember } from "../merkle/group";
import type { AccessGrant, ChannelParams, RedeliveredGrant } from "./as-server";
import type { AccessOutcome, DeviceAckMessage, DeviceAdvance } from "./device";
import { accessRequestOf, nextAmount } from "./exchange";
import { ReceiptVerifier } from "./verify";

/** What a client reaches of a device: presenting a code (with the AS's advance), and reading its
 * acknowledgement (covering the AS's challenge, when given). */
export interface DeviceLink {
  present(otp: string, advance?: DeviceAdvance, challenge?: string): AccessOutcome;
  ack(challenge?: string): DeviceAckMessage;
}

export interface PreviousReceipt {
  channelId: string;
  amount: string;
  signer?: string;
  signature?: string;
  proof?: string[];
}

/**
 * A client of a group channel. Before signing the next receipt (previous + price) it checks the previous
 * one the AS presents: signed by a member of the group, for this channel, within the deposit. A forged
 * previous receipt would make the client sign for more than the group received, so it refuses.
 */
export class ChannelClient {
  private readonly verifier: ReceiptVerifier;

  constructor(
    private readonly wallet: BaseWallet,
    private readonly channel: ChannelParams & { channelId: string; deposit: bigint },
    private readonly proof: string[],
    private readonly domain: TypedDataDomain,
  ) {
    this.verifier = new ReceiptVerifier(domain);
  }

  /** Throws unless `previous` is a genuine receipt of this channel's group within the deposit. */
  checkPrevious(previous: PreviousReceipt): bigint {
    if (previous.channelId.toLowerCase() !== this.channel.channelId.toLowerCase()) {
      throw new Error(`the AS presented a receipt of channel ${previous.channelId}, not ${this.channel.channelId}`);
    }
    const amount = BigInt(previous.amount);
    if (amount === 0n) return 0n;
    if (amount > this.channel.deposit)
      throw new Error(`previous receipt ${amount} exceeds the deposit ${this.channel.deposit}`);
    if (previous.signature === undefined || previous.proof === undefined)
      throw new Error("previous receipt is unsigned");
    const signer = this.verifier.recover(this.channel.channelId, amount, previous.signature);
    if (signer === undefined || signer !== previous.signer)
      throw new Error("previous receipt's signature does not match its signer");
    if (!isMember(this.channel.clientRoot, signer, previous.proof))
      throw new Error(`previous receipt's signer ${signer} is not in the group`);
    return amount;
  }

  /**
   * Buys one access slot of `deviceId` at `price`: fetch and check the previous receipt, sign the next, trade it.
   * If the exchange fails after the receipt was sent (a network error, no answer within `timeoutMs`, a 5xx),
   * the AS may have stored it (the client is charged): the code is then asked for again with
   * {@link redeliver} (which the AS answers once the receipt's write is settled; `redeliverTimeoutMs`,
   * default 30 s). If that fails too (no such receipt stored: nothing was charged), both errors are thrown.
   * With `device`, a 409 of an AS awaiting the device (`--resync`) is handled: the client reads the AS's
   * challenge, has the device acknowledge it, relays that, and buys once more (nothing was stored: same amount).
   */
  async buy(
    asUrl: string,
    deviceId: string,
    price: bigint,
    o: { timeoutMs?: number; redeliverTimeoutMs?: number; device?: DeviceLink } = {},
  ): Promise<AccessGrant> {
    const shown = await fetchJson<PreviousReceipt>("AS", `${asUrl}/channels/${this.channel.channelId}/receipt`);
    if (!shown.ok) throw new Error(`AS refused to show the previous receipt: ${shown.status}`);
    const previous = this.checkPrevious(shown.body);
    const amount = nextAmount(previous, price, this.channel.deposit);
    const signature = await signReceipt(this.wallet, this.domain, {
      channelId: this.channel.channelId,
      cumulativeAmount: amount,
    });
    const response = await fetchJson<AccessGrant>("AS", `${asUrl}/access`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(accessRequestOf(this.channel, deviceId, amount, signature, this.proof)),
      signal: o.timeoutMs === undefined ? undefined : AbortSignal.timeout(o.timeoutMs),
    }).catch((error: Error) => ({ status: 0, body: { error: error.message } as JsonAnswer<AccessGrant>["body"] }));
    // An AS awaiting the device's acknowledgement (--resync): answer its challenge, then try once more.
    const awaiting = response.body.reason === "awaiting_device_ack";
    if (awaiting && o.device !== undefined && (await this.answerChallenge(asUrl, deviceId, o.device)))
      return this.buy(asUrl, deviceId, price, { ...o, device: undefined });
    const body = response.body;
    if (response.status >= 200 && response.status < 300) return body;
    const failure =
      response.status === 0
        ? `the exchange with the AS failed: ${body.error}`
        : `AS refused: ${response.status} ${body.error}`;
    if (response.status > 0 && response.status < 500) throw new Error(failure);
    // The receipt was sent and its answer lost or failed: if the AS stored it, this client paid for its code.
    try {
      return await this.redeliver(asUrl, amount, { timeoutMs: o.redeliverTimeoutMs ?? 30_000 });
    } catch (error) {
      throw new Error(`${failure}; then ${(error as Error).message}`, { cause: error });
    }
  }

  /**
   * If the AS awaits `deviceId`'s acknowledgement (`--resync`), relays the device's acknowledgement of the AS's
   * challenge and returns true; returns false when the AS awaits nothing.
   */
  private async answerChallenge(asUrl: string, deviceId: string, device: DeviceLink): Promise<boolean> {
    const { ok, status, body } = await fetchJson<{ challenge?: string | null }>(
      "AS",
      `${asUrl}/devices/${deviceId}/challenge`,
    );
    if (!ok) throw new Error(`AS refused the challenge: ${status} ${body.error ?? ""}`.trim());
    if (typeof body.challenge !== "string") return false;
    const { base, next, mac } = device.ack(body.challenge);
    await this.acknowledge(asUrl, deviceId, base, mac, next, body.challenge);
    return true;
  }

  /**
   * The code of a receipt this client signed and the AS stored, again (its answer was lost): a `Redeliver`
   * signature proves the AS is asked by the receipt's signer. `used` says the device already used the code.
   */
  async redeliver(asUrl: string, amount: bigint, o: { timeoutMs?: number } = {}): Promise<RedeliveredGrant> {
    const signature = await signRedeliver(this.wallet, this.domain, {
      channelId: this.channel.channelId,
      cumulativeAmount: amount,
    });
    const { ok, status, body } = await fetchJson<RedeliveredGrant>(
      "AS",
      `${asUrl}/channels/${this.channel.channelId}/redeliver`,
      {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ amount: amount.toString(), signature }),
        signal: o.timeoutMs === undefined ? undefined : AbortSignal.timeout(o.timeoutMs),
      },
    );
    if (!ok) throw new Error(`AS refused the redelivery: ${status} ${body.error}`);
    return body;
  }

  /**
   * Uses a grant at the device: presents its code (with the AS's advance, if any) and relays the device's
   * acknowledgement to the AS whatever the device answered: after a grant the AS may sell further codes; after
   * a refusal an AS behind the device (restored from a backup) catches up, so it sells no more codes the
   * device has used. A failed relay does not undo the grant: it is reported in `relayError`.
   */
  async redeem(
    asUrl: string,
    device: DeviceLink,
    grant: AccessGrant,
  ): Promise<AccessOutcome & { relayError?: string }> {
    const outcome = device.present(grant.otp, grant.advance);
    try {
      await this.acknowledge(asUrl, grant.deviceId, outcome.counter, outcome.ack, outcome.next, outcome.challenge);
      return outcome;
    } catch (error) {
      return { ...outcome, relayError: (error as Error).message };
    }
  }

  /**
   * Relays a device's acknowledgement (`SimulatedDevice.present` returns it as `counter`, `ack`, `next` and
   * `challenge`; `SimulatedDevice.ack(challenge)` gives it without a code, e.g. for an AS started with
   * `--resync`): the AS then knows which codes were used and may sell further ones, as it keeps at most the
   * device's window of codes outstanding. Only the device can make `ack` (a MAC under its secret).
   */
  async acknowledge(
    asUrl: string,
    deviceId: string,
    base: number,
    ack: string,
    next?: number,
    challenge?: string,
  ): Promise<void> {
    const { ok, status, body } = await fetchJson("AS", `${asUrl}/devices/${deviceId}/ack`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ base, next, challenge, mac: ack }),
    });
    if (!ok) throw new Error(`AS refused the acknowledgement: ${status} ${body.error ?? ""}`.trim());
  }
}
