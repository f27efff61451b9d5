import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";

import { expect } from "chai";

import { coverageRunning } from "../shared/gas";
import { ROOT, freePort, hardhat } from "../shared/cli";
import { stopGroup } from "../shared/process";

const ACCOUNT_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

interface Summary {
  url: string;
  network: string;
  inProcess: boolean;
  database: string;
  indexedBlock: number;
}

const answers = (url: string) =>
  fetch(url, { signal: AbortSignal.timeout(2000) }).then(
    (r) => r.status,
    () => undefined,
  );

/**
 * The indexer on the in-process network (no --network): `npx hardhat indexer` serves the in-process chain
 * over JSON-RPC for Ponder and indexes the dev system into a throwaway database; `npx hardhat demo --indexer`
 * runs the demo with the indexer alongside and reports its answers.
 */
describe("indexer on the in-process network", function () {
  this.timeout(600_000);

  let task: ChildProcess | undefined;

  before(function () {
    // Child processes recompile the contracts, which would overwrite coverage's instrumented build.
    if (coverageRunning()) this.skip();
  });

  afterEach(async function () {
    const child = task;
    task = undefined;
    await stopGroup(child);
  });

  it("`npx hardhat indexer` with no --network indexes the in-process dev system and stops with its task", async function () {
    const port = await freePort();
    task = spawn("npx", ["hardhat", "indexer", "--port", String(port), "--json"], {
      cwd: ROOT,
      env: { ...process.env, FORCE_COLOR: "0", NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let stdout = "";
    let stderr = "";
    task.stdout?.on("data", (c: Buffer) => (stdout += c.toString()));
    task.stderr?.on("data", (c: Buffer) => (stderr += c.toString()));
    const deadline = Date.now() + 480_000;
    const parsed = (): Summary | undefined => {
      try {
        return JSON.parse(stdout) as Summary;
      } catch {
        return undefined;
      }
    };
    while (parsed() === undefined && task.exitCode === null && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 500));
    expect(task.exitCode, stderr).to.equal(null);
    const summary = parsed()!;
    expect(summary, stdout + stderr).to.not.equal(undefined);
    expect(summary).to.include({ network: "hardhat", inProcess: true, url: `http://127.0.0.1:${port}` });
    expect(summary.database).to.match(/throwaway/);
    // The dev system loadSystem deploys in process: account #0 is manufacturer 1.
    const response = await fetch(`${summary.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ manufacturers { items { id account } } }" }),
    });
    const { data } = (await response.json()) as { data: { manufacturers: { items: unknown[] } } };
    expect(data.manufacturers.items).to.deep.equal([{ id: 1, account: ACCOUNT_0.toLowerCase() }]);
    const child = task;
    task = undefined;
    // The task's whole group: npx exits on the signal before the task has stopped its indexer.
    await stopGroup(child);
    expect(await answers(`${summary.url}/health`), "the API is gone with its task").to.equal(undefined);
  });

  it("`npx hardhat demo --indexer` reports the indexer's answers about the demo's fleet", async function () {
    const port = await freePort();
    const run = hardhat(["demo", "--indexer", "--indexer-port", String(port), "--json"]);
    expect(run.status, run.stderr).to.equal(0);
    const result = JSON.parse(run.stdout) as {
      steps: { title: string }[];
      indexer: { url: string; indexedBlock: number; queries: { route: string; answer: unknown }[] };
    };
    expect(result.indexer.url).to.equal(`http://127.0.0.1:${port}`);
    const answer = (route: string) => result.indexer.queries.find((q) => q.route === route)?.answer;
    const fleet = answer("/stats/fleet") as { total: number; byStatus: Record<string, number> };
    // The demo claims four devices from its whitelist and activates each.
    expect(fleet).to.deep.equal({ total: 4, byStatus: { Registered: 0, Active: 4, Revoked: 0 } });
    const perDay = answer("/stats/activations?days=1") as { day: string; activations: number }[];
    expect(perDay).to.have.length(1);
    expect(perDay[0].activations).to.equal(4);
    const page = answer("/devices?status=active&limit=3") as { items: { status: string }[]; nextCursor: string };
    expect(page.items.map((d) => d.status)).to.deep.equal(["Active", "Active", "Active"]);
    expect(page.nextCursor).to.be.a("string");
    expect(await answers(`${result.indexer.url}/health`), "stopped with the demo").to.equal(undefined);
  });
});
