import path from "node:path";
import { fileURLToPath } from "node:url";

import { createConfig, factory } from "ponder";
import { getAbiItem } from "viem";
import type { Abi } from "viem";

import { deploymentFolder, readDeploymentBook } from "../src/chain/address-book";
import { isDevelopmentChain, ponderRpc } from "../src/indexer/rpc";
import {
  DeviceRegistry__factory,
  DeviceWalletFactory__factory,
  DeviceWallet__factory,
  PaymentChannels__factory,
  ThingToken__factory,
} from "../src/chain/factories";

/**
 * The indexer's configuration, all from the environment (`npx hardhat indexer` sets it from the network):
 * - THINGLEDGER_RPC_URL: the chain's JSON-RPC URL (default http://127.0.0.1:8545);
 * - THINGLEDGER_CHAIN_ID: its chain id (default 31337);
 * - THINGLEDGER_INDEXER_RPC_LANES: on a development chain (31337, 1337) on this machine, how many times its URL is given to
 *   Ponder, each with Ponder's own 20 requests/s to start with (default 4; see `ponderRpc`);
 * - THINGLEDGER_DEPLOYMENT_DIR: the Ignition deployment folder whose address book and journal give the
 *   addresses and start blocks (default deploy/deployments/<THINGLEDGER_DEPLOYMENT_ID or chain-<id>>);
 * - DATABASE_URL: Postgres; without it, embedded PGlite in THINGLEDGER_INDEXER_DATA (default indexer/.ponder/pglite).
 */
const root = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const chainId = Number(process.env.THINGLEDGER_CHAIN_ID ?? "31337");
const rpc = process.env.THINGLEDGER_RPC_URL ?? "http://127.0.0.1:8545";
const dir =
  process.env.THINGLEDGER_DEPLOYMENT_DIR ??
  deploymentFolder(path.join(root, "deploy", "deployments"), chainId, process.env.THINGLEDGER_DEPLOYMENT_ID);
const { addresses, startBlocks } = readDeploymentBook(dir);
const pglite = process.env.THINGLEDGER_INDEXER_DATA;

/** A system contract as Ponder follows it: its ABI, its address and start block from the address book. */
function contract<const A extends Abi>(name: keyof typeof addresses, abi: A) {
  return {
    abi,
    chain: "thingledger" as const,
    address: addresses[name] as `0x${string}`,
    startBlock: startBlocks[name],
  };
}

export default createConfig({
  database:
    process.env.DATABASE_URL !== undefined
      ? { kind: "postgres", connectionString: process.env.DATABASE_URL }
      : { kind: "pglite", directory: pglite },
  chains: {
    // A development chain's blocks are not worth caching: its node restarts with the same chain id.
    // Ponder polls the head with a full block (`eth_getBlockByNumber("latest", true)`) every interval, whether
    // the last poll answered or not: at 500 ms they piled onto a busy node, and onto Ponder's one thread (PGlite's
    // too), while a catch-up fetched and indexed its last 30 (unfinalized) blocks; 1 s is Ponder's default.
    // A development node's URL is listed THINGLEDGER_INDEXER_RPC_LANES times (default 4), lifting Ponder's
    // 20 requests/s per URL (`ponderRpc`).
    thingledger: {
      id: chainId,
      rpc: ponderRpc(chainId, rpc, process.env.THINGLEDGER_INDEXER_RPC_LANES),
      pollingInterval: 1000,
      disableCache: isDevelopmentChain(chainId),
    },
  },
  contracts: {
    DeviceRegistry: contract("DeviceRegistry", DeviceRegistry__factory.abi),
    ThingToken: contract("ThingToken", ThingToken__factory.abi),
    PaymentChannels: contract("PaymentChannels", PaymentChannels__factory.abi),
    DeviceWalletFactory: contract("DeviceWalletFactory", DeviceWalletFactory__factory.abi),
    // Every wallet the factory creates (an EIP-1167 clone), followed from its `WalletCreated` event on.
    DeviceWallet: {
      abi: DeviceWallet__factory.abi,
      chain: "thingledger" as const,
      address: factory({
        address: addresses.DeviceWalletFactory as `0x${string}`,
        event: getAbiItem({ abi: DeviceWalletFactory__factory.abi, name: "WalletCreated" }),
        parameter: "wallet",
      }),
      startBlock: startBlocks.DeviceWalletFactory,
    },
  },
});
