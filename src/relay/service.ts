import { getAddress, isError } from "ethers";
import type { Signer, TransactionReceipt, TransactionResponse } from "ethers";

import type { SystemContext } from "../chain/context";
import { PreflightSigner } from "../chain/preflight";
import { describeRevert } from "../chain/revert";
import { nextBlockTime } from "../chain/time";
import { UserError } from "../errors";
import { HttpService, Rejected } from "../http/service";
import type { HttpOptions } from "../http/service";
import { relayRequestOf } from "../registry/activation-link";
import type { ActivationPayload, RelayRequest } from "../registry/activation-link";
import { checkDeadlines, checkFee, checkRequest, checkSignatures, relayArgs, simulationRefusal } from "./checks";
import type { RelayPolicy, RelayTarget } from "./checks";
import type { RelayAnswer } from "./client";
import { RelayMetrics } from "./metrics";

export interface RelayServiceOptions {
  ctx: SystemContext;
  target: RelayTarget;
  /** The relayer's key: it pays the gas. Wrapped in a {@link PreflightSigner} unless it is one. */
  signer: Signer;
  relayer: string;
  policy: RelayPolicy;
  /** How long a request waits for its transaction's receipt (default 120 s): 504 after, the hash named. */
  receiptTimeoutMs?: number;
  http?: HttpOptions;
}

/** A strict `POST /relay` body: the portal's relay request, nothing more (src/registry/activation-link.ts). */
const RELAY_BODY = {
  type: "object",
  additionalProperties: false,
  required: ["kind", "chainId", "activation", "maxFee", "ownerDeadline", "permit", "consent"],
  properties: {
    kind: { type: "string", maxLength: 64 },
    chainId: { type: "integer" },
    registry: { type: "string", maxLength: 42 },
    activation: { type: "string", maxLength: 8192 },
    maxFee: { type: "string", maxLength: 78 },
    ownerDeadline: { type: "string", maxLength: 20 },
    permit: { type: "string", maxLength: 132 },
    consent: { type: "string", maxLength: 132 },
  },
} as const;

/** A node's or ethers' refusal of a transaction whose sender cannot pay its gas. */
function unfunded(error: unknown): boolean {
  const message = String((error as { message?: unknown }).message ?? "");
  return isError(error, "INSUFFICIENT_FUNDS") || /insufficient funds|doesn't have enough funds/i.test(message);
}

const UNFUNDED = (): Rejected =>
  new Rejected(503, "the relayer has too little ETH for gas right now: try again later", "relayer_unfunded");

/**
 * The activation relayer: `POST /relay` takes an owner's relay request and submits `activateDeviceWithPermit`
 * from the relayer's key, which pays the gas; the fee comes from the owner. Everything is checked before
 * a transaction is sent (chain, registry, the relayer's fee cap, every signature, deadlines, fee and balance,
 * then a simulation), so a doomed request costs no gas and is answered in one line. Transactions go out
 * one at a time from the one key (sequential nonces); a device already in flight is refused (409).
 */
export class RelayService extends HttpService<RelayMetrics> {
  private readonly signer: Signer;
  private readonly inFlight = new Set<string>();
  /** The tail of the send queue: each send starts once the one before it was handed to the node. */
  private sending: Promise<unknown> = Promise.resolve();
  private readonly receiptTimeoutMs: number;

  constructor(private readonly o: RelayServiceOptions) {
    const metrics = new RelayMetrics({ processMetrics: o.http?.processMetrics });
    super(
      metrics,
      {
        provider: () => o.ctx.provider,
        probeDb: () => undefined,
        extra: () => ({ relayer: o.relayer, inFlight: this.inFlight.size }),
      },
      o.http,
    );
    this.signer = o.signer instanceof PreflightSigner ? o.signer : new PreflightSigner(o.signer);
    this.receiptTimeoutMs = o.receiptTimeoutMs ?? 120_000;
    this.routes((app) => {
      app.post("/relay", { schema: { body: RELAY_BODY } }, async (request) => this.relay(request.body));
    });
  }

  /** Checks a relay request, sends it and answers once it is mined. */
  async relay(body: unknown): Promise<RelayAnswer> {
    let parsed: { request: RelayRequest; payload: ActivationPayload };
    try {
      parsed = relayRequestOf(body);
    } catch (error) {
      if (error instanceof UserError) throw new Rejected(400, error.message, "bad_request");
      throw error;
    }
    const { request } = parsed;
    // The owner as a checksummed address (a link's mixed case with a wrong checksum is still that address).
    const payload = { ...parsed.payload, owner: getAddress(parsed.payload.owner.toLowerCase()) };
    checkRequest(this.o.target, request, this.o.policy);
    const key = payload.deviceId.toLowerCase();
    if (this.inFlight.has(key))
      throw new Rejected(
        409,
        `device ${payload.deviceId} is being relayed already: wait for that transaction`,
        "in_flight",
      );
    this.inFlight.add(key);
    let release = true;
    try {
      const gas = await this.check(request, payload);
      const tx = await this.send(relayArgs(request, payload), gas);
      this.app.log.info({ device: payload.deviceId, tx: tx.hash }, "relay sent");
      const receipt = await this.mined(tx, () => {
        release = false;
        void tx
          .wait()
          .catch(() => undefined)
          .finally(() => this.inFlight.delete(key));
      });
      const fee = this.feeTaken(receipt, payload.owner);
      this.metrics.relayed.inc();
      this.metrics.gasUsed.inc(Number(receipt.gasUsed));
      return {
        txHash: tx.hash,
        device: payload.deviceId,
        owner: payload.owner,
        fee: fee.toString(),
        gasUsed: receipt.gasUsed.toString(),
      };
    } finally {
      if (release) this.inFlight.delete(key);
    }
  }

