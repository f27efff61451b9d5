import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import { Signature, Wallet, ZeroAddress, getAddress } from "ethers";

import { DeviceWallet__factory, IERC20Metadata__factory } from "../../src/chain/factories";

import { signExecute } from "../../src/eip712/wallet";
import { UserError } from "../../src/errors";
import { ETH, decodeProposalCall, proposalMessage, readProposal } from "../../src/wallets";
import {
  MAX_CHAIN_READS,
  MAX_NONCE_AHEAD,
  MAX_PENDING,
  MAX_PENDING_BYTES,
  MAX_PENDING_BYTES_PER_OWNER,
  MAX_PENDING_PER_OWNER,
  MAX_WAITING_READS,
  ProposalQueue,
} from "../../src/wallets/queue";
import type { WalletView } from "../../src/wallets/queue";
import { MAX_PROPOSAL_BODY, proposalQueueMiddleware } from "../../src/wallets/queue-http";
import { WALLET, domain, proposal, signed } from "../shared/proposals";

/*
 * The app server's proposal queue without a chain or a browser: a wallet view stands in for the chain (its
 * owners, threshold, nonce and EIP-712 domain), real owner keys sign. Attack tests check that a refusal
 * stores nothing: the queue's folder is compared byte for byte before and after.
 */

const owners = [Wallet.createRandom(), Wallet.createRandom(), Wallet.createRandom()];
const stranger = Wallet.createRandom();

/** Resolves once `done()` holds (polled; the test's own timeout bounds it). */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((resolve) => setTimeout(resolve, 5));
}

/** Every file under `dir` with its content: what a refusal must leave untouched. */
function snapshot(dir: string): Record<string, string> {
  if (!fs.existsSync(dir)) return {};
  const files = fs.readdirSync(dir, { recursive: true, encoding: "utf8" });
  return Object.fromEntries(
    files
      .map((f) => path.join(dir, f))
      .filter((f) => fs.statSync(f).isFile())
      .map((f) => [f, fs.readFileSync(f, "utf8")]),
  );
}

