import { formatGas } from "../src/cli/output";
import { defineTask } from "./lib";
import type { Discarded } from "./support/deployments";

defineTask(
  "deploy",
  "Deploys (or resumes) the whole ThingLedger system on --network, with deploy/parameters/<network>.json",
)
  .addOptionalParam("parameters", "Parameters file to use instead of deploy/parameters/<network>.json")
  .addFlag(
    "reset",
    "Discard the network's deployment folder (Ignition's journal and address book) and deploy afresh: for a development node that restarted; refused on a live network",
  )
  .addFlag(
    "yes",
    "Do not ask: deploy to a live network, or --reset a deployment that still works on its chain (required when not run in a terminal)",
  )
  .run(
    async (args: { parameters?: string; reset: boolean; yes: boolean; json: boolean }, hre) => {
      const { deploySystem } = await import("./support/deployments");
      let discarded: Discarded | undefined;
      const system = await deploySystem(hre, {
        displayUi: !args.json && hre.network.name !== "hardhat",
        parametersFile: args.parameters,
        reset: args.reset,
        announce: (d) => {
          discarded = d;
          // Said before anything is removed; on stderr with --json, so that stdout stays one document.
          (args.json ? console.error : console.log)(
            [
              `Discarding deployment ${d.deploymentId} of network "${hre.network.name}": ${d.folder} (Ignition's journal and address book)`,
              ...Object.entries(d.addresses).map(([name, address]) => `  ${name.padEnd(16)} ${address}`),
            ].join("\n"),
          );
        },
        confirm: { yes: args.yes },
      });
      return discarded === undefined ? system : { ...system, discarded };
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
