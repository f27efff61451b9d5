import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import type { TypedDataDomain } from "ethers";
import { Signature, hexlify, randomBytes } from "ethers";

import { reportDigest, signInteractionClaim, signReport } from "../../src/eip712/report";
import { AuditorService } from "../../src/reputation/auditor";
import type { ReportBody } from "../../src/reputation/auditor";
import { proveInclusion, recomputeEpoch } from "../../src/reputation/epoch";
import type { PublishedEpoch } from "../../src/reputation/epoch";
import { defaultModel } from "../../src/reputation/model";
import { ReportStore } from "../../src/reputation/store";
import { AUDIT_REWARD, EPOCH_LENGTH, auditorFixture } from "../shared/fixtures";
import type { AuditorFixture, TestDevice } from "../shared/fixtures";

const MODEL = defaultModel(Number(EPOCH_LENGTH));

interface Harness {
  f: AuditorFixture;
  store: ReportStore;
  service: AuditorService;
  post: (body: unknown) => Promise<{ status: number; body: { error?: string; digest?: string } }>;
}

async function harness(): Promise<Harness> {
  const f = await loadFixture(auditorFixture);
  const store = new ReportStore(":memory:");
  const service = new AuditorService({
    registry: f.registry.connect(f.auditor),
    domain: f.domain,
    store,
    model: MODEL,
    epochLength: Number(EPOCH_LENGTH),
  });
  const post = async (body: unknown) => {
    const response = await service.app.inject({ method: "POST", url: "/reports", payload: body as object });
    return { status: response.statusCode, body: response.json<{ error?: string; digest?: string }>() };
  };
  return { f, store, service, post };
}

interface ReportOptions {
  interaction?: string;
  rating?: number;
  timestamp?: number;
  domain?: TypedDataDomain;
  signer?: TestDevice;
  claimer?: TestDevice;
  claimFor?: { reporterId: string; interaction: string };
}

/** A report by `reporter` on `subject`, with the subject's claim as evidence; options break one thing at a time. */
async function makeReport(
  h: Harness,
  reporter: TestDevice,
  subject: TestDevice,
  o: ReportOptions = {},
): Promise<ReportBody> {
  const interaction = o.interaction ?? hexlify(randomBytes(32));
  const domain = o.domain ?? h.f.domain;
  const timestamp = o.timestamp ?? (await time.latest());
  const evidence = await signInteractionClaim((o.claimer ?? subject).wallet, domain, {
    subjectId: subject.deviceId,
    reporterId: o.claimFor?.reporterId ?? reporter.deviceId,
    interaction: o.claimFor?.interaction ?? interaction,
  });
  const message = {
    reporterId: reporter.deviceId,
    subjectId: subject.deviceId,
    interaction,
    rating: o.rating ?? 90,
    timestamp: BigInt(timestamp),
  };
  const signature = await signReport((o.signer ?? reporter).wallet, domain, message);
  return { ...message, timestamp, signature, evidence };
}

