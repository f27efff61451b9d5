import { expect } from "chai";
import hre from "hardhat";
import { HardhatError } from "hardhat/internal/core/errors";
import { ERRORS } from "hardhat/internal/core/errors-list";
import { HardhatPluginError } from "hardhat/plugins";

import { UserError } from "../../src/errors";
import { coverageRunning } from "../shared/gas";
import { defineTask, definedTasks, serveUntilSignal } from "../../tasks/lib";

/** Runs `fn` with console.log captured; returns what it printed. */
async function captured<T>(fn: () => Promise<T>): Promise<{ result: T; printed: string }> {
  const lines: string[] = [];
  const original = console.log;
  console.log = (...parts: unknown[]) => lines.push(parts.map(String).join(" "));
  try {
    return { result: await fn(), printed: lines.join("\n") };
  } finally {
    console.log = original;
  }
}

/** The task skeleton every ThingLedger task shares (tasks/lib.ts), exercised in-process. */
describe("tasks/lib: defineTask and serveUntilSignal", function () {
  this.timeout(120_000);
  before(function () {
    // runTask compiles first, which would overwrite coverage's instrumented build.
    if (coverageRunning()) this.skip();
  });

  it("every ThingLedger task is declared with defineTask and has a --json flag", function () {
    const names = definedTasks();
    expect(names).to.include.members(["demo", "deploy", "as:serve", "auditor:serve", "auditor:add", "auditor:remove"]);
    expect(names.length).to.be.greaterThan(40);
    expect(new Set(names).size, "a task declared twice").to.equal(names.length);
    for (const name of names) {
      const json = hre.tasks[name]?.paramDefinitions.json;
      expect(json, name).to.not.equal(undefined);
      expect(json!.isFlag, name).to.equal(true);
    }
  });

  it("run prints the human summary, or with --json the result itself", async function () {
    defineTask("test:lib-run", "A test task")
      .addParam("word", "A word")
      .run(
        async (args: { word: string }) => ({ word: args.word, count: 2n }),
        (r, _hre, args) => `said ${r.word} (${args.word}) ${r.count} times`,
      );
    const human = await captured(() => hre.run("test:lib-run", { word: "hi" }));
    expect(human.printed).to.equal("said hi (hi) 2 times");
    expect(human.result).to.deep.equal({ word: "hi", count: 2n });
    const json = await captured(() => hre.run("test:lib-run", { word: "hi", json: true }));
    expect(JSON.parse(json.printed)).to.deep.equal({ word: "hi", count: "2" });
  });

  it("a user error, and Hardhat's network errors matched by type, become one-line plugin errors", async function () {
    const cases: [string, unknown, string][] = [
      ["test:lib-user", new UserError("--x: not a number"), "--x: not a number"],
      [
        "test:lib-down",
        new HardhatError(ERRORS.NETWORK.NODE_IS_NOT_RUNNING, { network: "hardhat" }),
        'cannot reach network "hardhat" at hardhat: is the node running (npx hardhat node)?',
      ],
      [
        "test:lib-chain",
        new HardhatError(ERRORS.NETWORK.INVALID_GLOBAL_CHAIN_ID, { configChainId: 31337, connectionChainId: 5 }),
        'network "hardhat" at hardhat is chain 5, not chain 31337: is the node running (npx hardhat node)?',
      ],
    ];
    for (const [name, error, message] of cases) {
      defineTask(name, "A failing test task").run(
        () => Promise.reject(error),
        () => "never",
      );
      const caught = await hre.run(name).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(HardhatPluginError.isHardhatPluginError(caught), name).to.equal(true);
      expect((caught as Error).message, name).to.equal(message);
    }
    // Any other Hardhat error passes through unchanged.
    const other = new HardhatError(ERRORS.NETWORK.CONFIG_NOT_FOUND, { network: "nowhere" });
    defineTask("test:lib-other", "A failing test task").run(
      () => Promise.reject(other),
      () => "never",
    );
    expect(await hre.run("test:lib-other").catch((e: unknown) => e)).to.equal(other);
  });

  it("serve prints the summary, then runs until SIGINT and stops the service", async function () {
    let stops = 0;
    defineTask("test:lib-serve", "A test service").serve(
      async () => ({ summary: { url: "http://x" }, stop: async () => void stops++ }),
      (r) => `listening at ${r.url}`,
    );
    const before = [process.listenerCount("SIGINT"), process.listenerCount("SIGTERM")];
    const lines: string[] = [];
    const original = console.log;
    console.log = (line: string) => lines.push(line);
    let running: Promise<unknown>;
    try {
      running = hre.run("test:lib-serve");
      while (lines.length === 0) await new Promise((r) => setTimeout(r, 10));
    } finally {
      console.log = original;
    }
    expect(lines).to.deep.equal(["listening at http://x"]);
    expect(stops).to.equal(0);
    process.emit("SIGINT");
    await running;
    expect(stops).to.equal(1);
    expect([process.listenerCount("SIGINT"), process.listenerCount("SIGTERM")]).to.deep.equal(before);
  });

  it("serve stops a service that says it failed, and fails with its one line (exit code 1 on the command line)", async function () {
    let stops = 0;
    let fail: (reason: string) => void = () => undefined;
    defineTask("test:lib-serve-fails", "A test service that fails").serve(
      async () => ({
        summary: { url: "http://x" },
        stop: async () => void stops++,
        failed: new Promise<string>((resolve) => (fail = resolve)),
      }),
      (r) => `listening at ${r.url}`,
    );
    const before = [process.listenerCount("SIGINT"), process.listenerCount("SIGTERM")];
    const original = console.log;
    let listening = false;
    console.log = () => void (listening = true);
    let running: Promise<unknown>;
    try {
      running = hre.run("test:lib-serve-fails").catch((e: unknown) => e);
      while (!listening) await new Promise((r) => setTimeout(r, 10));
    } finally {
      console.log = original;
    }
    expect(stops).to.equal(0);
    fail("the service cannot go on: its chain broke");
    const error = (await running) as Error;
    expect(error).to.be.instanceOf(HardhatPluginError);
    expect(error.message).to.equal("the service cannot go on: its chain broke");
    expect(stops).to.equal(1);
    expect([process.listenerCount("SIGINT"), process.listenerCount("SIGTERM")]).to.deep.equal(before);
  });

  it("serveUntilSignal stops once on SIGTERM, leaves no listener behind, and survives a failing stop", async function () {
    const before = [process.listenerCount("SIGINT"), process.listenerCount("SIGTERM")];
    let stops = 0;
    const served = serveUntilSignal(async () => {
      stops++;
      throw new Error("already closed");
    });
    expect([process.listenerCount("SIGINT"), process.listenerCount("SIGTERM")]).to.deep.equal([
      before[0] + 1,
      before[1] + 1,
    ]);
    process.emit("SIGTERM");
    await served;
    expect(stops).to.equal(1);
    expect([process.listenerCount("SIGINT"), process.listenerCount("SIGTERM")]).to.deep.equal(before);
  });
});
