import { BaseError, ContractFunctionRevertedError, UserRejectedRequestError } from "viem";

import { explainActivationRevert } from "../../../src/registry/activation-link";

/** Any error from a read, a signature or a transaction, as one plain sentence. */
export function plainError(error: unknown): string {
  if (error instanceof BaseError) {
    const rejected = error.walk((e) => e instanceof UserRejectedRequestError);
    if (rejected !== null) return "You rejected the request in your wallet: nothing was sent.";
    const reverted = error.walk((e) => e instanceof ContractFunctionRevertedError);
    if (reverted instanceof ContractFunctionRevertedError && reverted.data?.errorName !== undefined)
      return explainActivationRevert(reverted.data.errorName, reverted.data.args ?? []);
    return error.shortMessage;
  }
  return error instanceof Error ? error.message : String(error);
}