describe("Auditor service: report intake", function () {
  it("accepts a report signed by an active reporter with the subject's claim, and stores it", async function () {
    const h = await harness();
    const [a, b] = h.f.devices;
    const body = await makeReport(h, a, b, { rating: 80 });
    const r = await h.post(body);
    expect(r.status).to.equal(201);
    const digest = reportDigest(h.f.domain, { ...body, timestamp: BigInt(body.timestamp) });
    expect(r.body.digest).to.equal(digest);
    const stored = h.store.report(digest);
    expect(stored?.rating).to.equal(80);
    expect(stored?.subjectId).to.equal(b.deviceId.toLowerCase());
    expect(h.store.count()).to.equal(1);
  });

  it("takes the subject's claim in EIP-2098 compact form (64 bytes) too, as isValidDeviceSignature does", async function () {
    const h = await harness();
    const [a, b] = h.f.devices;
    const body = await makeReport(h, a, b);
    const evidence = Signature.from(body.evidence).compactSerialized;
    const r = await h.post({ ...body, evidence });
    expect(r.status, r.body.error).to.equal(201);
    expect(h.store.report(r.body.digest!)?.evidence).to.equal(evidence.toLowerCase());
  });

  describe("attacks and bad input: refused with a reason, nothing stored", function () {
    async function refused(h: Harness, body: unknown, status: number, reason: RegExp): Promise<void> {
      const r = await h.post(body);
      expect(r.status, r.body.error).to.equal(status);
      expect(r.body.error).to.match(reason);
      expect(h.store.count()).to.equal(0);
    }

    it("a forged report: signed by another device's key", async function () {
      const h = await harness();
      const [a, b, c] = h.f.devices;
      await refused(h, await makeReport(h, a, b, { signer: c }), 401, /not by reporter .* key/);
    });

    it("a tampered report: the rating changed after signing", async function () {
      const h = await harness();
      const [a, b] = h.f.devices;
      const body = await makeReport(h, a, b, { rating: 10 });
      await refused(h, { ...body, rating: 100 }, 401, /forged/);
    });

    it("a replay from another chain", async function () {
      const h = await harness();
      const [a, b] = h.f.devices;
      const other = { ...h.f.domain, chainId: h.f.chainId + 1n };
      await refused(h, await makeReport(h, a, b, { domain: other }), 401, /another chain or registry/);
    });

    it("a replay from another registry on the same chain", async function () {
      const h = await harness();
      const [a, b] = h.f.devices;
      const other = { ...h.f.domain, verifyingContract: await h.f.token.getAddress() };
      await refused(h, await makeReport(h, a, b, { domain: other }), 401, /another chain or registry/);
    });

    it("the malleable twin of a valid signature (high s)", async function () {
      const h = await harness();
      const [a, b] = h.f.devices;
      const body = await makeReport(h, a, b);
      const sig = Signature.from(body.signature);
      const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
      const highS = (n - BigInt(sig.s)).toString(16).padStart(64, "0");
      const twin = `${sig.r}${highS}${sig.v === 27 ? "1c" : "1b"}`;
      await refused(h, { ...body, signature: twin }, 400, /not canonical/);
    });

    it("a duplicate, however it comes: resent, re-signed with another rating, or twice at once", async function () {
      const h = await harness();
      const [a, b] = h.f.devices;
      const body = await makeReport(h, a, b, { rating: 20 });
      expect((await h.post(body)).status).to.equal(201);
      const again = await h.post(body);
      expect(again.status).to.equal(409);
      expect(again.body.error).to.match(/duplicate/);
      const resigned = await makeReport(h, a, b, { interaction: body.interaction, rating: 100 });
      expect((await h.post(resigned)).status).to.equal(409);
      const twin = await makeReport(h, a, b);
      const both = await Promise.all([h.post(twin), h.post(twin)]);
      expect(both.map((r) => r.status).sort()).to.deep.equal([201, 409]);
      expect(h.store.count()).to.equal(2);
    });

    it("a report from an unknown, a dormant or a revoked device", async function () {
      const h = await harness();
      const [, b] = h.f.devices;
      await refused(h, await makeReport(h, h.f.stranger, b), 403, /not a registered device/);
      await refused(h, await makeReport(h, h.f.dormant, b), 403, /is registered: only active devices may report/);
      await refused(h, await makeReport(h, h.f.revoked, b), 403, /is revoked: only active devices may report/);
    });

    it("a report signed before the reporter was revoked is refused after", async function () {
      const h = await harness();
      const [a, b] = h.f.devices;
      const body = await makeReport(h, a, b);
      await h.f.registry.connect(h.f.maker).revokeDevice(a.deviceId, 1);
      await refused(h, body, 403, /is revoked/);
    });

    it("a report with no interaction evidence", async function () {
      const h = await harness();
      const [a, b] = h.f.devices;
      const { evidence: _dropped, ...noEvidence } = await makeReport(h, a, b);
      expect(_dropped).to.have.length(132);
      await refused(h, noEvidence, 400, /must have required property 'evidence'/);
    });

    it("attack: a malleated (high-s) compact claim, or one of the wrong length, is no evidence", async function () {
      const h = await harness();
      const [a, b] = h.f.devices;
      const body = await makeReport(h, a, b);
      const sig = Signature.from(body.evidence);
      const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
      const twin = (BigInt(1 - sig.yParity) << 255n) | (n - BigInt(sig.s));
      await refused(
        h,
        { ...body, evidence: `${sig.r}${twin.toString(16).padStart(64, "0")}` },
        422,
        /no interaction evidence/,
      );
      await refused(h, { ...body, evidence: sig.compactSerialized.slice(0, -2) }, 400, /evidence must match pattern/);
    });

    it("evidence that is not the subject's claim for this reporter and interaction", async function () {
      const h = await harness();
      const [a, b, c] = h.f.devices;
      // Signed by a third device.
      await refused(h, await makeReport(h, a, b, { claimer: c }), 422, /no interaction evidence/);
      // The subject's real claim, but given to another reporter (C) for the same interaction.
      const interaction = hexlify(randomBytes(32));
      await refused(
        h,
        await makeReport(h, a, b, { interaction, claimFor: { reporterId: c.deviceId, interaction } }),
        422,
        /no interaction evidence/,
      );
      // The subject's claim for another interaction with this reporter.
      await refused(
        h,
        await makeReport(h, a, b, { claimFor: { reporterId: a.deviceId, interaction: hexlify(randomBytes(32)) } }),
        422,
        /no interaction evidence/,
      );
    });

    it("a report on itself, on an unknown or revoked subject, from the future or too old, or malformed", async function () {
      const h = await harness();
      const [a, b] = h.f.devices;
      await refused(h, await makeReport(h, a, a), 400, /cannot report on itself/);
      await refused(h, await makeReport(h, a, h.f.stranger), 404, /subject .* is not a registered device/);
      await refused(h, await makeReport(h, a, h.f.revoked), 409, /subject .* is revoked/);
      const now = await time.latest();
      await refused(h, await makeReport(h, a, b, { timestamp: now + 3600 }), 400, /in the future/);
      await refused(
        h,
        await makeReport(h, a, b, { timestamp: now - MODEL.horizon - 10 }),
        400,
        /older than the model's horizon/,
      );
      const body = await makeReport(h, a, b);
      await refused(h, { ...body, rating: 101 }, 400, /rating must be <= 100/);
      await refused(h, { ...body, subjectId: "0x1234" }, 400, /subjectId must match pattern/);
      await refused(h, { ...body, extra: 1 }, 400, /must NOT have additional properties/);
    });
  });
});

