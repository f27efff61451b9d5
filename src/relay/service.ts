import { getAddress, isError } from "ethers";
import type { Signer, TransactionReceipt, TransactionRequest, TransactionResponse } from "ethers";

import type { SystemContext } from "../chain/context";
import { PreflightSigner } from "../chain/preflight";
import { describeRevert } from "../chain/revert";
import { nextBlockTime } from "../chain/time";
import { UserError } from "../errors";
import { boundedRead } from "../http/rpc";
import { ChainUnavailable, HttpService, Rejected } from "../http/service";
import type { HttpOptions } from "../http/service";
import { relayRequestOf } from "../registry/activation-link";
import type { ActivationPayload, RelayRequest } from "../registry/activation-link";
import {
  checkConsent,
  checkDeadlines,
  checkFee,
  checkPermit,
  checkRequest,
  relayArgs,
  simulationRefusal,
} from "./checks";
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
  /** The relayer's transaction not mined within its timeout, or sent without an answer: nothing goes behind it. */
  private unmined?: { nonce: number; hash?: string };
  /** The relayer's last chain call that failed or got no answer (cleared by one that answers): /health fails. */
  private chainFault?: string;

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
    this.refuseInFlight(key, payload.deviceId);
    // Every check before the lock: only a request that passed them all may hold its device.
    await this.check(request, payload);
    this.refuseInFlight(key, payload.deviceId);
    this.inFlight.add(key);
    try {
      const fees = await this.feeCap();
      const gas = await this.simulate(request, payload);
      const tx = await this.send(relayArgs(request, payload), gas, fees);
      this.app.log.info({ device: payload.deviceId, tx: tx.hash }, "relay sent");
      const receipt = await this.mined(tx);
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
      this.inFlight.delete(key);
    }
  }

  /** /health: also failing while the relayer's last chain call got no answer, and naming an unmined transaction. */
  override async healthReport(): Promise<{ ok: boolean } & Record<string, unknown>> {
    const report = await super.healthReport();
    const unmined = this.unmined === undefined ? {} : { unmined: this.unmined.hash ?? `nonce ${this.unmined.nonce}` };
    if (this.chainFault === undefined) return { ...report, ...unmined };
    const rpc = { ...(report.rpc as Record<string, unknown>), ok: false, error: this.chainFault };
    return { ...report, ...unmined, ok: false, rpc };
  }

  private refuseInFlight(key: string, deviceId: string): void {
    if (this.inFlight.has(key))
      throw new Rejected(409, `device ${deviceId} is being relayed already: wait for that transaction`, "in_flight");
  }

  /**
   * A chain call bounded by `rpcTimeoutMs` (503 "chain unavailable" on a fault or no answer). A fault is
   * remembered for /health until a later call answers.
   */
  private async chain<T>(call: string, read: () => Promise<T>): Promise<T> {
    try {
      const value = await this.readChain(call, read);
      this.chainFault = undefined;
      return value;
    } catch (error) {
      if (error instanceof ChainUnavailable) this.chainFault = error.message;
      throw error;
    }
  }

  /**
   * Every check that needs no transaction, cheapest first: the device's status and the signatures (one
   * read: the device's key), then the owner's permit, the deadlines, the fee and the owner's balance.
   */
  private async check(request: RelayRequest, payload: ActivationPayload): Promise<void> {
    const { registry, token, registryAddress } = this.o.target;
    const owner = payload.owner;
    const device = await this.chain("getDevice", () => registry.getDevice(payload.deviceId));
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
    checkConsent(this.o.target, { request, payload }, device.deviceKey);
    const [fee, balance, nonce, allowance, next] = await this.chain("relay state", () =>
      Promise.all([
        registry.activationFeeOf(payload.deviceId),
        token.balanceOf(owner),
        token.nonces(owner),
        token.allowance(owner, registryAddress),
        nextBlockTime(this.o.ctx.provider),
      ]),
    );
    checkPermit(this.o.target, { request, payload }, { nonce, allowance, fee });
    checkDeadlines(payload, BigInt(request.ownerDeadline), next);
    checkFee(fee, BigInt(request.maxFee), balance, owner);
  }

  /** The simulation: the gas the call needs, or a {@link Rejected} naming why the registry would refuse it. */
  private simulate(request: RelayRequest, payload: ActivationPayload): Promise<bigint> {
    const { registry } = this.o.target;
    return this.chain("estimateGas", async () => {
      try {
        return await registry.activateDeviceWithPermit.estimateGas(...relayArgs(request, payload), {
          from: this.o.relayer,
        });
      } catch (error) {
        if (unfunded(error)) throw UNFUNDED();
        throw simulationRefusal(error) ?? error;
      }
    });
  }

  /**
   * Under `--max-gas-price`: 503 while the network's gas price is above the cap, else the fee fields that
   * hold the transaction to it (its fee cap is the cap, its tip at most the cap). No cap: none.
   */
  private async feeCap(): Promise<Pick<TransactionRequest, "gasPrice" | "maxFeePerGas" | "maxPriorityFeePerGas">> {
    const cap = this.o.policy.maxGasPrice;
    if (cap === undefined) return {};
    const { gasPrice, maxFeePerGas, maxPriorityFeePerGas } = await this.chain("getFeeData", () =>
      this.o.ctx.provider.getFeeData(),
    );
    if (gasPrice !== null && gasPrice > cap)
      throw new Rejected(
        503,
        `the network's gas price ${gasPrice} wei is above this relayer's cap of ${cap} wei: try again later`,
        "gas_price_above_cap",
      );
    if (maxFeePerGas !== null) {
      const tip = maxPriorityFeePerGas ?? 0n;
      return { maxFeePerGas: cap, maxPriorityFeePerGas: tip < cap ? tip : cap };
    }
    return { gasPrice: gasPrice ?? cap };
  }

  /**
   * While a transaction of the relayer is not mined past its timeout (or its send got no answer), nothing
   * more is queued behind its nonce: 503 naming it, until it is mined (or the node no longer holds it).
   */
  private async refuseUnmined(): Promise<void> {
    const unmined = this.unmined;
    if (unmined === undefined) return;
    const provider = this.o.ctx.provider;
    const [mined, pending] = await this.chain("getTransactionCount", () =>
      Promise.all([
        provider.getTransactionCount(this.o.relayer, "latest"),
        provider.getTransactionCount(this.o.relayer, "pending"),
      ]),
    );
    if (mined > unmined.nonce || pending <= unmined.nonce) {
      if (this.unmined === unmined) this.unmined = undefined;
      return;
    }
    throw new Rejected(
      503,
      `waiting for ${unmined.hash ?? `the relayer's transaction with nonce ${unmined.nonce}`} to be mined; retry later`,
      "unmined_transaction",
    );
  }

  /**
   * Sends from the one key, one transaction at a time (each after the one before reached the node, or its
   * send timed out), with an explicit nonce so a send without an answer is known by it.
   */
  private send(
    args: ReturnType<typeof relayArgs>,
    gas: bigint,
    fees: Pick<TransactionRequest, "gasPrice" | "maxFeePerGas" | "maxPriorityFeePerGas">,
  ): Promise<TransactionResponse> {
    const { registry, registryAddress } = this.o.target;
    const data = registry.interface.encodeFunctionData("activateDeviceWithPermit", [...args]);
    const run = this.sending.then(async () => {
      await this.refuseUnmined();
      const nonce = await this.chain("getTransactionCount", () =>
        this.o.ctx.provider.getTransactionCount(this.o.relayer, "pending"),
      );
      try {
        return await this.chain("sendTransaction", async () => {
          try {
            return await this.signer.sendTransaction({
              to: registryAddress,
              data,
              gasLimit: gas + gas / 5n,
              nonce,
              ...fees,
            });
          } catch (error) {
            if (unfunded(error)) throw UNFUNDED();
            // The preflight's refusal (the chain moved since the check): one line, nothing sent.
            if (error instanceof UserError) throw new Rejected(409, error.message, "would_revert");
            throw error;
          }
        });
      } catch (error) {
        // No answer (or a fault): the node may hold it yet, so nothing more goes out behind this nonce.
        if (error instanceof ChainUnavailable) this.unmined ??= { nonce };
        throw error;
      }
    });
    this.sending = run.catch(() => undefined);
    return run;
  }

  /** The receipt within the bound; after it, 504 and later sends wait for this one ({@link refuseUnmined}). */
  private async mined(tx: TransactionResponse): Promise<TransactionReceipt> {
    const timedOut = (): Rejected => {
      this.unmined ??= { nonce: tx.nonce, hash: tx.hash };
      return new Rejected(
        504,
        `sent as transaction ${tx.hash}, not mined within ${this.receiptTimeoutMs / 1000} s: look it up before sending the request again`,
        "receipt_timeout",
      );
    };
    let receipt: TransactionReceipt | null;
    try {
      // ethers' own bound, and ours around it should a receipt poll hang.
      receipt = await boundedRead(
        "receipt",
        async () => {
          try {
            return await tx.wait(1, this.receiptTimeoutMs);
          } catch (error) {
            if (isError(error, "TIMEOUT")) throw timedOut();
            if (isError(error, "CALL_EXCEPTION"))
              throw new Rejected(
                502,
                `transaction ${tx.hash} was mined but reverted: ${describeRevert(error) ?? "no reason given"}`,
                "reverted",
              );
            throw error;
          }
        },
        this.receiptTimeoutMs + this.limits.rpcTimeoutMs,
        (kind) => {
          if (kind === "timeout") this.chainFault = `the receipt of ${tx.hash} got no answer`;
        },
      );
    } catch (error) {
      if (error instanceof ChainUnavailable) throw timedOut();
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
