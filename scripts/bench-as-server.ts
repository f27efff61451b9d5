/**
 * The Authorization Server process of `npm run bench:as`: serves the channels and devices seeded in the
 * SQLite file given as argument, on the port given, until SIGTERM. Prints "listening <url>" when ready,
 * and "cpu <µs>" (the CPU time it spent since) when it stops. For tuning, `BENCH_AS_MAX_IN_FLIGHT` sets the
 * load-shedding limit, `BENCH_AS_GROUP_COMMIT_MS` the store's group-commit wait (defaults: the AS's own),
 * and `BENCH_AS_RECOVERY=inline` recovers signatures on the event loop instead of the recovery process.
 */
import fs from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

import { AuthorizationServer } from "../src/channels/as-server";
import { AsStore } from "../src/channels/store";
import { ReceiptVerifier } from "../src/channels/verify";

const [file, payee, chainId, channels, port] = process.argv.slice(2);
const env = (name: string): number | undefined =>
  process.env[name] === undefined ? undefined : Number(process.env[name]);
const groupCommitMs = env("BENCH_AS_GROUP_COMMIT_MS");
const maxInFlight = env("BENCH_AS_MAX_IN_FLIGHT");
// The AS's own default is the event loop; `as:serve --recovery auto` (its default) uses the process on 2+ cores.
const recoveryProcess = process.env.BENCH_AS_RECOVERY !== "inline";
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
  recoveryProcess,
  log: (line) => console.error(line),
});
/** CPU microseconds (user + system) of process `pid` so far, from /proc (Linux); 0 elsewhere or when gone. */
function processCpuMicros(pid: number | undefined): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return 0;
  }
}

server
  .listen(Number(port))
  .then(async (url) => {
    // Measure the recovery process serving, not starting: wait until it answers (or has failed).
    const deadline = Date.now() + 20_000;
    while (server.recoveryStatus?.state === "starting" && Date.now() < deadline) await sleep(50);
    const pid = server.recoveryStatus?.pid;
    const recoveryStart = processCpuMicros(pid);
    console.log(`listening ${url}`);
    const start = process.cpuUsage();
    // Exit cleanly on SIGTERM, so `--cpu-prof` can write its profile; report the CPU time spent serving.
    process.once(
      "SIGTERM",
      () =>
        void (async () => {
          const recovery = processCpuMicros(pid) - recoveryStart;
          const counts = server.recoveryStatus?.counts;
          await server.stop();
          const used = process.cpuUsage(start);
          const line = `cpu ${used.user + used.system} ${Math.max(0, recovery)} ${JSON.stringify(counts ?? null)}\n`;
          process.stdout.write(line, () => process.exit(0));
        })(),
    );
  })
  .catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
