import { AbstractSigner } from "ethers";
import type {
  Provider,
  Signer,
  TransactionRequest,
  TransactionResponse,
  TypedDataDomain,
  TypedDataField,
} from "ethers";

import { UserError } from "../errors";
import { describeRevert } from "./revert";

/**
 * The reason a node gives for a failed call or estimate, when it is not one of the system's custom errors:
 * a reason string, a panic, another contract's custom error (named by Hardhat, or shown by its selector),
 * or a transaction over the gas cap. Undefined for what is not a refusal (a network failure, say).
 */
export function plainReason(error: unknown): string | undefined {
  const e = error as { code?: unknown; reason?: unknown; data?: unknown; message?: unknown };
  const message = typeof e.message === "string" ? e.message : "";
  const named =
    /reverted with reason string '([^']*)'|reverted with panic code ([0-9a-fx]+ \([^)]*\))|reverted with custom error '([^']*)'|reverted with an unrecognized custom error \(return data: (0x[0-9a-f]{8})/i.exec(
      message,
    );
  if (named !== null) {
    if (named[1] !== undefined) return named[1];
    if (named[2] !== undefined) return `panic ${named[2]}`;
    if (named[3] !== undefined) return `another contract's error ${named[3]}`;
    return `another contract's error with selector ${named[4]}`;
  }
  if (/ran out of gas|exceeds (block|transaction) gas limit|gas limit .*cap|intrinsic gas too low/i.test(message)) {
    return "it needs more gas than a transaction may use (send less in one transaction)";
  }
  if (e.code === "CALL_EXCEPTION") {
    if (typeof e.reason === "string") return e.reason;
    const data = typeof e.data === "string" ? e.data : "";
    return data.length >= 10
      ? `another contract's error with selector ${data.slice(0, 10)}`
      : "it reverted without a reason";
  }
  if (/Transaction reverted|execution reverted/.test(message)) return "it reverted without a reason";
  return undefined;
}

/**
 * A signer that simulates every transaction before it sends it: the node estimates it against the block
 * it would be mined in, and a transaction that would revert is not sent (it would cost its gas for
 * nothing); the task fails with one line that names the contract's error and its arguments instead.
 * Everything else (the address, typed-data and message signatures, the sending itself) is the wrapped
 * signer's: a local key, a keystore, or a hardware wallet plug in below it unchanged.
 */
export class PreflightSigner extends AbstractSigner {
  /**
   * @param inner the signer that signs and sends
   * @param beforeFirstSend called once, before the first transaction is sent (e.g. to warn that the
   *   network is in-process and nothing it sends persists)
   */
  constructor(
    readonly inner: Signer,
    provider: Provider | null = inner.provider,
    private beforeFirstSend?: () => void,
  ) {
    super(provider);
  }

  override connect(provider: Provider | null): PreflightSigner {
    return new PreflightSigner(this.inner.connect(provider), provider, this.beforeFirstSend);
  }

  override getAddress(): Promise<string> {
    return this.inner.getAddress();
  }

  override signTransaction(tx: TransactionRequest): Promise<string> {
    return this.inner.signTransaction(tx);
  }

  override signMessage(message: string | Uint8Array): Promise<string> {
    return this.inner.signMessage(message);
  }

  override signTypedData(
    domain: TypedDataDomain,
    types: Record<string, TypedDataField[]>,
    value: Record<string, unknown>,
  ): Promise<string> {
    return this.inner.signTypedData(domain, types, value);
  }

  override async sendTransaction(tx: TransactionRequest): Promise<TransactionResponse> {
    const provider = this.provider ?? this.inner.provider;
    if (provider !== null) {
      try {
        await provider.estimateGas({ ...tx, from: await this.getAddress() });
      } catch (error) {
        const why = describeRevert(error) ?? plainReason(error);
        if (why === undefined) throw error;
        throw new UserError(`the transaction would fail, so it was not sent: ${why}`);
      }
    }
    const first = this.beforeFirstSend;
    this.beforeFirstSend = undefined;
    first?.();
    return this.inner.sendTransaction(tx);
  }
}
