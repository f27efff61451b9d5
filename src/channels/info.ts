import { getAddress } from "ethers";

import type { PaymentChannels } from "../../typechain-types";
import { channelsAt } from "../chain/context";
import type { SystemContext } from "../chain/context";
import { UserError, ensure } from "../errors";
import { channelIdOf } from "./key";
import type { ChannelKey } from "./key";

/** What a channel is paid in: ETH, or ThingToken. */
export type Asset = "eth" | "token";

export interface ChannelInfo extends ChannelKey {
  channelId: string;
  asset: Asset;
  status: "open" | "closed" | "reclaimed";
  deposit: bigint;
  expiry: bigint;
  /** For a closed channel: what the AS was paid and the owner refunded. */
  paid?: bigint;
  refunded?: bigint;
}

/** Finds a channel by id from its ChannelOpened log and its current state. */
export async function channelInfo(
  ctx: SystemContext,
  channelId: string,
  channels: PaymentChannels = channelsAt(ctx),
): Promise<ChannelInfo> {
  const [log] = await channels.queryFilter(channels.filters.ChannelOpened(channelId));
  if (log === undefined) {
    throw new UserError(`no channel ${channelId} was ever opened on network "${ctx.network}"`);
  }
  const key: ChannelKey = {
    owner: getAddress(log.args.owner),
    payee: getAddress(log.args.payee),
    token: log.args.token,
    clientRoot: log.args.clientRoot,
    salt: log.args.salt,
    openBlock: BigInt(log.blockNumber),
  };
  ensure(channelIdOf(key) === channelId, `channel ${channelId}: its ChannelOpened log does not match the id`);
  const state = await channels.getChannel(channelId);
  const info: ChannelInfo = {
    ...key,
    channelId,
    asset: key.token ? "token" : "eth",
    status: "open",
    deposit: state.deposit,
    expiry: state.expiry,
  };
  if (state.status === 1n) return info;
  // An ended channel shows the deposit and expiry it was opened with, and how it ended, from its events.
  info.deposit = log.args.deposit;
  info.expiry = log.args.expiry;
  const [closed] = await channels.queryFilter(channels.filters.ChannelClosed(channelId));
  if (closed !== undefined)
    return { ...info, status: "closed", paid: closed.args.paid, refunded: closed.args.refunded };
  const [reclaimed] = await channels.queryFilter(channels.filters.ChannelReclaimed(channelId));
  return { ...info, status: "reclaimed", refunded: reclaimed?.args.refunded };
}
