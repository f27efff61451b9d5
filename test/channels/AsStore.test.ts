import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

import { expect } from "chai";

import { AsStore, StoreUnavailable } from "../../src/channels/store";
import type { StoredReceipt } from "../../src/channels/store";

/**
 * The AS store's group commit: receipts are written in one transaction and made durable by one fsync of
 * the WAL in the thread pool; a commit resolves only once that fsync returned.
 */
describe("AS store: group commit durability", function () {
  let dir: string;
  let store: AsStore;
  const realSync = fs.fdatasync;
  /** fdatasync calls held by the test: released by calling their callbacks. */
  let held: { fd: number; release: (error: NodeJS.ErrnoException | null) => void }[] = [];

  function receipt(n: number): StoredReceipt {
    return {
      channelId: `0x${n.toString(16).padStart(64, "0")}`,
      amount: 1000n,
      signer: "0x0000000000000000000000000000000000000001",
      signature: "0x",
      proof: [],
      deviceId: `0x${"11".repeat(32)}`,
      otpCounter: n,
    };
  }

  beforeEach(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-as-store-"));
    store = new AsStore(path.join(dir, "as.sqlite"), { create: true, groupCommitMs: 1 });
    held = [];
    (fs as { fdatasync: unknown }).fdatasync = (fd: number, cb: (error: NodeJS.ErrnoException | null) => void) =>
      held.push({ fd, release: cb });
  });

  afterEach(function () {
    (fs as { fdatasync: unknown }).fdatasync = realSync;
    for (const h of held) h.release(null);
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("a commit resolves only after the fsync of the WAL that follows its write has returned; one fsync at a time", async function () {
    let resolved = 0;
    const commits = [store.commit(receipt(0)), store.commit(receipt(1))].map((p) => p.then(() => resolved++));
    await sleep(50);
    // Written (one transaction, one fsync for both) but not yet synced: nobody is answered.
    expect(held.length).to.equal(1);
    expect(store.receipt(receipt(0).channelId, 1000n)?.otpCounter).to.equal(0);
    expect(resolved).to.equal(0);
    // A receipt queued while that fsync runs waits for it, then is written and synced at once.
    let third = false;
    const later = store.commit(receipt(2)).then(() => (third = true));
    await sleep(30);
    expect(store.receipt(receipt(2).channelId, 1000n)).to.equal(undefined);
    expect(held.length).to.equal(1);
    held[0].release(null);
    await Promise.all(commits);
    expect(resolved).to.equal(2);
    expect(store.receipt(receipt(2).channelId, 1000n)?.otpCounter).to.equal(2);
    expect(third).to.equal(false);
    expect(held.length).to.equal(2);
    held[1].release(null);
    await later;
    expect(store.receiptCount()).to.equal(3);
  });

  it("an fsync that fails: its commits reject with StoreUnavailable and the store stops for good", async function () {
    const commit = store.commit(receipt(0));
    await sleep(20);
    expect(held.length).to.equal(1);
    held[0].release(Object.assign(new Error("EIO: i/o error"), { code: "EIO" }));
    held = [];
    const error = await commit.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(StoreUnavailable);
    expect((error as Error).message).to.match(/could not be synced to disk \(EIO\)$/);
    expect(store.lost).to.match(/could not be synced to disk \(EIO\)$/);
    // Nothing more is written: an fsync that failed cannot be retried safely.
    const next = await store.commit(receipt(1)).then(
      () => "stored",
      (e: Error) => e.message,
    );
    expect(next).to.match(/could not be synced to disk/);
    expect(held.length).to.equal(0);
  });
});
