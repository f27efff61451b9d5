import type { HardhatRuntimeEnvironment } from "hardhat/types";

import { formatGas } from "../src/cli/output";
import { withHttpFlags } from "../src/cli/http";
import type { HttpFlags } from "../src/cli/http";
import { defineTask } from "./lib";

const TREND = ["falling", "steady", "rising"];

/** The system the reputation and auditor tasks work on: of its contracts, they need the registry only. */
async function system(hre: HardhatRuntimeEnvironment) {
  const { loadSystem } = await import("./support/deployments");
  return loadSystem(hre, ["DeviceRegistry"]);
}

defineTask(
  "reputation:claim",
  "The subject device signs its side of an interaction: evidence for the reporter's report",
)
  .addParam("device", "The subject device (id 0x…64 hex or raw unique id): the one being reported on")
  .addParam("keystore", "Directory of device keystores (the subject signs)")
  .addParam("reporter", "The reporting device (id or raw unique id)")
  .addParam("interaction", "The interaction: a channel id or transaction hash (0x…64 hex) or a label (hashed)")
  .run(
    async (args: { device: string; keystore: string; reporter: string; interaction: string }, hre) => {
      const { unlockDeviceKey } = await import("../src/devices/keystore");
      const { resolveDevice } = await import("../src/registry");
      const { parseInteraction } = await import("../src/cli/reputation");
      const { claimInteraction } = await import("../src/reputation");
      const subjectId = await resolveDevice(await system(hre), args.device, args.keystore);
      const wallet = await unlockDeviceKey(args.keystore, subjectId);
      return claimInteraction(await system(hre), wallet, {
        subjectId,
        reporterId: await resolveDevice(await system(hre), args.reporter, args.keystore),
        interaction: parseInteraction(args.interaction),
      });
    },
    (r) =>
      [
        `Device ${r.subjectId} confirms interaction ${r.interaction} with reporter ${r.reporterId}.`,
        `  evidence: ${r.evidence}`,
        "  pass it to reputation:report --evidence",
      ].join("\n"),
  );

defineTask(
  "reputation:report",
  "A device signs a report about a peer it dealt with (EIP-712), to a file and/or an auditor",
)
  .addParam("reporter", "The reporting device (id 0x…64 hex or raw unique id)")
  .addParam("keystore", "Directory of device keystores (the reporter signs)")
  .addParam("subject", "The device reported on (id or raw unique id)")
  .addParam("interaction", "The interaction: a channel id or transaction hash (0x…64 hex) or a label (hashed)")
  .addParam("rating", "0 (failed) to 100 (perfect)")
  .addParam("evidence", "The subject's claim for this interaction (from reputation:claim)")
  .addOptionalParam("out", "Write the signed report to this file (a report file, for reputation:submit)")
  .addFlag("force", "Overwrite --out if it exists")
  .addOptionalParam("auditor", "Send it to the auditor at this URL (e.g. http://127.0.0.1:8547)")
  .run(
    async (
      args: {
        reporter: string;
        keystore: string;
        subject: string;
        interaction: string;
        rating: string;
        evidence: string;
        out?: string;
        force: boolean;
        auditor?: string;
      },
      hre,
    ) => {
      const { unlockDeviceKey } = await import("../src/devices/keystore");
      const { UserError } = await import("../src/errors");
      const { resolveDevice } = await import("../src/registry");
      const { parseInteraction, parseRating } = await import("../src/cli/reputation");
      const { deliverReport, makeReport } = await import("../src/reputation");
      if (args.out === undefined && args.auditor === undefined)
        throw new UserError("give --out FILE, --auditor URL or both: where should the report go?");
      const { ensureWritable } = await import("../src/cli/files");
      if (args.out !== undefined) ensureWritable(args.out, { force: args.force, flag: "out" });
      const reporterId = await resolveDevice(await system(hre), args.reporter, args.keystore);
      const rating = parseRating(args.rating);
      const wallet = await unlockDeviceKey(args.keystore, reporterId);
      const report = await makeReport(await system(hre), wallet, {
        reporterId,
        subjectId: await resolveDevice(await system(hre), args.subject, args.keystore),
        interaction: parseInteraction(args.interaction),
        rating,
        evidence: args.evidence,
      });
      return deliverReport(report, { out: args.out, auditor: args.auditor, force: args.force });
    },
    (r) =>
      [
        `Report by ${r.report.reporterId} on ${r.report.subjectId}: rating ${r.report.rating}/100`,
        r.file === undefined ? "" : `  written to ${r.file}`,
        r.digest === undefined ? "" : `  accepted by the auditor at ${r.auditor} as ${r.digest}`,
      ]
        .filter((l) => l !== "")
        .join("\n"),
  );