describe("Proposal queue (src/wallets/queue.ts)", function () {
  let dir: string;
  let view: WalletView;
  let queue: ProposalQueue;
  /** How many times the queue read the chain (the wallet reader stands in for every RPC call). */
  let reads: number;

  beforeEach(function () {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "proposal-queue-"));
    view = { chainId: 31337n, domain, owners: owners.map((o) => o.address), threshold: 2, nonce: 3n };
    reads = 0;
    queue = new ProposalQueue(dir, async (wallet) => {
      reads++;
      if (wallet !== WALLET) throw new UserError(`there is no device wallet at ${wallet}`);
      return view;
    });
  });

  afterEach(function () {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("stores a proposal as a CLI proposal file, and counts each owner's signature towards the threshold", async function () {
    await expectRefusal(queue.submit(proposal()), /a new proposal needs an owner's signature/);
    expect(snapshot(dir)).to.deep.equal({});

    const first = await queue.submit(await signed(proposal(), owners[0]));
    expect(first.status).to.equal("pending");
    expect(first.signers).to.deep.equal([owners[0].address]);
    const file = path.join(queue.folderOf(WALLET), first.file);
    expect(first.file).to.equal(`3-${first.id}.json`);
    expect(readProposal(file)).to.deep.equal(await signed(proposal(), owners[0]));
    // Posting the same signature again changes nothing.
    expect((await queue.submit(await signed(proposal(), owners[0]))).signers).to.deep.equal([owners[0].address]);

    const second = await queue.submit(await signed(proposal(), owners[1]));
    expect(second.status).to.equal("ready");
    expect(readProposal(file).signatures).to.have.keys(owners[0].address, owners[1].address);
    const listed = await queue.list(WALLET.toLowerCase());
    expect(listed.proposals).to.have.length(1);
    expect(listed.proposals[0].signers).to.have.members([owners[0].address, owners[1].address]);
    expect(listed.threshold).to.equal(2);
  });

  it("keeps both signatures when two owners post at the same time", async function () {
    await Promise.all([
      queue.submit(await signed(proposal(), owners[0])),
      queue.submit(await signed(proposal(), owners[2])),
    ]);
    const [entry] = (await queue.list(WALLET)).proposals;
    expect(entry.signers).to.have.members([owners[0].address, owners[2].address]);
    expect(entry.status).to.equal("ready");
  });

  it("lists a proposal whose nonce the wallet has spent as spent, and refuses new ones for it", async function () {
    await queue.submit(await signed(proposal(), owners[0]));
    view = { ...view, nonce: 4n };
    expect((await queue.list(WALLET)).proposals.map((p) => p.status)).to.deep.equal(["spent"]);
    const before = snapshot(dir);
    await expectRefusal(queue.submit(await signed(proposal(), owners[1])), /nonce 3 is already spent/);
    expect(snapshot(dir)).to.deep.equal(before);
  });

  async function expectRefusal(promise: Promise<unknown>, message: RegExp): Promise<void> {
    const error = await promise.then(
      () => expect.fail("the queue took it"),
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(UserError);
    expect((error as Error).message).to.match(message);
    expect((error as Error).message).not.to.include("\n");
  }

  it("attack: a non-owner's signature is refused and stores nothing", async function () {
    await queue.submit(await signed(proposal(), owners[0]));
    const before = snapshot(dir);
    await expectRefusal(queue.submit(await signed(proposal(), stranger)), /is not an owner/);
    expect(snapshot(dir)).to.deep.equal(before);
  });

  it("attack: a signature over other content, or listed under another owner, is refused and stores nothing", async function () {
    await queue.submit(await signed(proposal(), owners[2]));
    const before = snapshot(dir);
    const other = await signed(proposal({ value: "999999" }), owners[0]);
    const forged = { ...proposal(), signatures: other.signatures };
    await expectRefusal(queue.submit(forged), /made by 0x[0-9a-fA-F]{40}, or over other content/);
    const byB = await signed(proposal(), owners[1]);
    const misnamed = { ...proposal(), signatures: { [owners[0].address]: byB.signatures[owners[1].address] } };
    await expectRefusal(queue.submit(misnamed), /or over other content/);
    const otherDomain = { ...domain, verifyingContract: getAddress("0x" + "ef".repeat(20)) };
    const elsewhere = await signExecute(owners[0], otherDomain, proposalMessage(proposal()));
    await expectRefusal(
      queue.submit({ ...proposal(), signatures: { [owners[0].address]: elsewhere } }),
      /other content/,
    );
    expect(snapshot(dir)).to.deep.equal(before);
  });

  it("attack: malformed proposals, another chain and an unknown wallet are refused with one line", async function () {
    const cases: [unknown, RegExp][] = [
      [null, /is not a wallet proposal/],
      [[], /is not a wallet proposal/],
      [{ ...proposal(), kind: "other" }, /is not a wallet proposal/],
      [{ ...proposal(), to: "0x1234" }, /"to" is not an address/],
      [{ ...proposal(), value: "-1" }, /"value" must be a whole number/],
      [{ ...proposal(), value: (1n << 256n).toString() }, /"value" must be a whole number/],
      [{ ...proposal(), nonce: "03" }, /"nonce" must be a whole number .* without leading zeros/],
      [{ ...proposal(), data: "0xabc" }, /"data" is not 0x-prefixed hex bytes/],
      [{ ...proposal(), description: "x".repeat(501) }, /"description" must be a string/],
      [{ ...proposal(), signatures: { [owners[0].address]: "0x1234" } }, /is not 65 bytes/],
      [{ ...proposal(), signatures: { nobody: "0x" + "11".repeat(65) } }, /"nobody" is not an address/],
      [await signed(proposal({ chainId: "1" }), owners[0]), /is for chain 1, but this app serves chain 31337/],
      [await signed(proposal({ wallet: getAddress("0x" + "12".repeat(20)) }), owners[0]), /there is no device wallet/],
    ];
    for (const [body, message] of cases) await expectRefusal(queue.submit(body), message);
    expect(snapshot(dir)).to.deep.equal({});
  });

  it("attack: garbage, unsigned, non-canonical and (for a wallet read before) forged posts cost no chain read", async function () {
    const good = await signed(proposal(), owners[0]);
    const sig = Signature.from(good.signatures[owners[0].address]);
    const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const highS = `${sig.r}${(N - BigInt(sig.s)).toString(16).padStart(64, "0")}${sig.v === 27 ? "1c" : "1b"}`;
    const withSig = (signature: string) => ({ ...proposal(), signatures: { [owners[0].address]: signature } });
    const cases: [unknown, RegExp][] = [
      [{ hello: 1 }, /is not a wallet proposal/],
      [{ ...proposal(), data: "0x" + "ab".repeat(31_000) + "a" }, /"data" is not 0x-prefixed hex bytes/],
      [proposal(), /a new proposal needs an owner's signature/],
      [withSig(highS), /the signature of 0x[0-9a-fA-F]{40} is malformed \(not a canonical signature\)/],
      [withSig(`${sig.r}${sig.s.slice(2)}1d`), /is malformed/],
      [withSig(`0x${"00".repeat(64)}1b`), /is malformed/],
      // An r that is no point's x: no key recovers from it, whatever the digest.
      [withSig(`0x${"05".repeat(32)}${sig.s.slice(2)}1b`), /is malformed/],
    ];
    for (const [body, message] of cases) await expectRefusal(queue.submit(body), message);
    expect(reads).to.equal(0);

    await queue.submit(good);
    expect(reads).to.equal(1);
    // The wallet's domain and chain are known now: a forged signature or another chain costs no read either.
    const other = await signed(proposal({ value: "999999" }), owners[1]);
    await expectRefusal(queue.submit({ ...proposal(), signatures: other.signatures }), /or over other content/);
    await expectRefusal(
      queue.submit(await signed(proposal({ chainId: "1" }), owners[1])),
      /is for chain 1, but this app serves chain 31337/,
    );
    expect(reads).to.equal(1);
    expect(Object.keys(snapshot(dir))).to.have.length(1);
  });

  it(`lines proposals up for nonces ${MAX_NONCE_AHEAD} ahead of the wallet's, lists them in order, and drops spent ones behind`, async function () {
    view = { ...view, nonce: 2n };
    await queue.submit(await signed(proposal({ nonce: "2", description: "two" }), owners[0]));
    view = { ...view, nonce: 3n };
    for (const n of ["5", "3", String(3 + MAX_NONCE_AHEAD)]) {
      await queue.submit(await signed(proposal({ nonce: n, description: `n${n}` }), owners[0], owners[1]));
    }
    const before = snapshot(dir);
    await expectRefusal(
      queue.submit(await signed(proposal({ nonce: String(4 + MAX_NONCE_AHEAD) }), owners[0])),
      /nonce 9 is too far ahead: the wallet's nonce is 3, and the queue takes nonces 3 to 8$/,
    );
    expect(snapshot(dir)).to.deep.equal(before);
    const listed = (await queue.list(WALLET)).proposals;
    expect(listed.map((q) => [q.proposal.nonce, q.status])).to.deep.equal([
      ["3", "ready"],
      ["5", "ready"],
      ["8", "ready"],
      ["2", "spent"],
    ]);
    // Nonce 3 executes: its proposal joins the spent ones (newest first), and nonce 9 may now wait.
    view = { ...view, nonce: 4n };
    await queue.submit(await signed(proposal({ nonce: "9" }), owners[2]));
    expect((await queue.list(WALLET)).proposals.map((q) => [q.proposal.nonce, q.status])).to.deep.equal([
      ["5", "ready"],
      ["8", "ready"],
      ["9", "pending"],
      ["3", "spent"],
      ["2", "spent"],
    ]);
    await expectRefusal(queue.submit(await signed(proposal({ nonce: "3" }), owners[2])), /nonce 3 is already spent/);
  });

  /** The test's owners and `extra` more, made the wallet's owners (the per-owner share needs several). */
  function moreOwners(extra: number): (typeof owners)[number][] {
    const all = [...owners, ...Array.from({ length: extra }, () => Wallet.createRandom())];
    view.owners = all.map((o) => o.address);
    return all;
  }

  it(`attack: keeps at most ${MAX_PENDING} waiting proposals per wallet`, async function () {
    const all = moreOwners(2);
    for (let n = 0; n < MAX_PENDING; n++) await queue.submit(await signed(proposal({ value: String(n) }), all[n % 5]!));
    const before = snapshot(dir);
    await expectRefusal(queue.submit(await signed(proposal({ value: "123456789" }), owners[0])), /already has 50/);
    expect(snapshot(dir)).to.deep.equal(before);
  });

  it(`attack: keeps at most ${MAX_PENDING_PER_OWNER} waiting proposals per proposer, and other owners keep their share`, async function () {
    for (let n = 0; n < MAX_PENDING_PER_OWNER; n++) {
      await queue.submit(await signed(proposal({ nonce: String(3 + (n % 6)), value: String(n) }), owners[0]));
    }
    const before = snapshot(dir);
    await expectRefusal(
      queue.submit(await signed(proposal({ value: "123456789" }), owners[0], owners[1])),
      /already has 10 proposals waiting in wallet .* \(at most 10 per owner\)/,
    );
    expect(snapshot(dir)).to.deep.equal(before);
    // Another owner opens one, and the full owner still signs it (a signature added is not a proposal opened).
    const other = await queue.submit(await signed(proposal({ value: "7" }), owners[1]));
    expect((await queue.submit(await signed(proposal({ value: "7" }), owners[0]))).id).to.equal(other.id);
    expect(readProposal(path.join(queue.folderOf(WALLET), other.file)).signatures).to.have.keys(
      owners[1].address,
      owners[0].address,
    );
  });

  it(`attack: keeps at most ${MAX_PENDING_BYTES} bytes of waiting proposals per wallet and ${MAX_PENDING_BYTES_PER_OWNER} per proposer`, async function () {
    const all = moreOwners(2);
    const big = (n: number) => proposal({ value: String(n), data: "0x" + "ab".repeat(30_000) });
    await queue.submit(await signed(big(100), owners[0]));
    await expectRefusal(
      queue.submit(await signed(big(101), owners[0])),
      /already holds \d+ bytes of waiting proposals in wallet .* \(at most 65536 per owner\)/,
    );
    let stored = 1;
    for (; stored < 20; stored++) {
      try {
        await queue.submit(await signed(big(stored), all[stored]!));
      } catch (error) {
        expect((error as Error).message).to.match(/already holds \d+ bytes of waiting proposals \(at most 262144\)/);
        break;
      }
    }
    expect(stored).to.equal(4);
    const before = snapshot(dir);
    const total = Object.values(before).reduce((sum, text) => sum + Buffer.byteLength(text), 0);
    expect(total).to.be.at.most(MAX_PENDING_BYTES);
    // A small proposal still fits, and a signature added to a stored one is not counted twice.
    await queue.submit(await signed(proposal(), owners[0]));
    expect((await queue.submit(await signed(big(100), owners[1]))).signers).to.have.length(2);
  });

  describe("over HTTP (the app server's middleware)", function () {
    let server: http.Server;
    let url: string;

    beforeEach(async function () {
      const middleware = proposalQueueMiddleware(() => queue);
      server = http.createServer((req, res) =>
        middleware(req, res, () => {
          res.statusCode = 404;
          res.end("not the queue");
        }),
      );
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });

    afterEach(async function () {
      await new Promise((resolve) => server.close(resolve));
    });

    const post = (body: string, type = "application/json") =>
      fetch(`${url}/proposals`, { method: "POST", headers: { "content-type": type }, body });

    it("adds and lists proposals", async function () {
      const posted = await post(JSON.stringify(await signed(proposal(), owners[0])));
      expect(posted.status).to.equal(200);
      expect(((await posted.json()) as { signers: string[] }).signers).to.deep.equal([owners[0].address]);
      const listed = await fetch(`${url}/proposals/${WALLET}`);
      expect(listed.status).to.equal(200);
      const body = (await listed.json()) as { nonce: string; proposals: unknown[] };
      expect(body.nonce).to.equal("3");
      expect(body.proposals).to.have.length(1);
      expect((await fetch(`${url}/elsewhere`)).status).to.equal(404);
    });

    it("attack: oversize, non-JSON, wrong type, garbage and a non-owner are 4xx with one line; nothing is stored", async function () {
      const huge = JSON.stringify({ ...proposal(), data: "0x" + "00".repeat(MAX_PROPOSAL_BODY) });
      const answers = [
        [await post(huge), 413, /^the body is over 65536 bytes$/],
        [await post("{not json"), 400, /^the body is not JSON$/],
        [await post(JSON.stringify(proposal()), "text/plain"), 415, /application\/json/],
        [await post(JSON.stringify({ hello: 1 })), 400, /is not a wallet proposal/],
        [await post(JSON.stringify(await signed(proposal(), stranger))), 400, /is not an owner/],
        [await fetch(`${url}/proposals/not-an-address`), 400, /is not an address/],
        [await fetch(`${url}/proposals/${WALLET}`, { method: "DELETE" }), 405, /not a route/],
      ] as const;
      for (const [response, status, message] of answers) {
        expect(response.status).to.equal(status);
        const { error } = (await response.json()) as { error: string };
        expect(error).to.match(message);
        expect(error).not.to.include("\n");
      }
      expect(snapshot(dir)).to.deep.equal({});
    });

    it(`caps the queue's chain reads: ${MAX_CHAIN_READS} at once, ${MAX_WAITING_READS} waiting, then 503 in one line`, async function () {
      let running = 0;
      let most = 0;
      const started: string[] = [];
      const release: (() => void)[] = [];
      queue = new ProposalQueue(dir, async (wallet) => {
        started.push(wallet);
        running++;
        most = Math.max(most, running);
        await new Promise<void>((resolve) => release.push(resolve));
        running--;
        return { ...view, domain: { ...domain, verifyingContract: wallet } };
      });
      const extra = 3;
      const wallets = Array.from({ length: MAX_CHAIN_READS + MAX_WAITING_READS + extra }, (_, i) =>
        getAddress("0x" + (i + 1).toString(16).padStart(40, "0")),
      );
      // Requests reach the server in any order: which ones wait and which are refused is not fixed.
      const answered: { status: number; error?: string }[] = [];
      const answers = wallets.map(async (w) => {
        const response = await fetch(`${url}/proposals/${w}`);
        const body = (await response.json()) as { error?: string };
        answered.push({ status: response.status, error: body.error });
      });
      await until(() => answered.length === extra);
      expect(started).to.have.length(MAX_CHAIN_READS);
      for (const { status, error } of answered) {
        expect(status).to.equal(503);
        expect(error).to.equal(
          `the proposal queue is busy (${MAX_CHAIN_READS} chain reads running, ${MAX_WAITING_READS} waiting); try again shortly`,
        );
      }
      // A request for a wallet being read shares its read: no slot of its own, no 503.
      const shared = queue.list(started[0]!);
      while (answered.length < wallets.length) {
        expect(running).to.be.at.most(MAX_CHAIN_READS);
        release.splice(0).forEach((r) => r());
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await Promise.all(answers);
      expect((await shared).wallet).to.equal(started[0]);
      expect(answered.filter((a) => a.status === 200)).to.have.length(MAX_CHAIN_READS + MAX_WAITING_READS);
      expect(most).to.equal(MAX_CHAIN_READS);
      expect(started).to.have.length(MAX_CHAIN_READS + MAX_WAITING_READS);
    });

    it("answers 503 without internal text when the chain cannot be read", async function () {
      queue = new ProposalQueue(dir, async () => {
        throw new Error("connect ECONNREFUSED 127.0.0.1:8545 at JsonRpcProvider…");
      });
      const response = await fetch(`${url}/proposals/${WALLET}`);
      expect(response.status).to.equal(503);
      expect(((await response.json()) as { error: string }).error).not.to.include("ECONNREFUSED");
    });
  });
});

describe("Proposal call decoder (src/wallets/decode.ts)", function () {
  const wi = DeviceWallet__factory.createInterface();
  const ei = IERC20Metadata__factory.createInterface();
  const TOKEN = getAddress("0x" + "ee".repeat(20));
  const assets = [ETH, { address: TOKEN, symbol: "THING", decimals: 18 }];
  const self = (data: string, value = "0") => decodeProposalCall(proposal({ to: WALLET, value, data }), assets);

  it("attack: an owner-set change described as a limit change is decoded in plain words and flagged dangerous", function () {
    const decoded = self(wi.encodeFunctionData("setOwners", [[owners[0].address], 1]));
    expect(decoded).to.deep.equal({
      summary: `Replace the owners with [${owners[0].address}] and threshold 1`,
      dangerous: true,
      decoded: true,
    });
    expect(self(wi.encodeFunctionData("setDeviceKey", [stranger.address]))).to.include({
      summary: `Set the device key to ${stranger.address}`,
      dangerous: true,
    });
  });

  it("decodes every wallet setting, ERC-20 transfer/approve and plain ETH sends", function () {
    const cases: [string, string][] = [
      [
        wi.encodeFunctionData("setAllowance", [ZeroAddress, 5n * 10n ** 16n]),
        "Set the device's ETH limit to 0.05 ETH per period",
      ],
      [wi.encodeFunctionData("setFrozen", [false]), "Unfreeze the device key"],
      [wi.encodeFunctionData("setFrozen", [true]), "Freeze the device key"],
      [wi.encodeFunctionData("setPeriod", [3600]), "Set the device's limit period to 3600 seconds"],
      [wi.encodeFunctionData("setTransferCap", [TOKEN, 10n ** 18n]), "Cap each device transfer of THING at 1.0 THING"],
      [
        wi.encodeFunctionData("setRecipientAllowed", [stranger.address, true]),
        `Allow the device to pay ${stranger.address}`,
      ],
      [
        wi.encodeFunctionData("setAllowlistEnabled", [false]),
        "Turn off the recipient allowlist (the device pays anyone)",
      ],
    ];
    for (const [data, summary] of cases) expect(self(data)).to.deep.equal({ summary, dangerous: false, decoded: true });
    const transfer = ei.encodeFunctionData("transfer", [stranger.address, 2n * 10n ** 18n]);
    expect(decodeProposalCall(proposal({ to: TOKEN, value: "0", data: transfer }), assets).summary).to.equal(
      `Transfer 2.0 THING to ${stranger.address}`,
    );
    const other = getAddress("0x" + "12".repeat(20));
    const approve = ei.encodeFunctionData("approve", [stranger.address, 7n]);
    expect(decodeProposalCall(proposal({ to: other, value: "0", data: approve }), assets).summary).to.equal(
      `Approve ${stranger.address} to spend 7 base units of token ${other} of the wallet's`,
    );
    expect(decodeProposalCall(proposal({ value: "10000000000000000" }), assets).summary).to.equal(
      `Send 0.01 ETH to ${getAddress("0x" + "cd".repeat(20))}`,
    );
  });

  it("attack: unknown data, a wallet setting sent elsewhere and trailing bytes are not decoded", function () {
    const setOwners = wi.encodeFunctionData("setOwners", [[owners[0].address], 1]);
    for (const p of [
      proposal({ data: "0xdeadbeef" }),
      proposal({ data: setOwners }),
      proposal({ to: WALLET, data: setOwners + "00" }),
      proposal({ to: WALLET, data: wi.encodeFunctionData("freezeDevice", [[owners[0].address]]) }),
    ]) {
      const decoded = decodeProposalCall(p, assets);
      expect(decoded.decoded, p.data).to.equal(false);
      expect(decoded.summary).to.match(
        /^Unknown call to 0x[0-9a-fA-F]{40} \(\d+ bytes of data, selector 0x[0-9a-f]{8}\)/,
      );
    }
  });
});
