import { formatGas } from "../src/cli/output";
import { UserError } from "../src/errors";
import type { DemoResult } from "../src/demo";
import { defineTask } from "./lib";

/** What `--indexer` adds to the demo's result: the indexer's URL and a few of its answers after the demo. */
interface DemoIndexer {
  url: string;
  indexedBlock: number;
  queries: { route: string; answer: unknown }[];
}

/** The routes `demo --indexer` asks the indexer at the end. */
const DEMO_QUERIES = ["/stats/fleet", "/stats/activations?days=1", "/devices?status=active&limit=3"];

defineTask("demo", "Runs the ThingLedger network's lifecycle end to end and prints each step with its gas")
  .addFlag("indexer", "Run the indexer alongside, and print its URL and a few of its answers at the end")
  .addOptionalParam("indexerPort", "HTTP port of the indexer's query API (with --indexer)", "42069")
  .run(
    async (args: { indexer: boolean; indexerPort: string; json: boolean }, hre) => {
      const { runDemo } = await import("../src/demo");
      const { deployedOrDeploy } = await import("./support/deployments");
      const { signerAt } = await import("./support/signers");
      const port = Number(args.indexerPort);
      if (args.indexer && (!Number.isInteger(port) || port < 1 || port > 65535))
        throw new UserError(`--indexer-port "${args.indexerPort}" is not a port (1-65535)`);
      if (!args.json) {
        console.log(`ThingLedger demo on network "${hre.network.name}"\n`);
      }
      await signerAt(hre, 0); // a network without accounts fails here with the fix (set DEPLOYER_PRIVATE_KEY)
      const system = await deployedOrDeploy(hre);
      // The indexer follows the demo's system from its deployment on (the in-process chain served for it).
      const session = args.indexer
        ? await (
            await import("./support/indexer")
          ).startIndexerSession(hre, {
            port,
            host: "127.0.0.1",
            sql: false,
            schema: "thingledger_demo",
            system,
          })
        : undefined;
      try {
        // The network's own accounts, not the tasks' preflight signers: the demo is meant for the in-process network.
        const result: DemoResult & { indexer?: DemoIndexer } = await runDemo(
          system,
          await hre.ethers.getSigners(),
          (s) => {
            if (!args.json) {
              console.log(`${String(s.step).padStart(2)}. ${s.title}  [gas ${formatGas(s.gasUsed)}]\n    ${s.detail}`);
            }
          },
        );
        if (session !== undefined) {
          const { waitCaughtUp } = await import("../src/indexer");
          const indexedBlock = await waitCaughtUp(session.indexer, () => system.provider.getBlockNumber(), {
            timeoutMs: 10 * 60_000,
          });
          const queries: DemoIndexer["queries"] = [];
          for (const route of DEMO_QUERIES) {
            const response = await fetch(`${session.indexer.url}${route}`);
            queries.push({ route, answer: (await response.json()) as unknown });
          }
          result.indexer = { url: session.indexer.url, indexedBlock, queries };
        }
        return result;
      } finally {
        await session?.stop();
      }
    },
    (r) => {
      const lines = [
        `\nDone: ${r.steps.length} steps, ${formatGas(r.totalGas)} gas in all, ${r.seconds.toFixed(1)} s${
          r.ephemeral ? " (in-process network: nothing persists; use --network localhost to keep state)" : ""
        }`,
      ];
      if (r.indexer !== undefined) {
        lines.push(
          `\nIndexer at ${r.indexer.url}, caught up with block ${r.indexer.indexedBlock} (stopped with the demo):`,
        );
        for (const q of r.indexer.queries) lines.push(`  GET ${q.route}\n    ${JSON.stringify(q.answer)}`);
      }
      return lines.join("\n");
    },
  );
