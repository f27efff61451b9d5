import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { expect } from "chai";
import { MaxUint256, ZeroHash } from "ethers";
import hre from "hardhat";

import { registryAt, tokenAt } from "../../src/chain/context";
import { runAccessSimulation } from "../../src/channels/simulation";
import { loadSystem } from "../../tasks/support/deployments";
import { validate } from "../../src/registry";
import {
  claimInteraction,
  makeReport,
  openAuditor,
  proveInclusion,
  showReputation,
  submitReports,
  verifyPublishedEpoch,
  withdrawReward,
} from "../../src/reputation";
import { readDomain } from "../../src/eip712/domain";
import { reportDigest } from "../../src/eip712/report";
import { ACTIVATION_FEE, REGISTRATION_FEE, testDevice } from "../shared/fixtures";

/**
 * The whole reputation path on the deployed system (Ignition, in-process network): devices deal with
 * each other through a payment channel, file reports with evidence to an auditor over HTTP, the auditor
 * runs an epoch, the scores are on chain, and device validation shows them.
 */
describe("Reputation end to end", function () {
  this.timeout(120_000);

  it("channel interaction → reports → auditor epoch → scores on chain → validation", async function () {
    const [admin, owner, as, auditor] = await hre.ethers.getSigners();
    const system = await loadSystem(hre, ["ThingToken", "DeviceRegistry"]);
    const [registry, token, address] = [
      registryAt(system, admin),
      tokenAt(system, admin),
      system.addresses.DeviceRegistry,
    ];
    const [lock, ...riders] = [0, 1, 2, 3].map((i) => testDevice(3000 + i));
    await (await token.approve(address, MaxUint256)).wait();
    for (const d of [lock, ...riders]) {
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
    }
    const before = await validate(system, lock.deviceId);
    expect(before.score).to.equal(500); // the manufacturer's default

    // 1. The riders buy access to the lock through one group channel (HOTP codes checked by the lock).
    const sim = await runAccessSimulation(await loadSystem(hre, ["PaymentChannels"]), {
      clients: 3,
      slots: 2,
      owner,
      as,
      clientKeys: riders.map((r) => r.wallet),
      lockId: lock.deviceId,
    });
    expect(sim.otpsAccepted).to.equal(6);

    // 2. Each rider files a report on the lock, backed by the lock's claim of that channel interaction.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "thingledger-e2e-rep-"));
    const { service, store } = await openAuditor(system, auditor, path.join(dir, "auditor.sqlite"));
    try {
      const url = await service.listen(0);
      const ratings = [100, 100, 80];
      const reports = [];
      for (const [i, rider] of riders.entries()) {
        const claim = await claimInteraction(system, lock.wallet, {
          subjectId: lock.deviceId,
          reporterId: rider.deviceId,
          interaction: sim.channelId,
        });
        reports.push(
          await makeReport(system, rider.wallet, {
            reporterId: rider.deviceId,
            subjectId: lock.deviceId,
            interaction: sim.channelId,
            rating: ratings[i],
            evidence: claim.evidence,
          }),
        );
      }
      const outcomes = await submitReports(url, [...reports, reports[1]]);
      expect(outcomes.map((o) => o.status)).to.deep.equal([201, 201, 201, 409]);
      expect(store.count()).to.equal(3);

      // 3. The auditor is admitted and runs the epoch.
      await (await registry.addAuditor(auditor.address)).wait();
      const epoch = await service.runEpoch();
      expect(epoch).to.include({ reports: 3, subjects: 1, submitted: 1, changed: 1, rewarded: 1 });
      // α = 1 + 2.8, β = 1 + 0.2 → 760; recent reports average 933 ≥ 760 + 50 → rising.
      const expected = { score: 760, trend: 1 };

      // 4. The score is on chain with the epoch and the reports root; validation shows it.
      const rep = await registry.reputationOf(lock.deviceId);
      expect([rep.score, rep.trend, rep.epoch, rep.audited]).to.deep.equal([760n, 1n, BigInt(epoch.epoch), true]);
      const [event] = await registry.queryFilter(registry.filters.ScoresUpdated(auditor.address, epoch.epoch));
      expect(event.args.reportsRoot).to.equal(epoch.root);
      const after = await validate(system, lock.deviceId);
      expect({ score: after.score, trend: after.trend, valid: after.valid }).to.deep.equal({
        ...expected,
        valid: true,
      });
      const shown = await showReputation(system, lock.deviceId);
      expect(shown).to.include({ score: 760, trend: 1, audited: true, auditedEpoch: epoch.epoch });

      // 5. Anyone can check the epoch: every report is in the root, and the scores recompute.
      const domain = await readDomain({ runner: hre.ethers.provider, address });
      for (const r of reports) {
        const digest = reportDigest(domain, { ...r, timestamp: BigInt(r.timestamp) });
        const proof = (await (await fetch(`${url}/epochs/${epoch.epoch}/proofs/${digest}`)).json()) as {
          proof: string[];
        };
        expect(proveInclusion(epoch.root, digest, proof.proof)).to.equal(true);
      }
      const check = await verifyPublishedEpoch(system, url, epoch.epoch);
      expect(check).to.include({ ok: true, onChain: true, reports: 3, scores: 1 });
      expect(check.committedReports).to.deep.equal([3]);
      // An auditor committing the same root with an inflated report count (to lift its reward bound) is caught.
      const asAuditor = registryAt(system, auditor);
      await (await asAuditor.updateScore(lock.deviceId, 760, 1, epoch.epoch, epoch.root, 1_000)).wait();
      const inflated = await verifyPublishedEpoch(system, url, epoch.epoch);
      expect(inflated).to.include({ ok: false, onChain: true });
      expect(inflated.committedReports).to.deep.equal([3, 1_000]);
      expect(inflated.problems).to.deep.equal([
        `root ${epoch.root} was committed on chain with 1000 report(s), but 3 are published`,
      ]);

      // 6. The auditor is paid by pull payment.
      const withdrawn = await withdrawReward(system, auditor);
      expect(withdrawn.amount).to.equal(await registry.auditReward());
    } finally {
      await service.stop();
      store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
