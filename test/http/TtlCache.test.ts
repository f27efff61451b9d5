import { expect } from "chai";

import { TtlCache } from "../../src/http/cache";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("TtlCache: the one cache of the AS and the auditor", function () {
  it("remembers a value for its TTL, then forgets it", async function () {
    const cache = new TtlCache<string>(40);
    cache.set("a", "one");
    expect(cache.get("a")).to.equal("one");
    expect(cache.has("a")).to.equal(true);
    await sleep(120);
    expect(cache.get("a")).to.equal(undefined);
    expect(cache.has("a")).to.equal(false);
  });

  it("a TTL of 0 remembers nothing, and a per-entry TTL overrides the cache's", async function () {
    const none = new TtlCache<boolean>(0);
    none.set("a", true);
    expect(none.has("a")).to.equal(false);
    const cache = new TtlCache<number>(60_000);
    cache.set("long", 1);
    cache.set("short", 2, 30);
    cache.set("never", 3, 0);
    await sleep(100);
    expect([cache.get("long"), cache.get("short"), cache.get("never")]).to.deep.equal([1, undefined, undefined]);
    cache.delete("long");
    expect(cache.get("long")).to.equal(undefined);
  });

  it("holds at most maxEntries, dropping the least recently used", function () {
    const cache = new TtlCache<number>(60_000, 2);
    cache.set("a", 1);
    cache.set("b", 2);
    expect(cache.get("a")).to.equal(1); // "b" is now the least recently used
    cache.set("c", 3);
    expect([cache.get("a"), cache.get("b"), cache.get("c")]).to.deep.equal([1, undefined, 3]);
  });

  it("shares one lookup among concurrent callers of a key, and none across keys or after it ends", async function () {
    const cache = new TtlCache<number>(60_000);
    let calls = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const lookup = async () => {
      calls++;
      await gate;
      return calls;
    };
    const first = cache.shared("k", lookup);
    const second = cache.shared("k", lookup);
    const other = cache.shared("other", lookup);
    release();
    const results = await Promise.all([first, second, other]);
    expect(results.map((r) => r.joined)).to.deep.equal([false, true, false]);
    expect(results[0].value).to.equal(results[1].value);
    expect(calls).to.equal(2);
    await cache.shared("k", lookup);
    expect(calls).to.equal(3);
    const failing = cache.shared("bad", () => Promise.reject(new Error("down")));
    await expect(failing).to.be.rejectedWith("down");
    expect((await cache.shared("bad", async () => 7)).value).to.equal(7);
  });
});
