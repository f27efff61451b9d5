import { formatGas } from "../src/cli/output";
import { defineTask } from "./lib";

defineTask(
  "deploy",
  "Deploys (or resumes) the whole ThingLedger system on --network, with deploy/parameters/<network>.json",
)
  .addOptionalParam("parameters", "Parameters file to use instead of deploy/parameters/<network>.json")
  .run(
    async (args: { parameters?: string; json: boolean }, hre) => {
      const { deploySystem } = await import("./support/deployments");
      return deploySystem(hre, {
        displayUi: !args.json && hre.network.name !== "hardhat",
        parametersFile: args.parameters,
      });
    },
    (r) =>
      [
        `ThingLedger on network "${r.network}" (chain ${r.chainId})${r.ephemeral ? " — in-process, not persisted" : ""}:`,
        ...Object.entries(r.addresses).map(([name, address]) => `  ${name.padEnd(16)} ${address}`),
        `  gas spent by this run: ${formatGas(r.gasUsed)}`,
      ].join("\n"),
  );

defineTask("verify:system", "Verifies every deployed ThingLedger contract on the network's block explorer").run(
  async (args, hre) => {
    const { verifySystem } = await import("./support/deployments");
    return verifySystem(hre);
  },
  (r) =>
    `Submitted ${Object.keys(r.addresses).length} contracts of deployment ${r.deploymentId} on "${r.network}" (chain ${r.chainId}) for verification`,
);
