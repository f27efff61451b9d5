import { expect } from "chai";

import { StallGuard, ponderCannotAdvance, watchIndexer } from "../../src/indexer/watchdog";

/** Lines as Ponder 0.16 prints them with `--log-format pretty` (src/indexer/process.ts). */
const UNRECOVERABLE =
  "13:51:02.114 WARN  Encountered unrecoverable reorg chain=thingledger chain_id=31337 finalized_block=30 (4ms)";
const NO_PARENT = `BlockNotFoundError: Block at hash "0x${"0".repeat(64)}" could not be found.`;

/** Issue 18: how the task tells an indexer that can no longer advance (src/indexer/watchdog.ts). */
describe("indexer watchdog", function () {
  it("reads Ponder's own signals: a reorg below its finalized block, a block that links to no parent", function () {
    expect(ponderCannotAdvance(UNRECOVERABLE)).to.match(
      /^the chain reorganised below block 30, which Ponder had finalized/,
    );
    expect(
      ponderCannotAdvance("Error: Encountered unrecoverable 'thingledger' reorg beyond finalized block 91"),
    ).to.match(/below block 91/);
    expect(ponderCannotAdvance(NO_PARENT)).to.match(/parent hash is 0x00000000…/);
    // A passing failure is not final: an RPC hiccup, a block not found by another hash, a shallow reorg.
    for (const line of [
      "13:51:02.114 WARN  Failed to fetch latest block chain=thingledger number=46 retry_count=0",
      `BlockNotFoundError: Block at hash "0x${"ab".repeat(32)}" could not be found.`,
      "13:51:02.114 INFO  Reorged block chain=thingledger",
      "13:51:02.114 WARN  No new block received within expected time",
    ])
      expect(ponderCannotAdvance(line), line).to.equal(undefined);
  });

  it("calls an indexed block stuck only once it stays behind the head, unmoved, past the bound", function () {
    const guard = new StallGuard(60_000);
    expect(guard.observe(10, 20, 0)).to.equal(undefined);
    expect(guard.observe(10, 25, 59_999)).to.equal(undefined);
    expect(guard.observe(10, 25, 60_000)).to.equal(
      "its indexed block 10 has not moved for 60 s while the chain is at block 25",
    );
    // Any move starts the clock again; at the head it never stalls, however long the chain stays still.
    const moving = new StallGuard(60_000);
    expect(moving.observe(10, 20, 0)).to.equal(undefined);
    expect(moving.observe(11, 20, 50_000)).to.equal(undefined);
    expect(moving.observe(11, 20, 100_000)).to.equal(undefined);
    expect(moving.observe(11, 20, 110_000)).to.match(/block 11 has not moved for 60 s/);
    const idle = new StallGuard(60_000);
    for (const t of [0, 100_000, 1_000_000]) expect(idle.observe(20, 20, t)).to.equal(undefined);
    // A chain reverted below the indexed block is not the head either.
    expect(idle.observe(20, 12, 1_000_001)).to.equal(undefined);
    expect(idle.observe(20, 12, 1_060_001)).to.match(/block 20 has not moved for 60 s while the chain is at block 12/);
  });

  it("answers the first of Ponder's signal and a stall, skips reads that fail, and stops polling", async function () {
    let reads = 0;
    const stuck = watchIndexer(
      {
        indexed: async () => (++reads === 2 ? Promise.reject(new Error("busy")) : 7),
        head: async () => 9,
        failed: new Promise<string>(() => undefined),
      },
      { stallMs: 1, pollMs: 5 },
    );
    expect(await stuck.failed).to.match(/^its indexed block 7 has not moved for \d+ s while the chain is at block 9$/);
    expect(reads).to.be.at.least(3);
    const signalled = watchIndexer(
      { indexed: async () => 7, head: async () => 7, failed: Promise.resolve("Ponder exited on its own (code 1)") },
      { stallMs: 0 },
    );
    expect(await signalled.failed).to.equal("Ponder exited on its own (code 1)");
    let polled = 0;
    const stopped = watchIndexer(
      { indexed: async () => (polled++, 7), head: async () => 9, failed: new Promise<string>(() => undefined) },
      { stallMs: 1, pollMs: 5 },
    );
    stopped.stop();
    await new Promise((r) => setTimeout(r, 50));
    expect(polled).to.equal(0);
  });
});