describe("Auditor service: epochs", function () {
  async function withReports(h: Harness): Promise<ReportBody[]> {
    const [a, b, c, d] = h.f.devices;
    const bodies = [
      await makeReport(h, a, b, { rating: 100 }),
      await makeReport(h, c, b, { rating: 90 }),
      await makeReport(h, d, b, { rating: 100 }),
      await makeReport(h, a, c, { rating: 0 }),
      await makeReport(h, b, c, { rating: 10 }),
    ];
    for (const body of bodies) expect((await h.post(body)).status).to.equal(201);
    return bodies;
  }

  it("scores the subjects, submits them with the reports root, and pays the auditor per changed score", async function () {
    const h = await harness();
    await withReports(h);
    const [, b, c] = h.f.devices;
    const result = await h.service.runEpoch();
    expect(result.reports).to.equal(5);
    expect(result.subjects).to.equal(2);
    expect(result.submitted).to.equal(2);
    expect(result.changed).to.equal(2);
    expect(result.rewarded).to.equal(2);
    const epoch = Number(await h.f.registry.currentEpoch());
    expect(result.epoch).to.equal(epoch);
    const [event] = await h.f.registry.queryFilter(h.f.registry.filters.ScoresUpdated(h.f.auditor.address, epoch));
    expect(event.args.reportsRoot).to.equal(result.root);
    // The submission commits how many reports the root holds: the bound on the epoch's rewards.
    expect(event.args.reportCount).to.equal(5n);
    const rb = await h.f.registry.getDevice(b.deviceId);
    const rc = await h.f.registry.getDevice(c.deviceId);
    expect(Number(rb.score)).to.be.greaterThan(700);
    expect(Number(rc.score)).to.be.lessThan(300);
    // New, well-rated devices are rising (recent reports above the score), badly rated ones falling.
    expect(rb.trend).to.equal(1n);
    expect(rc.trend).to.equal(-1n);
    expect((await h.f.registry.auditorInfo(h.f.auditor.address)).earned).to.equal(2n * AUDIT_REWARD);
  });

  it("publishes the epoch: proofs of inclusion and a recomputation that matches; a doctored copy does not", async function () {
    const h = await harness();
    const bodies = await withReports(h);
    const result = await h.service.runEpoch();
    const response = await h.service.app.inject({ method: "GET", url: `/epochs/${result.epoch}` });
    const published = response.json<PublishedEpoch>();
    expect(published.reports).to.have.length(5);
    expect(recomputeEpoch(published, h.f.domain)).to.deep.equal({ ok: true, root: result.root, problems: [] });
    for (const body of bodies) {
      const digest = reportDigest(h.f.domain, { ...body, timestamp: BigInt(body.timestamp) });
      const proof = (
        await h.service.app.inject({ method: "GET", url: `/epochs/${result.epoch}/proofs/${digest}` })
      ).json<{
        proof: string[];
        root: string;
      }>();
      expect(proof.root).to.equal(result.root);
      expect(proveInclusion(result.root, digest, proof.proof)).to.equal(true);
      expect(proveInclusion(result.root, digest, proof.proof.slice(1))).to.equal(false);
    }
    const doctored = structuredClone(published);
    doctored.reports[0].rating = doctored.reports[0].rating === 0 ? 100 : 0;
    const check = recomputeEpoch(doctored, h.f.domain);
    expect(check.ok).to.equal(false);
    expect(check.problems.join()).to.match(/its fields hash to/);
    const inflated = structuredClone(published);
    inflated.scores[0].score += 1;
    expect(recomputeEpoch(inflated, h.f.domain).problems.join()).to.match(/published .* recomputed/);
    const missing = await h.service.app.inject({ method: "GET", url: `/epochs/${result.epoch + 1}` });
    expect(missing.statusCode).to.equal(404);
  });

  it("attack: proof requests for a submitted epoch, found or not, read and build it once (no rebuild per request)", async function () {
    const h = await harness();
    await withReports(h);
    const result = await h.service.runEpoch();
    const store = h.service["options"].store;
    const read = store.epochReports.bind(store);
    let reads = 0;
    store.epochReports = (epoch: number) => {
      reads++;
      return read(epoch);
    };
    for (let i = 0; i < 20; i++) {
      const unknown = `0x${i.toString(16).padStart(64, "0")}`;
      const answer = await h.service.app.inject({ method: "GET", url: `/epochs/${result.epoch}/proofs/${unknown}` });
      expect(answer.statusCode).to.equal(404);
      expect(answer.json()).to.deep.equal({
        error: `report ${unknown} was not used in epoch ${result.epoch}`,
        reason: "not_found",
      });
    }
    expect((await h.service.app.inject({ method: "GET", url: `/epochs/${result.epoch}` })).statusCode).to.equal(200);
    expect(reads).to.equal(1);
  });

  it("runs once per epoch, leaves out what another auditor scored this epoch, and decays old reports later", async function () {
    const h = await harness();
    // Reports early in an epoch, so that they are a whole epoch older at the next one (near the end of an
    // epoch, as late in a UTC day, they would barely decay and no score would change).
    const length = Number(EPOCH_LENGTH);
    await time.increaseTo(Math.ceil((await time.latest()) / length) * length + 60);
    await withReports(h);
    const first = await h.service.runEpoch();
    await expect(h.service.runEpoch()).to.be.rejectedWith(/already submitted epoch/);
    const other = h.f.relayer;
    await h.f.registry.connect(h.f.admin).addAuditor(other.address);
    const rivalStore = new ReportStore(":memory:");
    rivalStore.addMany(h.store.reportsBetween(0, 2 ** 40));
    const rival = new AuditorService({
      registry: h.f.registry.connect(other),
      domain: h.f.domain,
      store: rivalStore,
      model: MODEL,
      epochLength: Number(EPOCH_LENGTH),
    });
    // A rival auditor reading the same reports cannot rescore (and be paid for) the same devices this epoch.
    const rivalRun = await rival.runEpoch();
    expect(rivalRun).to.include({ subjects: 2, submitted: 0, skipped: 2, changed: 0 });
    expect(rivalRun.txHashes).to.deep.equal([]);
    await time.increase(EPOCH_LENGTH);
    const second = await h.service.runEpoch();
    expect(second.epoch).to.equal(first.epoch + 1);
    // Same reports, one epoch older: the scores move towards 500, so they change and are paid again.
    expect(second.changed).to.equal(2);
    const [, b] = h.f.devices;
    const after = await h.f.registry.reputationOf(b.deviceId);
    expect(after.epoch).to.equal(BigInt(second.epoch));
  });

  describe("an epoch interrupted between its transactions", function () {
    /** A second service on the same store, one score per transaction, whose `updateScore` calls `hook` first. */
    function oneByOne(h: Harness, hook: (call: number) => void): AuditorService {
      let calls = 0;
      const registry = h.f.registry.connect(h.f.auditor);
      const proxy = new Proxy(registry, {
        get(target, key, receiver) {
          const value = Reflect.get(target, key, receiver) as unknown;
          if (key !== "updateScore") return value;
          return (...args: Parameters<typeof registry.updateScore>) => {
            hook(++calls);
            return registry.updateScore(...args);
          };
        },
      });
      return new AuditorService({
        registry: proxy,
        domain: h.f.domain,
        store: h.store,
        model: MODEL,
        epochLength: Number(EPOCH_LENGTH),
        batchSize: 1,
      });
    }

    async function rootsOnChain(h: Harness, epoch: number): Promise<string[]> {
      const events = await h.f.registry.queryFilter(h.f.registry.filters.ScoresUpdated(h.f.auditor.address, epoch));
      return events.map((e) => e.args.reportsRoot);
    }

    it("a batch refused after another landed: the epoch stays pending, and the next run submits the rest under the same root and reports, even after new reports came in", async function () {
      const h = await harness();
      const bodies = await withReports(h);
      const failing = oneByOne(h, (call) => {
        if (call === 2) throw new Error("nonce too low");
      });
      await expect(failing.runEpoch()).to.be.rejectedWith(
        /^epoch \d+: 1 of 2 scores submitted, then the chain refused a batch: nonce too low; run the epoch again to submit the rest$/,
      );
      const epoch = Number(await h.f.registry.currentEpoch());
      const pending = h.store.epoch(epoch)!;
      expect(pending.pending).to.equal(true);
      expect(pending.scores).to.have.length(1);
      expect(pending.txHashes).to.have.length(1);
      const [firstRoot] = await rootsOnChain(h, epoch);
      expect(pending.root).to.equal(firstRoot);
      // Before: the epoch counted as submitted, and its second subject was never scored.
      const [a, b] = h.f.devices;
      expect((await h.post(await makeReport(h, b, a, { rating: 50 }))).status).to.equal(201);
      const resumed = await oneByOne(h, () => undefined).runEpoch();
      expect(resumed).to.include({ epoch, root: firstRoot, reports: 5, submitted: 1, skipped: 1 });
      expect(await rootsOnChain(h, epoch)).to.deep.equal([firstRoot, firstRoot]);
      const done = h.store.epoch(epoch)!;
      expect(done.pending).to.equal(undefined);
      expect(done.scores.map((s) => s.deviceId).sort()).to.deep.equal(
        [h.f.devices[1].deviceId, h.f.devices[2].deviceId].map((id) => id.toLowerCase()).sort(),
      );
      expect(done.txHashes).to.have.length(2);
      for (const body of bodies) {
        const digest = reportDigest(h.f.domain, { ...body, timestamp: BigInt(body.timestamp) });
        const answer = await h.service.app.inject({ method: "GET", url: `/epochs/${epoch}/proofs/${digest}` });
        const { root, proof } = answer.json<{ root: string; proof: string[] }>();
        expect(root).to.equal(firstRoot);
        expect(proveInclusion(firstRoot, digest, proof)).to.equal(true);
      }
      await expect(h.service.runEpoch()).to.be.rejectedWith(/already submitted epoch/);
    });

    it("a crash after a transaction landed but before it was recorded: the root and reports were recorded first, and the next run completes the epoch without paying twice", async function () {
      const h = await harness();
      await withReports(h);
      const service = oneByOne(h, () => undefined);
      const record = h.store.recordBatches.bind(h.store);
      h.store.recordBatches = () => {
        throw new Error("killed");
      };
      await expect(service.runEpoch()).to.be.rejectedWith("killed");
      h.store.recordBatches = record;
      const epoch = Number(await h.f.registry.currentEpoch());
      const roots = await rootsOnChain(h, epoch);
      expect(roots).to.have.length(2);
      expect(h.store.epoch(epoch)).to.deep.include({ root: roots[0], reports: 5, pending: true, txHashes: [] });
      const earned = (await h.f.registry.auditorInfo(h.f.auditor.address)).earned;
      const resumed = await service.runEpoch();
      expect(resumed).to.include({ epoch, root: roots[0], submitted: 0, skipped: 2, rewarded: 0 });
      expect((await h.f.registry.auditorInfo(h.f.auditor.address)).earned).to.equal(earned);
      expect(h.store.epoch(epoch)?.pending).to.equal(undefined);
      expect(h.store.epochReports(epoch)).to.have.length(5);
    });
  });

  it("leaves out a subject revoked after its reports came in; its reports stay in the root and the count", async function () {
    const h = await harness();
    await withReports(h);
    const [, b, c] = h.f.devices;
    await h.f.registry.connect(h.f.maker).revokeDevice(c.deviceId, 1);
    const result = await h.service.runEpoch();
    expect(result).to.include({ reports: 5, subjects: 2, submitted: 1, skipped: 1, changed: 1, rewarded: 1 });
    expect((await h.f.registry.reputationOf(c.deviceId)).audited).to.equal(false);
    expect((await h.f.registry.reputationOf(b.deviceId)).audited).to.equal(true);
    const [event] = await h.f.registry.queryFilter(
      h.f.registry.filters.ScoresUpdated(h.f.auditor.address, result.epoch),
    );
    expect([event.args.reportsRoot, event.args.reportCount]).to.deep.equal([result.root, 5n]);
    expect(h.store.epoch(result.epoch)?.scores.map((s) => s.deviceId)).to.deep.equal([b.deviceId.toLowerCase()]);
  });

  it("an auditor that is not admitted cannot submit, and nothing is recorded", async function () {
    const h = await harness();
    await withReports(h);
    await h.f.registry.connect(h.f.admin).removeAuditor(h.f.auditor.address);
    await expect(h.service.runEpoch()).to.be.rejectedWith(/not an admitted auditor/);
    expect(h.store.epochs()).to.deep.equal([]);
  });

  it("refuses to run with no reports", async function () {
    const h = await harness();
    await expect(h.service.runEpoch()).to.be.rejectedWith(/no reports/);
    expect(h.store.epochs()).to.deep.equal([]);
  });
});
