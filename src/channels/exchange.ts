import type { AccessRequest, ChannelParams } from "./as/types";

/**
 * The client's side of an exchange, free of Node-only code (the browser app's client page uses it, as
 * `ChannelClient` does): the next cumulative amount, and the body of `POST /access`. The receipt itself is
 * signed with `signReceipt` (src/eip712/receipt.ts), the one place receipts are built.
 */

/** The next receipt's amount: the previous (durable) one plus the device's price, within the deposit. */
export function nextAmount(previous: bigint, price: bigint, deposit: bigint): bigint {
  const amount = previous + price;
  if (amount > deposit) throw new Error(`the channel's deposit ${deposit} cannot pay ${amount}`);
  return amount;
}

/** The body of `POST /access`: the channel's parameters, the device, the signed amount and the signer's proof. */
export function accessRequestOf(
  channel: ChannelParams,
  deviceId: string,
  amount: bigint,
  signature: string,
  proof: string[],
): AccessRequest {
  return {
    channel: {
      owner: channel.owner,
      token: channel.token,
      clientRoot: channel.clientRoot,
      salt: channel.salt,
      openBlock: channel.openBlock,
    },
    deviceId,
    amount: amount.toString(),
    signature,
    proof,
  };
}