defineTask("reputation:submit", "Sends the reports of a report file to an auditor")
  .addParam("file", "A report file (from reputation:report --out)")
  .addParam("auditor", "The auditor's URL")
  .run(
    async (args: { file: string; auditor: string }) => {
      const { readReportFile, submitReports } = await import("../src/reputation");
      const outcomes = await submitReports(args.auditor, readReportFile(args.file));
      return {
        auditor: args.auditor,
        accepted: outcomes.filter((o) => o.accepted).length,
        refused: outcomes.filter((o) => !o.accepted).length,
        outcomes,
      };
    },
    (r) =>
      [
        `${r.accepted} report(s) accepted, ${r.refused} refused by ${r.auditor}`,
        ...r.outcomes.filter((o) => !o.accepted).map((o) => `  report ${o.index + 1}: ${o.status} ${o.error ?? ""}`),
      ].join("\n"),
  );

defineTask("reputation:show", "Shows a device's reputation as validation sees it: score 0-1000 and trend")
  .addParam("device", "Device id (0x…64 hex) or raw unique id")
  .run(
    async (args: { device: string }, hre) => {
      const { resolveDevice } = await import("../src/registry");
      const { showReputation } = await import("../src/reputation");
      return showReputation(await system(hre), await resolveDevice(await system(hre), args.device));
    },
    (r) =>
      `Device ${r.deviceId} (${r.status}): reputation ${r.score}/1000, ${TREND[r.trend + 1]}; ${
        r.audited
          ? `audited in epoch ${r.auditedEpoch} (now ${r.currentEpoch})`
          : "not audited yet: its manufacturer's default"
      }`,
  );

/** `auditor:add` and `auditor:remove`: the same task but for the direction. */
for (const [name, description, admit] of [
  ["auditor:add", "The network admin admits an auditor", true],
  ["auditor:remove", "The network admin removes an auditor; its unused reward budget returns to the pool", false],
] as const) {
  defineTask(name, description)
    .addParam("address", "The auditor's address")
    .addOptionalParam("signer", "The admin's signer (an account index, vars:NAME, or a keystore file)", "0")
    .run(
      async (args: { address: string; signer: string }, hre) => {
        const { parseAddress } = await import("../src/cli/parse");
        const { setAuditor } = await import("../src/reputation");
        const { signerOption } = await import("./support/signers");
        const auditor = parseAddress("address", args.address);
        const admin = await signerOption(hre, "signer", args.signer);
        return setAuditor(await system(hre), admin, auditor, admit);
      },
      (r) => `Auditor ${r.auditor} ${admit ? "admitted" : "removed"}; gas ${formatGas(r.gasUsed)}`,
    );
}

defineTask("auditor:set-cap", "The network admin sets how many changed scores an auditor is paid for per epoch")
  .addParam("address", "The auditor's address")
  .addParam("max", "Changed scores rewarded per epoch, 0 to the registry's MAX_EPOCH_REWARDS (10,000)")
  .addOptionalParam("signer", "The admin's signer (an account index, vars:NAME, or a keystore file)", "0")
  .run(
    async (args: { address: string; max: string; signer: string }, hre) => {
      const { parseAddress, parseCount } = await import("../src/cli/parse");
      const { setAuditorRewardCap } = await import("../src/reputation");
      const { signerOption } = await import("./support/signers");
      const auditor = parseAddress("address", args.address);
      const max = parseCount("max", args.max);
      const admin = await signerOption(hre, "signer", args.signer);
      return setAuditorRewardCap(await system(hre), admin, auditor, max);
    },
    (r) =>
      `Auditor ${r.auditor} is paid for at most ${r.maxRewardsPerEpoch} changed score(s) per epoch (was ${r.previous}); gas ${formatGas(r.gasUsed)}`,
  );

