import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { JsonRpcProvider, Wallet, hexlify, randomBytes } from "ethers";
import type { BaseWallet } from "ethers";

import { DatabaseLost } from "../../src/db/files";
import { reportDigest, signInteractionClaim, signReport } from "../../src/eip712/report";
import { UserError } from "../../src/errors";
import type { HttpOptions } from "../../src/http/service";
import { AuditorService } from "../../src/reputation/auditor";
import type { ReportBody } from "../../src/reputation/auditor";
import { submitReports } from "../../src/reputation";
import { TREE_FILE_HEADER_BYTES } from "../../src/merkle/tree";
import { buildEpoch } from "../../src/reputation/epoch";
import { defaultModel } from "../../src/reputation/model";
import { ReportStore } from "../../src/reputation/store";
import { EPOCH_LENGTH, auditorFixture, testDevice } from "../shared/fixtures";
import type { AuditorFixture, TestDevice } from "../shared/fixtures";
import { RpcProxy, deadUrl, dribble, memoryLogger, postJson, rawConnect, request } from "../shared/http";
import type { RawAnswer } from "../shared/http";

const MODEL = defaultModel(Number(EPOCH_LENGTH));
const INTERNAL = /ethers|version=|SQLITE|sqlite|ECONN|TypeError|RangeError|\.ts:\d|at [A-Za-z.]+ \(|Hardhat/;

interface Started {
  f: AuditorFixture;
  service: AuditorService;
  store: ReportStore;
  proxy: RpcProxy;
  url: string;
  logs: Record<string, unknown>[];
  report: (reporter?: TestDevice, subject?: TestDevice) => Promise<ReportBody>;
  snapshot: () => unknown;
}

/** A report of `reporter` on `subject`, signed with `reportKey`, and the subject's claim signed with `claimKey`. */
async function signedReport(
  f: AuditorFixture,
  reporter: TestDevice,
  subject: TestDevice,
  reportKey: BaseWallet,
  claimKey: BaseWallet,
): Promise<ReportBody> {
  const interaction = hexlify(randomBytes(32));
  const timestamp = await time.latest();
  const evidence = await signInteractionClaim(claimKey, f.domain, {
    subjectId: subject.deviceId,
    reporterId: reporter.deviceId,
    interaction,
  });
  const message = {
    reporterId: reporter.deviceId,
    subjectId: subject.deviceId,
    interaction,
    rating: 90,
    timestamp: BigInt(timestamp),
  };
  const signature = await signReport(reportKey, f.domain, message);
  return { ...message, timestamp, signature, evidence };
}

describe("Auditor: bad input, slow clients, chain faults, health and metrics", function () {
  const cleanups: (() => Promise<void> | void)[] = [];

  after(async function () {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  /** The fixture's registry, read through an {@link RpcProxy}; one report already accepted. */
  async function start(http: HttpOptions = {}, o: { knownDeviceTtl?: number; file?: string } = {}): Promise<Started> {
    const f = await loadFixture(auditorFixture);
    const proxy = await new RpcProxy().start();
    const store = new ReportStore(o.file ?? ":memory:");
    const logs: Record<string, unknown>[] = [];
    const service = new AuditorService({
      registry: f.registry.connect(proxy.provider(f.chainId)),
      domain: f.domain,
      store,
      model: MODEL,
      epochLength: Number(EPOCH_LENGTH),
      http: { logger: memoryLogger(logs), ...http },
      knownDeviceTtl: o.knownDeviceTtl,
    });
    const url = await service.listen(0);
    cleanups.push(async () => {
      await service.stop();
      store.close();
      await proxy.stop();
    });
    const report = (reporter = f.devices[0], subject = f.devices[1]): Promise<ReportBody> =>
      signedReport(f, reporter, subject, reporter.wallet, subject.wallet);
    const first = await postJson(url, "/reports", await report(f.devices[2], f.devices[3]));
    expect(first.status, first.text).to.equal(201);
    const snapshot = () => ({
      count: store.count(),
      epochs: store.epochs(),
      reports: store.reportsBetween(0, 2 ** 40),
    });
    return { f, service, store, proxy, url, logs, report, snapshot };
  }

  function expectAnswer(r: RawAnswer, status: number, message: RegExp, name = ""): void {
    expect(r.status, `${name}: ${r.text}`).to.equal(status);
    expect(r.body.error, name).to.match(message);
    expect(r.text, name).not.to.match(INTERNAL);
  }

  describe("bad requests: each refused with its status and a message naming the problem; nothing stored", function () {
    let s: Started;
    let valid: ReportBody;
    let baseline: unknown;

    before(async function () {
      s = await start();
      valid = await s.report();
      baseline = s.snapshot();
    });

    const json = { "content-type": "application/json" };
    const patched = (patch: (b: Record<string, unknown>) => void) => {
      const b = structuredClone(valid) as unknown as Record<string, unknown>;
      patch(b);
      return postJson(s.url, "/reports", b);
    };
    const raw = (headers: Record<string, string>, body: string) =>
      request(s.url, "POST", "/reports", { headers, body });

    const cases: [string, () => Promise<RawAnswer>, number, RegExp][] = [
      ["malformed JSON", () => raw(json, '{"rating": '), 400, /^the body is not valid JSON$/],
      ["JSON with a __proto__ key", () => raw(json, '{"__proto__": {"x": 1}}'), 400, /^the body is not valid JSON$/],
      ["empty body", () => raw(json, ""), 400, /^the body is empty: send a JSON object$/],
      ["no content-type", () => raw({}, JSON.stringify(valid)), 415, /^a body without a content-type is not accepted/],
      [
        "text/plain",
        () => raw({ "content-type": "text/plain" }, JSON.stringify(valid)),
        415,
        /"text\/plain" is not accepted/,
      ],
      [
        "oversize body (17 KiB)",
        () => raw(json, JSON.stringify({ ...valid, pad: "a".repeat(17 * 1024) })),
        413,
        /^the body is larger than 16384 bytes$/,
      ],
      ["an array", () => raw(json, "[1]"), 400, /^body must be object$/],
      // Types are not coerced.
      ['rating as the string "90"', () => patched((b) => (b.rating = "90")), 400, /^body\/rating must be integer$/],
      ["rating 90.5", () => patched((b) => (b.rating = 90.5)), 400, /^body\/rating must be integer$/],
      ["rating true", () => patched((b) => (b.rating = true)), 400, /^body\/rating must be integer$/],
      ["rating -1", () => patched((b) => (b.rating = -1)), 400, /^body\/rating must be >= 0$/],
      ["rating 101", () => patched((b) => (b.rating = 101)), 400, /^body\/rating must be <= 100$/],
      [
        "timestamp as a string",
        () => patched((b) => (b.timestamp = String(b.timestamp))),
        400,
        /^body\/timestamp must be integer$/,
      ],
      [
        "timestamp above 2^40",
        () => patched((b) => (b.timestamp = 2 ** 40 + 1)),
        400,
        /^body\/timestamp must be <= 1099511627776$/,
      ],
      // Shapes and formats.
      [
        "no interaction",
        () => patched((b) => delete b.interaction),
        400,
        /^body must have required property 'interaction'$/,
      ],
      [
        "an unknown field",
        () => patched((b) => (b.score = 1000)),
        400,
        /^body must NOT have additional properties \("score"\)$/,
      ],
      [
        "a short reporterId",
        () => patched((b) => (b.reporterId = "0x1234")),
        400,
        /^body\/reporterId must match pattern/,
      ],
      [
        "a subjectId with 0X",
        () => patched((b) => (b.subjectId = (b.subjectId as string).replace("0x", "0X"))),
        400,
        /^body\/subjectId must match pattern/,
      ],
      [
        "a 64-byte report signature",
        () => patched((b) => (b.signature = (b.signature as string).slice(0, -2))),
        400,
        /^body\/signature must match pattern/,
      ],
      [
        "evidence of 63 bytes",
        () => patched((b) => (b.evidence = `0x${"11".repeat(63)}`)),
        400,
        /^body\/evidence must match pattern/,
      ],
      // Well-formed, refused by the auditor's rules.
      [
        "a signature with v = 0",
        () => patched((b) => (b.signature = `${(b.signature as string).slice(0, -2)}00`)),
        400,
        /^the report signature is malformed or not canonical/,
      ],
      [
        "evidence of 64 bytes of 0xff",
        () => patched((b) => (b.evidence = `0x${"ff".repeat(64)}`)),
        422,
        /^no interaction evidence/,
      ],
      [
        "evidence of 65 zero bytes",
        () => patched((b) => (b.evidence = `0x${"00".repeat(65)}`)),
        422,
        /^no interaction evidence/,
      ],
      [
        "a report on itself",
        () => patched((b) => (b.subjectId = b.reporterId)),
        400,
        /^a device cannot report on itself$/,
      ],
      [
        "a timestamp an hour ahead",
        () => patched((b) => (b.timestamp = (b.timestamp as number) + 3600)),
        400,
        /^timestamp \d+ is in the future/,
      ],
      [
        "a duplicate",
        () => postJson(s.url, "/reports", valid).then(() => postJson(s.url, "/reports", valid)),
        409,
        /^duplicate: device 0x[0-9a-f]{64} already reported on this interaction$/,
      ],
      // Other routes.
      [
        "an epoch that is not a number",
        () => request(s.url, "GET", "/epochs/abc"),
        400,
        /^"abc" is not an epoch number$/,
      ],
      ["an epoch of 11 digits", () => request(s.url, "GET", "/epochs/12345678901"), 400, /is not an epoch number/],
      [
        "a proof for a digest that is not one",
        () => request(s.url, "GET", "/epochs/1/proofs/0x12"),
        400,
        /^"0x12" is not a report digest/,
      ],
      [
        "an epoch never submitted",
        () => request(s.url, "GET", "/epochs/3"),
        404,
        /^this auditor submitted nothing in epoch 3$/,
      ],
      ["an unknown route", () => request(s.url, "DELETE", "/reports"), 404, /^no route DELETE \/reports$/],
      // The HTTP layer: every answer is `{ error }`, router errors included.
      [
        "a body labelled charset=utf-16 (it would be misread as UTF-8)",
        () => raw({ "content-type": "application/json; charset=UTF-16" }, JSON.stringify(valid)),
        415,
        /^charset "UTF-16" is not accepted: send the body as UTF-8 JSON$/,
      ],
      [
        "a bad %-escape in the URL",
        () => request(s.url, "GET", "/epochs/%E0%A4%A/proofs/0x12"),
        400,
        /^the URL is malformed \(a bad %-escape in its path\)$/,
      ],
      [
        "an overlong path parameter",
        () => request(s.url, "GET", `/epochs/${"1".repeat(5000)}`),
        414,
        /^a path parameter is longer than 100 characters$/,
      ],
    ];

    for (const [name, run, status, message] of cases) {
      it(`${name}: ${status}`, async function () {
        const expected = name === "a duplicate" ? undefined : baseline;
        const r = await run();
        expectAnswer(r, status, message, name);
        if (expected !== undefined) expect(s.snapshot(), name).to.deep.equal(expected);
        else baseline = s.snapshot(); // the first copy of the duplicate was stored, the second not
      });
    }

    it(`after all ${cases.length} of them, a good report is stored`, async function () {
      const before = s.store.count();
      const body = await s.report(s.f.devices[1], s.f.devices[0]);
      const r = await postJson(s.url, "/reports", body);
      expect(r.status, r.text).to.equal(201);
      expect(r.body.digest).to.equal(reportDigest(s.f.domain, { ...body, timestamp: BigInt(body.timestamp) }));
      expect(s.store.count()).to.equal(before + 1);
    });
  });

  describe("slow clients, chain faults, health and metrics", function () {
    it("a slow body is cut off by the request timeout (408, the server closes); nothing is stored", async function () {
      const s = await start({ limits: { requestTimeoutMs: 500, headersTimeoutMs: 300 } });
      const before = s.snapshot();
      const payload = JSON.stringify(await s.report());
      const socket = await rawConnect(s.url);
      socket.socket.write(
        `POST /reports HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${payload.length}\r\n\r\n`,
      );
      let closed = false;
      for (let i = 0; i < payload.length - 1 && !closed; i += 4)
        closed = await dribble(socket, payload.slice(i, i + 4), 50, 1);
      expect(closed, "the server never closed the connection").to.equal(true);
      expect((await socket.closed).byServer).to.equal(true);
      expect(socket.received()).to.match(/^HTTP\/1\.1 408/);
      expect(s.snapshot()).to.deep.equal(before);
    });

    it("a hung RPC: 503 'chain unavailable' after the RPC timeout, nothing stored; /health 503; accepted once it answers", async function () {
      // healthCacheMs 0: each /health probes again (the RPC comes back between two of them).
      const s = await start({ limits: { rpcTimeoutMs: 200 }, healthCacheMs: 0 });
      const body = await s.report();
      const before = s.snapshot();
      s.proxy.mode = "hang";
      const r = await postJson(s.url, "/reports", body);
      expectAnswer(r, 503, /^chain unavailable: (getBlock|getDevice) got no answer within 200 ms$/);
      expect(r.headers["retry-after"]).to.equal("5");
      expect(s.snapshot()).to.deep.equal(before);
      const health = await request(s.url, "GET", "/health");
      expect(health.status).to.equal(503);
      expect(health.body).to.deep.include({ ok: false, db: { ok: true, writable: true }, reports: 1 });
      s.proxy.mode = "up";
      // The same report again: the failed attempt left nothing behind (not even "in flight").
      const accepted = await postJson(s.url, "/reports", body);
      expect(accepted.status, accepted.text).to.equal(201);
      expect((await request(s.url, "GET", "/health")).status).to.equal(200);
    });

    it("reports with garbage signatures cost no chain read; an unregistered device is read once, then refused from memory", async function () {
      const s = await start();
      const rpcCalls = () => [...s.proxy.calls.values()].reduce((a, b) => a + b, 0);
      const valid = await s.report();
      const before = s.snapshot();
      let calls = rpcCalls();
      // 100 distinct unregistered reporters, each with a signature that recovers to no one.
      const garbage = await Promise.all(
        Array.from({ length: 100 }, () =>
          postJson(s.url, "/reports", {
            ...valid,
            reporterId: hexlify(randomBytes(32)),
            interaction: hexlify(randomBytes(32)),
            signature: `0x${"11".repeat(65)}`,
          }),
        ),
      );
      for (const r of garbage) expectAnswer(r, 400, /^the report signature is malformed or not canonical \(high s\)$/);
      // And 20 with a subject claim that recovers to no one.
      for (let i = 0; i < 20; i++)
        expectAnswer(
          await postJson(s.url, "/reports", { ...valid, evidence: `0x${"22".repeat(65)}` }),
          422,
          /^no interaction evidence/,
        );
      expect(rpcCalls() - calls).to.equal(0);
      // A reporter that is not registered (validly signed by its own key): read once, then refused from memory.
      const getDevice = `eth_call:${s.f.registry.interface.getFunction("getDevice").selector}`;
      const reads = s.proxy.count(getDevice);
      const reports = await Promise.all(Array.from({ length: 20 }, () => s.report(s.f.stranger, s.f.devices[1])));
      const answers: RawAnswer[] = [];
      for (const r of reports) answers.push(await postJson(s.url, "/reports", r));
      for (const r of answers) expectAnswer(r, 403, /^reporter 0x[0-9a-f]{64} is not a registered device$/);
      // The reporter is read once, then answered from memory; the subject is never read.
      expect(s.proxy.count(getDevice) - reads).to.equal(1);
      // 50 distinct unregistered reporters, each validly signed by its own key: one device read each.
      calls = rpcCalls();
      const strangers = Array.from({ length: 50 }, (_, i) => testDevice(5000 + i));
      for (const key of strangers)
        expectAnswer(
          await postJson(s.url, "/reports", await s.report(key, s.f.devices[1])),
          403,
          /^reporter 0x[0-9a-f]{64} is not a registered device$/,
        );
      const deviceReads = s.proxy.count(getDevice);
      expect(deviceReads - reads - 1).to.equal(50);
      // The clock is read at most once a second, not once a report.
      expect(rpcCalls() - calls - 50).to.be.below(25);
      expect(s.snapshot()).to.deep.equal(before);
    });

    it("N6: forged reports naming a registered reporter cost one getDevice read per knownDeviceTtl, not one each; all 401, nothing stored", async function () {
      // A TTL longer than the test (the default is 5 s): one read for all of them on any machine.
      const s = await start({}, { knownDeviceTtl: 60 });
      const getDevice = `eth_call:${s.f.registry.interface.getFunction("getDevice").selector}`;
      const mallory = Wallet.createRandom();
      const reporter = s.f.devices[0];
      const subject = s.f.devices[1];
      const before = s.snapshot();
      const forged: ReportBody[] = [];
      for (let i = 0; i < 100; i++) forged.push(await signedReport(s.f, reporter, subject, mallory, mallory));
      const reads = s.proxy.count(getDevice);
      const stored = s.store.count();
      const answers = await Promise.all(forged.slice(0, 50).map((r) => postJson(s.url, "/reports", r)));
      for (const r of forged.slice(50)) answers.push(await postJson(s.url, "/reports", r));
      for (const r of answers)
        expectAnswer(
          r,
          401,
          new RegExp(`^the report is signed by ${mallory.address}, not by reporter ${reporter.deviceId}'s key `),
        );
      // The reporter is read once (concurrent reads shared, then remembered); the subject never. Was 100.
      expect(s.proxy.count(getDevice) - reads).to.equal(1);
      expect(s.snapshot()).to.deep.equal(before);
      // The reporter's own reports are still accepted, from the remembered key.
      const good = await postJson(s.url, "/reports", await s.report(reporter, subject));
      expect(good.status, good.text).to.equal(201);
      expect(s.store.count()).to.equal(stored + 1);
    });

    it("N6: with knownDeviceTtl 0, each of those reports reads the reporter", async function () {
      const s = await start({}, { knownDeviceTtl: 0 });
      const getDevice = `eth_call:${s.f.registry.interface.getFunction("getDevice").selector}`;
      const mallory = Wallet.createRandom();
      const reads = s.proxy.count(getDevice);
      for (let i = 0; i < 5; i++) {
        const r = await postJson(
          s.url,
          "/reports",
          await signedReport(s.f, s.f.devices[0], s.f.devices[1], mallory, mallory),
        );
        expect(r.status, r.text).to.equal(401);
      }
      expect(s.proxy.count(getDevice) - reads).to.equal(5);
    });

    it("an RPC that is down: 503 'chain unavailable', no socket text, nothing stored", async function () {
      const s = await start();
      const body = await s.report();
      const store = new ReportStore(":memory:");
      const dead = new AuditorService({
        registry: s.f.registry.connect(new JsonRpcProvider(await deadUrl(), s.f.chainId, { staticNetwork: true })),
        domain: s.f.domain,
        store,
        model: MODEL,
        epochLength: Number(EPOCH_LENGTH),
        now: async () => body.timestamp, // the clock is known; the registry reads fail
      });
      cleanups.push(async () => {
        await dead.stop();
        store.close();
      });
      const url = await dead.listen(0);
      const r = await postJson(url, "/reports", body);
      expectAnswer(r, 503, /^chain unavailable: getDevice failed$/);
      expect(store.count()).to.equal(0);
      const health = await request(url, "GET", "/health");
      expect(health.status).to.equal(503);
      expect(health.body.rpc).to.deep.equal({
        ok: false,
        reachable: false,
        error: "chain unavailable: getBlock failed",
      });
    });

    it("a hung RPC during an epoch run: it fails with 'chain unavailable' after the RPC timeout (not a stall of minutes); nothing recorded", async function () {
      this.timeout(30_000); // before: the run waited for ethers' own 300 s request timeout
      const s = await start({ limits: { rpcTimeoutMs: 200 } });
      const before = s.snapshot();
      s.proxy.mode = "hang";
      await expect(s.service.runEpoch()).to.be.rejectedWith(
        /^chain unavailable: currentEpoch got no answer within 200 ms$/,
      );
      s.proxy.mode = "up";
      expect(s.snapshot()).to.deep.equal(before);
      expect((await request(s.url, "GET", "/metrics")).text).to.match(
        /^thingledger_auditor_rpc_errors_total\{call="currentEpoch",kind="timeout"\} 1$/m,
      );
    });

    it("the epoch loop: /health reports its last run and error; 503 while it fails", async function () {
      const s = await start();
      s.service.watchLoop("epoch", 60);
      expect((await request(s.url, "GET", "/health")).body.loops).to.deep.equal({
        epoch: { ok: true, lastRun: null, lastOk: null, lastError: null },
      });
      const shown = "epoch 7: 0 of 3 scores submitted, then the chain refused a batch: execution reverted";
      const refusal = new UserError(`${shown} (action="estimateGas", data="0x", code=CALL_EXCEPTION, version=6.17.0)`);
      await expect(s.service.track("epoch", () => Promise.reject(refusal))).to.be.rejectedWith(refusal.message);
      const failing = await request(s.url, "GET", "/health");
      expect(failing.status).to.equal(503);
      // Its message, less the provider's detail (that stays in the log).
      expect(failing.body.loops).to.deep.nested.include({ "epoch.ok": false, "epoch.lastError": shown });
      expect(
        s.logs.some((l) => l.msg === "epoch loop failed" && JSON.stringify(l.err).includes("CALL_EXCEPTION")),
      ).to.equal(true);
      await s.service.track("epoch", async () => undefined);
      expect((await request(s.url, "GET", "/health")).status).to.equal(200);
      expect((await request(s.url, "GET", "/metrics")).text).to.match(
        /^thingledger_auditor_loop_runs_total\{loop="epoch",result="error"\} 1$/m,
      );
    });

    it("a client over the rate limit gets 429 with Retry-After; nothing stored", async function () {
      const s = await start({ limits: { rateLimit: { max: 1, windowMs: 60_000 } } });
      const before = s.snapshot();
      const r = await postJson(s.url, "/reports", await s.report());
      expectAnswer(r, 429, /^rate limit: at most 1 requests per 60 s from one client/);
      expect(r.headers["retry-after"]).to.match(/^\d+$/);
      expect(s.snapshot()).to.deep.equal(before);
    });

    it("a large report file against the rate limit: submitReports waits each 429's Retry-After; every report is stored", async function () {
      const s = await start({ limits: { rateLimit: { max: 2, windowMs: 1_000 } } });
      const reports = [];
      for (let i = 0; i < 5; i++) reports.push(await s.report());
      const outcomes = await submitReports(s.url, reports);
      expect(outcomes.map((o) => o.status)).to.deep.equal([201, 201, 201, 201, 201]);
      expect(s.store.count()).to.equal(6);
      // Each paced by the limit: some were refused 429 first (counted), none lost.
      expect((await request(s.url, "GET", "/metrics")).text).to.match(
        /^thingledger_auditor_rejections_total\{reason="rate_limited",status="429"\} [1-9]\d*$/m,
      );
    });

    for (const where of ["in memory", "on disk"] as const)
      it(`proof requests cycling through 20 epochs (more than any cache holds), store ${where}: each epoch's tree is built once, from its leaves; no request reads its reports or rescores it`, async function () {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-auditor-proofs-"));
        try {
          const s = await start({}, where === "on disk" ? { file: path.join(dir, "auditor.sqlite") } : {});
          const [stored] = s.store.reportsBetween(0, 2 ** 40);
          // A second report, so that each epoch's tree has two leaves and every proof one node.
          expect((await postJson(s.url, "/reports", await s.report())).status).to.equal(201);
          const both = s.store.reportsBetween(0, 2 ** 40);
          const built = buildEpoch(both, Number(EPOCH_LENGTH), MODEL);
          const record = {
            model: MODEL,
            root: built.root,
            reports: 2,
            scores: [],
            txHashes: [],
            gasUsed: "0",
            rewarded: 0,
          };
          const digests = built.reports.map((r) => r.digest);
          const index = digests.indexOf(stored.digest);
          for (let epoch = 1; epoch <= 20; epoch++)
            s.store.saveEpoch({ ...record, epoch, reference: epoch * Number(EPOCH_LENGTH) }, digests);
          const counts = { reports: 0, leaves: 0 };
          const spy = s.store as unknown as { epochReports(e: number): unknown; epochLeaves(e: number): unknown };
          const [epochReports, epochLeaves] = [spy.epochReports.bind(spy), spy.epochLeaves.bind(spy)];
          spy.epochReports = (e: number) => (counts.reports++, epochReports(e));
          spy.epochLeaves = (e: number) => (counts.leaves++, epochLeaves(e));
          for (let round = 0; round < 3; round++)
            for (let epoch = 1; epoch <= 20; epoch++) {
              const r = await request(s.url, "GET", `/epochs/${epoch}/proofs/${stored.digest}`);
              expect(r.status, r.text).to.equal(200);
              expect(r.body).to.deep.equal({
                epoch,
                root: built.root,
                digest: stored.digest,
                proof: built.tree.proof(index),
              });
            }
          // Was 60 reads and rebuilds: the epochs were cached 16 at a time, and requests cycled through 20.
          expect(counts.reports).to.equal(0);
          expect(counts.leaves).to.equal(where === "on disk" ? 20 : 60);
          if (where === "on disk") {
            expect(fs.readdirSync(path.join(dir, "auditor.sqlite.epochs"))).to.have.length(20);
            // Unknown epochs and reports are one indexed lookup each: 404, no tree built.
            expect((await request(s.url, "GET", `/epochs/21/proofs/${stored.digest}`)).status).to.equal(404);
            expect((await request(s.url, "GET", `/epochs/1/proofs/0x${"00".repeat(32)}`)).body.error).to.match(
              /was not used in epoch 1/,
            );
            expect(counts.leaves).to.equal(20);
            // A tree file damaged on disk (its leaves zeroed, its root intact: a torn write) is caught by the
            // check of every proof against the recorded root, rebuilt once, and the proof served is right.
            const file = path.join(dir, "auditor.sqlite.epochs", "1.tree");
            const bytes = fs.readFileSync(file);
            bytes.fill(0, TREE_FILE_HEADER_BYTES, TREE_FILE_HEADER_BYTES + 64);
            fs.writeFileSync(file, bytes);
            const r = await request(s.url, "GET", `/epochs/1/proofs/${stored.digest}`);
            expect(r.body).to.deep.equal({
              epoch: 1,
              root: built.root,
              digest: stored.digest,
              proof: built.tree.proof(index),
            });
            expect(counts.leaves).to.equal(21);
            // Truncated: rebuilt too.
            fs.truncateSync(path.join(dir, "auditor.sqlite.epochs", "2.tree"), 10);
            const truncated = await request(s.url, "GET", `/epochs/2/proofs/${stored.digest}`);
            expect(truncated.status, truncated.text).to.equal(200);
            expect(counts.leaves).to.equal(22);
            expect(
              fs.readdirSync(path.join(dir, "auditor.sqlite.epochs")).filter((f) => f.endsWith(".partial")),
            ).to.deep.equal([]);
          }
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      });

    it("a proof from an epoch whose stored reports no longer hash to its recorded root: refused (500, logged), never a wrong proof", async function () {
      const s = await start();
      const [stored] = s.store.reportsBetween(0, 2 ** 40);
      const record = {
        model: MODEL,
        root: `0x${"11".repeat(32)}`,
        reports: 1,
        scores: [],
        txHashes: [],
        gasUsed: "0",
        rewarded: 0,
      };
      s.store.saveEpoch({ ...record, epoch: 1, reference: Number(EPOCH_LENGTH) }, [stored.digest]);
      const r = await request(s.url, "GET", `/epochs/1/proofs/${stored.digest}`);
      expect(r.status, r.text).to.equal(500);
      expect(r.body.proof).to.equal(undefined);
    });

    it("/metrics: accepted reports, rejections by reason, requests by route", async function () {
      const s = await start();
      await postJson(s.url, "/reports", { ...(await s.report()), rating: "90" });
      const m = await request(s.url, "GET", "/metrics");
      expect(m.text).to.match(/^thingledger_auditor_reports_accepted_total 1$/m);
      expect(m.text).to.match(/^thingledger_auditor_rejections_total\{reason="invalid_body",status="400"\} 1$/m);
      expect(m.text).to.match(
        /^thingledger_auditor_http_requests_total\{route="\/reports",method="POST",status="201"\} 1$/m,
      );
    });
  });

  describe("the database: deleted, replaced or unwritable while the auditor runs", function () {
    let dir: string;
    before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-auditor-db-"))));
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("deleted: every report is refused 503 store_lost (never 'stored' into a file that is gone), /health names it, and an epoch run cannot record its epoch (so sends nothing)", async function () {
      const file = path.join(dir, "deleted.sqlite");
      const s = await start({ healthCacheMs: 0 }, { file });
      expect(s.store.count()).to.equal(1);
      for (const f of [file, `${file}-wal`, `${file}-shm`]) fs.rmSync(f, { force: true });
      for (let i = 0; i < 2; i++) {
        const r = await postJson(s.url, "/reports", await s.report());
        expectAnswer(r, 503, /^the auditor stores no reports: its database was deleted or replaced while it ran/);
        expect(r.body.reason).to.equal("store_lost");
      }
      expect(s.store.count()).to.equal(1);
      const health = await request(s.url, "GET", "/health");
      expect(health.status).to.equal(503);
      expect(health.body.db).to.deep.include({ ok: false, writable: false });
      expect(String((health.body.db as { error: string }).error)).to.match(/deleted, replaced/);
      // An epoch run records its epoch before its first transaction: that write is refused, so nothing is sent.
      const epoch = { epoch: 1, reference: 0, model: MODEL, root: `0x${"00".repeat(32)}`, reports: 1 };
      const record = { ...epoch, scores: [], txHashes: [], gasUsed: "0", rewarded: 0, pending: true };
      expect(() => s.store.saveEpoch(record, [])).to.throw(DatabaseLost, `auditor database ${file} was deleted`);
      expect(s.store.epochs()).to.deep.equal([]);
    });

    it("its WAL deleted: refused 503 store_lost; the reports the WAL held were saved into the database file first", async function () {
      const file = path.join(dir, "wal.sqlite");
      const s = await start({}, { file });
      fs.rmSync(`${file}-wal`);
      const r = await postJson(s.url, "/reports", await s.report());
      expect(r.status, r.text).to.equal(503);
      expect(r.body.reason).to.equal("store_lost");
      await s.service.stop();
      s.store.close();
      const reopened = new ReportStore(file);
      try {
        expect(reopened.count(), "the report accepted before the WAL was deleted").to.equal(1);
      } finally {
        reopened.close();
      }
    });

    it("unwritable for a while: 503 store_unavailable 'retry later', nothing stored; accepted again once it can write", async function () {
      const file = path.join(dir, "readonly.sqlite");
      const s = await start({}, { file });
      const db = (s.store as unknown as { db: { pragma(p: string): unknown } }).db;
      db.pragma("query_only = 1"); // every write now fails with SQLITE_READONLY
      const body = await s.report();
      const r = await postJson(s.url, "/reports", body);
      expectAnswer(r, 503, /^the auditor cannot write its database now; retry later$/);
      expect(r.body.reason).to.equal("store_unavailable");
      expect(s.store.count()).to.equal(1);
      db.pragma("query_only = 0");
      expect((await postJson(s.url, "/reports", body)).status).to.equal(201);
      expect(s.store.count()).to.equal(2);
    });
  });
});
