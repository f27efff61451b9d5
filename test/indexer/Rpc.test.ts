import { expect } from "chai";

import { DEFAULT_RPC_LANES, ponderRpc } from "../../src/indexer/rpc";

describe("indexer: the RPC URLs Ponder is given", function () {
  const url = "http://127.0.0.1:8545";

  it("lists a development node's URL once per lane, default 4, each a bucket of Ponder's 20 requests/s", function () {
    expect(ponderRpc(31337, url)).to.deep.equal(Array(DEFAULT_RPC_LANES).fill(url));
    expect(DEFAULT_RPC_LANES).to.equal(4);
    expect(ponderRpc(1337, url, "1")).to.deep.equal([url]);
    expect(ponderRpc(31337, url, "16")).to.have.length(16);
  });

  it("gives any other chain (a hosted provider, with its own limits) its one URL, whatever the lanes", function () {
    expect(ponderRpc(11155111, url)).to.equal(url);
    expect(ponderRpc(10, "https://rpc.example", "8")).to.equal("https://rpc.example");
  });

  it("refuses lanes that are not a whole number from 1 to 16, in one line naming the variable", function () {
    for (const bad of ["", "0", "17", "2.5", "-1", "4x", "Infinity", " 4"])
      expect(() => ponderRpc(31337, url, bad), bad).to.throw(
        `THINGLEDGER_INDEXER_RPC_LANES must be a whole number from 1 to 16, not "${bad}"`,
      );
  });
});
