/**
 * The Authorization Server process of `npm run bench:as`: serves the channels and devices seeded in the
 * SQLite file given as argument, on the port given, until SIGTERM. Prints "listening <url>" when ready,
 * and "cpu <µs>" (the CPU time it spent since) when it stops. For tuning, `BENCH_AS_MAX_IN_FLIGHT` sets the
 * load-shedding limit, `BENCH_AS_GROUP_COMMIT_MS` and the store's group-commit wait
 * (defaults: the AS's own).
 */
import { AuthorizationServer } from "../src/channels/as-server";
import { AsStore } from "../src/channels/store";
import { ReceiptVerifier } from "../src/channels/verify";

const [file, payee, chainId, channels, port] = process.argv.slice(2);
const env = (name: string): number | undefined =>
  process.env[name] === undefined ? undefined : Number(process.env[name]);
const groupCommitMs = env("BENCH_AS_GROUP_COMMIT_MS");
const maxInFlight = env("BENCH_AS_MAX_IN_FLIGHT");
const store = new AsStore(file, groupCommitMs === undefined ? {} : { groupCommitMs });
const server = new AuthorizationServer({
  payee,
  verifier: new ReceiptVerifier({
    name: "ThingLedger PaymentChannels",
    version: "1",
    chainId: BigInt(chainId),
    verifyingContract: channels,
  }),
  store,
  // The benchmark has no device to use the codes: lift the outstanding-codes bound (one device, every client).
  hotpWindow: Number.MAX_SAFE_INTEGER,
  ...(maxInFlight === undefined ? {} : { http: { overload: { maxInFlight } } }),
});
server
  .listen(Number(port))
  .then((url) => {
    console.log(`listening ${url}`);
    const start = process.cpuUsage();
    // Exit cleanly on SIGTERM, so `--cpu-prof` can write its profile; report the CPU time spent serving.
    process.once(
      "SIGTERM",
      () =>
        void server.stop().then(() => {
          const used = process.cpuUsage(start);
          process.stdout.write(`cpu ${used.user + used.system}\n`, () => process.exit(0));
        }),
    );
  })
  .catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
