import fs from "node:fs";
import os from "node:os";
import http from "node:http";
import path from "node:path";

import { expect } from "chai";
import { FetchRequest, JsonRpcProvider } from "ethers";

import { IgnitionError } from "@nomicfoundation/ignition-core";
import { HardhatPluginError } from "hardhat/plugins";

import { ignitionProblem } from "../../tasks/support/deployments";
import { coverageRunning } from "../shared/gas";
import { ROOT, errorLines, hardhat, startNode } from "../shared/cli";
import type { LocalNode } from "../shared/cli";

const TREASURY = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

/** A provider without keep-alive: the node restarts under it, and each task runs in a blocking child. */
function providerFor(url: string): JsonRpcProvider {
  const request = new FetchRequest(url);
  request.getUrlFunc = FetchRequest.createGetUrlFunc({ agent: new http.Agent({ keepAlive: false }) });
  return new JsonRpcProvider(request, undefined, { staticNetwork: true });
}

/**
 * A development node that restarts forgets the chain the address book describes: the tasks and `deploy`
 * must say so, and `deploy --reset` must get the user out, instead of "no code there, deploy it" followed
 * by "Nothing new to deploy".
 */
describe("a local node that restarted since deployment", function () {
  this.timeout(600_000);

  let node: LocalNode | undefined;
  let env: NodeJS.ProcessEnv;
  let id: string;
  let deploymentDir: string;

  before(function () {
    // Child processes recompile the contracts, which would overwrite coverage's instrumented build.
    if (coverageRunning()) this.skip();
    id = `test-reset-${process.pid}-${Date.now()}`;
    deploymentDir = path.join(ROOT, "deploy", "deployments", id);
  });

  after(async function () {
    await node?.stop();
    if (deploymentDir !== undefined) fs.rmSync(deploymentDir, { recursive: true, force: true });
  });

  it("tasks and deploy say the chain was reset, in one line naming --reset; deploy --reset says what it discards and redeploys", async function () {
    node = await startNode();
    env = { THINGLEDGER_LOCALHOST_URL: node.url, THINGLEDGER_DEPLOYMENT_ID: id };
    const port = Number(new URL(node.url).port);
    const first = hardhat(["deploy", "--network", "localhost", "--json"], env);
    expect(first.status, first.stderr).to.equal(0);
    const deployed = JSON.parse(first.stdout) as { addresses: Record<string, string> };
    const recordFile = path.join(deploymentDir, "thingledger-chain.json");
    const genesis = (await providerFor(node.url).getBlock(0))?.hash;
    expect(JSON.parse(fs.readFileSync(recordFile, "utf8"))).to.deep.equal({ chainId: "31337", genesisHash: genesis });

    await node.stop();
    node = await startNode(undefined, port);
    const restarted = providerFor(node.url);
    const newGenesis = (await restarted.getBlock(0))?.hash;
    expect(newGenesis).to.not.equal(genesis);
    const book = fs.readFileSync(path.join(deploymentDir, "deployed_addresses.json"), "utf8");

    const advice = new RegExp(
      `^Error: network "localhost" is a different chain from the one deployment ${id} was made on, with the same chain id 31337 \\(its genesis block is ${newGenesis?.slice(0, 10)}…, not ${genesis?.slice(0, 10)}… as recorded at deployment: another node, or a development node that restarted\\): redeploy with npx hardhat deploy --network localhost --reset, or point the network at the node it was made on$`,
    );
    const task = hardhat(["token:balance", "--network", "localhost"], env);
    expect(task.status).to.equal(1);
    expect(errorLines(task)).to.have.length(1);
    expect(errorLines(task)[0]).to.match(advice);

    // Not "Nothing new to deploy": the same advice, and nothing sent or changed.
    const again = hardhat(["deploy", "--network", "localhost"], env);
    expect(again.status).to.equal(1);
    expect(again.stdout).to.not.contain("Nothing new to deploy");
    expect(errorLines(again)).to.have.length(1);
    expect(errorLines(again)[0]).to.match(advice);
    expect(await restarted.getBlockNumber()).to.equal(0);
    expect(fs.readFileSync(path.join(deploymentDir, "deployed_addresses.json"), "utf8")).to.equal(book);

    const reset = hardhat(["deploy", "--network", "localhost", "--reset"], env);
    expect(reset.status, reset.stderr).to.equal(0);
    const lines = reset.stdout.split("\n");
    const announced = lines.indexOf(
      `Discarding deployment ${id} of network "localhost": ${path.join("deploy", "deployments", id)} (Ignition's journal and address book)`,
    );
    expect(announced, reset.stdout).to.be.greaterThanOrEqual(0);
    for (const [i, name] of ["ThingToken", "DeviceRegistry", "PaymentChannels", "DeviceWalletFactory"].entries()) {
      expect(lines[announced + 1 + i]).to.equal(`  ${name.padEnd(16)} ${deployed.addresses[name]}`);
    }
    expect(reset.stdout).to.not.contain("Nothing new to deploy");
    expect(await restarted.getCode(deployed.addresses.ThingToken)).to.not.equal("0x");
    expect(JSON.parse(fs.readFileSync(recordFile, "utf8"))).to.deep.equal({
      chainId: "31337",
      genesisHash: newGenesis,
    });

    const balance = hardhat(["token:balance", "--network", "localhost", "--json"], env);
    expect(balance.status, balance.stderr).to.equal(0);
    expect(JSON.parse(balance.stdout)).to.include({ account: TREASURY, balance: (10n ** 27n).toString() });
  });

  it("deploy over a journal Ignition refuses (an IGN error) says so in one line naming --reset; --reset gets out", async function () {
    if (node === undefined) this.skip();
    const provider = providerFor(node.url);
    const journal = path.join(deploymentDir, "journal.jsonl");
    // A journal left by a run against another chain: Ignition refuses it with IGN900, as it refuses any
    // state a previous (killed) run left that it cannot continue from.
    const broken = fs.readFileSync(journal, "utf8").replace('"chainId":31337', '"chainId":1337');
    expect(broken).to.contain('"chainId":1337');
    fs.writeFileSync(journal, broken);
    const blocks = await provider.getBlockNumber();
    const refused = hardhat(["deploy", "--network", "localhost"], env);
    expect(refused.status).to.equal(1);
    expect(errorLines(refused)).to.deep.equal([
      `Error: Ignition cannot go on with deployment ${id} on network "localhost" (IGN900: The deployment's chain cannot be changed between runs. The deployment was previously run against the chain 1337, but the current network is the chain 31337.): run npx hardhat deploy --network localhost --reset, which discards ${path.join("deploy", "deployments", id)} (Ignition's journal and address book of that deployment) and deploys afresh`,
    ]);
    expect(await provider.getBlockNumber(), "nothing was sent").to.equal(blocks);
    expect(fs.readFileSync(journal, "utf8")).to.equal(broken);

    // Its contracts still have code on this chain: discarding the deployment takes --yes off a terminal.
    const reset = hardhat(["deploy", "--network", "localhost", "--reset", "--yes", "--json"], env);
    expect(reset.status, reset.stderr).to.equal(0);
    const redeployed = JSON.parse(reset.stdout) as { addresses: Record<string, string> };
    expect(fs.readFileSync(journal, "utf8")).to.contain('"chainId":31337');
    expect(await provider.getCode(redeployed.addresses.ThingToken)).to.not.equal("0x");
  });

  it("attack: --reset of a deployment that still works, or whose address book does not parse, asks first (off a terminal: refused without --yes), and a deployment id naming another folder is refused; nothing removed", async function () {
    if (node === undefined) this.skip();
    const book = fs.readFileSync(path.join(deploymentDir, "deployed_addresses.json"), "utf8");
    const folder = path.join("deploy", "deployments", id);
    const kept = hardhat(["deploy", "--network", "localhost", "--reset", "--json"], env);
    expect(kept.status).to.equal(1);
    expect(JSON.parse(kept.stdout)).to.deep.equal({
      error: `--reset: deployment ${id} of network "localhost" still works on this chain (it was not reset; its contracts have code); discarding ${folder} loses its address book: pass --yes to discard it anyway, nothing was changed`,
    });
    expect(fs.readFileSync(path.join(deploymentDir, "deployed_addresses.json"), "utf8")).to.equal(book);

    // An address book that does not parse cannot be checked: it is kept as a working one is (it was discarded).
    const bookFile = path.join(deploymentDir, "deployed_addresses.json");
    const torn = book.slice(0, book.length / 2);
    fs.writeFileSync(bookFile, torn);
    try {
      const unparsed = hardhat(["deploy", "--network", "localhost", "--reset", "--json"], env);
      expect(unparsed.status).to.equal(1);
      expect(JSON.parse(unparsed.stdout)).to.deep.equal({
        error: `--reset: ${path.join(folder, "deployed_addresses.json")} of deployment ${id} of network "localhost" does not parse, so whether the deployment still works on this chain is unknown; discarding ${folder} loses its address book: pass --yes to discard it anyway, nothing was changed`,
      });
      expect(fs.readFileSync(bookFile, "utf8")).to.equal(torn);
      expect(fs.existsSync(path.join(deploymentDir, "journal.jsonl"))).to.equal(true);
    } finally {
      fs.writeFileSync(bookFile, book);
    }

    // A mistyped or hostile id must never name a folder outside deploy/deployments (--reset removes it).
    const victim = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-victim-"));
    try {
      fs.writeFileSync(path.join(victim, "keep.txt"), "precious");
      const outside = path.relative(path.join(ROOT, "deploy", "deployments"), victim);
      const refused = hardhat(["deploy", "--network", "localhost", "--reset", "--yes"], {
        ...env,
        THINGLEDGER_DEPLOYMENT_ID: outside,
      });
      expect(refused.status).to.equal(1);
      expect(errorLines(refused)).to.deep.equal([
        `Error: THINGLEDGER_DEPLOYMENT_ID "${outside}" is not a deployment id: letters, digits, "-" and "_" only, starting with a letter`,
      ]);
      expect(fs.readFileSync(path.join(victim, "keep.txt"), "utf8")).to.equal("precious");
    } finally {
      fs.rmSync(victim, { recursive: true, force: true });
    }
  });
});

