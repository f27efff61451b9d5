import path from "node:path";

import "@nomicfoundation/hardhat-toolbox";
import { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD } from "hardhat/builtin-tasks/task-names";
import { subtask } from "hardhat/config";
import type { HardhatUserConfig, NetworkUserConfig } from "hardhat/types";

import { oneLineHardhatErrors } from "./tasks/support/cli-errors";
import { liveNetworks, verifyApiKey } from "./tasks/support/networks";
import "./tasks";

/** The one Solidity version this project compiles with; it must equal the pinned npm `solc`. */
export const SOLIDITY_VERSION = "0.8.30";

// binaries.soliditylang.org is unreachable here and in CI: compile with the pinned solc-js from npm.
subtask(TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, async (args: { solcVersion: string }, _hre, runSuper) => {
  if (args.solcVersion !== SOLIDITY_VERSION) {
    return runSuper(args);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const solc = require("solc") as { version(): string };
  const compilerPath = path.join(path.dirname(require.resolve("solc/package.json")), "soljson.js");
  return { compilerPath, isSolcJs: true, version: args.solcVersion, longVersion: solc.version() };
});

const networks: Record<string, NetworkUserConfig> = {
  hardhat: {
    // The in-process network: the embedded default, no keys or config needed. Hardhat 2.29 runs it
    // under Osaka rules (EIP-7623 calldata floor, EIP-7825 per-transaction gas cap), the harshest today.
  },
  localhost: {
    url: process.env.THINGLEDGER_LOCALHOST_URL ?? "http://127.0.0.1:8545",
  },
  ...liveNetworks(),
};

oneLineHardhatErrors(Object.keys(networks));

const config: HardhatUserConfig = {
  solidity: {
    version: SOLIDITY_VERSION,
    settings: {
      optimizer: { enabled: true, runs: 10_000 },
      evmVersion: "cancun",
      viaIR: true,
      metadata: { bytecodeHash: "none" },
    },
  },
  networks,
  paths: {
    sources: "./contracts",
    tests: "./test",
    cache: "./cache",
    artifacts: "./artifacts",
    ignition: "./deploy",
  },
  typechain: {
    outDir: "typechain-types",
    target: "ethers-v6",
  },
  mocha: {
    timeout: 120_000,
  },
  gasReporter: {
    enabled: process.env.REPORT_GAS === "1",
    offline: true,
  },
  etherscan: {
    apiKey: verifyApiKey(),
  },
  sourcify: {
    enabled: false,
  },
};

export default config;
