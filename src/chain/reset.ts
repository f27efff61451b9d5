import type { Provider } from "ethers";

/** What a deployment records about the chain it was made on, to recognise that chain later. */
export interface ChainRecord {
  readonly chainId: string;
  /** Hash of block 0: a restarted development node keeps its chain id but gets a new genesis block. */
  readonly genesisHash: string;
}

/**
 * How a deployment's chain is gone: `reset` (the same genesis block, but none of its contracts has code),
 * `other-chain` (another genesis block: another node with the same chain id, or a development node that
 * restarted), `reset-or-other` (no genesis block recorded, an older deployment: none of its contracts has code).
 */
export type ChainGone = "reset" | "other-chain" | "reset-or-other";

/** What a chain looks like next to a deployment's address book. */
export interface ChainCheck {
  /** Why the chain is not the one the deployment was made on, or undefined if it is. */
  readonly reset?: string;
  /** Which way it is not (set with `reset`). */
  readonly gone?: ChainGone;
  /** The book's addresses that have no code on this chain. */
  readonly withoutCode: readonly string[];
}

/** The chain's identity as a deployment records it. */
export async function chainRecord(provider: Provider): Promise<ChainRecord> {
  const [network, genesis] = await Promise.all([provider.getNetwork(), provider.getBlock(0)]);
  return { chainId: network.chainId.toString(), genesisHash: genesis?.hash ?? "" };
}

/**
 * Compares the chain behind `provider` with a deployment: it is another chain when its genesis block
 * differs from `recorded`, and it was reset when none of the book's `addresses` has code any more (with
 * the recorded genesis block; an address book written before genesis hashes were recorded has none, so
 * there it may be either). Some contracts without code, but not all, is not a reset (it is reported in
 * `withoutCode`).
 */
export async function checkChain(
  provider: Provider,
  addresses: readonly string[],
  recorded?: ChainRecord,
): Promise<ChainCheck> {
  const [genesis, codes] = await Promise.all([
    recorded === undefined ? undefined : provider.getBlock(0),
    Promise.all(addresses.map((a) => provider.getCode(a))),
  ]);
  const withoutCode = addresses.filter((_, i) => codes[i] === "0x");
  if (recorded !== undefined && genesis?.hash !== recorded.genesisHash) {
    return {
      reset: `its genesis block is ${short(genesis?.hash)}, not ${short(recorded.genesisHash)} as recorded at deployment`,
      gone: "other-chain",
      withoutCode,
    };
  }
  if (addresses.length > 0 && withoutCode.length === addresses.length) {
    const none = `none of the deployment's ${addresses.length} contracts has code on it`;
    return recorded === undefined
      ? { reset: `${none}; the deployment recorded no genesis block`, gone: "reset-or-other", withoutCode }
      : { reset: `its genesis block is the recorded one, but ${none}`, gone: "reset", withoutCode };
  }
  return { withoutCode };
}

function short(hash: string | null | undefined): string {
  return hash === null || hash === undefined ? "missing" : `${hash.slice(0, 10)}…`;
}
