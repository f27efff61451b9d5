/** Hardhat's and Ganache's chain ids: a development node, with nothing worth caching and no provider's rate limit. */
export function isDevelopmentChain(chainId: number): boolean {
  return chainId === 31337 || chainId === 1337;
}

/** Lanes for a development node when `THINGLEDGER_INDEXER_RPC_LANES` is not set. */
export const DEFAULT_RPC_LANES = 4;

/** Whether `url` is a node on this machine (a fork with chain id 31337 behind a provider is not). */
function onThisMachine(url: string): boolean {
  try {
    return ["127.0.0.1", "localhost", "[::1]"].includes(new URL(url).hostname);
  } catch {
    return false;
  }
}

/**
 * The RPC URL(s) Ponder is given for a chain. Ponder starts each URL at 20 requests/s and raises that by 5% at a
 * time; a development node on this machine answers faster, and a catch-up of a few hundred requests then waits
 * on the cap, not on the node. For a development chain on this machine the one URL is listed `lanes` times
 * (default {@link DEFAULT_RPC_LANES}), each its own bucket of requests; any other (a provider's limits, or a
 * remote node) keeps one, and `lanes` is not read. Throws, in one line, on a `lanes` it reads that is not a
 * whole number from 1 to 16.
 */
export function ponderRpc(chainId: number, url: string, lanes?: string): string | string[] {
  if (!isDevelopmentChain(chainId) || !onThisMachine(url)) return url;
  const count = lanes === undefined ? DEFAULT_RPC_LANES : /^\d+$/.test(lanes) ? Number(lanes) : NaN;
  if (!(count >= 1 && count <= 16))
    throw new Error(`THINGLEDGER_INDEXER_RPC_LANES must be a whole number from 1 to 16, not "${lanes}"`);
  return Array.from({ length: count }, () => url);
}
