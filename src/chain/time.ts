import type { Provider } from "ethers";

/** The latest block's timestamp: "now" for deadlines and expiries, whatever the wall clock says. */
export async function chainTime(provider: Provider): Promise<bigint> {
  const latest = await provider.getBlock("latest");
  return BigInt(latest?.timestamp ?? Math.floor(Date.now() / 1000));
}

/** Waits for a transaction and returns its gas; a failed or dropped transaction throws. */
export async function gasOf(tx: {
  wait(): Promise<{ gasUsed: bigint; status: number | null } | null>;
  hash: string;
}): Promise<bigint> {
  const receipt = await tx.wait();
  if (receipt === null || receipt.status !== 1) throw new Error(`transaction ${tx.hash} failed`);
  return receipt.gasUsed;
}
