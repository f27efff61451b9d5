import { task } from "hardhat/config";

import { formatGas } from "../src/cli/output";
import { runTask } from "./lib";

task("deploy", "Deploys (or resumes) the whole ThingLedger system on --network, with deploy/parameters/<network>.json")
  .addFlag("json", "Print machine-readable JSON")
  .setAction(async (args: { json: boolean }, hre) => {
    return runTask(
      hre,
      "deploy",
      args.json,
      async () => {
        const { deploySystem } = await import("../src/deployments");
        return deploySystem(hre, { displayUi: !args.json && hre.network.name !== "hardhat" });
      },
      (r) =>
        [
          `ThingLedger on network "${r.network}" (chain ${r.chainId})${r.ephemeral ? " — in-process, not persisted" : ""}:`,
          ...Object.entries(r.addresses).map(([name, address]) => `  ${name.padEnd(16)} ${address}`),
          `  gas spent by this run: ${formatGas(r.gasUsed)}`,
        ].join("\n"),
    );
  });

task("verify:system", "Verifies every deployed ThingLedger contract on the network's block explorer").setAction(
  async (_args: Record<string, never>, hre) => {
    const { deploymentId } = await import("../src/deployments");
    const { chainId } = await hre.ethers.provider.getNetwork();
    await hre.run({ scope: "ignition", task: "verify" }, { deploymentId: deploymentId(chainId) });
  },
);
