import { formatEther } from "ethers";

import { formatThing } from "../units";
import { formatGas } from "./output";

/** What a fee-charging task would cost (`--dry-run`): nothing is sent. */
export interface CostPreview {
  dryRun: true;
  /** THING fees the run would charge, in base units. */
  fees: bigint;
  /** Each transaction it would send, with the node's gas estimate. */
  transactions: { action: string; gas: bigint }[];
  gas: bigint;
  /** The node's suggested price per gas (max fee per gas where EIP-1559 applies), in wei. */
  gasPrice: bigint;
  /** gas × gasPrice, in wei: the most the transactions should cost in ETH. */
  gasCost: bigint;
}

/** A preview for a person: the fees in THING, the gas, and its cost in ETH. */
export function describePreview(p: CostPreview): string {
  return [
    `Dry run: nothing was sent. Fees ${formatThing(p.fees)}; ${p.transactions.length} transaction(s), estimated gas ${formatGas(p.gas)}`,
    ...p.transactions.map((t) => `  ${t.action}: gas ${formatGas(t.gas)}`),
    `  at ${formatEther(p.gasPrice)} ETH per gas: up to ${formatEther(p.gasCost)} ETH`,
  ].join("\n");
}
