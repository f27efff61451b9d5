import { AbiCoder, Signature, getAddress, keccak256 } from "ethers";
import type { ContractTransactionReceipt, ContractTransactionResponse } from "ethers";

import type { PaymentChannels } from "../../typechain-types";

/**
 * Everything that names a channel on chain. The id is
 * `keccak256(abi.encode(owner, payee, token, clientRoot, salt, openBlock))`, `openBlock` being the block
 * the open landed in, so the same parameters opened again later give a new id.
 */
export interface ChannelKey {
  owner: string;
  payee: string;
  token: boolean;
  clientRoot: string;
  salt: bigint;
  openBlock: bigint;
}

const KEY_TYPES = ["address", "address", "bool", "bytes32", "uint96", "uint64"];

/** The channel id, computed locally (equal to the contract's `channelId`). */
export function channelIdOf(k: ChannelKey): string {
  return keccak256(
    AbiCoder.defaultAbiCoder().encode(KEY_TYPES, [k.owner, k.payee, k.token, k.clientRoot, k.salt, k.openBlock]),
  );
}

/** The key and id of the channel an open transaction created, read from its ChannelOpened event. */
export function openedChannel(
  channels: PaymentChannels,
  receipt: ContractTransactionReceipt | null,
): ChannelKey & { channelId: string; deposit: bigint; expiry: bigint } {
  if (receipt === null) throw new Error("the open transaction has no receipt");
  const address = getAddress(channels.target as string);
  for (const log of receipt.logs) {
    if (getAddress(log.address) !== address) continue;
    const parsed = channels.interface.parseLog(log);
    if (parsed?.name !== "ChannelOpened") continue;
    const key: ChannelKey = {
      owner: getAddress(parsed.args.owner as string),
      payee: getAddress(parsed.args.payee as string),
      token: parsed.args.token as boolean,
      clientRoot: parsed.args.clientRoot as string,
      salt: parsed.args.salt as bigint,
      openBlock: BigInt(receipt.blockNumber),
    };
    const channelId = channelIdOf(key);
    if (channelId !== parsed.args.channelId) throw new Error("ChannelOpened event does not match its id");
    return { ...key, channelId, deposit: parsed.args.deposit as bigint, expiry: parsed.args.expiry as bigint };
  }
  throw new Error(`transaction ${receipt.hash} opened no channel`);
}

/** A channel to close (its key, less the payee: the caller is the payee) and the receipt to close it with. */
export interface CloseItem {
  owner: string;
  token: boolean;
  clientRoot: string;
  salt: bigint;
  openBlock: bigint;
  amount: bigint;
  /** 65-byte signature; sent in compact (r, vs) form. */
  signature: string;
  proof: string[];
}

/** Sends one `close`, or one `closeBatch` for several channels (the payee paid once per asset). */
export function submitCloses(
  channels: PaymentChannels,
  items: readonly CloseItem[],
): Promise<ContractTransactionResponse> {
  if (items.length === 0) throw new Error("no channels to close");
  const requests = items.map(({ signature, ...item }) => {
    const sig = Signature.from(signature);
    return { ...item, r: sig.r, vs: sig.yParityAndS };
  });
  const q = requests[0];
  return requests.length === 1
    ? channels.close(q.owner, q.token, q.clientRoot, q.salt, q.openBlock, q.amount, q.r, q.vs, q.proof)
    : channels.closeBatch(requests);
}
