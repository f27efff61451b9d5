import { expect } from "chai";
import path from "node:path";

import { COVERAGE_TESTS } from "../../hardhat.config";

const ROOT = path.join(__dirname, "..", "..");

/** The matcher solidity-coverage itself resolves `testfiles` with (its own globby). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const globby = require(require.resolve("globby", { paths: [require.resolve("solidity-coverage/package.json")] })) as {
  sync(patterns: string[], options: { cwd: string }): string[];
};

/**
 * The suites in the contracts' domain folders that coverage leaves out, each with why: every other suite
 * there must be in `COVERAGE_TESTS`, so a new contract suite cannot be dropped from coverage unnoticed.
 */
const NOT_UNDER_COVERAGE: Record<string, string> = {
  "test/registry/ActivationLink.test.ts": "the link parser, TypeScript only",
  "test/registry/Interrupt.test.ts": "the CLI's interrupted batch",
  "test/registry/InterruptSignal.test.ts": "a real Ctrl-C to a spawned task",
  "test/registry/Preview.test.ts": "the CLI's dry run",
  "test/reputation/AuditorBadInput.test.ts": "the auditor service's HTTP input",
  "test/reputation/AuditorService.test.ts": "the auditor service",
  "test/reputation/EndToEnd.test.ts": "the auditor service end to end",
  "test/reputation/EpochColumns.test.ts": "the epoch builder, TypeScript only",
  "test/wallet/AttackQueue.test.ts": "the proposal queue's HTTP service",
  "test/wallet/ProposalQueue.test.ts": "the proposal queue's HTTP service",
  "test/wallet/QueueReader.test.ts": "the queue's log reader",
  "test/wallet/WalletLibrary.test.ts": "src/wallets, TypeScript only",
};

describe("coverage runs every contract suite (COVERAGE_TESTS in hardhat.config.ts)", function () {
  it("every suite of test/token, registry, reputation, wallet and channels/PaymentChannels is covered or named as left out", function () {
    const covered = new Set(globby.sync([COVERAGE_TESTS], { cwd: ROOT }));
    const domain = globby.sync(
      ["test/{token,registry,reputation,wallet}/*.test.ts", "test/channels/PaymentChannels*.test.ts"],
      {
        cwd: ROOT,
      },
    );
    expect(domain.length).to.be.greaterThan(30);
    const missing = domain.filter((f) => !covered.has(f) && NOT_UNDER_COVERAGE[f] === undefined);
    expect(missing, "suites neither under coverage nor named in NOT_UNDER_COVERAGE").to.deep.equal([]);
    const stale = Object.keys(NOT_UNDER_COVERAGE).filter((f) => covered.has(f) || !domain.includes(f));
    expect(stale, "NOT_UNDER_COVERAGE names a covered or missing suite").to.deep.equal([]);
    expect([...covered]).to.include.members(["test/invariants/System.model.test.ts", "test/eip712/TypedData.test.ts"]);
  });
});
