import { spawnSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import { FetchRequest, JsonRpcProvider, Wallet } from "ethers";

import { coverageRunning } from "../shared/gas";
import { ROOT, errorLines, hardhat, startNode } from "../shared/cli";
import type { CliResult, LocalNode } from "../shared/cli";

/** Hardhat's well-known first development account: public, standing in for a deployer's secret key. */
const DEPLOYER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const DEPLOYER = new Wallet(DEPLOYER_KEY).address;

/**
 * The README's testnet guide, run as written against a `hardhat node` that answers as Sepolia (chain
 * 11155111): the RPC URL and the key come from the environment, the parameters from a copy of
 * `sepolia.example.json`. Only the explorer is out of reach offline.
 */
describe("the testnet deployment guide, on a node that answers as Sepolia", function () {
  this.timeout(600_000);

  let node: LocalNode;
  let provider: JsonRpcProvider;
  let scratch: string;
  let deploymentDir: string;
  let env: NodeJS.ProcessEnv;
  let parameters: string;
  const outputs: CliResult[] = [];

  /** Runs `npx hardhat ...args --network sepolia` and keeps its output, to check no key is ever printed. */
  function sepolia(args: string[], extra: NodeJS.ProcessEnv = {}): CliResult {
    const result = hardhat([...args, "--network", "sepolia"], { ...env, ...extra });
    outputs.push(result);
    return result;
  }

  /**
   * The same on a terminal (util-linux `script` gives it one), typing `input`; the terminal merges stderr
   * into stdout. Undefined where `script` is missing.
   */
  function sepoliaOnTerminal(args: string[], input: string): CliResult | undefined {
    const command = ["npx", "hardhat", ...args, "--network", "sepolia"].map((a) => `'${a}'`).join(" ");
    const run = spawnSync("script", ["-qec", command, "/dev/null"], {
      cwd: ROOT,
      env: { ...process.env, ...env, FORCE_COLOR: "0", NO_COLOR: "1" },
      input,
      encoding: "utf8",
      timeout: 180_000,
    });
    if (run.error !== undefined) return undefined;
    const result = { status: run.status, stdout: run.stdout, stderr: run.stderr };
    outputs.push(result);
    return result;
  }

  before(async function () {
    // Child processes recompile the contracts, which would overwrite coverage's instrumented build.
    if (coverageRunning()) this.skip();
    node = await startNode("test/shared/sepolia-node.config.ts");
    // No keep-alive: each task below runs in a blocking child process, long enough for the node to close an
    // idle pooled socket, and the next request on it would fail with "socket hang up".
    const request = new FetchRequest(node.url);
    request.getUrlFunc = FetchRequest.createGetUrlFunc({ agent: new http.Agent({ keepAlive: false }) });
    provider = new JsonRpcProvider(request);
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-testnet-"));
    const id = `test-sepolia-${process.pid}-${Date.now()}`;
    deploymentDir = path.join(ROOT, "deploy", "deployments", id);
    env = {
      SEPOLIA_RPC_URL: node.url,
      DEPLOYER_PRIVATE_KEY: DEPLOYER_KEY,
      ETHERSCAN_API_KEY: "",
      THINGLEDGER_DEPLOYMENT_ID: id,
    };
    // "cp deploy/parameters/sepolia.example.json ...", kept out of the repository.
    parameters = path.join(scratch, "sepolia.json");
    fs.copyFileSync(path.join(ROOT, "deploy", "parameters", "sepolia.example.json"), parameters);
  });

  after(async function () {
    await node?.stop();
    if (deploymentDir !== undefined) fs.rmSync(deploymentDir, { recursive: true, force: true });
    if (scratch !== undefined) fs.rmSync(scratch, { recursive: true, force: true });
  });

  it("refuses with one line, sending nothing: no RPC URL, no key, unfilled parameters, the wrong chain", async function () {
    const noUrl = sepolia(["deploy", "--parameters", parameters], { SEPOLIA_RPC_URL: "" });
    expect(errorLines(noUrl)).to.deep.equal([
      'Error: network "sepolia" has no RPC URL: set SEPOLIA_RPC_URL (environment, or `npx hardhat vars set SEPOLIA_RPC_URL`)',
    ]);
    const unfilled = sepolia(["deploy", "--parameters", parameters]);
    expect(errorLines(unfilled)).to.deep.equal([
      `Error: ${parameters}: ThingToken.treasury must be an address, got "0xYOUR_TREASURY_MULTISIG"`,
    ]);
    const example = fs.readFileSync(parameters, "utf8");
    fs.writeFileSync(parameters, example.replace(/0xYOUR_[A-Z_]+/g, DEPLOYER));
    const noKey = sepolia(["deploy", "--parameters", parameters], { DEPLOYER_PRIVATE_KEY: "" });
    expect(errorLines(noKey)).to.deep.equal([
      'Error: network "sepolia" has no accounts: set DEPLOYER_PRIVATE_KEY (environment or `npx hardhat vars set DEPLOYER_PRIVATE_KEY`)',
    ]);
    const port = new URL(node.url).port;
    const wrongChain = hardhat(["deploy", "--network", "baseSepolia"], { ...env, BASE_SEPOLIA_RPC_URL: node.url });
    outputs.push(wrongChain);
    expect(errorLines(wrongChain)).to.deep.equal([
      `Error: network "baseSepolia" at 127.0.0.1:${port} is chain 11155111, not chain 84532: check BASE_SEPOLIA_RPC_URL`,
    ]);
    // An RPC URL often carries an API key: only its host is shown.
    const unreachable = sepolia(["token:balance"], { SEPOLIA_RPC_URL: "http://127.0.0.1:9/v3/SECRET-PROJECT-KEY" });
    expect(errorLines(unreachable)).to.deep.equal([
      'Error: cannot reach network "sepolia" at 127.0.0.1:9: check SEPOLIA_RPC_URL',
    ]);
    // A live deployment is confirmed first: without a terminal to ask on, --yes is required.
    const unconfirmed = sepolia(["deploy", "--parameters", parameters]);
    expect(errorLines(unconfirmed)).to.deep.equal([
      'Error: deploying to live network "sepolia" needs a confirmation: run it in a terminal, or pass --yes',
    ]);
    const reset = sepolia(["deploy", "--parameters", parameters, "--reset", "--yes"]);
    expect(errorLines(reset)).to.deep.equal([
      `Error: --reset: a live chain does not reset, so deployment ${path.basename(deploymentDir)} on "sepolia" stays; for a new deployment set THINGLEDGER_DEPLOYMENT_ID to a new id`,
    ]);
    const notDeployed = sepolia(["token:balance"]);
    expect(errorLines(notDeployed)[0]).to.match(
      /^Error: ThingLedger is not deployed on network "sepolia" \(chain 11155111\).*Deploy it with: npx hardhat deploy --network sepolia$/,
    );
    expect(await provider.getBlockNumber()).to.equal(0);
    expect(fs.existsSync(deploymentDir)).to.equal(false);
  });

  it("on a terminal, shows the network, the deployer, its balance and the parameters, and sends nothing unless confirmed", async function () {
    const declined = sepoliaOnTerminal(["deploy", "--parameters", parameters], "n\n");
    if (declined === undefined) this.skip();
    expect(declined.status, declined.stdout).to.equal(1);
    const screen = declined.stdout.replace(/\r/g, "");
    expect(screen).to.contain("Network:    sepolia (chain 11155111)\n");
    expect(screen).to.contain(`Deployer:   ${DEPLOYER} (balance 10000.0 ETH)\n`);
    expect(screen).to.contain(`Parameters: {"ThingToken":{"treasury":"${DEPLOYER}"`);
    expect(screen).to.contain("Deploy ThingLedger to sepolia (chain 11155111)? [y/N] ");
    expect(screen).to.contain("Error: deployment cancelled: nothing was sent\n");
    expect(await provider.getBlockNumber()).to.equal(0);
    expect(fs.existsSync(deploymentDir)).to.equal(false);
  });

  it("deploys with the key from the environment, re-runs idempotently, and the demo runs with that one key", async function () {
    const first = sepolia(["deploy", "--parameters", parameters, "--json", "--yes"]);
    expect(first.status, first.stderr).to.equal(0);
    const deployed = JSON.parse(first.stdout) as {
      chainId: string;
      addresses: Record<string, string>;
      gasUsed: string;
    };
    expect(deployed.chainId).to.equal("11155111");
    expect(Number(deployed.gasUsed)).to.be.greaterThan(5_000_000);
    const book = JSON.parse(fs.readFileSync(path.join(deploymentDir, "deployed_addresses.json"), "utf8")) as Record<
      string,
      string
    >;
    expect(Object.values(book)).to.include.members(Object.values(deployed.addresses));
    for (const address of Object.values(deployed.addresses)) {
      expect(await provider.getCode(address)).to.not.equal("0x");
    }

    const blocks = await provider.getBlockNumber();
    const again = sepolia(["deploy", "--parameters", parameters, "--json", "--yes"]);
    expect(again.status, again.stderr).to.equal(0);
    expect(JSON.parse(again.stdout)).to.deep.include({ addresses: deployed.addresses, gasUsed: "0" });
    expect(await provider.getBlockNumber()).to.equal(blocks);

    // The network has one account, so the demo funds a fresh cast from it and runs every step.
    const demo = sepolia(["demo", "--json"]);
    expect(demo.status, demo.stderr).to.equal(0);
    const result = JSON.parse(demo.stdout) as { steps: { title: string }[] };
    expect(result.steps).to.have.length(23);
    expect(result.steps[22].title).to.equal("The auditor withdraws its reward");
  });

  it("verify:system checks the network, the address book and the API key, each in one line", function () {
    const local = hardhat(["verify:system"]);
    expect(errorLines(local)).to.deep.equal([
      'Error: network "hardhat" has no block explorer: verify:system is for sepolia, baseSepolia, optimismSepolia, arbitrumSepolia',
    ]);
    const noKey = sepolia(["verify:system"]);
    expect(errorLines(noKey)).to.deep.equal([
      "Error: verify:system needs an explorer API key: set ETHERSCAN_API_KEY (environment, or `npx hardhat vars set ETHERSCAN_API_KEY`)",
    ]);
    const otherBook = sepolia(["verify:system"], { THINGLEDGER_DEPLOYMENT_ID: "test-none", ETHERSCAN_API_KEY: "k" });
    expect(errorLines(otherBook)[0]).to.match(/^Error: ThingLedger is not deployed on network "sepolia"/);
    // With a key, the explorer itself is what is out of reach offline; that too is one line.
    const offline = sepolia(["verify:system"], { ETHERSCAN_API_KEY: "k" });
    expect(offline.status).to.equal(1);
    expect(errorLines(offline).filter((l) => l.startsWith("Error:"))).to.have.length(1);
    expect(errorLines(offline).at(-1)).to.match(
      /failed .*: check ETHERSCAN_API_KEY and that the explorer is reachable$/,
    );
  });

  it("never prints the deployer's key", function () {
    expect(outputs.length).to.be.greaterThan(8);
    for (const { stdout, stderr } of outputs) {
      expect(stdout + stderr).to.not.contain(DEPLOYER_KEY.slice(2));
      expect(stdout + stderr).to.not.contain("SECRET-PROJECT-KEY");
    }
  });
});
