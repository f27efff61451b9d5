import { BaseError, ContractFunctionRevertedError, HttpRequestError, UserRejectedRequestError } from "viem";

import { explainActivationRevert } from "../../../src/registry/activation-link";

/** Any error from a read, a signature or a transaction, as one plain sentence. */
export function plainError(error: unknown): string {
  if (error instanceof BaseError) {
    const rejected = error.walk((e) => e instanceof UserRejectedRequestError);
    if (rejected !== null) return "You rejected the request in your wallet: nothing was sent.";
    // The chain's RPC did not answer: name it, not viem's "HTTP request failed."
    const http = error.walk((e) => e instanceof HttpRequestError);
    if (http instanceof HttpRequestError)
      return `The chain's RPC at ${http.url} did not answer${http.status === undefined ? "" : ` (HTTP ${http.status})`}: check that the node is running.`;
    const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError);
    if (reverted instanceof ContractFunctionRevertedError && reverted.data?.errorName !== undefined)
      return explainActivationRevert(reverted.data.errorName, reverted.data.args ?? []);
    return error.shortMessage;
  }
  return error instanceof Error ? error.message : String(error);
}
