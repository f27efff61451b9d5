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

/**
 * A request to have the code of a stored receipt again (its answer was lost), signed by the receipt's
 * signer under the same domain. A distinct type: a receipt signature (which the AS shows to anyone)
 * never passes for one, and one never pays anything.
 */
export const REDELIVER_TYPES: Record<string, TypedDataField[]> = {
  Redeliver: [
    { name: "channelId", type: "bytes32" },
    { name: "cumulativeAmount", type: "uint256" },
  ],
};

export function signRedeliver(client: TypedDataSigner, domain: TypedDataDomain, m: ReceiptMessage): Promise<string> {
  return client.signTypedData(domain, REDELIVER_TYPES, { ...m });
}

export function redeliverDigest(domain: TypedDataDomain, m: ReceiptMessage): string {
  return TypedDataEncoder.hash(domain, REDELIVER_TYPES, { ...m });
}