defineTask("auditor:serve", "Runs an auditor: takes device reports over HTTP, checks and stores them, scores epochs")
  .with(withHttpFlags)
  .addOptionalParam("port", "HTTP port", "8547")
  .addOptionalParam("host", "Interface to listen on", "127.0.0.1")
  .addOptionalParam("db", "SQLite database of reports and epochs", "data/auditor/auditor.sqlite")
  .addOptionalParam("signer", "The auditor's signer (an account index, vars:NAME, or a keystore file)", "0")
  .addOptionalParam("halfLife", "The model's half-life: 3600s, 12h, 7d (default 7 epochs)")
  .addFlag("auto", "Score and submit each epoch by itself once the chain enters it")
  .addOptionalParam("poll", "With --auto, how often to look at the chain's epoch, in seconds", "60")
  .addOptionalParam(
    "knownDeviceTtl",
    "Seconds a registered device's status and key are reused for report checks (0: read every time)",
    "5",
  )
  .addOptionalParam("unknownDeviceTtl", "Seconds a device found unregistered is refused without a chain read", "15")
  .serve(
    async (
      args: HttpFlags & {
        port: string;
        host: string;
        db: string;
        signer: string;
        halfLife?: string;
        auto: boolean;
        poll: string;
        knownDeviceTtl: string;
        unknownDeviceTtl: string;
      },
      hre,
    ) => {
      const { parseCount, parseDuration } = await import("../src/cli/parse");
      const { serveAuditor } = await import("../src/reputation");
      const { parseHttpFlags } = await import("../src/cli/http");
      const { serviceLogger } = await import("../src/http/log");
      const { signerOption } = await import("./support/signers");
      const http = parseHttpFlags(args);
      const logger = serviceLogger("auditor", http.logLevel);
      const running = await serveAuditor(await system(hre), {
        signer: await signerOption(hre, "signer", args.signer),
        port: parseCount("port", args.port),
        host: args.host,
        db: args.db,
        model: args.halfLife === undefined ? {} : { halfLife: parseDuration("half-life", args.halfLife) },
        autoPollSeconds: args.auto ? parseCount("poll", args.poll, 1) : undefined,
        knownDeviceTtl: parseCount("known-device-ttl", args.knownDeviceTtl),
        unknownDeviceTtl: parseCount("unknown-device-ttl", args.unknownDeviceTtl),
        log: (line) => logger.info(line),
        http: { ...http, logger, processMetrics: true },
      });
      return {
        stop: () => running.stop(),
        summary: {
          network: hre.network.name,
          url: running.url,
          auditor: running.auditor,
          db: running.db,
          reports: running.reports,
          model: running.model,
          auto: running.auto,
        },
      };
    },
    (r) =>
      [
        `Auditor ${r.auditor} on network "${r.network}" listening at ${r.url}`,
        `  database ${r.db}: ${r.reports} report(s); half-life ${r.model.halfLife} s; ${r.auto ? "scores each epoch by itself" : "run auditor:run-epoch to score"}`,
        "  POST /reports, GET /epochs/:epoch, GET /epochs/:epoch/proofs/:digest, GET /health, GET /metrics; Ctrl-C stops it",
      ].join("\n"),
  );

defineTask(
  "auditor:run-epoch",
  "Scores the current epoch from the auditor's reports and submits the scores with the reports root",
)
  .addOptionalParam("db", "The auditor's SQLite database", "data/auditor/auditor.sqlite")
  .addOptionalParam("signer", "The auditor's signer (an account index, vars:NAME, or a keystore file)", "0")
  .addOptionalParam("halfLife", "The model's half-life: 3600s, 12h, 7d (default 7 epochs)")
  .run(
    async (args: { db: string; signer: string; halfLife?: string }, hre) => {
      const { parseDuration } = await import("../src/cli/parse");
      const { runEpoch } = await import("../src/reputation");
      const { signerOption } = await import("./support/signers");
      const model = args.halfLife === undefined ? {} : { halfLife: parseDuration("half-life", args.halfLife) };
      const signer = await signerOption(hre, "signer", args.signer);
      return runEpoch(await system(hre), signer, args.db, { model });
    },
    (r) =>
      [
        `Epoch ${r.epoch}: ${r.reports} report(s) on ${r.subjects} device(s), reports root ${r.root}`,
        `  ${r.submitted} score(s) submitted in ${r.txHashes.length} transaction(s), ${r.skipped} left out (unchanged, revoked or already scored this epoch)`,
        `  ${r.changed} changed, ${r.rewarded} rewarded; gas ${formatGas(r.gasUsed)}`,
      ].join("\n"),
  );

defineTask("auditor:withdraw", "An auditor withdraws the rewards it earned (pull payment)")
  .addOptionalParam("signer", "The auditor's signer (an account index, vars:NAME, or a keystore file)", "0")
  .run(
    async (args: { signer: string }, hre) => {
      const { withdrawReward } = await import("../src/reputation");
      const { signerOption } = await import("./support/signers");
      const signer = await signerOption(hre, "signer", args.signer);
      return withdrawReward(await system(hre), signer);
    },
    (r) => `Auditor ${r.auditor} withdrew ${r.formatted}; gas ${formatGas(r.gasUsed)}`,
  );

defineTask(
  "auditor:verify",
  "Recomputes an auditor's published epoch (digests, reports root, scores) and finds its root on chain",
)
  .addParam("auditor", "The auditor's URL")
  .addParam("epoch", "The epoch number")
  .run(
    async (args: { auditor: string; epoch: string }, hre) => {
      const { parseCount } = await import("../src/cli/parse");
      const { verifyPublishedEpoch } = await import("../src/reputation");
      const epoch = parseCount("epoch", args.epoch);
      return verifyPublishedEpoch(await system(hre), args.auditor, epoch);
    },
    (r) =>
      r.ok
        ? `Epoch ${r.epoch} checks out: ${r.reports} report(s) hash to root ${r.root}, which is on chain with that report count; all ${r.scores} score(s) recomputed`
        : `Epoch ${r.epoch} does NOT check out:\n${r.problems.map((p) => `  - ${p}`).join("\n")}`,
  );
