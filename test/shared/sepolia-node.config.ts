import path from "node:path";

import type { HardhatUserConfig } from "hardhat/types";

import config from "../../hardhat.config";

/**
 * A `hardhat node` that answers as Sepolia (chain 11155111), so the testnet deployment guide can be run
 * as written, offline: `npx hardhat node --config test/shared/sepolia-node.config.ts`.
 */
const sepoliaNode: HardhatUserConfig = {
  ...config,
  paths: { ...config.paths, root: path.join(__dirname, "..", "..") },
  networks: { ...config.networks, hardhat: { ...config.networks?.hardhat, chainId: 11155111 } },
};

export default sepoliaNode;
