import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { time } from "@nomicfoundation/hardhat-network-helpers";
import { expect } from "chai";
import { MaxUint256, ZeroHash, hexlify, randomBytes } from "ethers";
import hre from "hardhat";

import { PASSWORD_ENV, saveDeviceKey } from "../../src/devices/keystore";
import { readDomain } from "../../src/eip712/domain";
import { signInteractionClaim, signReport } from "../../src/eip712/report";
import { registryAt, tokenAt } from "../../src/chain/context";
import type { EpochResult, ReportBody } from "../../src/reputation/auditor";
import type {
  EpochVerification,
  InteractionClaim,
  ReputationView,
  RunningAuditor,
  SubmitOutcome,
} from "../../src/reputation";
import { deliverReport, serveAuditor } from "../../src/reputation";
import { ReportStore } from "../../src/reputation/store";
import { loadSystem } from "../../tasks/support/deployments";
import { errorLines, hardhat, runInProcess as run, serveInProcess } from "../shared/cli";
import { ACTIVATION_FEE, REGISTRATION_FEE, testDevice } from "../shared/fixtures";
import type { TestDevice } from "../shared/fixtures";
import { coverageRunning } from "../shared/gas";

/** The reputation and auditor tasks, driven as `hre.run` on the in-process network. */
describe("reputation and auditor tasks (in-process network)", function () {
  this.timeout(300_000);
  let scratch: string;
  let keystore: string;
  let db: string;
  let auditor: RunningAuditor;
  const [lock, riderA, riderB] = [0, 1, 2].map((i) => testDevice(4000 + i));
  const savedEnv = { password: process.env[PASSWORD_ENV], n: process.env.THINGLEDGER_KEYSTORE_SCRYPT_N };

  before(async function () {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-reptasks-"));
    keystore = path.join(scratch, "keys");
    db = path.join(scratch, "auditor", "auditor.sqlite");
    process.env[PASSWORD_ENV] = "test-password";
    process.env.THINGLEDGER_KEYSTORE_SCRYPT_N = "1024";
    const [admin, owner] = await hre.ethers.getSigners();
    const system = await loadSystem(hre, ["ThingToken", "DeviceRegistry"]);
    const [registry, token, address] = [
      registryAt(system, admin),
      tokenAt(system, admin),
      system.addresses.DeviceRegistry,
    ];
    await (await token.approve(address, MaxUint256)).wait();
    for (const d of [lock, riderA, riderB]) {
      await (
        await registry.registerAndActivate(
          REGISTRATION_FEE + ACTIVATION_FEE,
          d.deviceId,
          d.wallet.address,
          1,
          ZeroHash,
          owner.address,
        )
      ).wait();
      saveDeviceKey(keystore, { uid: d.uid, deviceId: d.deviceId }, d.wallet, "test-password");
    }
    auditor = await serveAuditor(await loadSystem(hre, ["DeviceRegistry"]), {
      signer: (await hre.ethers.getSigners())[3],
      port: 0,
      host: "127.0.0.1",
      db,
      model: {},
      log: () => undefined,
    });
  });

  after(async function () {
    await auditor?.stop();
    if (savedEnv.password === undefined) delete process.env[PASSWORD_ENV];
    else process.env[PASSWORD_ENV] = savedEnv.password;
    if (savedEnv.n === undefined) delete process.env.THINGLEDGER_KEYSTORE_SCRYPT_N;
    else process.env.THINGLEDGER_KEYSTORE_SCRYPT_N = savedEnv.n;
    if (scratch !== undefined) fs.rmSync(scratch, { recursive: true, force: true });
  });

  async function claim(rider: typeof riderA, interaction: string): Promise<InteractionClaim> {
    return run<InteractionClaim>("reputation:claim", {
      device: lock.uid,
      keystore,
      reporter: rider.uid,
      interaction,
    });
  }

  it("claim, report (to a file and the auditor), submit, run an epoch, show, verify, withdraw", async function () {
    const auditorAddress = auditor.auditor;
    const shownBefore = await run<ReputationView>("reputation:show", { device: lock.uid });
    expect(shownBefore).to.include({ score: 500, audited: false });

    const c1 = await claim(riderA, "ride 1");
    expect(c1.subjectId).to.equal(lock.deviceId);
    const file = path.join(scratch, "report-a.json");
    const sent = await run<{ digest: string; report: ReportBody }>("reputation:report", {
      reporter: riderA.uid,
      keystore,
      subject: lock.uid,
      interaction: "ride 1",
      rating: "100",
      evidence: c1.evidence,
      out: file,
      auditor: auditor.url,
    });
    expect(sent.digest).to.match(/^0x[0-9a-f]{64}$/);
    expect(JSON.parse(fs.readFileSync(file, "utf8")).reports).to.have.length(1);

    // The same file sent again: refused as a duplicate, nothing stored twice.
    const again = await run<{ accepted: number; refused: number; outcomes: SubmitOutcome[] }>("reputation:submit", {
      file,
      auditor: auditor.url,
    });
    expect(again).to.include({ accepted: 0, refused: 1 });
    expect(again.outcomes[0].status).to.equal(409);

    const c2 = await claim(riderB, "ride 2");
    const fileB = path.join(scratch, "report-b.json");
    await run("reputation:report", {
      reporter: riderB.uid,
      keystore,
      subject: lock.uid,
      interaction: "ride 2",
      rating: "60",
      evidence: c2.evidence,
      out: fileB,
    });
    const submitted = await run<{ accepted: number }>("reputation:submit", { file: fileB, auditor: auditor.url });
    expect(submitted.accepted).to.equal(1);

    await run("auditor:add", { address: auditorAddress });
    // The admin pays this auditor for at most one changed score per epoch.
    const capped = await run<{ maxRewardsPerEpoch: number; previous: number }>("auditor:set-cap", {
      address: auditorAddress,
      max: "1",
    });
    expect(capped).to.include({ maxRewardsPerEpoch: 1, previous: 1000 });
    const epoch = await run<EpochResult>("auditor:run-epoch", { db, signer: "3" });
    expect(epoch).to.include({ reports: 2, submitted: 1, changed: 1, rewarded: 1 });
    const shown = await run<ReputationView>("reputation:show", { device: lock.uid });
    // α = 1 + 1.6, β = 1 + 0.4 → 650; recent mean 800 ≥ 650 + 50 → rising.
    expect(shown).to.include({ score: 650, trend: 1, audited: true, auditedEpoch: epoch.epoch });

    const verified = await run<EpochVerification>("auditor:verify", {
      auditor: auditor.url,
      epoch: String(epoch.epoch),
    });
    expect(verified).to.include({ ok: true, onChain: true, reports: 2 });
    expect(verified.committedReports).to.deep.equal([2]);

    const withdrawn = await run<{ amount: bigint }>("auditor:withdraw", { signer: "3" });
    expect(withdrawn.amount).to.equal(10n ** 17n);
    await expect(run("auditor:withdraw", { signer: "3" })).to.be.rejectedWith(/has no auditor reward to withdraw/);
    await expect(run("auditor:run-epoch", { db, signer: "3" })).to.be.rejectedWith(/already submitted epoch/);
    await run("auditor:remove", { address: auditorAddress });
  });

  it("bad input fails with one line naming the problem, before anything is signed or sent", async function () {
    const c = await claim(riderA, "ride 9");
    const base = {
      reporter: riderA.uid,
      keystore,
      subject: lock.uid,
      interaction: "ride 9",
      rating: "50",
      evidence: c.evidence,
      auditor: auditor.url,
    };
    await expect(run("reputation:report", { ...base, rating: "101" })).to.be.rejectedWith(
      /--rating: a whole number from 0/,
    );
    await expect(run("reputation:report", { ...base, interaction: "ride 10" })).to.be.rejectedWith(
      /^the evidence is not subject 0x[0-9a-f]{64}'s claim for reporter 0x[0-9a-f]{64} and this interaction$/,
    );
    await expect(run("reputation:report", { ...base, auditor: undefined })).to.be.rejectedWith(
      /give --out FILE, --auditor URL/,
    );
    await expect(run("reputation:report", { ...base, subject: riderA.uid })).to.be.rejectedWith(
      /cannot report on itself/,
    );
    await expect(run("reputation:report", { ...base, auditor: "http://127.0.0.1:1" })).to.be.rejectedWith(
      /cannot reach the auditor/,
    );
    await expect(
      run("reputation:claim", { device: lock.uid, keystore, reporter: "NOPE-1", interaction: "x" }),
    ).to.be.rejectedWith(
      // A label is resolved among the registry's manufacturers: with one, to its id (then not registered); with
      // several (other test files on this in-process chain admit more), it is registered by none of them.
      /^(reporter 0x[0-9a-f]{64} is not registered, not active.*|device "NOPE-1" is registered by none of the \d+ manufacturers; name it by its 0x id)$/,
    );
    const bad = path.join(scratch, "bad.json");
    fs.writeFileSync(bad, JSON.stringify({ kind: "thingledger.device-reports", version: 1, reports: [{ rating: 7 }] }));
    await expect(run("reputation:submit", { file: bad, auditor: auditor.url })).to.be.rejectedWith(
      /bad.json: 6 problem\(s\): report 1: "reporterId" must be 0x \+ 64 hex/,
    );
    // A report file is read by the one JSON reader: a missing file, bad JSON or JSON that is no object is one line.
    const expected = "expected a ThingLedger report file (thingledger.device-reports v1)";
    const missing = path.join(scratch, "missing.json");
    await expect(run("reputation:submit", { file: missing, auditor: auditor.url })).to.be.rejectedWith(
      `${missing} does not exist: ${expected}`,
    );
    fs.writeFileSync(bad, "{ not json");
    await expect(run("reputation:submit", { file: bad, auditor: auditor.url })).to.be.rejectedWith(
      new RegExp(`^${bad} is not valid JSON \\(.+\\): expected a ThingLedger report file`),
    );
    fs.writeFileSync(bad, "null");
    await expect(run("reputation:submit", { file: bad, auditor: auditor.url })).to.be.rejectedWith(
      `${bad} is not a ThingLedger report file (thingledger.device-reports v1)`,
    );
    const { report } = await run<{ report: ReportBody }>("reputation:report", {
      ...base,
      out: path.join(scratch, "r9.json"),
      auditor: undefined,
    });
    await expect(deliverReport(report, {})).to.be.rejectedWith(/^a report needs a file, an auditor or both to go to$/);
    await expect(run("auditor:run-epoch", { db: path.join(scratch, "none.sqlite") })).to.be.rejectedWith(
      /does not exist/,
    );
    await expect(run("auditor:add", { address: auditor.auditor, signer: "1" })).to.be.rejectedWith(
      /is not the network admin/,
    );
    await expect(run("auditor:set-cap", { address: auditor.auditor, max: "5", signer: "1" })).to.be.rejectedWith(
      /is not the network admin/,
    );
    await expect(run("auditor:set-cap", { address: auditor.auditor, max: "10001" })).to.be.rejectedWith(
      /^an auditor's reward cap is at most 10000 rewards per epoch, got 10001$/,
    );
    await expect(run("reputation:show", { device: "NEVER-REGISTERED" })).to.be.rejectedWith(
      /is not registered on this network|device "NEVER-REGISTERED" is registered by none of the \d+ manufacturers/,
    );
    expect(fs.existsSync(path.join(scratch, "report-c.json"))).to.equal(false);
  });

  it("auditor:serve --auto scores an epoch by itself when the chain enters it", async function () {
    const [, , , , auto] = await hre.ethers.getSigners();
    const running = await serveAuditor(await loadSystem(hre, ["DeviceRegistry"]), {
      signer: auto,
      port: 0,
      host: "127.0.0.1",
      db: path.join(scratch, "auto", "auditor.sqlite"),
      model: {},
      autoPollSeconds: 1,
      log: () => undefined,
    });
    try {
      await run("auditor:add", { address: auto.address });
      const c = await claim(riderB, "ride auto");
      await run("reputation:report", {
        reporter: riderB.uid,
        keystore,
        subject: lock.uid,
        interaction: "ride auto",
        rating: "0",
        evidence: c.evidence,
        auditor: running.url,
      });
      const health = async () =>
        (await (await fetch(`${running.url}/health`)).json()) as { reports: number; epochs: number[] };
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect((await health()).epochs).to.deep.equal([]); // same epoch: it waits
      await time.increase(86_400);
      const deadline = Date.now() + 10_000;
      while ((await health()).epochs.length === 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      const { epochs } = await health();
      expect(epochs).to.have.length(1);
      const shown = await run<ReputationView>("reputation:show", { device: lock.uid });
      expect(shown.auditedEpoch).to.equal(epochs[0]);
    } finally {
      await running.stop();
    }
  });

  it("auditor:serve --unknown-device-ttl / --known-device-ttl reach the report check; bad values name the flag", async function () {
    for (const [flag, name] of [
      ["unknownDeviceTtl", "unknown-device-ttl"],
      ["knownDeviceTtl", "known-device-ttl"],
    ]) {
      const refused = await serveInProcess("auditor:serve", { port: "0", db: ":memory:", [flag]: "-1" }).then(
        async (served) => served.stop(),
        (error: Error) => error.message,
      );
      expect(refused).to.equal(`--${name}: "-1" is not a whole number ≥ 0`);
    }
    const [admin, owner] = await hre.ethers.getSigners();
    const system = await loadSystem(hre, ["DeviceRegistry"]);
    const [registry, address] = [registryAt(system, admin), system.addresses.DeviceRegistry];
    const domain = await readDomain({ runner: hre.ethers.provider, address });
    const newcomer = testDevice(4100);
    const sendReport = async (url: string, reporter: TestDevice) => {
      const interaction = hexlify(randomBytes(32));
      const timestamp = await time.latest();
      const ids = { reporterId: reporter.deviceId, subjectId: lock.deviceId, interaction };
      const evidence = await signInteractionClaim(lock.wallet, domain, ids);
      const message = { ...ids, rating: 80, timestamp: BigInt(timestamp) };
      const signature = await signReport(reporter.wallet, domain, message);
      const response = await fetch(`${url}/reports`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ...message, timestamp, signature, evidence }),
      });
      return { status: response.status, error: ((await response.json()) as { error?: string }).error };
    };
    const dbFile = path.join(scratch, "ttl", "auditor.sqlite");
    // Both at 0 (defaults 15 s and 5 s): each change on chain is seen by the very next report.
    const running = await serveInProcess<{ url: string }>("auditor:serve", {
      port: "0",
      db: dbFile,
      signer: "5",
      rateLimit: "0",
      logLevel: "warn",
      unknownDeviceTtl: "0",
      knownDeviceTtl: "0",
    });
    try {
      const url = running.summary.url;
      expect(await sendReport(url, newcomer)).to.deep.equal({
        status: 403,
        error: `reporter ${newcomer.deviceId} is not a registered device`,
      });
      await (
        await registry.registerAndActivate(
          REGISTRATION_FEE + ACTIVATION_FEE,
          newcomer.deviceId,
          newcomer.wallet.address,
          1,
          ZeroHash,
          owner.address,
        )
      ).wait();
      expect((await sendReport(url, newcomer)).status).to.equal(201);
      await (await registry.revokeDevice(newcomer.deviceId, 1)).wait();
      expect(await sendReport(url, newcomer)).to.deep.equal({
        status: 403,
        error: `reporter ${newcomer.deviceId} is revoked: only active devices may report`,
      });
    } finally {
      await running.stop();
    }
    const stored = new ReportStore(dbFile);
    expect(stored.count()).to.equal(1);
    stored.close();
  });

  describe("from the command line", function () {
    before(function () {
      if (coverageRunning()) this.skip();
    });

    it("every reputation and auditor task has --help with --json", function () {
      for (const name of [
        "reputation:claim",
        "reputation:report",
        "reputation:submit",
        "reputation:show",
        "auditor:add",
        "auditor:remove",
        "auditor:set-cap",
        "auditor:serve",
        "auditor:run-epoch",
        "auditor:withdraw",
        "auditor:verify",
      ]) {
        const help = hardhat([name, "--help"]);
        expect(help.status, `${name}: ${help.stderr}`).to.equal(0);
        expect(help.stdout).to.contain(`Usage: hardhat [GLOBAL OPTIONS] ${name}`);
        expect(help.stdout, name).to.contain("--json");
      }
    });

    it("bad input is one line naming the problem", function () {
      const show = hardhat(["reputation:show", "--device", "0x1234"]);
      expect(show.status).to.equal(1);
      expect(errorLines(show)[0]).to.match(/^Error: /);
      const rating = hardhat([
        "reputation:report",
        "--reporter",
        "A",
        "--keystore",
        "k",
        "--subject",
        "B",
        "--interaction",
        "x",
        "--rating",
        "high",
        "--evidence",
        "0x",
        "--out",
        "r.json",
      ]);
      expect(errorLines(rating)).to.deep.equal([
        'Error: --rating: a whole number from 0 (failed) to 100 (perfect), got "high"',
      ]);
    });
  });
});
