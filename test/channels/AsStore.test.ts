import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

import Database from "better-sqlite3";
import { expect } from "chai";

import { AsStore, StoreLost, StoreUnavailable } from "../../src/channels/store";
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
    // Written before the fsync failed: the receipt may be on disk (a close may charge it), so it is not "not stored".
    expect(error).to.be.instanceOf(StoreLost);
    expect((error as StoreLost).mayBeStored).to.equal(true);
    expect(store.receipt(receipt(0).channelId, 1000n)?.otpCounter).to.equal(0);
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

  for (const fault of ["deleted", "replaced"] as const)
    it(`the WAL ${fault} while running: the next check stops the store for good, and the receipts it acknowledged are saved into the database file`, async function () {
      const file = path.join(dir, "as.sqlite");
      const commits = [0, 1, 2].map((n) => store.commit(receipt(n)));
      await sleep(20);
      for (const h of held.splice(0)) h.release(null);
      await Promise.all(commits); // acknowledged: durable, as the README promises
      fs.rmSync(`${file}-wal`);
      if (fault === "replaced") fs.writeFileSync(`${file}-wal`, "", { mode: 0o600 });
      // /health's probe is the first to notice: the file's identity, not only the database's, is checked.
      const probe = await store.probeWrite().then(
        () => undefined,
        (error: unknown) => error as Error & { code?: string },
      );
      expect(probe?.code).to.equal("STORE_LOST");
      expect(store.lost).to.equal(
        `AS database ${file}-wal was deleted or replaced while the AS was running; the receipts it held were saved into ${file}`,
      );
      // Nothing more is written or acknowledged.
      const next = await store.commit(receipt(3)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(next).to.be.instanceOf(StoreLost);
      expect((next as StoreLost).mayBeStored).to.equal(false);
      expect(held.length).to.equal(0);
      expect(store.receipt(receipt(3).channelId, 1000n)).to.equal(undefined);
      // What a kill -9 now leaves on disk: the database file alone (the WAL's path is gone), with every acknowledged receipt.
      const copy = path.join(dir, "copy.sqlite");
      fs.copyFileSync(file, copy);
      const db = new Database(copy, { readonly: true });
      const counters = (
        db.prepare("SELECT otp_counter FROM receipts ORDER BY otp_counter").all() as { otp_counter: number }[]
      ).map((r) => r.otp_counter);
      db.close();
      expect(counters).to.deep.equal([0, 1, 2]);
    });
});
