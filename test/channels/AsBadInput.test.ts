import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { JsonRpcProvider, Signature, Wallet, keccak256, parseEther, toUtf8Bytes } from "ethers";

import type { PaymentChannels } from "../../typechain-types";

import { AuthorizationServer } from "../../src/channels/as-server";
import { ChannelClient } from "../../src/channels/client";
import { openedChannel } from "../../src/channels/key";
import { AsStore } from "../../src/channels/store";
import { ReceiptVerifier } from "../../src/channels/verify";
import { signReceipt } from "../../src/eip712/receipt";
import { parseHttpFlags } from "../../src/cli/http";
import { DEFAULT_LIMITS } from "../../src/http/service";
import type { HttpOptions } from "../../src/http/service";
import { buildGroup } from "../../src/merkle/group";
import { channelsFixture } from "../shared/fixtures";
import type { ChannelsFixture } from "../shared/fixtures";
import { RpcProxy, deadUrl, dribble, memoryLogger, postJson, rawConnect, request } from "../shared/http";
import type { RawAnswer } from "../shared/http";

const DAY = 86_400n;
const PRICE = parseEther("0.01");
const LOCK = keccak256(toUtf8Bytes("SN-LOCK-BAD-INPUT"));
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
/** What no answer may contain: ethers, SQLite, Node or stack text. */
const INTERNAL =
  /ethers|version=|SQLITE|sqlite|better-sqlite|ECONN|TypeError|RangeError|\.ts:\d|at [A-Za-z.]+ \(|Hardhat/;

interface Started {
  f: ChannelsFixture;
  server: AuthorizationServer;
  store: AsStore;
  dbFile: string;
  url: string;
  proxy: RpcProxy;
  logs: Record<string, unknown>[];
  clients: ChannelClient[];
  channelId: string;
  body: (amount?: bigint, signer?: Wallet) => Promise<Record<string, unknown>>;
  /** A first receipt by client 1 for the channel these params name (one the AS may not know), signed for it. */
  bodyFor: (channel: Record<string, unknown>) => Promise<Record<string, unknown>>;
  /** Everything a bad request must leave as it was. */
  snapshot: () => unknown;
}

describe("Authorization Server: bad input, slow clients, chain faults, health and metrics", function () {
  const cleanups: (() => Promise<void> | void)[] = [];

  after(async function () {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  /** A fixture channel, an AS reading the chain through an {@link RpcProxy}, and one slot already bought. */
  async function start(
    o: { http?: HttpOptions; unknownChannelTtl?: number; headCacheMs?: number } = {},
  ): Promise<Started> {
    const f = await loadFixture(channelsFixture);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-as-bad-"));
    const proxy = await new RpcProxy().start();
    const group = buildGroup(f.clients.map((c) => c.address));
    const expiry = BigInt(await time.latest()) + DAY;
    const tx = await f.channels
      .connect(f.owner)
      .openEth(f.server.address, expiry, group.root, 1n, { value: parseEther("0.05") });
    const { channelId, openBlock } = openedChannel(f.channels, await tx.wait());
    const chainNow = await time.latest();
    const store = new AsStore(path.join(dir, "as.sqlite"), { create: true });
    const logs: Record<string, unknown>[] = [];
    const server = new AuthorizationServer({
      channels: f.channels.connect(proxy.provider(f.chainId)),
      payee: f.server.address,
      verifier: new ReceiptVerifier(f.domain),
      store,
      now: () => chainNow,
      unknownChannelTtl: o.unknownChannelTtl,
      headCacheMs: o.headCacheMs,
      http: { logger: memoryLogger(logs), ...o.http },
    });
    server.provisionDevice(LOCK, crypto.randomBytes(32).toString("hex"), PRICE);
    const url = await server.listen(0);
    cleanups.push(async () => {
      await server.stop();
      store.close();
      await proxy.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    });
    const params = {
      owner: f.owner.address,
      token: false,
      clientRoot: group.root,
      salt: "1",
      openBlock: openBlock.toString(),
    };
    const clients = f.clients.map(
      (w) =>
        new ChannelClient(w, { ...params, channelId, deposit: parseEther("0.05") }, group.proofs[w.address], f.domain),
    );
    await clients[0].buy(url, LOCK, PRICE);
    const body = async (amount = 2n * PRICE, signer = f.clients[1]) => ({
      channel: { ...params },
      deviceId: LOCK,
      amount: amount.toString(),
      signature: await signReceipt(signer, f.domain, { channelId, cumulativeAmount: amount }),
      proof: group.proofs[f.clients[1].address],
    });
    const bodyFor = async (channel: Record<string, unknown>) => {
      const named = { ...params, ...channel };
      return {
        channel: named,
        deviceId: LOCK,
        amount: PRICE.toString(),
        signature: await signReceipt(f.clients[1], f.domain, {
          channelId: server.channelIdOf(named),
          cumulativeAmount: PRICE,
        }),
        proof: group.proofs[f.clients[1].address],
      };
    };
    const snapshot = () => ({
      receipts: store.receiptCount(),
      best: [...store.bestReceipts()].map(([id, r]) => [id, r.amount.toString(), r.otpCounter]),
      devices: store.devices().map((d) => [d.deviceId, d.counter]),
      channels: store.channels().map((c) => [c.channelId, c.deposit.toString(), c.closed]),
    });
    return {
      f,
      server,
      store,
      dbFile: path.join(dir, "as.sqlite"),
      url,
      proxy,
      logs,
      clients,
      channelId,
      body,
      bodyFor,
      snapshot,
    };
  }

  /** Asserts an answer: its status, a message naming the problem, no internal text. */
  function expectAnswer(r: RawAnswer, status: number, message: RegExp, name = ""): void {
    expect(r.status, `${name}: ${r.text}`).to.equal(status);
    expect(r.body.error, name).to.match(message);
    // Every refusal also names its kind, for programs to branch on (README lists them).
    expect(r.body.reason, `${name}: reason`).to.match(/^[a-z][a-z0-9_]*$/);
    expect(r.text, name).not.to.match(INTERNAL);
  }

  describe("bad requests: each refused with its status and a message naming the problem; nothing changes", function () {
    let s: Started;
    let valid: Record<string, unknown>;
    let baseline: unknown;

    before(async function () {
      s = await start();
      valid = await s.body();
      baseline = s.snapshot();
    });

    const json = { "content-type": "application/json" };
    /** The valid next receipt with one change. */
    const patched = (patch: (b: Record<string, unknown> & { channel: Record<string, unknown> }) => void) => {
      const b = structuredClone(valid) as Record<string, unknown> & { channel: Record<string, unknown> };
      patch(b);
      return postJson(s.url, "/access", b);
    };
    const raw = (headers: Record<string, string>, body: string) => request(s.url, "POST", "/access", { headers, body });

    const cases: [string, () => Promise<RawAnswer>, number, RegExp][] = [
      // The body itself: JSON only, well-formed, not empty, bounded.
      ["malformed JSON", () => raw(json, '{"channel": {'), 400, /^the body is not valid JSON$/],
      ["JSON with trailing garbage", () => raw(json, "{} x"), 400, /not valid JSON/],
      ["JSON with a __proto__ key", () => raw(json, '{"__proto__": {"admin": true}}'), 400, /not valid JSON/],
      ["empty body", () => raw(json, ""), 400, /the body is empty: send a JSON object/],
      [
        "no content-type",
        () => raw({}, JSON.stringify(valid)),
        415,
        /a body without a content-type is not accepted: send the body as application\/json/,
      ],
      [
        "text/plain",
        () => raw({ "content-type": "text/plain" }, JSON.stringify(valid)),
        415,
        /"text\/plain" is not accepted/,
      ],
      [
        "form-encoded",
        () => raw({ "content-type": "application/x-www-form-urlencoded" }, "a=1"),
        415,
        /"application\/x-www-form-urlencoded" is not accepted/,
      ],
      [
        "multipart",
        () => raw({ "content-type": "multipart/form-data; boundary=x" }, "--x--"),
        415,
        /multipart\/form-data.* is not accepted/,
      ],
      [
        "oversize body (20 KiB)",
        () => raw(json, JSON.stringify({ ...valid, pad: "a".repeat(20 * 1024) })),
        413,
        /the body is larger than 16384 bytes/,
      ],
      ["an array", () => raw(json, "[]"), 400, /^body must be object$/],
      ["a string", () => raw(json, '"hello"'), 400, /^body must be object$/],
      ["null", () => raw(json, "null"), 400, /^body must be object$/],
      // Types are not coerced.
      [
        "amount as a number",
        () => patched((b) => (b.amount = Number(2n * PRICE))),
        400,
        /^body\/amount must be string$/,
      ],
      [
        'token as "false"',
        () => patched((b) => (b.channel.token = "false")),
        400,
        /^body\/channel\/token must be boolean$/,
      ],
      ["token as 0", () => patched((b) => (b.channel.token = 0)), 400, /^body\/channel\/token must be boolean$/],
      ["salt as a number", () => patched((b) => (b.channel.salt = 1)), 400, /^body\/channel\/salt must be string$/],
      [
        "openBlock as a number",
        () => patched((b) => (b.channel.openBlock = 5)),
        400,
        /^body\/channel\/openBlock must be string$/,
      ],
      ["proof as a string", () => patched((b) => (b.proof = "0x00")), 400, /^body\/proof must be array$/],
      ["channel as null", () => patched((b) => (b.channel = null as never)), 400, /^body\/channel must be object$/],
      // Required and unknown fields.
      ["no signature", () => patched((b) => delete b.signature), 400, /must have required property 'signature'/],
      [
        "no channel owner",
        () => patched((b) => delete b.channel.owner),
        400,
        /body\/channel must have required property 'owner'/,
      ],
      [
        "an unknown field",
        () => patched((b) => (b.extra = 1)),
        400,
        /^body must NOT have additional properties \("extra"\)$/,
      ],
      [
        "an unknown channel field",
        () => patched((b) => (b.channel.payee = s.f.server.address)),
        400,
        /^body\/channel must NOT have additional properties \("payee"\)$/,
      ],
      // Formats the schema checks.
      [
        "owner not hex",
        () => patched((b) => (b.channel.owner = `0x${"zz".repeat(20)}`)),
        400,
        /^body\/channel\/owner must match pattern/,
      ],
      [
        "owner too short",
        () => patched((b) => (b.channel.owner = "0x1234")),
        400,
        /body\/channel\/owner must match pattern/,
      ],
      [
        "salt with 30 digits",
        () => patched((b) => (b.channel.salt = "1".repeat(30))),
        400,
        /body\/channel\/salt must match pattern/,
      ],
      ["negative salt", () => patched((b) => (b.channel.salt = "-1")), 400, /body\/channel\/salt must match pattern/],
      [
        "fractional salt",
        () => patched((b) => (b.channel.salt = "1.5")),
        400,
        /body\/channel\/salt must match pattern/,
      ],
      [
        "openBlock with 20 digits",
        () => patched((b) => (b.channel.openBlock = "9".repeat(20))),
        400,
        /body\/channel\/openBlock must match pattern/,
      ],
      ["amount in hex", () => patched((b) => (b.amount = "0x10")), 400, /^body\/amount must match pattern/],
      ["empty amount", () => patched((b) => (b.amount = "")), 400, /^body\/amount must match pattern/],
      [
        "amount with 30 digits",
        () => patched((b) => (b.amount = "9".repeat(30))),
        400,
        /^body\/amount must match pattern/,
      ],
      ["short deviceId", () => patched((b) => (b.deviceId = "0x1234")), 400, /^body\/deviceId must match pattern/],
      [
        "clientRoot of 63 hex digits",
        () => patched((b) => (b.channel.clientRoot = `0x${"a".repeat(63)}`)),
        400,
        /body\/channel\/clientRoot must match pattern/,
      ],
      [
        "a 64-byte signature",
        () => patched((b) => (b.signature = `0x${"11".repeat(64)}`)),
        400,
        /^body\/signature must match pattern/,
      ],
      [
        "a signature that is not hex",
        () => patched((b) => (b.signature = `0x${"gg".repeat(65)}`)),
        400,
        /^body\/signature must match pattern/,
      ],
      [
        "33 proof nodes",
        () => patched((b) => (b.proof = Array(33).fill(`0x${"00".repeat(32)}`))),
        400,
        /^body\/proof must NOT have more than 32 items$/,
      ],
      ["a bad proof node", () => patched((b) => (b.proof = ["0x00"])), 400, /^body\/proof\/0 must match pattern/],
      // What the schema cannot say: these were 500 with ethers' text.
      [
        "owner with a bad EIP-55 checksum",
        () => patched((b) => (b.channel.owner = (b.channel.owner as string).replace(/[a-f]/, (c) => c.toUpperCase()))),
        400,
        /^body\/channel\/owner 0x[0-9a-fA-F]{40} fails its EIP-55 checksum/,
      ],
      [
        "salt of 2^96",
        () => patched((b) => (b.channel.salt = (2n ** 96n).toString())),
        400,
        /^body\/channel\/salt 79228162514264337593543950336 does not fit in 96 bits$/,
      ],
      ["salt of 10^29 - 1", () => patched((b) => (b.channel.salt = "9".repeat(29))), 400, /does not fit in 96 bits/],
      // Well-formed, but refused by the AS's rules.
      [
        "salt of 2^96 - 1 (fits; no such channel)",
        async () => postJson(s.url, "/access", await s.bodyFor({ salt: (2n ** 96n - 1n).toString() })),
        404,
        /is not open for this AS on chain/,
      ],
      [
        "an owner in lower case (no such channel)",
        async () =>
          postJson(s.url, "/access", await s.bodyFor({ owner: s.f.alice.address.toLowerCase().replace(/.$/, "0") })),
        404,
        /is not open for this AS on chain/,
      ],
      [
        "a signature with v = 0",
        () => patched((b) => (b.signature = `${(b.signature as string).slice(0, -2)}00`)),
        400,
        /the receipt signature is malformed or not canonical/,
      ],
      [
        "the high-s twin of a valid signature",
        async () => {
          const sig = Signature.from(valid.signature as string);
          const highS = (N - BigInt(sig.s)).toString(16).padStart(64, "0");
          return patched((b) => (b.signature = `${sig.r}${highS}${sig.v === 27 ? "1c" : "1b"}`));
        },
        400,
        /not canonical \(high s\)/,
      ],
      [
        "the wrong amount",
        async () => postJson(s.url, "/access", await s.body(3n * PRICE)),
        409,
        /amount must be 20000000000000000 \(previous 10000000000000000 \+ price 10000000000000000\), got 30000000000000000/,
      ],
      [
        "signed by an outsider",
        async () => postJson(s.url, "/access", await s.body(2n * PRICE, Wallet.createRandom() as unknown as Wallet)),
        403,
        /receipt signer 0x[0-9a-fA-F]{40} is not in the channel's client group/,
      ],
      [
        "an unknown device",
        () => patched((b) => (b.deviceId = keccak256(toUtf8Bytes("nope")))),
        404,
        /^unknown device 0x/,
      ],
      [
        "an unknown channel",
        async () => postJson(s.url, "/access", await s.bodyFor({ salt: "99" })),
        404,
        /^channel 0x[0-9a-f]{64} is not open for this AS on chain$/,
      ],
      [
        "another channel's receipt (refused before any chain read)",
        () => patched((b) => (b.channel.salt = "99")),
        403,
        /^receipt signer 0x[0-9a-fA-F]{40} is not in the channel's client group$/,
      ],
      // Other routes.
      // The HTTP layer: every answer is `{ error }`, router errors included.
      [
        "a body labelled charset=utf-16 (it would be misread as UTF-8)",
        () => raw({ "content-type": "application/json; charset=utf-16" }, JSON.stringify(valid)),
        415,
        /^charset "utf-16" is not accepted: send the body as UTF-8 JSON$/,
      ],
      [
        "a bad %-escape in the URL",
        () => postJson(s.url, "/devices/%ZZ/ack", { base: 1, mac: "00".repeat(16) }),
        400,
        /^the URL is malformed \(a bad %-escape in its path\)$/,
      ],
      [
        "an acknowledgement for a device id that is not 32 bytes of hex",
        () => postJson(s.url, "/devices/lock-1/ack", { base: 1, mac: "00".repeat(16) }),
        400,
        /^params\/id must match pattern/,
      ],
      [
        "a challenge for a device id that is not 32 bytes of hex",
        () => request(s.url, "GET", `/devices/0x${"12".repeat(20)}/challenge`),
        400,
        /^params\/id must match pattern/,
      ],
      [
        "an overlong path parameter",
        () => postJson(s.url, `/devices/${"a".repeat(8000)}/ack`, { base: 1, mac: "00".repeat(16) }),
        414,
        /^a path parameter is longer than 100 characters$/,
      ],
      [
        "a receipt for a channel id that is not hex",
        () => request(s.url, "GET", "/channels/not-a-channel/receipt"),
        400,
        /^params\/id must match pattern/,
      ],
      ["an unknown route", () => request(s.url, "GET", "/admin"), 404, /^no route GET \/admin$/],
      [
        "the wrong method",
        () => request(s.url, "PUT", "/access", { headers: json, body: "{}" }),
        404,
        /^no route PUT \/access$/,
      ],
    ];

    /** The stable machine-readable `reason` of some of them (the rest are checked to carry one). */
    const reasons: Record<string, string> = {
      "malformed JSON": "bad_json",
      "no content-type": "unsupported_media_type",
      "oversize body (20 KiB)": "body_too_large",
      "an unknown field": "invalid_body",
      "owner with a bad EIP-55 checksum": "bad_checksum",
      "salt of 2^96": "salt_too_large",
      "a signature with v = 0": "bad_signature",
      "the high-s twin of a valid signature": "bad_signature",
      "the wrong amount": "wrong_amount",
      "signed by an outsider": "not_member",
      "an unknown device": "unknown_device",
      "an unknown channel": "unknown_channel",
      "a body labelled charset=utf-16 (it would be misread as UTF-8)": "unsupported_media_type",
      "an overlong path parameter": "uri_too_long",
      "an unknown route": "no_route",
    };
    for (const [name, run, status, message] of cases) {
      it(`${name}: ${status}`, async function () {
        const r = await run();
        expectAnswer(r, status, message, name);
        if (reasons[name] !== undefined) expect(r.body.reason, name).to.equal(reasons[name]);
        expect(s.snapshot(), name).to.deep.equal(baseline);
      });
    }

    it(`after all ${cases.length} of them, the next receipt buys the next code`, async function () {
      const grant = await s.clients[1].buy(s.url, LOCK, PRICE);
      expect(grant).to.include({ amount: (2n * PRICE).toString(), counter: 1 });
      expect(s.store.receiptCount()).to.equal(2);
    });
  });

  describe("no internal message reaches a client", function () {
    it("an internal failure answers 500 'internal error' with a request id that is in the log, and nothing else", async function () {
      const s = await start();
      // A failure the AS does not expect (a bug, not a database fault, which is a 503): the commit throws.
      (s.store as unknown as { commit: () => Promise<void> }).commit = () =>
        Promise.reject(new TypeError("The database connection is not open"));
      const r = await postJson(s.url, "/access", await s.body());
      expect(r.status).to.equal(500);
      expect(r.body).to.deep.equal({
        error: `internal error (request ${r.body.requestId})`,
        reason: "internal",
        requestId: r.body.requestId,
      });
      expect(r.body.requestId).to.match(/^[0-9a-f-]{36}$/);
      const logged = s.logs.find((l) => l.reqId === r.body.requestId);
      expect(logged?.msg).to.equal("internal error");
      expect(JSON.stringify(logged?.err)).to.match(/database connection is not open/);
    });
  });

  describe("slow and abusive clients", function () {
    const tight = { requestTimeoutMs: 600, headersTimeoutMs: 300, keepAliveTimeoutMs: 200 };

    it("slowloris: headers sent a line at a time are cut off by the headers timeout (408, the server closes)", async function () {
      const s = await start({ http: { limits: tight } });
      const socket = await rawConnect(s.url);
      socket.socket.write("POST /access HTTP/1.1\r\nHost: x\r\n");
      const closed = await dribble(socket, "X-Slow: 1\r\n", 50, 400);
      expect(closed, "the server never closed the connection").to.equal(true);
      expect((await socket.closed).byServer).to.equal(true);
      expect(socket.received()).to.match(/^HTTP\/1\.1 408 Request Timeout/);
      expect(socket.received()).to.match(/"error":"the request was not received in time/);
    });

    it("a slow body is cut off by the request timeout (408, the server closes); nothing is stored", async function () {
      const s = await start({ http: { limits: tight } });
      const before = s.snapshot();
      const payload = JSON.stringify(await s.body());
      const socket = await rawConnect(s.url);
      socket.socket.write(
        `POST /access HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${payload.length}\r\n\r\n`,
      );
      let closed = false;
      for (let i = 0; i < payload.length - 1 && !closed; i += 4) {
        closed = await dribble(socket, payload.slice(i, i + 4), 50, 1);
      }
      expect(closed, "the server never closed the connection").to.equal(true);
      expect((await socket.closed).byServer).to.equal(true);
      expect(socket.received()).to.match(/^HTTP\/1\.1 408/);
      expect(s.snapshot()).to.deep.equal(before);
    });

    it("an idle keep-alive connection is closed by the server after the keep-alive timeout", async function () {
      const s = await start({ http: { limits: tight } });
      const socket = await rawConnect(s.url);
      socket.socket.write("GET /devices HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n");
      const { byServer } = await socket.closed;
      expect(byServer).to.equal(true);
      expect(socket.received()).to.match(/^HTTP\/1\.1 200 OK/);
    });

    it("past the connection cap, a new connection is closed at once; the open ones are served", async function () {
      const s = await start({ http: { limits: { maxConnections: 2 } } });
      /** Resolves once the server holds no connection. */
      const allClosed = async (): Promise<void> => {
        while ((await new Promise<number>((resolve) => s.server.app.server.getConnections((_e, n) => resolve(n)))) > 0)
          await new Promise((resolve) => setTimeout(resolve, 10));
      };
      s.server.app.server.closeIdleConnections(); // the clients' pooled keep-alive connections
      await allClosed();
      const first = await rawConnect(s.url);
      const second = await rawConnect(s.url);
      const third = await rawConnect(s.url);
      expect((await third.closed).byServer).to.equal(true);
      expect(third.received()).to.equal("");
      first.socket.write("GET /devices HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      expect((await first.closed).byServer).to.equal(true);
      expect(first.received()).to.match(/^HTTP\/1\.1 200 OK/);
      second.close();
      // Until the server has seen it close, /metrics' own connection would be a third one, dropped too.
      await allClosed();
      const metrics = await request(s.url, "GET", "/metrics");
      expect(metrics.text).to.match(/^thingledger_as_dropped_connections_total 1$/m);
    });

    it("a client over the rate limit gets 429 with Retry-After and a clear message; /health and /metrics stay open", async function () {
      const s = await start({ http: { limits: { rateLimit: { max: 3, windowMs: 60_000 } } } });
      // The start bought one slot: two requests (the previous receipt, then /access) of the three.
      expect((await request(s.url, "GET", "/devices")).status).to.equal(200);
      const before = s.snapshot();
      const refused = await postJson(s.url, "/access", await s.body());
      expectAnswer(
        refused,
        429,
        /^rate limit: at most 3 requests per 60 s from one client; retry in \d+ (seconds|minute)/,
      );
      expect(Number(refused.headers["retry-after"])).to.be.greaterThan(0);
      expect(s.snapshot()).to.deep.equal(before);
      expect((await request(s.url, "GET", "/health")).status).to.equal(200);
      expect((await request(s.url, "GET", "/metrics")).text).to.match(
        /^thingledger_as_rejections_total\{reason="rate_limited",status="429"\} 1$/m,
      );
    });

    it("500 requests for one unknown channel make one chain read (the unknown-channel cache), all 404", async function () {
      const s = await start();
      const selector = s.f.channels.interface.getFunction("getChannel").selector;
      const before = s.proxy.count(`eth_call:${selector}`);
      const bogus = await s.bodyFor({ salt: "424242" });
      const answers: RawAnswer[] = [];
      for (let i = 0; i < 500; i += 50) {
        answers.push(...(await Promise.all(Array.from({ length: 50 }, () => postJson(s.url, "/access", bogus)))));
      }
      expect(answers.map((a) => a.status)).to.deep.equal(Array(500).fill(404));
      expect(answers[499].body.error).to.match(/is not open for this AS on chain/);
      expect(s.proxy.count(`eth_call:${selector}`) - before).to.equal(1);
      const metrics = await request(s.url, "GET", "/metrics");
      expect(metrics.text).to.match(/^thingledger_as_unknown_channel_cache_hits_total 499$/m);
    });

    it("without the cache (TTL 0), each of those requests is a chain read", async function () {
      const s = await start({ unknownChannelTtl: 0 });
      const selector = s.f.channels.interface.getFunction("getChannel").selector;
      const before = s.proxy.count(`eth_call:${selector}`);
      const bogus = await s.bodyFor({ salt: "424242" });
      for (let i = 0; i < 5; i++) expect((await postJson(s.url, "/access", bogus)).status).to.equal(404);
      expect(s.proxy.count(`eth_call:${selector}`) - before).to.equal(5);
    });
  });

  describe("a request that fails anyway costs no chain read", function () {
    it("200 requests for distinct unknown channels, refused by a local check, make no RPC call at all", async function () {
      const s = await start();
      const rpcCalls = () => [...s.proxy.calls.values()].reduce((a, b) => a + b, 0);
      const before = s.snapshot();
      const calls = rpcCalls();
      const kinds = [
        // A garbage signature (it recovers to no one): 400.
        (b: Record<string, unknown>) => (b.signature = `0x${"11".repeat(65)}`),
        // A device this AS does not serve: 404.
        (b: Record<string, unknown>) => (b.deviceId = `0x${"22".repeat(32)}`),
        // Signed, but not for the channel it names (another channel's receipt): 403.
        () => undefined,
      ];
      const answers: RawAnswer[] = [];
      for (let i = 0; i < 200; i += 50) {
        answers.push(
          ...(await Promise.all(
            Array.from({ length: 50 }, async (_, j) => {
              const b = structuredClone(await s.body()) as Record<string, unknown> & { channel: { salt: string } };
              b.channel.salt = String(1_000_000 + i + j);
              kinds[(i + j) % 3](b);
              return postJson(s.url, "/access", b);
            }),
          )),
        );
      }
      expect(new Set(answers.map((a) => a.status))).to.deep.equal(new Set([400, 404, 403]));
      expect(answers[0].body.error).to.equal("the receipt signature is malformed or not canonical (high s)");
      expect(answers[1].body.error).to.equal(`unknown device 0x${"22".repeat(32)}`);
      expect(answers[2].body.error).to.match(/^receipt signer 0x[0-9a-fA-F]{40} is not in the channel's client group$/);
      expect(rpcCalls() - calls).to.equal(0);
      expect(s.snapshot()).to.deep.equal(before);
    });

    it("a request for a channel before its open is mined does not shut out the real open (no 'not open' remembered)", async function () {
      // The head it is refused with refuses later blocks for headCacheMs: the real open is served after it.
      const s = await start({ headCacheMs: 200 });
      const selector = s.f.channels.interface.getFunction("getChannel").selector;
      const head = await time.latestBlock();
      // A group member asks for the channel of the next block before it exists (a client racing its own open).
      const early = await s.bodyFor({ salt: "77", openBlock: String(head + 1) });
      const reads = s.proxy.count(`eth_call:${selector}`);
      const pre = await postJson(s.url, "/access", early);
      expectAnswer(
        pre,
        404,
        new RegExp(
          `^channel 0x[0-9a-f]{64} is not open on chain: it names block ${head + 1}, and the chain is at block ${head}$`,
        ),
      );
      // The block does not exist: the AS did not even read the channel.
      expect(s.proxy.count(`eth_call:${selector}`) - reads).to.equal(0);
      const group = buildGroup(s.f.clients.map((c) => c.address));
      const expiry = BigInt(await time.latest()) + DAY;
      const tx = await s.f.channels
        .connect(s.f.owner)
        .openEth(s.f.server.address, expiry, group.root, 77n, { value: parseEther("0.05") });
      const { channelId, openBlock } = openedChannel(s.f.channels, await tx.wait());
      expect(openBlock).to.equal(BigInt(head + 1));
      await new Promise((resolve) => setTimeout(resolve, 250)); // past the head cache
      const r = await postJson(s.url, "/access", early);
      expect(r.status, r.text).to.equal(200);
      expect(s.store.receiptAmounts(channelId)).to.deep.equal([PRICE]);
    });

    it("N3: 200 requests naming a far-future openBlock cost at most a couple of head reads (shared, cached), all 404, no channel read", async function () {
      // A head cache longer than any run of the 200 requests: on a loaded machine they can take longer than the
      // default 1 s, and the count must not depend on how fast the machine is.
      const s = await start({ headCacheMs: 600_000 });
      const selector = s.f.channels.interface.getFunction("getChannel").selector;
      const reads = s.proxy.count(`eth_call:${selector}`);
      const heads = s.proxy.count("eth_blockNumber");
      const head = await time.latestBlock();
      const far = "9000000000000000000";
      const bodies = await Promise.all(
        Array.from({ length: 200 }, (_, i) => s.bodyFor({ salt: String(5_000 + i), openBlock: far })),
      );
      const answers: RawAnswer[] = [];
      for (let i = 0; i < 200; i += 50)
        answers.push(...(await Promise.all(bodies.slice(i, i + 50).map((b) => postJson(s.url, "/access", b)))));
      expect(answers.map((a) => a.status)).to.deep.equal(Array(200).fill(404));
      expectAnswer(
        answers[199],
        404,
        new RegExp(
          `^channel 0x[0-9a-f]{64} is not open on chain: it names block ${far}, and the chain is at block ${head}$`,
        ),
      );
      // The first refusal reads the head; it refuses the others for headCacheMs. Was 200.
      expect(s.proxy.count("eth_blockNumber") - heads).to.be.within(1, 2);
      expect(s.proxy.count(`eth_call:${selector}`) - reads).to.equal(0);
      expect(s.snapshot()).to.deep.include({ receipts: 1 });
    });

    it("N3: with headCacheMs 0, each of those requests reads the head", async function () {
      const s = await start({ headCacheMs: 0 });
      const heads = s.proxy.count("eth_blockNumber");
      const body = await s.bodyFor({ salt: "5999", openBlock: "9000000000000000000" });
      for (let i = 0; i < 5; i++) expect((await postJson(s.url, "/access", body)).status).to.equal(404);
      expect(s.proxy.count("eth_blockNumber") - heads).to.equal(5);
    });

    it("a channel read as not open at a block the AS has seen is remembered (one read for many requests)", async function () {
      const s = await start();
      const selector = s.f.channels.interface.getFunction("getChannel").selector;
      const reads = s.proxy.count(`eth_call:${selector}`);
      // Its block exists, and no such channel was opened in it: final.
      const body = await s.bodyFor({ salt: "78", openBlock: String(await time.latestBlock()) });
      for (let i = 0; i < 3; i++)
        expectAnswer(await postJson(s.url, "/access", body), 404, /is not open for this AS on chain$/);
      expect(s.proxy.count(`eth_call:${selector}`) - reads).to.equal(1);
    });
  });

  describe("chain faults", function () {
    /** A new channel's first receipt: the AS must read the chain to serve it. */
    async function newChannelBody(s: Started): Promise<Record<string, unknown>> {
      const group = buildGroup(s.f.clients.map((c) => c.address));
      const expiry = BigInt(await time.latest()) + DAY;
      const tx = await s.f.channels
        .connect(s.f.owner)
        .openEth(s.f.server.address, expiry, group.root, 7n, { value: parseEther("0.05") });
      const { channelId, openBlock } = openedChannel(s.f.channels, await tx.wait());
      return {
        channel: {
          owner: s.f.owner.address,
          token: false,
          clientRoot: group.root,
          salt: "7",
          openBlock: openBlock.toString(),
        },
        deviceId: LOCK,
        amount: PRICE.toString(),
        signature: await signReceipt(s.f.clients[2], s.f.domain, { channelId, cumulativeAmount: PRICE }),
        proof: group.proofs[s.f.clients[2].address],
      };
    }

    it("a hung RPC: 503 'chain unavailable' with Retry-After after the RPC timeout, not 500; nothing changes; served once it answers", async function () {
      const s = await start({ http: { limits: { rpcTimeoutMs: 200 } } });
      const body = await newChannelBody(s);
      const before = s.snapshot();
      s.proxy.mode = "hang";
      const r = await postJson(s.url, "/access", body);
      expectAnswer(
        r,
        503,
        /^chain unavailable: the AS cannot check channel 0x[0-9a-f]{64} on chain; try again shortly$/,
      );
      expect(r.headers["retry-after"]).to.equal("5");
      expect(s.snapshot()).to.deep.equal(before);
      const health = await request(s.url, "GET", "/health");
      expect(health.status).to.equal(503);
      expect(health.body.rpc).to.deep.equal({
        ok: false,
        reachable: false,
        error: "chain unavailable: getBlock got no answer within 200 ms",
      });
      expect((await request(s.url, "GET", "/metrics")).text).to.match(
        /^thingledger_as_rpc_errors_total\{call="getChannel",kind="timeout"\} 1$/m,
      );
      s.proxy.mode = "up";
      const served = await postJson(s.url, "/access", body);
      expect(served.status, served.text).to.equal(200);
      expect(s.store.receiptCount()).to.equal(2);
    });

    it("an RPC that drops connections: 503 'chain unavailable', no socket or provider text", async function () {
      const s = await start({ http: { limits: { rpcTimeoutMs: 2_000 } } });
      const body = await newChannelBody(s);
      const before = s.snapshot();
      s.proxy.mode = "drop";
      const r = await postJson(s.url, "/access", body);
      expectAnswer(
        r,
        503,
        /^chain unavailable: the AS cannot check channel 0x[0-9a-f]{64} on chain; try again shortly$/,
      );
      expect(s.snapshot()).to.deep.equal(before);
    });

    it("an RPC that is down (connection refused): 503 on /access and on /health, nothing changes", async function () {
      const s = await start();
      const body = await newChannelBody(s);
      await s.server.stop();
      const dead = new AuthorizationServer({
        channels: s.f.channels.connect(new JsonRpcProvider(await deadUrl(), s.f.chainId, { staticNetwork: true })),
        payee: s.f.server.address,
        verifier: new ReceiptVerifier(s.f.domain),
        store: s.store,
        http: { limits: { rpcTimeoutMs: 2_000 } },
      });
      const url = await dead.listen(0);
      cleanups.push(() => dead.stop());
      const before = s.snapshot();
      const r = await postJson(url, "/access", body);
      expectAnswer(
        r,
        503,
        /^chain unavailable: the AS cannot check channel 0x[0-9a-f]{64} on chain; try again shortly$/,
      );
      const health = await request(url, "GET", "/health");
      expect(health.status).to.equal(503);
      expect(health.body).to.deep.include({ ok: false, db: { ok: true, writable: true } });
      expect(health.body.rpc).to.deep.equal({
        ok: false,
        reachable: false,
        error: "chain unavailable: getBlock failed",
      });
      expect(s.snapshot()).to.deep.equal(before);
    });
  });

  describe("the serve tasks' limit flags", function () {
    it("parse into limits with the defaults; a bad value is one line naming the flag", function () {
      expect(parseHttpFlags({})).to.deep.equal({
        limits: {
          rateLimit: { max: 1_000, windowMs: 10_000 },
          maxConnections: undefined,
          bodyLimit: undefined,
          requestTimeoutMs: undefined,
          headersTimeoutMs: undefined,
          keepAliveTimeoutMs: undefined,
          rpcTimeoutMs: undefined,
        },
        maxChainLagSeconds: undefined,
        healthCacheMs: undefined,
        logLevel: "info",
      });
      const parsed = parseHttpFlags({
        rateLimit: "0",
        requestTimeout: "2500",
        maxLag: "120",
        healthCache: "0",
        logLevel: "silent",
      });
      expect(parsed).to.deep.include({ maxChainLagSeconds: 120, healthCacheMs: 0, logLevel: "silent" });
      expect(parsed.limits).to.include({ rateLimit: false, requestTimeoutMs: 2500 });
      expect(() => parseHttpFlags({ rateLimit: "lots" })).to.throw(/^--rate-limit: "lots" is not a whole number ≥ 0$/);
      expect(() => parseHttpFlags({ rpcTimeout: "0" })).to.throw(/^--rpc-timeout: "0" is not a whole number ≥ 1$/);
      expect(() => parseHttpFlags({ logLevel: "loud" })).to.throw(/^--log-level: "loud" is not one of fatal, error/);
      // A service built from them keeps the library's default for what was not given (headers never get
      // longer than the whole request).
      const store = new AsStore(":memory:");
      const server = new AuthorizationServer({
        payee: Wallet.createRandom().address,
        verifier: new ReceiptVerifier({ chainId: 1n }),
        store,
        http: { limits: parseHttpFlags({ requestTimeout: "2500" }).limits },
      });
      expect(server.limits).to.deep.equal({
        ...DEFAULT_LIMITS,
        requestTimeoutMs: 2500,
        headersTimeoutMs: 2500,
        rateLimit: { max: 1_000, windowMs: 10_000 },
      });
      store.close();
    });
  });

  describe("/health and /metrics", function () {
    /** Counts the database write probes of /health. */
    function countProbes(s: Started): { n: number } {
      const count = { n: 0 };
      const probe = s.store.probeWrite.bind(s.store);
      s.store.probeWrite = () => {
        count.n++;
        return probe();
      };
      return count;
    }

    it("/health: 200 when the RPC, the database and the close loop are ok; 503 naming each that is not", async function () {
      // healthCacheMs 0: each /health probes again (the database goes away between two of them).
      const s = await start({ http: { healthCacheMs: 0 } });
      const ok = await request(s.url, "GET", "/health");
      expect(ok.status).to.equal(200);
      expect(ok.body).to.deep.include({ ok: true, db: { ok: true, writable: true }, loops: {}, receipts: 1 });
      expect(ok.body.rpc).to.include({ ok: true, reachable: true, head: await time.latestBlock() });

      // The close loop: its last run failed (the error's internal text stays in the log).
      s.server.watchLoop("close", 30);
      await expect(s.server.track("close", () => Promise.reject(new Error("nonce too low (internal)")))).to.be.rejected;
      const failing = await request(s.url, "GET", "/health");
      expect(failing.status).to.equal(503);
      expect(failing.body.loops).to.deep.nested.include({
        "close.ok": false,
        "close.lastError": "failed (see the service log)",
      });
      expect(failing.text).not.to.match(/nonce/);
      await s.server.track("close", async () => undefined);
      expect((await request(s.url, "GET", "/health")).status).to.equal(200);

      // The database file is gone: not writable.
      fs.renameSync(s.dbFile, `${s.dbFile}.moved`);
      const gone = await request(s.url, "GET", "/health");
      fs.renameSync(`${s.dbFile}.moved`, s.dbFile);
      expect(gone.status).to.equal(503);
      expect(gone.body.db).to.deep.equal({
        ok: false,
        writable: false,
        error:
          "the database was deleted, replaced or could not be synced while running: nothing more is written until an operator restarts the service on the right database",
      });
      expect(gone.body.rpc).to.include({ ok: true });
      // A database that went away once is not trusted again by this process (it may be another file now):
      // the AS stays unhealthy, and sells nothing, until it is restarted on the right database.
      expect((await request(s.url, "GET", "/health")).status).to.equal(503);
    });

    it("/health probes the chain and the database at most once per healthCacheMs; its counts stay current", async function () {
      const s = await start({ http: { healthCacheMs: 60_000 } });
      const probes = countProbes(s);
      const blocks = s.proxy.count("eth_getBlockByNumber");
      const answers: RawAnswer[] = [];
      for (let i = 0; i < 4; i++)
        answers.push(...(await Promise.all(Array.from({ length: 25 }, () => request(s.url, "GET", "/health")))));
      expect(answers.map((a) => a.status)).to.deep.equal(Array(100).fill(200));
      expect(probes.n).to.equal(1);
      expect(s.proxy.count("eth_getBlockByNumber") - blocks).to.equal(1);
      // The receipt count is kept in memory, not cached: a sale shows at once.
      expect(answers[99].body.receipts).to.equal(1);
      await s.clients[1].buy(s.url, LOCK, PRICE);
      expect((await request(s.url, "GET", "/health")).body.receipts).to.equal(2);
      expect(probes.n).to.equal(1);
    });

    it("/health with healthCacheMs 0 probes on every call", async function () {
      const s = await start({ http: { healthCacheMs: 0 } });
      const probes = countProbes(s);
      for (let i = 0; i < 3; i++) expect((await request(s.url, "GET", "/health")).status).to.equal(200);
      expect(probes.n).to.equal(3);
    });

    it("/health judges the chain head's age only when told to (maxChainLagSeconds)", async function () {
      // A chain whose head is ten minutes old (a stalled node), seen by two services.
      const stalled = {
        getBlock: async () => ({ number: 1234, timestamp: Math.floor(Date.now() / 1000) - 600 }),
      };
      const health = async (http: HttpOptions) => {
        const store = new AsStore(":memory:");
        const server = new AuthorizationServer({
          channels: { runner: { provider: stalled } } as unknown as PaymentChannels,
          payee: Wallet.createRandom().address,
          verifier: new ReceiptVerifier({ chainId: 1n }),
          store,
          http,
        });
        const r = await server.app.inject({ method: "GET", url: "/health" });
        await server.stop();
        store.close();
        return { status: r.statusCode, rpc: r.json<{ rpc: Record<string, unknown> }>().rpc };
      };
      const judged = await health({ maxChainLagSeconds: 120 });
      expect(judged.status).to.equal(503);
      expect(judged.rpc).to.include({ ok: false, reachable: true, head: 1234 });
      expect(judged.rpc.error).to.match(/^the head block is 60\d s old \(at most 120\)$/);
      const reported = await health({});
      expect(reported.status).to.equal(200);
      expect(reported.rpc).to.include({ ok: true, reachable: true, head: 1234 });
      expect(reported.rpc.lagSeconds).to.be.at.least(600);
    });

    it("/metrics: exchanges, rejections by reason, commit latency, requests, RPC errors", async function () {
      const s = await start({ http: { limits: { rpcTimeoutMs: 200 } } });
      await postJson(s.url, "/access", { nope: 1 });
      await request(s.url, "POST", "/access", { headers: { "content-type": "text/plain" }, body: "x" });
      await s.clients[1].buy(s.url, LOCK, PRICE);
      const m = await request(s.url, "GET", "/metrics");
      expect(m.status).to.equal(200);
      expect(m.headers["content-type"]).to.match(/^text\/plain; version=0\.0\.4/);
      expect(m.text).to.match(/^thingledger_as_exchanges_total 2$/m);
      expect(m.text).to.match(/^thingledger_as_rejections_total\{reason="invalid_body",status="400"\} 1$/m);
      expect(m.text).to.match(/^thingledger_as_rejections_total\{reason="unsupported_media_type",status="415"\} 1$/m);
      expect(m.text).to.match(/^thingledger_as_commit_duration_seconds_count 2$/m);
      expect(m.text).to.match(/^thingledger_as_http_requests_total\{route="\/access",method="POST",status="200"\} 2$/m);
      expect(m.text).to.match(/^# TYPE thingledger_as_outstanding_codes gauge$/m);
      expect(m.text).to.match(/^# TYPE thingledger_as_rpc_errors_total counter$/m);
      expect(m.text).to.match(/^# TYPE thingledger_as_loop_runs_total counter$/m);
    });
  });
});