  /** Every check against the chain, then the simulation: the gas the call needs. Throws a {@link Rejected}. */
  private async check(request: RelayRequest, payload: ActivationPayload): Promise<bigint> {
    const { registry, token, registryAddress } = this.o.target;
    const owner = payload.owner;
    const device = await this.readChain("getDevice", () => registry.getDevice(payload.deviceId));
    const status = Number(device.status);
    if (status === 0)
      throw new Rejected(
        404,
        `device ${payload.deviceId} is not registered${payload.whitelist === undefined ? "" : " (a whitelisted device is registered from its proof first: anyone may, with registerFromWhitelist)"}`,
        "unknown_device",
      );
    if (status === 2)
      throw new Rejected(409, `device ${payload.deviceId} is already active (owner ${device.owner})`, "already_active");
    if (status === 3) throw new Rejected(409, `device ${payload.deviceId} was revoked`, "revoked");
    const [fee, balance, nonce, allowance, next] = await this.readChain("relay state", () =>
      Promise.all([
        registry.activationFeeOf(payload.deviceId),
        token.balanceOf(owner),
        token.nonces(owner),
        token.allowance(owner, registryAddress),
        nextBlockTime(this.o.ctx.provider),
      ]),
    );
    checkSignatures(this.o.target, { request, payload }, device.deviceKey, { nonce, allowance, fee });
    checkDeadlines(payload, BigInt(request.ownerDeadline), next);
    checkFee(fee, BigInt(request.maxFee), balance, owner);
    await this.checkGasPrice();
    try {
      return await registry.activateDeviceWithPermit.estimateGas(...relayArgs(request, payload), {
        from: this.o.relayer,
      });
    } catch (error) {
      if (unfunded(error)) throw UNFUNDED();
      throw simulationRefusal(error) ?? error;
    }
  }

  private async checkGasPrice(): Promise<void> {
    const cap = this.o.policy.maxGasPrice;
    if (cap === undefined) return;
    const { gasPrice } = await this.readChain("getFeeData", () => this.o.ctx.provider.getFeeData());
    if (gasPrice !== null && gasPrice > cap)
      throw new Rejected(
        503,
        `the network's gas price ${gasPrice} wei is above this relayer's cap of ${cap} wei: try again later`,
        "gas_price_above_cap",
      );
  }

  /** Sends from the one key, one transaction at a time (each after the one before reached the node). */
  private send(args: ReturnType<typeof relayArgs>, gas: bigint): Promise<TransactionResponse> {
    const { registry, registryAddress } = this.o.target;
    const data = registry.interface.encodeFunctionData("activateDeviceWithPermit", [...args]);
    const run = this.sending.then(async () => {
      try {
        return await this.signer.sendTransaction({ to: registryAddress, data, gasLimit: gas + gas / 5n });
      } catch (error) {
        if (unfunded(error)) throw UNFUNDED();
        // The preflight's refusal (the chain moved since the check): one line, nothing sent.
        if (error instanceof UserError) throw new Rejected(409, error.message, "would_revert");
        throw error;
      }
    });
    this.sending = run.catch(() => undefined);
    return run;
  }

  /** The receipt within the bound; `onTimeout` runs before the 504 (the transaction may still be mined). */
  private async mined(tx: TransactionResponse, onTimeout: () => void): Promise<TransactionReceipt> {
    let receipt: TransactionReceipt | null;
    try {
      receipt = await tx.wait(1, this.receiptTimeoutMs);
    } catch (error) {
      if (isError(error, "TIMEOUT")) {
        onTimeout();
        throw new Rejected(
          504,
          `sent as transaction ${tx.hash}, not mined within ${this.receiptTimeoutMs / 1000} s: look it up before sending the request again`,
          "receipt_timeout",
        );
      }
      if (isError(error, "CALL_EXCEPTION"))
        throw new Rejected(
          502,
          `transaction ${tx.hash} was mined but reverted: ${describeRevert(error) ?? "no reason given"}`,
          "reverted",
        );
      throw error;
    }
    if (receipt === null || receipt.status !== 1)
      throw new Rejected(502, `transaction ${tx.hash} was mined but reverted`, "reverted");
    return receipt;
  }

  /** The token units the receipt moved out of `owner` (the activation fee). */
  private feeTaken(receipt: TransactionReceipt, owner: string): bigint {
    const { token } = this.o.target;
    const tokenAddress = getAddress(token.target as string);
    let taken = 0n;
    for (const log of receipt.logs) {
      if (getAddress(log.address) !== tokenAddress) continue;
      const parsed = token.interface.parseLog(log);
      if (parsed?.name === "Transfer" && getAddress(parsed.args[0] as string) === owner)
        taken += parsed.args[2] as bigint;
    }
    return taken;
  }
}
