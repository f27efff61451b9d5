import type { HardhatRuntimeEnvironment } from "hardhat/types";

/** The latest block's timestamp: "now" for deadlines and expiries, whatever the wall clock says. */
export async function chainTime(hre: HardhatRuntimeEnvironment): Promise<bigint> {
  const latest = await hre.ethers.provider.getBlock("latest");
  return BigInt(latest?.timestamp ?? Math.floor(Date.now() / 1000));
}
