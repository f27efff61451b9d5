import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";

import { expect } from "chai";
import { JsonRpcProvider, ZeroHash } from "ethers";

import { DeviceRegistry__factory } from "../../src/chain/factories";
import { startIndexer, waitCaughtUp } from "../../src/indexer";
import type { RunningIndexer } from "../../src/indexer";
import type { DeviceRegistry } from "../../typechain-types";

import { coverageRunning } from "../shared/gas";
import { ROOT, freePort, hardhat, startNodeDeployment } from "../shared/cli";
import type { LocalNode } from "../shared/cli";

/**
 * Issue 18, an outsider's attacks on the indexer's first slice: a real `hardhat node` with the demo's flows,
 * the indexer (Ponder on PGlite in a temp folder) caught up, then hostile input to its public API and chain
 * actions the handlers may miss. Each `attack:` case failed before its fix (the comment above it says what
 * was wrong).
 */
describe("issue 18 attacks: indexer", function () {
  this.timeout(900_000);

  let node: LocalNode;
  let deploymentDir: string;
  let scratch: string;
  let provider: JsonRpcProvider;
  let registry: DeviceRegistry;
  let indexer: RunningIndexer | undefined;
  let api: string;
  let env: NodeJS.ProcessEnv;

  const head = () => provider.getBlockNumber();
  const get = async (route: string): Promise<{ status: number; text: string }> => {
    const response = await fetch(`${api}${route}`);
    return { status: response.status, text: await response.text() };
  };
  /** Ponder's SQL over HTTP, as `@ponder/client` sends a query (superjson in `?sql=`). */
  const sql = (query: string) =>
    get(`/sql/db?sql=${encodeURIComponent(JSON.stringify({ json: { sql: query, params: [], typings: [] } }))}`);

  before(async function () {
    if (coverageRunning()) this.skip();
    ({ node, env, deploymentDir, scratch } = await startNodeDeployment("attack18"));
    provider = new JsonRpcProvider(node.url, undefined, { staticNetwork: true, cacheTimeout: -1 });
    const demo = hardhat(["demo", "--network", "localhost", "--json"], env);
    expect(demo.status, demo.stderr).to.equal(0);
    const { addresses } = JSON.parse(demo.stdout) as { addresses: { DeviceRegistry: string } };
    registry = DeviceRegistry__factory.connect(addresses.DeviceRegistry, provider);
    const port = await freePort();
    indexer = await startIndexer({
      rpcUrl: node.url,
      chainId: 31337n,
      deploymentDir,
      port,
      dataDir: path.join(scratch, "db"),
      schema: "attack18",
    });
    api = indexer.url;
    await waitCaughtUp(indexer, head, { timeoutMs: 300_000 });
  });

  after(async function () {
    await indexer?.stop();
    provider?.destroy();
    await node?.stop();
    if (deploymentDir !== undefined) fs.rmSync(deploymentDir, { recursive: true, force: true });
    if (scratch !== undefined) fs.rmSync(scratch, { recursive: true, force: true });
  });

  it("held: hostile query strings and ids on the REST routes get a one-line 400, never a 500", async function () {
    const hostile = [
      "/devices?limit=100000000000000000000",
      "/devices?limit=-1",
      "/devices?limit=%2B5",
      "/devices?limit",
      "/devices?cursor=zzz",
      "/devices?cursor=%00",
      `/devices?owner=${encodeURIComponent("0x' OR 1=1--")}`,
      "/devices?manufacturer=%D9%A1", // an Arabic-Indic digit one
      "/devices?manufacturer=9999999999",
      "/devices?status=%C3%A5ctive",
      "/devices?Limit=5",
      `/devices?x=${"x".repeat(10_000)}`,
      "/devices/%00",
      "/devices/%F0%9F%92%A9",
      "/devices/%E0%A4", // not UTF-8
      `/devices/${"x".repeat(10_000)}`,
    ];
    for (const route of hostile) {
      const { status, text } = await get(route);
      expect(status, route.slice(0, 80)).to.equal(400);
      expect((JSON.parse(text) as { error: string }).error, route.slice(0, 80)).to.not.contain("\n");
    }
  });

  // Was LOW: a bad value's newline went into the error line, and a 10 KB value was echoed back whole.
  it("attack: an error line quotes a bad value escaped and cut short", async function () {
    for (const route of [
      "/devices?status=lost%0AX-Injected:%201",
      `/devices?owner=${"a".repeat(10_000)}`,
      `/devices/${"x".repeat(10_000)}`,
      `/devices?${"k".repeat(10_000)}=1`,
      `/stats/activations?days=${"9".repeat(10_000)}`,
    ]) {
      const { status, text } = await get(route);
      expect(status, route.slice(0, 60)).to.equal(400);
      const { error } = JSON.parse(text) as { error: string };
      expect(error, route.slice(0, 60)).to.not.match(/[\n\r]/);
      expect(error.length, route.slice(0, 60)).to.be.below(200);
    }
  });

  // Was LOW: a repeated filter took its first value (status=revoked&status=active listed revoked devices).
  it("attack: a filter given twice is refused, not half-read", async function () {
    for (const route of [
      "/devices?status=revoked&status=active",
      "/devices?limit=1&limit=100",
      "/devices?type=1&type=2",
      "/stats/activations?days=1&days=2",
    ]) {
      const { status, text } = await get(route);
      expect(status, route).to.equal(400);
      expect((JSON.parse(text) as { error: string }).error, route).to.match(/more than once/);
    }
  });

  it("held: the new filters and the activations route refuse bad values with a 400", async function () {
    for (const route of [
      "/devices?type=-1",
      "/devices?type=4294967296",
      "/devices?type=0x10",
      "/devices?whitelist=0x12",
      `/devices?whitelist=${encodeURIComponent("' OR 1=1 --")}`,
      "/stats/activations?days=0",
      "/stats/activations?days=367",
      "/stats/activations?from=2026-02-30",
      "/stats/activations?from=2026-03-02&to=2026-03-01",
      "/stats/activations?from=2000-01-01&to=2026-01-01",
      "/stats/activations?days=3&to=2026-01-01",
      "/stats/activations?since=1",
    ]) {
      const { status, text } = await get(route);
      expect(status, route).to.equal(400);
      expect((JSON.parse(text) as { error: string }).error, route)
        .to.be.a("string")
        .and.not.contain("\n");
    }
  });

  // Was LOW: an unknown route (even /devices/ with its trailing slash) answered Ponder's plain-text or HTML
  // 404, which a JSON client fails to parse.
  it("attack: every unknown route answers a JSON 404", async function () {
    for (const route of ["/devices/", "/nope", "/stats", "/stats/fleet/", `/${"%0A".repeat(50)}`]) {
      const response = await fetch(`${api}${route}`, { method: route === "/nope" ? "POST" : "GET" });
      expect(response.status, route).to.equal(404);
      expect(response.headers.get("content-type"), route).to.match(/application\/json/);
      const { error } = (await response.json()) as { error: string };
      expect(error, route)
        .to.match(/^no route /)
        .and.not.match(/[\n\r]/);
    }
    expect((await fetch(`${api}/health`)).status).to.equal(200);
  });

  // Was HIGH: /sql took any cross join of the indexed tables, and PGlite runs in Ponder's one thread, so one GET
  // (even when its client hung up) held every route, /health too, for minutes (8 rows ^ 10 stalled /health for
  // 114 s). SQL over HTTP is now served only with --sql, and the API listens on 127.0.0.1 by default.
  it("attack: SQL over HTTP is not served by default, so an unbounded join cannot stall the API; it listens on 127.0.0.1", async function () {
    const tables = "abcdefghij".split("").map((a) => `device_status_change ${a}`);
    const join = await sql(`select count(*) from ${tables.join(", ")}`);
    expect(join.status).to.equal(404);
    const health = await fetch(`${api}/health`, { signal: AbortSignal.timeout(5000) }).then(
      (r) => r.status,
      () => "no answer in 5 s",
    );
    expect(health).to.equal(200);
    const args = indexer!.process.spawnargs;
    expect(args[args.indexOf("--hostname") + 1]).to.equal("127.0.0.1");
    expect(api).to.equal(`http://127.0.0.1:${new URL(api).port}`);
  });

  it("held: GraphQL caps a page at 1000 and a document at 1000 tokens, and has no mutations", async function () {
    const post = async (query: string) => {
      const response = await fetch(`${api}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query }),
      });
      return (await response.json()) as { errors?: { message: string }[] };
    };
    expect((await post("{ devices(limit: 100000) { items { id } } }")).errors?.[0].message).to.match(/limit/i);
    const aliases = Array.from({ length: 300 }, (_, i) => `a${i}: devices(limit: 1000) { items { id } }`);
    expect((await post(`{ ${aliases.join(" ")} }`)).errors?.[0].message).to.match(/token limit/i);
    expect((await post("mutation { x }")).errors).to.have.length(1);
  });

  // Was LOW: `limit: -1` answered an empty page as if there were no devices, and a cursor that is not one
  // the API returned answered the JSON parser's message ("Unexpected token ...").
  it("attack: GraphQL refuses a negative limit and a garbage cursor with a one-line 400", async function () {
    const post = async (query: string, variables?: Record<string, unknown>) => {
      const response = await fetch(`${api}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query, variables }),
      });
      return { status: response.status, body: (await response.json()) as { errors?: { message: string }[] } };
    };
    const cases: [string, Record<string, unknown>?][] = [
      ["{ devices(limit: -1) { items { id } } }"],
      ["query ($n: Int) { devices(limit: $n) { items { id } } }", { n: -5 }],
      ['{ devices(after: "garbage!!") { items { id } } }'],
      ['{ devices(before: "Zm9v") { items { id } } }'], // base64 of "foo"
      ['{ devices(after: "eyJqc29uIjp7ImlkIjoiMHgifX0=") { items { id } } }'], // {"json":{"id":"0x"}}: not a whole id
      ["query ($c: String) { devices(after: $c) { items { id } } }", { c: "\n".repeat(100) }],
    ];
    for (const [query, variables] of cases) {
      const { status, body } = await post(query, variables);
      expect(status, query).to.equal(400);
      const message = body.errors?.[0].message ?? "";
      expect(message, query)
        .to.match(/limit|cursor/)
        .and.not.match(/[\n\r]|Unexpected|JSON/);
    }
    // A real cursor still pages.
    const first = await post("{ devices(limit: 1) { items { id } pageInfo { endCursor } } }");
    expect(first.status).to.equal(200);
    const data = (first.body as { data: { devices: { pageInfo: { endCursor: string } } } }).data;
    const next = await post("query ($c: String) { devices(limit: 1, after: $c) { items { id } } }", {
      c: data.devices.pageInfo.endCursor,
    });
    expect(next.status).to.equal(200);
    expect(next.body.errors).to.equal(undefined);
  });

  // Was HIGH (outside attack): a `where` variable with 50,000 OR items answered "Invalid array length" and
  // broke Ponder's database connection until restart (every data route, /ready and /status 500). Now the
  // guard refuses it, and the others of its kind, with one 400 before Ponder runs anything.
  it("attack: a filter too wide, too deep or too long is refused with a 400, and the indexer keeps answering", async function () {
    const post = async (query: string, variables?: Record<string, unknown> | string) => {
      const response = await fetch(`${api}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: typeof variables === "string" ? variables : JSON.stringify({ query, variables }),
      });
      return { status: response.status, body: (await response.json()) as { errors?: { message: string }[] } };
    };
    const query = "query ($w: deviceFilter) { devices(where: $w) { items { id } } }";
    const id = (i: number) => `0x${i.toString(16).padStart(64, "0")}`;
    // Written out by hand: JSON.stringify of an object 6,000 levels deep overflows this test's own stack.
    const deep = `{"query":${JSON.stringify(query)},"variables":{"w":${'{"AND":['.repeat(3000)}{"id":"${id(1)}"}${"]}".repeat(3000)}}}`;
    const hostile: [Record<string, unknown> | string, RegExp][] = [
      [{ w: { OR: Array.from({ length: 50_000 }, (_, i) => ({ id: id(i) })) } }, /body is over|OR lists/],
      [{ w: { OR: Array.from({ length: 1000 }, (_, i) => ({ id: id(i) })) } }, /^OR lists 1000 items/],
      [{ w: { id_in: Array.from({ length: 500 }, (_, i) => id(i)) } }, /^id_in lists 500 items/],
      [deep, /nests objects and lists more than 8 deep/],
      [{ w: { deviceKey_contains: "\u0000" } }, /NUL/],
      [{ w: { id_starts_with: "%" } }, /wildcards .* are not supported/],
    ];
    for (const [variables, message] of hostile) {
      const { status, body } = await post(query, variables);
      expect(status, String(message)).to.equal(400);
      expect(body.errors, String(message)).to.have.length(1);
      expect(body.errors?.[0].message).to.match(message);
    }
    const sideways = await post('{ devices(orderBy: "id", orderDirection: "sideways") { items { id } } }');
    expect(sideways.status).to.equal(400);
    expect(sideways.body.errors?.[0].message).to.match(/orderDirection "sideways" is not asc or desc/);
    // The REST routes refuse a NUL and unknown parameters too, /stats/fleet included.
    for (const route of ["/devices?owner=%00", `/devices/${"%00".repeat(3)}`, "/stats/fleet?x=1", "/channels?as=%00"]) {
      const { status, text } = await get(route);
      expect(status, route).to.equal(400);
      expect(JSON.parse(text).error, route).to.be.a("string");
    }
    // After all of it the indexer still answers: ready, its REST routes, and a filtered GraphQL page with data.
    expect((await get("/ready")).status).to.equal(200);
    const fleet = await get("/stats/fleet");
    expect(fleet.status).to.equal(200);
    const total = (JSON.parse(fleet.text) as { total: number }).total;
    expect(total).to.be.greaterThan(0);
    const all = await post("{ devices(limit: 1000) { items { id } } }");
    expect(all.status).to.equal(200);
    const ids = (all.body as unknown as { data: { devices: { items: { id: string }[] } } }).data.devices.items;
    expect(ids).to.have.length(total);
    const filtered = await post(query, { w: { OR: [{ id: ids[0].id }, { id: id(7) }] } });
    expect(filtered.status).to.equal(200);
    expect(filtered.body).to.deep.equal({ data: { devices: { items: [{ id: ids[0].id }] } } });
    // A literal prefix still matches: the first id's first bytes find it.
    const prefix = await post(`{ devices(where: { id_starts_with: "${ids[0].id.slice(0, 12)}" }) { items { id } } }`);
    expect(prefix.status).to.equal(200);
    expect(
      (prefix.body as unknown as { data: { devices: { items: { id: string }[] } } }).data.devices.items,
    ).to.deep.include({
      id: ids[0].id,
    });
  });

  // Was HIGH: `updateScore` (one device) is the path the project's own `submitScores` takes for a batch
  // of one (src/reputation/scores.ts), but the handler only decodes `updateScores` and `updateScoresPacked`:
  // the submission row says `changed: 1` while the device keeps `score: null` and no reputation history.
  it("attack: a score submitted with updateScore (one device) is indexed", async function () {
    const [added] = await registry.queryFilter(registry.filters.AuditorAdded());
    const auditor = await provider.getSigner(added.args.auditor);
    const epoch = await registry.currentEpoch();
    let target: string | undefined;
    for (const e of await registry.queryFilter(registry.filters.DeviceActivated()))
      if (!(await registry.reputationOf(e.args.deviceId)).audited) target ??= e.args.deviceId;
    if (target === undefined) throw new Error("the demo left no unscored active device");
    await (await registry.connect(auditor).updateScore(target, 777, 1, epoch, ZeroHash, 1)).wait();
    await waitCaughtUp(indexer!, head, { timeoutMs: 120_000 });
    const { text } = await get(`/devices/${target}`);
    const body = JSON.parse(text) as { device: { score: number | null }; reputationHistory: unknown[] };
    expect(body.device.score).to.equal(777);
    expect(body.reputationHistory).to.have.length(1);
  });

  // Was MEDIUM: Ponder moves to the next port when its port is taken ("WARN Port in use"), but
  // `startIndexer` keeps `url` on the requested port and `waitCaughtUp` polls whatever answers there: here a
  // stand-in whose /status says block 10^9, so it reports "caught up" for an indexer that has not indexed a
  // block (seen live: a second `npx hardhat indexer --port 42069` printed "caught up ... serving :42069",
  // read from the first indexer, while it served on 42070).
  it("attack: an indexer whose port is taken fails with one line instead of reading another server", async function () {
    const port = await freePort();
    const other = http.createServer((_, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ thingledger: { id: 31337, block: { number: 1_000_000_000 } } }));
    });
    await new Promise<void>((resolve) => other.listen(port, "127.0.0.1", resolve));
    try {
      const outcome = await startIndexer({
        rpcUrl: node.url,
        chainId: 31337n,
        deploymentDir,
        port,
        dataDir: path.join(scratch, "db2"),
        schema: "attack18b",
      }).then(
        async (second) => {
          await second.stop();
          return "started";
        },
        (error: Error) => error.message,
      );
      expect(outcome).to.equal(`port ${port} on 127.0.0.1 is taken (another indexer?); choose another with --port`);
      expect(fs.existsSync(path.join(scratch, "db2")), "nothing written").to.equal(false);
      expect(fs.existsSync(path.join(scratch, "db2.lock")), "no lock taken").to.equal(false);
    } finally {
      other.close();
    }
  });

  // Was MEDIUM: a second indexer on the same PGlite folder (another port) opened it too; PGlite is not safe
  // across processes, and its task printed "caught up" while it waited on the first one's lock.
  it("attack: a second indexer on the same PGlite folder is refused in one line", async function () {
    const outcome = await startIndexer({
      rpcUrl: node.url,
      chainId: 31337n,
      deploymentDir,
      port: await freePort(),
      dataDir: path.join(scratch, "db"),
      schema: "attack18d",
    }).then(
      async (second) => {
        await second.stop();
        return "started";
      },
      (error: Error) => error.message,
    );
    expect(outcome).to.equal(
      `${path.join(scratch, "db")} is in use by another indexer (pid ${indexer!.process.pid}); stop it, or choose another --dir`,
    );
  });

  // Was MEDIUM: Ponder runs in a process group of its own, so when `npx hardhat indexer` died without its
  // handlers running (SIGKILL, an OOM kill, a closed terminal), Ponder lived on, holding the port and the
  // PGlite folder. Its stdin is now a pipe from the task; when that closes, Ponder stops.
  it("attack: killing the indexer task (SIGKILL) also ends its Ponder", async function () {
    const port = await freePort();
    const args = ["hardhat", "indexer", "--network", "localhost", "--port", String(port), "--schema", "attack18c"];
    const task = spawn("npx", [...args, "--dir", path.join(scratch, "db3")], {
      cwd: ROOT,
      env: { ...process.env, ...env, FORCE_COLOR: "0" },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let output = "";
    task.stderr?.on("data", (c: Buffer) => (output += c.toString()));
    task.stdout?.on("data", (c: Buffer) => (output += c.toString()));
    const answers = () =>
      fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2000) }).then(
        () => true,
        () => false,
      );
    for (let i = 0; i < 480 && !(await answers()); i++) await new Promise((r) => setTimeout(r, 500));
    expect(await answers(), output).to.equal(true);
    process.kill(-task.pid!, "SIGKILL"); // npx and hardhat; Ponder is in its own group
    let serving = true;
    for (let i = 0; i < 120 && serving; i++) {
      await new Promise((r) => setTimeout(r, 500));
      serving = await answers();
    }
    if (serving) {
      // Clean up the orphan: the Ponder process started with this port.
      for (const pid of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
        try {
          const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8");
          if (cmd.includes("ponder.js") && cmd.includes(String(port))) process.kill(Number(pid), "SIGKILL");
        } catch {
          // gone meanwhile
        }
      }
    }
    expect(serving, "Ponder still serves 60 s after its task was killed").to.equal(false);
  });
});