/** Which of Ignition's failures `deploy` answers with the --reset line (the rest stay as they are). */
describe("deploy: Ignition's refusals to continue a deployment", function () {
  it("an IGN error, a reconciliation or previous-run failure and an unreadable journal line are one line; a validation error or another error is not Ignition's journal", function () {
    const ign = new IgnitionError(
      { number: 405, message: "The next nonce for %sender% should be 3,\nbut is 4." },
      {
        sender: "0xabc",
      },
    );
    expect(ignitionProblem(ign)).to.equal("IGN405: The next nonce for 0xabc should be 3, but is 4.");
    const reconciliation = new HardhatPluginError(
      "hardhat-ignition-viem",
      "The deployment wasn't run because of the following reconciliation errors:\n\n  * ThingToken#ThingToken: The artifact bytecode has been changed",
    );
    expect(ignitionProblem(reconciliation)).to.equal(
      "The deployment wasn't run because of the following reconciliation errors: * ThingToken#ThingToken: The artifact bytecode has been changed",
    );
    expect(ignitionProblem(new Error('Could not parse row {"futureId":"Thing...'))).to.equal(
      'Could not parse row {"futureId":"Thing...',
    );
    const validation = new HardhatPluginError(
      "hardhat-ignition-viem",
      "The deployment wasn't run because of the following validation errors:\n\n  * ThingToken#ThingToken: bad",
    );
    expect(ignitionProblem(validation)).to.equal(undefined);
    expect(ignitionProblem(new HardhatPluginError("thingledger", "IGN-like but ours"))).to.equal(undefined);
    expect(ignitionProblem(new Error("connect ECONNREFUSED"))).to.equal(undefined);
  });
});
