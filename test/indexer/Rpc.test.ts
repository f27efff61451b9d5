import { expect } from "chai";

import { UserError } from "../../src/errors";
import { startIndexer } from "../../src/indexer";
import { DEFAULT_RPC_LANES, ponderRpc } from "../../src/indexer/rpc";

describe("indexer: the RPC URLs Ponder is given", function () {
  const url = "http://127.0.0.1:8545";

  it("lists a development node's URL once per lane, default 4, each a bucket of Ponder's 20 requests/s", function () {
    expect(ponderRpc(31337, url)).to.deep.equal(Array(DEFAULT_RPC_LANES).fill(url));
    expect(DEFAULT_RPC_LANES).to.equal(4);
    expect(ponderRpc(1337, url, "1")).to.deep.equal([url]);
    expect(ponderRpc(31337, url, "16")).to.have.length(16);
  });

  it("gives any other chain, or a development chain on another machine, its one URL, and reads no lanes", function () {
    expect(ponderRpc(11155111, url)).to.equal(url);
    expect(ponderRpc(10, "https://rpc.example", "8")).to.equal("https://rpc.example");
    // A fork keeps chain id 31337 behind a provider's rate limit.
    expect(ponderRpc(31337, "https://fork.example/rpc", "4")).to.equal("https://fork.example/rpc");
    expect(ponderRpc(11155111, url, "")).to.equal(url);
    expect(ponderRpc(31337, "http://localhost:8545", "2")).to.deep.equal(Array(2).fill("http://localhost:8545"));
  });

  it("the indexer refuses bad lanes in one line before it starts anything", async function () {
    const before = process.env.THINGLEDGER_INDEXER_RPC_LANES;
    process.env.THINGLEDGER_INDEXER_RPC_LANES = "0";
    try {
      const started = startIndexer({
        rpcUrl: url,
        chainId: 31337n,
        deploymentDir: "/nonexistent",
        port: 1,
        dataDir: "/nonexistent",
        schema: "public",
      });
      await expect(started).to.be.rejectedWith(
        UserError,
        'THINGLEDGER_INDEXER_RPC_LANES must be a whole number from 1 to 16, not "0"',
      );
    } finally {
      if (before === undefined) delete process.env.THINGLEDGER_INDEXER_RPC_LANES;
      else process.env.THINGLEDGER_INDEXER_RPC_LANES = before;
    }
  });

  it("refuses lanes that are not a whole number from 1 to 16, in one line naming the variable", function () {
    for (const bad of ["", "0", "17", "2.5", "-1", "4x", "Infinity", " 4"])
      expect(() => ponderRpc(31337, url, bad), bad).to.throw(
        `THINGLEDGER_INDEXER_RPC_LANES must be a whole number from 1 to 16, not "${bad}"`,
      );
  });
});
