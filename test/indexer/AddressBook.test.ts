import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import hre from "hardhat";

import { deploymentFolder, readDeploymentBook } from "../../src/chain/address-book";
import { SYSTEM_CONTRACTS } from "../../src/chain/context";
import { UserError } from "../../src/errors";

const ADDRESSES = {
  ThingToken: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
  DeviceRegistry: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
  PaymentChannels: "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0",
  DeviceWalletFactory: "0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9",
};

/** The indexer's one reader of Ignition's address book and journal, and the task's refusals. */
describe("indexer: address book and task", function () {
  let dir: string;

  beforeEach(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-book-"));
  });
  afterEach(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function writeBook(book: Record<string, string>, journal?: string): void {
    fs.writeFileSync(path.join(dir, "deployed_addresses.json"), JSON.stringify(book));
    if (journal !== undefined) fs.writeFileSync(path.join(dir, "journal.jsonl"), journal);
  }
  const fullBook = () =>
    Object.fromEntries(
      Object.entries(SYSTEM_CONTRACTS).map(([name, future]) => [future, ADDRESSES[name as "ThingToken"]]),
    );

  it("reads every address, and each start block from the journal's confirmed deployment", function () {
    const confirm = (futureId: string, blockNumber: number) =>
      JSON.stringify({ type: "TRANSACTION_CONFIRM", futureId, hash: "0x01", receipt: { blockNumber } });
    const journal = [
      JSON.stringify({ type: "DEPLOYMENT_EXECUTION_STATE_INITIALIZE", futureId: "ThingToken#ThingToken" }),
      confirm("ThingToken#ThingToken", 3),
      confirm("DeviceRegistry#DeviceRegistry", 5),
      confirm("DeviceRegistry#DeviceRegistry", 9), // a later call of the same future: the first block stays
      '{"type":"TRANSACTION_CONFIRM","futureId":"PaymentCh', // torn last line of a killed run
    ].join("\n");
    writeBook(fullBook(), journal);
    const book = readDeploymentBook(dir);
    expect(book.addresses).to.deep.equal(ADDRESSES);
    expect(book.startBlocks).to.deep.equal({
      ThingToken: 3,
      DeviceRegistry: 5,
      PaymentChannels: 0,
      DeviceWalletFactory: 0,
    });
  });

  it("refuses a missing book, a malformed one, or one without a contract, in one line", function () {
    expect(() => readDeploymentBook(dir)).to.throw(UserError, /^no address book at .*: deploy first/);
    fs.writeFileSync(path.join(dir, "deployed_addresses.json"), "{");
    expect(() => readDeploymentBook(dir)).to.throw(UserError, /is not valid JSON/);
    const book = fullBook();
    delete book["PaymentChannels#PaymentChannels"];
    writeBook(book);
    expect(() => readDeploymentBook(dir)).to.throw(UserError, /has no address for PaymentChannels#PaymentChannels$/);
    writeBook({ ...fullBook(), "ThingToken#ThingToken": "0x1234" });
    expect(() => readDeploymentBook(dir)).to.throw(UserError, /has no address for ThingToken#ThingToken$/);
  });

  it("names the deployment folder by id, refusing an id that would leave the deployments folder", function () {
    expect(deploymentFolder("/d", 31337n)).to.equal(path.join("/d", "chain-31337"));
    expect(deploymentFolder("/d", 1, "test-1")).to.equal(path.join("/d", "test-1"));
    expect(() => deploymentFolder("/d", 1, "../x")).to.throw(UserError, /is not one/);
  });

  // The in-process network is served to the indexer now (test/indexer/InProcess.test.ts); a bad port is
  // refused in one line before anything starts.
  it("the indexer task refuses a port that is not one, before it starts anything", async function () {
    await expect(hre.run("indexer", { port: "70000", json: true })).to.be.rejectedWith(/--port "70000" is not a port/);
  });

  it("the indexer task refuses a --stall-seconds that is not a whole number of seconds, before it starts anything", async function () {
    for (const bad of ["soon", "-1", "1.5", "1e9", "1234567"])
      await expect(hre.run("indexer", { stallSeconds: bad, json: true }), bad).to.be.rejectedWith(
        `--stall-seconds "${bad}" is not a whole number of seconds (0-999999)`,
      );
  });
});
