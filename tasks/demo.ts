import { formatGas } from "../src/cli/output";
import { defineTask } from "./lib";

defineTask("demo", "Runs the ThingLedger network's lifecycle end to end and prints each step with its gas").run(
  async (args, hre) => {
    const { runDemo } = await import("../src/demo");
    const { deployedOrDeploy } = await import("./support/deployments");
    const { signerAt } = await import("./support/signers");
    if (!args.json) {
      console.log(`ThingLedger demo on network "${hre.network.name}"\n`);
    }
    await signerAt(hre, 0); // a network without accounts fails here with the fix (set DEPLOYER_PRIVATE_KEY)
    const system = await deployedOrDeploy(hre);
    // The network's own accounts, not the tasks' preflight signers: the demo is meant for the in-process network.
    return runDemo(system, await hre.ethers.getSigners(), (s) => {
      if (!args.json) {
        console.log(`${String(s.step).padStart(2)}. ${s.title}  [gas ${formatGas(s.gasUsed)}]\n    ${s.detail}`);
      }
    });
  },
  (r) =>
    `\nDone: ${r.steps.length} steps, ${formatGas(r.totalGas)} gas in all, ${r.seconds.toFixed(1)} s${
      r.ephemeral ? " (in-process network: nothing persists; use --network localhost to keep state)" : ""
    }`,
);
