import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import { Wallet, getBytes, keccak256 } from "ethers";
import secp256k1 from "secp256k1";

import { AuthorizationServer } from "../../src/channels/as-server";
import { RecoveryProcess } from "../../src/channels/recovery/process";
import { recoveryProcessFor } from "../../src/channels/serve";
import { AsStore } from "../../src/channels/store";
import { ReceiptVerifier } from "../../src/channels/verify";
import { UserError } from "../../src/errors";
import { clientLeaf } from "../../src/merkle/group";
import { SEEDED_DOMAIN } from "../shared/as-process";

/**
 * The AS's signature-recovery process (`src/channels/recovery/`): the same signers as the event loop's
 * recovery for good, malformed and malleable signatures, and no request lost or wrongly answered when the
 * process dies, hangs, or is not there yet; sales over HTTP with it, and `as:serve --recovery`.
 */
const domain = SEEDED_DOMAIN;
const verifier = new ReceiptVerifier(domain);
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const PRICE = 1_000n;
const DEVICE = keccak256("0x1234");

function sign(key: Wallet, channelId: string, amount: bigint): string {
  const s = secp256k1.ecdsaSign(getBytes(verifier.digest(channelId, amount)), getBytes(key.privateKey));
  return `0x${Buffer.from(s.signature).toString("hex")}${(s.recid + 27).toString(16)}`;
}

/** The malleable twin of a low-s signature: s' = n - s, v flipped (valid for ecrecover, refused here). */
function highS(sig: string): string {
  const s = BigInt(`0x${sig.slice(66, 130)}`);
  return `${sig.slice(0, 66)}${(N - s).toString(16).padStart(64, "0")}${sig.slice(130) === "1b" ? "1c" : "1b"}`;
}

