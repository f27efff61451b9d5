import { portOption } from "../src/app/serve";
import { defineTask } from "./lib";

defineTask(
  "app",
  "Serves the web app (app/, built first when app/dist is missing or stale) next to the indexer (default: the in-process network, deployed and run through the demo, throwaway)",
)
  .addOptionalParam("port", "HTTP port of the web app", "4173")
  .addOptionalParam("host", "Interface the web app listens on (0.0.0.0: every interface)", "127.0.0.1")
  .addOptionalParam("indexerPort", "HTTP port of the indexer the app's /indexer is proxied to (on 127.0.0.1)", "42069")
  .addFlag("build", "Build app/dist even when it is up to date")
  .serve(
    async (args: { port: string; host: string; indexerPort: string; build: boolean; json: boolean }, hre) => {
      const port = portOption(args.port, "--port");
      const indexerPort = portOption(args.indexerPort, "--indexer-port");
      const { startAppSession } = await import("./support/app");
      const session = await startAppSession(hre, {
        port,
        host: args.host,
        indexerPort,
        rebuild: args.build,
        onProgress: (line) => process.stderr.write(`${line}\n`),
      });
      const { stop, ...summary } = session;
      return { summary, stop };
    },
    (s) =>
      [
        `Web app: ${s.url}  (network "${s.network}", chain ${s.chainId}${s.built === undefined ? ", app/dist up to date" : `, built: ${s.built}`})`,
        `Indexer: ${s.indexerUrl}  (caught up with block ${s.indexedBlock}; the app reaches it at ${s.url}indexer/)`,
        `Chain:   ${s.rpcUrl}  (what the app and a browser wallet read)`,
        ...(s.demo !== undefined
          ? [
              `In-process network: deployed and ran the demo's ${s.demo.steps} steps; the chain and the indexer's data are throwaway and end with this task (use --network localhost to keep them)`,
            ]
          : []),
        "Ctrl-C stops both.",
      ].join("\n"),
  );
