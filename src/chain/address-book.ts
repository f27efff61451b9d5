import fs from "node:fs";
import path from "node:path";

import { UserError } from "../errors";
import { SYSTEM_CONTRACTS } from "./context";
import type { SystemAddresses, SystemContract } from "./context";

/** A deployment as its Ignition folder records it: every contract's address and the block it was deployed in. */
export interface DeploymentBook {
  readonly addresses: SystemAddresses;
  /** The block of each contract's deployment transaction (0 when the journal does not say). */
  readonly startBlocks: Record<SystemContract, number>;
}

/** The folder of a deployment: `<deployments>/<THINGLEDGER_DEPLOYMENT_ID or chain-<id>>`. */
export function deploymentFolder(deploymentsRoot: string, chainId: number | bigint, id?: string): string {
  const name = id ?? `chain-${chainId}`;
  if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(name))
    throw new UserError(
      `deployment id "${name}" is not one: letters, digits, "-" and "_" only, starting with a letter`,
    );
  return path.join(deploymentsRoot, name);
}

/** The block of each future's confirmed transaction in Ignition's journal (`journal.jsonl`), if any. */
function confirmedBlocks(dir: string): Map<string, number> {
  const blocks = new Map<string, number>();
  const file = path.join(dir, "journal.jsonl");
  if (!fs.existsSync(file)) return blocks;
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    if (!line.includes('"TRANSACTION_CONFIRM"')) continue;
    try {
      const entry = JSON.parse(line) as { futureId?: string; receipt?: { blockNumber?: number } };
      const block = entry.receipt?.blockNumber;
      if (entry.futureId !== undefined && typeof block === "number" && !blocks.has(entry.futureId))
        blocks.set(entry.futureId, block);
    } catch {
      // A torn last line after a kill: Ignition itself refuses that journal; its blocks are only a start hint.
    }
  }
  return blocks;
}

/**
 * Reads a deployment's address book (`deployed_addresses.json`) and, from Ignition's journal, the block
 * each contract was deployed in: the one copy of the addresses, for anything that is not a Hardhat task
 * (the indexer). Fails with one line when the book is missing or lacks a contract.
 */
export function readDeploymentBook(dir: string): DeploymentBook {
  const file = path.join(dir, "deployed_addresses.json");
  if (!fs.existsSync(file))
    throw new UserError(`no address book at ${file}: deploy first (npx hardhat deploy --network <name>)`);
  let book: Record<string, unknown>;
  try {
    book = JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch (error) {
    throw new UserError(`the address book ${file} is not valid JSON: ${(error as Error).message}`);
  }
  const blocks = confirmedBlocks(dir);
  const addresses = {} as Record<SystemContract, string>;
  const startBlocks = {} as Record<SystemContract, number>;
  for (const [name, future] of Object.entries(SYSTEM_CONTRACTS) as [SystemContract, string][]) {
    const address = book[future];
    if (typeof address !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(address))
      throw new UserError(`the address book ${file} has no address for ${future}`);
    addresses[name] = address;
    startBlocks[name] = blocks.get(future) ?? 0;
  }
  return { addresses, startBlocks };
}
