import type { TypedDataDomain, TypedDataField } from "ethers";
import { TypedDataEncoder } from "ethers";

import type { TypedDataSigner } from "./permit";

/**
 * Channel receipts, the only place they are built. Their domain is the channels contract's own
 * (`readDomain(channels)`): it binds the chain id and the contract; the message binds the channel id, so
 * a receipt is good for one channel on one contract on one chain.
 */
export const RECEIPT_TYPES: Record<string, TypedDataField[]> = {
  Receipt: [
    { name: "channelId", type: "bytes32" },
    { name: "cumulativeAmount", type: "uint256" },
  ],
};

export interface ReceiptMessage {
  channelId: string;
  cumulativeAmount: bigint;
}

export function signReceipt(client: TypedDataSigner, domain: TypedDataDomain, m: ReceiptMessage): Promise<string> {
  return client.signTypedData(domain, RECEIPT_TYPES, { ...m });
}

/** The digest a client signs, as the contract's `receiptDigest` computes it. */
export function receiptDigest(domain: TypedDataDomain, m: ReceiptMessage): string {
  return TypedDataEncoder.hash(domain, RECEIPT_TYPES, { ...m });
}
