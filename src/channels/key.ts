import { AbiCoder, getAddress, keccak256 } from "ethers";
import type { ContractTransactionReceipt } from "ethers";

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
