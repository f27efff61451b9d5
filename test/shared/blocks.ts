import type { ContractTransactionResponse, Interface } from "ethers";
import { network } from "hardhat";

/**
 * Sends `sends` one after another with automine off and mines them into one block, so a test can put two
 * transactions in the same block. Each send must set its own gasLimit (estimation would run before the
 * block exists).
 */
export async function inOneBlock(
  ...sends: (() => Promise<ContractTransactionResponse>)[]
): Promise<ContractTransactionResponse[]> {
  await network.provider.send("evm_setAutomine", [false]);
  try {
    const txs = [];
    for (const send of sends) txs.push(await send());
    await network.provider.send("evm_mine");
    return txs;
  } finally {
    await network.provider.send("evm_setAutomine", [true]);
  }
}

/** The custom error a mined, failed transaction reverted with, decoded with `iface` (from its trace). */
export async function minedRevert(
  tx: ContractTransactionResponse,
  iface: Interface,
): Promise<{ name: string; args: unknown[] }> {
  const receipt = await tx.provider.getTransactionReceipt(tx.hash);
  if (receipt?.status !== 0) throw new Error(`transaction ${tx.hash} did not revert`);
  const trace = (await network.provider.send("debug_traceTransaction", [
    tx.hash,
    { disableStorage: true, disableMemory: true, disableStack: true },
  ])) as { returnValue: string };
  const parsed = iface.parseError(`0x${trace.returnValue.replace(/^0x/, "")}`);
  if (parsed === null) throw new Error(`transaction ${tx.hash} reverted with unknown data 0x${trace.returnValue}`);
  return { name: parsed.name, args: [...parsed.args] };
}
