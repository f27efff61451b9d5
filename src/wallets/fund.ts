import type { Signer } from "ethers";
import { ZeroAddress, getAddress } from "ethers";

import { IERC20Metadata__factory } from "../chain/factories";
import type { SystemContext } from "../chain/context";
import { gasOf } from "../chain/time";
import { UserError } from "../errors";
import { assetBalance, formatAmount } from "./assets";
import type { Asset } from "./assets";
import { walletAt } from "./wallet";

export interface FundResult {
  wallet: string;
  from: string;
  sent: { asset: string; symbol: string; decimals: number; amount: bigint; txHash: string }[];
  gasUsed: bigint;
}

/**
 * Sends ETH and tokens from `funder` to an existing device wallet. Every balance is checked before the
 * first transfer, so a shortfall sends nothing.
 */
export async function fundWallet(
  ctx: SystemContext,
  funder: Signer,
  address: string,
  amounts: { asset: Asset; amount: bigint }[],
): Promise<FundResult> {
  const wallet = await walletAt(ctx, address);
  const to = await wallet.getAddress();
  const from = getAddress(await funder.getAddress());
  for (const { asset, amount } of amounts) {
    const held = await assetBalance(ctx, asset, from);
    if (held < amount) {
      throw new UserError(
        `${from} holds ${formatAmount(held, asset)}, less than the ${formatAmount(amount, asset)} to send`,
      );
    }
  }
  const sent: FundResult["sent"] = [];
  let gasUsed = 0n;
  for (const { asset, amount } of amounts) {
    const tx =
      asset.address === ZeroAddress
        ? await funder.sendTransaction({ to, value: amount })
        : await IERC20Metadata__factory.connect(asset.address, funder).transfer(to, amount);
    gasUsed += await gasOf(tx);
    sent.push({ asset: asset.address, symbol: asset.symbol, decimals: asset.decimals, amount, txHash: tx.hash });
  }
  return { wallet: to, from, sent, gasUsed };
}
