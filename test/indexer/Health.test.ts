import fs from "node:fs";
import path from "node:path";

import { expect } from "chai";
import { JsonRpcProvider } from "ethers";

import { lockFileOf } from "../../src/indexer/process";

import { coverageRunning } from "../shared/gas";
import { endNodeDeployment, hardhat, startNodeDeployment } from "../shared/cli";
import type { NodeDeployment } from "../shared/cli";
import { caughtUp, startIndexer } from "../shared/indexer";
import type { RunningIndexer } from "../shared/indexer";
import { until } from "../shared/process";

/** What the task prints when it gives up on an indexer that cannot advance. */
const GIVES_UP =
  /^Error: the indexer cannot advance: .*; it stopped \(exit code 1\), for a supervisor or you to restart it$/;

/**
 * Issue 18: an indexer that can no longer advance is not reported healthy. `npx hardhat indexer` against a
 * real `hardhat node`: the chain is made into one Ponder cannot follow, and the task must answer 503 on
 * `/ready` and `/health` with the reason, then print one line and exit with code 1 (before the fix, it kept
 * serving 200 on a frozen indexed block).
 */
describe("indexer health: a stuck indexer is not served as healthy", function () {
  this.timeout(900_000);

  let started: Partial<NodeDeployment> = {};
  let provider: JsonRpcProvider;
  let indexer: RunningIndexer | undefined;
  let run = 0;

  before(async function () {
    // Child processes recompile the contracts, which would overwrite coverage's instrumented build.
    if (coverageRunning()) this.skip();
    started = await startNodeDeployment("indexer-health");
    const deploy = hardhat(["deploy", "--network", "localhost", "--json"], started.env);
    expect(deploy.status, deploy.stderr).to.equal(0);
    provider = new JsonRpcProvider(started.node!.url, undefined, { staticNetwork: true, cacheTimeout: -1 });
  });

  after(async function () {
    await endNodeDeployment(started, provider, () => indexer?.stop() ?? Promise.resolve());
  });

  /** A fresh indexer (its own PGlite folder), caught up with the chain. */
  async function freshIndexer(): Promise<RunningIndexer> {
    await indexer?.stop();
    run += 1;
    indexer = await startIndexer({ env: started.env!, dir: path.join(started.scratch!, `db-${run}`), provider });
    return indexer;
  }

  const send = (method: string, params: unknown[] = []) => provider.send(method, params) as Promise<unknown>;

  /** The indexer's `/ready` or `/health`: its status and body, or undefined when it does not answer. */
  async function probe(url: string, route: string): Promise<{ status: number; body: string } | undefined> {
    try {
      const response = await fetch(`${url}${route}`);
      return { status: response.status, body: await response.text() };
    } catch {
      return undefined;
    }
  }

  /**
   * Waits for the task's end, and checks that it printed one error line, naming `reason`, and exited with code
   * 1; returns what `/ready` and `/health` answered on the way, once `/ready` first stopped answering 200 (the
   * task keeps them at 503 for a few seconds before it stops).
   */
  async function givesUp(
    running: RunningIndexer,
    reason: string,
  ): Promise<{ ready?: { status: number; body: string }; health?: string }> {
    const child = running.process;
    const exited = new Promise<number | null>((resolve) =>
      child.exitCode !== null ? resolve(child.exitCode) : child.once("exit", (code) => resolve(code)),
    );
    let ended = false;
    void exited.then(() => (ended = true));
    let ready: { status: number; body: string } | undefined;
    let health: string | undefined;
    // Before the fix it served 200 on a frozen block for as long as it ran: this wait is what failed.
    await until(
      "the indexer to give up (/ready not 200, or the task's exit)",
      240_000,
      async () => {
        if (ended) return true;
        const answer = await probe(running.url, "/ready");
        if (answer === undefined || answer.status === 200) return undefined;
        ready = answer;
        const h = await probe(running.url, "/health");
        health = h === undefined ? undefined : `${h.status} ${h.body}`;
        return true;
      },
      200,
    );
    const code = await until("the indexer task to exit", 120_000, async () =>
      ended ? ((await exited) ?? -1) : undefined,
    );
    const lines = running.output().split("\n");
    const said = lines.filter((l) => l.startsWith("Error: "));
    expect(said, lines.join("\n")).to.have.length(1);
    expect(said[0]).to.match(GIVES_UP).and.to.contain(reason);
    expect(code, lines.join("\n")).to.equal(1);
    return { ready, health };
  }

  it("gives up on a reorg below Ponder's finalized block (Ponder's 'unrecoverable reorg'), with 503 and exit code 1", async function () {
    const running = await freshIndexer();
    const snapshot = (await send("evm_snapshot")) as string;
    // One block at a time (hardhat_mine would leave parent hashes of zero): 70 blocks move Ponder's finality
    // (30 blocks on chain 31337, moved in steps of 60) past the snapshot.
    for (let i = 0; i < 70; i++) await send("evm_mine");
    await caughtUp(running.url, provider, 120_000);
    expect(await send("evm_revert", [snapshot])).to.equal(true);
    for (let i = 0; i < 5; i++) await send("evm_mine");

    const { ready } = await givesUp(running, "reorganised below block");
    expect(ready?.status).to.equal(503);
    expect(ready?.body).to.match(
      /^indexer cannot advance: the chain reorganised below block \d+, which Ponder had finalized/,
    );
  });

  it("gives up when Ponder dies under it (killed), with one line and exit code 1", async function () {
    const running = await freshIndexer();
    const ponder = Number(fs.readFileSync(lockFileOf(path.join(started.scratch!, `db-${run}`)), "utf8").trim());
    expect(ponder).to.be.greaterThan(0).and.not.equal(running.process.pid);
    process.kill(ponder, "SIGKILL");

    await givesUp(running, "Ponder exited on its own (code none)");
  });

  it("reproduces issue 18 (snapshot, mine, index, revert, hardhat_mine 0x28): 503 on /ready and /health, one line, exit code 1", async function () {
    const running = await freshIndexer();
    expect((await probe(running.url, "/ready"))?.status, "ready once caught up").to.equal(200);
    const snapshot = (await send("evm_snapshot")) as string;
    await send("hardhat_mine", ["0x5"]);
    await caughtUp(running.url, provider, 120_000);
    expect(await send("evm_revert", [snapshot])).to.equal(true);
    // Hardhat mines most of these with parent hash 0x00…0: no block of the chain links to them.
    await send("hardhat_mine", ["0x28"]);

    const { ready, health } = await givesUp(running, "parent hash is 0x00000000");
    expect(ready?.status, "/ready while it gives up").to.equal(503);
    expect(ready?.body.trim()).to.match(
      /^indexer cannot advance: the node serves blocks whose parent hash is 0x00000000…/,
    );
    expect(ready?.body.trim().split("\n")).to.have.length(1);
    expect(health).to.equal(`503 ${ready?.body}`);
  });
});
