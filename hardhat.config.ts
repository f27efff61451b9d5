import path from "node:path";

// First: Ignition's core loads when a deployment needs it, not with its plugin (tasks/support/lazy-modules.ts).
import "./tasks/support/lazy-modules";
// The toolbox's plugins one by one (what `@nomicfoundation/hardhat-toolbox` loads), so that each loads only
// where it is used: the gas reporter (the slowest to load) only with REPORT_GAS=1, the chai matchers and
// solidity-coverage not for ThingLedger's own tasks (below). Their types (chai's matchers, the `gasReporter`
// config) come from the type-only imports. Ignition's plugin loads hardhat-verify itself.
import "@nomicfoundation/hardhat-ethers";
import "@nomicfoundation/hardhat-verify";
import "@nomicfoundation/hardhat-ignition-ethers";
import "@typechain/hardhat";
import type {} from "@nomicfoundation/hardhat-chai-matchers";
import type {} from "hardhat-gas-reporter";
import { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, TASK_NODE_SERVER_CREATED } from "hardhat/builtin-tasks/task-names";
import { subtask, task } from "hardhat/config";
import type { HardhatUserConfig, NetworkUserConfig } from "hardhat/types";

import { oneLineHardhatErrors } from "./tasks/support/cli-errors";
import { liveNetworks, verifyApiKey } from "./tasks/support/networks";
import { loadPlugin } from "./tasks/support/plugins";
import "./tasks";

// For Hardhat's tasks (`test`, `coverage`, ...), not ThingLedger's own (tasks/support/plugins.ts).
loadPlugin("@nomicfoundation/hardhat-chai-matchers");
// With SOLIDITY_COVERAGE set, the plugin also sets up the in-process network, which any task may use.
const coverage = loadPlugin("solidity-coverage", () => Boolean(process.env.SOLIDITY_COVERAGE));
if (process.env.REPORT_GAS === "1") {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require("hardhat-gas-reporter");
}

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

// Under `hardhat coverage` the artifacts on disk are the instrumented ones. A task that a test spawns as a
// child process would recompile them to plain bytecode (every task compiles first), and every later test
// would deploy uninstrumented contracts and record no coverage. The flag tells such children not to.
// Coverage measures the contracts only, so by default it runs the suites that drive them (the contracts'
// own suites, their attack suites and the model-based invariants), not the services', CLI, browser and process
// suites, which `npm test` runs and which under instrumentation only slowed CI (35 min) and overran their
// services' RPC timeouts (the relay attack suite, then the AS's chain-state suite).
// `--testfiles` still picks any subset.
export const COVERAGE_TESTS =
  "test/{token/*,invariants/*,eip712/*,channels/PaymentChannels*,wallet/DeviceWallet*," +
  "registry/{Attack20,DeviceRef,DeviceRegistry,FrontRunning,RegistryBase,RewardPool}*," +
  "reputation/{Attack20d,CollectForRewards,DeviceReputation,PackedScores,ReputationModel,RewardConservation,UpdateScores}*}.test.ts";
if (coverage) {
  task("coverage", async (args: { testfiles?: string }, hre, runSuper) => {
    process.env.THINGLEDGER_COVERAGE_RUN = "1";
    // solidity-coverage matches `testfiles` from the current folder; one that matches nothing runs every suite.
    if (!args.testfiles) process.chdir(hre.config.paths.root);
    return runSuper({ ...args, testfiles: args.testfiles || COVERAGE_TESTS });
  });
}

// `hardhat node` keeps idle keep-alive connections open until the client closes them (Node's default
// closes them after 5 s and announces it in a `Keep-Alive: timeout=5` header, which clients then trust
// to within a second). On a loaded machine a client sent its next request on a connection the node was
// closing: "SocketError: other side closed" in the middle of a deployment. With no server timeout and no
// header, each client's own idle timeout (undici 4 s, Node's agent 5 s) always ends the connection first.
subtask(TASK_NODE_SERVER_CREATED, async (args: { server: unknown }, _hre, runSuper) => {
  const http = (args.server as { _httpServer?: { keepAliveTimeout: number } })._httpServer;
  if (http !== undefined) http.keepAliveTimeout = 0;
  return runSuper(args);
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