async function until(what: string, check: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Receipts of many keys, channels and amounts, with the event loop's answer for each. */
function cases(n: number): { channelId: string; amount: bigint; signature: string; expected: string | undefined }[] {
  const out = [];
  for (let i = 0; i < n; i++) {
    const key = new Wallet(keccak256(`0x${(i + 7000).toString(16)}`));
    const channelId = `0x${crypto.randomBytes(32).toString("hex")}`;
    const amount = i % 3 === 0 ? (1n << 256n) - 1n - BigInt(i) : BigInt(i) * PRICE;
    const good = sign(key, channelId, amount);
    for (const signature of [
      good,
      highS(good),
      `${good.slice(0, 130)}1d`,
      `0x${"00".repeat(64)}1b`,
      "0x12",
      good.toUpperCase().replace("0X", "0x"),
    ])
      out.push({ channelId, amount, signature, expected: verifier.recover(channelId, amount, signature) });
  }
  return out;
}

describe("AS signature-recovery process", function () {
  this.timeout(120_000);
  const pools: RecoveryProcess[] = [];
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.close()));
  });

  async function ready(o: ConstructorParameters<typeof RecoveryProcess>[1] = {}): Promise<RecoveryProcess> {
    const pool = new RecoveryProcess(verifier, o);
    pools.push(pool);
    await until("the recovery process to start", () => pool.state === "running");
    return pool;
  }

  it("recovers the same signers as the event loop: good, high-s twin, bad v, zero and short signatures, amounts up to 2^256 - 1", async function () {
    const pool = await ready();
    const all = cases(40);
    expect(all.filter((c) => c.expected !== undefined)).to.have.length(80); // the good one and its upper-case hex
    const got = await Promise.all(all.map((c) => pool.recover(c.channelId, c.amount, c.signature)));
    expect(got).to.deep.equal(all.map((c) => c.expected));
    // Everything well-formed went to the process; only the short signature ("0x12") was answered inline.
    expect(pool.status().counts).to.deep.include({ inline: 40, failures: 0 });
    expect(pool.status().counts.process).to.equal(all.length - 40);
  });

  it("an amount over 2^256 - 1 is answered on the event loop, exactly as the verifier answers it", async function () {
    const pool = await ready();
    const key = new Wallet(keccak256("0x77"));
    const channelId = keccak256("0x78");
    const huge = 1n << 256n;
    const signature = sign(key, channelId, 5n);
    expect(await pool.recover(channelId, huge, signature)).to.equal(verifier.recover(channelId, huge, signature));
    expect(pool.status().counts).to.deep.include({ inline: 1, process: 0 });
  });

  it("a process killed (-9) with recoveries in flight: each is answered on the event loop with the right signer, then a new process takes over", async function () {
    const lines: string[] = [];
    const pool = await ready({ restartMs: 200, log: (line) => lines.push(line) });
    const first = pool.pid!;
    const all = cases(200);
    const pending = all.map((c) => pool.recover(c.channelId, c.amount, c.signature));
    await new Promise((r) => setImmediate(r)); // the batch is sent
    process.kill(first, "SIGKILL");
    expect(await Promise.all(pending)).to.deep.equal(all.map((c) => c.expected));
    await until("the new process", () => pool.state === "running" && pool.pid !== first);
    expect(alive(first)).to.equal(false);
    const after = cases(5);
    expect(await Promise.all(after.map((c) => pool.recover(c.channelId, c.amount, c.signature)))).to.deep.equal(
      after.map((c) => c.expected),
    );
    expect(pool.status().counts.failures).to.equal(1);
    expect(lines).to.have.length(1);
    expect(lines[0]).to.match(
      /^signature recovery process exited \(SIGKILL\); recovering on the event loop, starting it again in 200 ms$/,
    );
  });

  it("a hung process (SIGSTOP) is ended after the timeout; its recoveries are answered on the event loop, not lost", async function () {
    const lines: string[] = [];
    const pool = await ready({ timeoutMs: 400, restartMs: 100, log: (line) => lines.push(line) });
    const hung = pool.pid!;
    process.kill(hung, "SIGSTOP");
    const all = cases(10);
    const started = Date.now();
    expect(await Promise.all(all.map((c) => pool.recover(c.channelId, c.amount, c.signature)))).to.deep.equal(
      all.map((c) => c.expected),
    );
    // Answered by the watchdog, within the timeout and its check period (not at the mercy of the hung process).
    expect(Date.now() - started).to.be.below(5_000);
    expect(lines[0]).to.match(/^signature recovery process did not answer within 400 ms; recovering on the event loop/);
    await until("the hung process to be killed", () => !alive(hung));
    await until("a new process", () => pool.state === "running");
  });

  it("a stall of the AS's own event loop longer than the timeout does not kill a healthy process (its answer is read first)", async function () {
    const lines: string[] = [];
    const pool = await ready({ timeoutMs: 500, log: (line) => lines.push(line) });
    const pid = pool.pid!;
    const all = cases(20);
    const pending = all.map((c) => pool.recover(c.channelId, c.amount, c.signature));
    await new Promise((r) => setImmediate(r)); // the batch is sent
    const until = Date.now() + 800;
    while (Date.now() < until); // the event loop stalls (a long synchronous write, say)
    expect(await Promise.all(pending)).to.deep.equal(all.map((c) => c.expected));
    await new Promise((r) => setTimeout(r, 300));
    expect(pool.status()).to.deep.include({ state: "running", pid });
    expect(pool.status().counts).to.deep.include({ failures: 0, process: all.length - 20 });
    expect(lines).to.deep.equal([]);
  });

  it("a process that never becomes ready (stopped while loading) is ended after startTimeoutMs and started again", async function () {
    const lines: string[] = [];
    const pool = new RecoveryProcess(verifier, {
      startTimeoutMs: 500,
      restartMs: 100,
      log: (line) => lines.push(line),
    });
    pools.push(pool);
    const stuck = pool.pid!;
    process.kill(stuck, "SIGSTOP");
    await until("a new process", () => pool.state === "running" && pool.pid !== stuck);
    expect(alive(stuck)).to.equal(false);
    expect(lines[0]).to.match(/^signature recovery process did not start within 500 ms; recovering on the event loop/);
    const [c] = cases(1);
    expect(await pool.recover(c.channelId, c.amount, c.signature)).to.equal(c.expected);
  });

  it("while the process starts, and after close, recoveries are answered on the event loop; close ends the process", async function () {
    const pool = new RecoveryProcess(verifier);
    pools.push(pool);
    expect(pool.state).to.equal("starting");
    const [c] = cases(1);
    expect(await pool.recover(c.channelId, c.amount, c.signature)).to.equal(c.expected);
    expect(pool.status().counts.inline).to.equal(1);
    await until("the recovery process to start", () => pool.state === "running");
    const pid = pool.pid!;
    await pool.close();
    expect(alive(pid)).to.equal(false);
    expect(pool.state).to.equal("down");
    expect(await pool.recover(c.channelId, c.amount, c.signature)).to.equal(c.expected);
  });

  it("the process exits when its input closes (the AS died), so it never outlives the AS", async function () {
    const pool = await ready();
    const pid = pool.pid!;
    (pool as unknown as { child: { stdin: { end: () => void } } }).child.stdin.end();
    await until("the orphaned process to exit", () => !alive(pid), 10_000);
  });

  describe("in the AS (recoveryProcess: true)", function () {
    let dir: string;
    let server: AuthorizationServer;
    let url: string;

    afterEach(async () => {
      await server?.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it("sales work with signers from the process; a high-s twin is 400 and a foreign signer 403, nothing stored; /health names the process; stop ends it", async function () {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-recovery-"));
      const store = new AsStore(path.join(dir, "as.sqlite"), { create: true });
      const payee = new Wallet(keccak256("0x01")).address;
      const owner = new Wallet(keccak256("0x02")).address;
      // Channels seeded in the store (as the AS keeps them after their first chain read), then the AS on it.
      const seeder = new AuthorizationServer({ payee, verifier, store });
      seeder.provisionDevice(DEVICE, "ab".repeat(32), PRICE);
      const buyers = Array.from({ length: 6 }, (_, i) => {
        const key = new Wallet(keccak256(`0x${(i + 300).toString(16).padStart(4, "0")}`));
        const params = {
          owner,
          token: false,
          clientRoot: clientLeaf(key.address),
          salt: String(i + 1),
          openBlock: "1",
        };
        const channelId = seeder.channelIdOf(params);
        store.saveChannel({
          channelId,
          owner,
          token: false,
          clientRoot: params.clientRoot,
          salt: BigInt(i + 1),
          openBlock: 1n,
          deposit: 10n ** 30n,
          expiry: 4_102_444_800,
          closed: false,
        });
        return { key, params, channelId };
      });
      server = new AuthorizationServer({ payee, verifier, store, recoveryProcess: true });
      url = await server.listen(0);
      await until("the recovery process to start", () => server.recoveryStatus?.state === "running");
      const post = async (body: unknown) => {
        const r = await fetch(`${url}/access`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        });
        return { status: r.status, body: (await r.json()) as Record<string, unknown> };
      };
      const access = (b: (typeof buyers)[number], amount: bigint, signature = sign(b.key, b.channelId, amount)) =>
        post({ channel: b.params, deviceId: DEVICE, amount: amount.toString(), signature, proof: [] });
      const sales = await Promise.all(buyers.map((b) => access(b, PRICE)));
      expect(sales.map((r) => r.status)).to.deep.equal(Array(6).fill(200));
      expect(sales.map((r) => r.body.counter).sort()).to.deep.equal([0, 1, 2, 3, 4, 5]);
      expect(server.recoveryStatus!.counts).to.deep.include({ process: 6, inline: 0 });
      const twin = await access(buyers[0], 2n * PRICE, highS(sign(buyers[0].key, buyers[0].channelId, 2n * PRICE)));
      expect([twin.status, twin.body.reason]).to.deep.equal([400, "bad_signature"]);
      const foreign = await access(buyers[0], 2n * PRICE, sign(buyers[1].key, buyers[0].channelId, 2n * PRICE));
      expect([foreign.status, foreign.body.reason]).to.deep.equal([403, "not_member"]);
      expect(store.receiptCount()).to.equal(6);
      expect((await access(buyers[0], 2n * PRICE)).status).to.equal(200);
      const health = (await (await fetch(`${url}/health`)).json()) as Record<string, unknown>;
      expect(health).to.deep.include({ ok: true, recovery: "running" });
      const pid = server.recoveryStatus!.pid!;
      await server.stop();
      expect(alive(pid)).to.equal(false);
      server = undefined as unknown as AuthorizationServer;
    });
  });

  it("as:serve --recovery: process, loop, auto (a process on 2+ cores); anything else is one line", function () {
    expect(recoveryProcessFor("process")).to.equal(true);
    expect(recoveryProcessFor("loop")).to.equal(false);
    expect(recoveryProcessFor("auto")).to.equal(os.availableParallelism() > 1);
    expect(() => recoveryProcessFor("threads")).to.throw(
      UserError,
      '--recovery: expected process, loop or auto, got "threads"',
    );
  });
});
