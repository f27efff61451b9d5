import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import fc from "fast-check";

import { KNOWN_UNFIXED, commandArbitraries } from "./commands";
import { systemFixture } from "./driver";
import { checkAllDevices, initialState, stats } from "./model";

/** Bounded for `npm test` on a slow machine; raise with MODEL_RUNS / MODEL_COMMANDS to search harder. */
const RUNS = Number(process.env.MODEL_RUNS ?? 25);
const MAX_COMMANDS = Number(process.env.MODEL_COMMANDS ?? 40);

/**
 * Issue 14's model-based property test: random sequences of every public operation of the token, the
 * registry (with reputation), the channels and a device wallet, by honest and hostile actors. After every
 * step: nobody loses tokens or ETH without consenting, every contract holds exactly what it owes, every
 * device maps to the manufacturer that made it, and replayed signed messages are refused (model.ts).
 */
describe("System model (property): money, devices and signatures across every contract", function () {
  it("keeps every invariant over random sequences of operations by honest and hostile actors", async function () {
    this.timeout(900_000);
    const seed = process.env.MODEL_SEED === undefined ? undefined : Number(process.env.MODEL_SEED);
    const sys = await loadFixture(systemFixture);
    await fc.assert(
      fc.asyncProperty(
        fc.commands(commandArbitraries(sys), { maxCommands: MAX_COMMANDS, size: "max" }),
        async (cmds) => {
          await loadFixture(systemFixture);
          const { model, real } = await initialState(sys);
          stats.runs += 1;
          await fc.asyncModelRun(() => ({ model, real }), cmds);
          await checkAllDevices(model, real);
        },
      ),
      { numRuns: RUNS, seed, verbose: process.env.MODEL_VERBOSE === "1" ? 2 : 1 },
    );
    const top = [...stats.byCommand].sort((x, y) => y[1] - x[1]);
    console.log(
      `      ${stats.runs} runs, ${stats.steps} steps, ${stats.sent} transactions (${stats.accepted} accepted, ` +
        `${stats.refused} refused), ${stats.byCommand.size} kinds of command; left out until fixed: ` +
        `${KNOWN_UNFIXED.join(", ") || "none"}`,
    );
    if (process.env.MODEL_VERBOSE === "1") console.log(top.map(([n, c]) => `${n} ${c}`).join(", "));
  });
});
