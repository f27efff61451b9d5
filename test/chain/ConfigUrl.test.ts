import { expect } from "chai";

import { configUrl, indexerUrlFromLink, relayerUrlOf } from "../../src/chain/config-url";
import { checkStatedDomain } from "../../src/eip712/domain";

/** The web app's two guards against a link that would have an owner sign for other contracts (outside review, issue 19). */
describe("app config and signing domain guards", function () {
  const page = "https://app.example/?config=x#/activate/0x01";

  it("takes the config next to the app, or ?config= on the app's own origin", function () {
    expect(configUrl(null, page)).to.equal("thingledger.json");
    expect(configUrl("other.json", page)).to.equal("https://app.example/other.json");
    expect(configUrl("/deployments/sepolia.json", page)).to.equal("https://app.example/deployments/sepolia.json");
  });

  it("refuses ?config= on another origin or a data: URL, naming what it refused", function () {
    expect(() => configUrl("https://evil.example/c.json", page)).to.throw(
      /own origin \(https:\/\/app\.example\); https:\/\/evil\.example is refused/,
    );
    expect(() => configUrl("//evil.example/c.json", page)).to.throw(/https:\/\/evil\.example is refused/);
    expect(() => configUrl('data:application/json,{"kind":"thingledger/app-config"}', page)).to.throw(
      /data: is refused/,
    );
    expect(() => configUrl("http://app.example/c.json", page)).to.throw(/http:\/\/app\.example is refused/);
  });

  it("attack: takes ?indexer= from a link only on the app's own origin (a hostile indexer could show a revoked device active)", function () {
    expect(indexerUrlFromLink(null, page)).to.equal(null);
    expect(indexerUrlFromLink("/indexer2/", page)).to.equal("https://app.example/indexer2/");
    expect(() => indexerUrlFromLink("https://evil.example", page)).to.throw(
      /\?indexer= must name a path on this app's own origin \(https:\/\/app\.example\); https:\/\/evil\.example is refused/,
    );
    expect(() => indexerUrlFromLink("//evil.example/", page)).to.throw(/https:\/\/evil\.example is refused/);
    expect(() => indexerUrlFromLink("data:application/json,{}", page)).to.throw(/data: is refused/);
  });

  it("attack: sends relay requests only to a relayer on the app's own origin (a link must not ship the owner's signatures elsewhere)", function () {
    expect(relayerUrlOf(null, undefined, page)).to.equal(null);
    expect(relayerUrlOf(null, "relayer/", page)).to.equal("https://app.example/relayer/");
    expect(relayerUrlOf("/relay2", "relayer/", page)).to.equal("https://app.example/relay2/");
    expect(() => relayerUrlOf("https://evil.example/", "relayer/", page)).to.throw(
      /\?relayer= must name a path on this app's own origin \(https:\/\/app\.example\); https:\/\/evil\.example is refused/,
    );
    expect(() => relayerUrlOf(null, "http://127.0.0.1:8549/", page)).to.throw(/http:\/\/127\.0\.0\.1:8549 is refused/);
    expect(() => relayerUrlOf("//evil.example/", undefined, page)).to.throw(/https:\/\/evil\.example is refused/);
  });

  it("signs only under a domain that names the contract itself and the chain read", function () {
    const token = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
    const ok = { name: "ThingToken", version: "1", chainId: 31337, verifyingContract: token };
    expect(() => checkStatedDomain(token, 31337, ok)).not.to.throw();
    expect(() => checkStatedDomain(token.toLowerCase(), 31337n, ok)).not.to.throw();
    const usdc = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48";
    expect(() => checkStatedDomain(token, 31337, { ...ok, verifyingContract: usdc })).to.throw(
      new RegExp(`domain for ${usdc}, not itself`),
    );
    expect(() => checkStatedDomain(token, 31337, { ...ok, chainId: 1 })).to.throw(/for chain 1, not 31337/);
    expect(() => checkStatedDomain(token, 31337, { name: "ThingToken", chainId: 31337 })).to.throw(/no contract/);
    expect(() => checkStatedDomain(token, 31337, { ...ok, chainId: undefined })).to.throw(/chain none/);
  });
});
