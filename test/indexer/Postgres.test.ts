import path from "node:path";

import { expect } from "chai";
import { JsonRpcProvider } from "ethers";
import { Client } from "pg";

import { UserError } from "../../src/errors";
import { MARKER_SCHEMA, claimPostgresChain } from "../../src/indexer/postgres";
import { rpcBlockHash, startIndexer as startIndexerProcess } from "../../src/indexer/process";
import type { PostgresClaim } from "../../src/indexer/postgres";

import { endNodeDeployment, errorLines, freePort, hardhat, startNode, startNodeDeployment } from "../shared/cli";
import { coverageRunning } from "../shared/gas";
import { startIndexer } from "../shared/indexer";
import { runDemo } from "../shared/node";
import { requirePostgres, startScratchPostgres } from "../shared/postgres";
import type { ScratchPostgres } from "../shared/postgres";

const hash = (n: number, chain: string): string => `0x${chain.repeat(63)}${n.toString(16)}`.slice(0, 66);
/** Two chains with one id (a development node before and after a restart): block n's hash on each. */
const OLD = (n: number) => hash(n, "a");
const NEW = (n: number) => hash(n, "b");

/**
 * Issue 18: on Postgres, a restarted development node (a new chain with the same id) must neither resume an
 * indexer schema of the old chain nor be indexed from the old chain's rows in Ponder's shared `ponder_sync`
 * (keyed by chain id and block number, inserted with "on conflict do nothing", read back for indexing).
 * `claimPostgresChain` against a real Postgres, with `ponder_sync` rows laid out as Ponder 0.16 keeps them.
 */
describe("indexer on Postgres: one chain per schema, and per chain id in ponder_sync", function () {
  this.timeout(120_000);

  let pg: ScratchPostgres | undefined;
  let sql: Client;
  const held: PostgresClaim[] = [];

  before(async function () {
    const bin = requirePostgres(this);
    pg = await startScratchPostgres(bin);
    sql = new Client({ connectionString: pg.url });
    await sql.connect();
  });

  after(async function () {
    for (const claim of held) await claim.release();
    await sql?.end().catch(() => undefined);
    pg?.stop();
  });

  beforeEach(async function () {
    for (const claim of held.splice(0)) await claim.release();
    await sql.query(`drop schema if exists ponder_sync cascade; drop schema if exists ${MARKER_SCHEMA} cascade;
      drop schema if exists idx cascade; create schema ponder_sync;
      create table ponder_sync.blocks (chain_id bigint, number bigint, hash varchar(66), primary key (chain_id, number));
      create table ponder_sync.logs (chain_id bigint, block_number bigint, log_index int, block_hash varchar(66));
      create table ponder_sync.transactions (chain_id bigint, block_number bigint, block_hash varchar(66));
      create table ponder_sync.intervals (fragment_id text primary key, chain_id bigint);`);
  });

  /** Ponder's rows of blocks `numbers` of chain `chainId`, with `of`'s hashes. */
  async function syncRows(chainId: number, numbers: number[], of: (n: number) => string): Promise<void> {
    for (const n of numbers) {
      await sql.query("insert into ponder_sync.blocks values ($1, $2, $3)", [chainId, n, of(n)]);
      await sql.query("insert into ponder_sync.logs values ($1, $2, 0, $3)", [chainId, n, of(n)]);
      await sql.query("insert into ponder_sync.transactions values ($1, $2, $3)", [chainId, n, of(n)]);
    }
    await sql.query("insert into ponder_sync.intervals values ($1, $2)", [`f-${chainId}-${numbers[0]}`, chainId]);
  }

  /** Rows per table of chain `chainId` in ponder_sync. */
  async function rowsOf(chainId: number): Promise<number[]> {
    const counts: number[] = [];
    for (const table of ["blocks", "logs", "transactions", "intervals"]) {
      const { rows } = await sql.query<{ n: string }>(
        `select count(*) as n from ponder_sync.${table} where chain_id = $1`,
        [chainId],
      );
      counts.push(Number(rows[0].n));
    }
    return counts;
  }

  const markers = async () =>
    (await sql.query(`select schema_name, chain_id::text, genesis from ${MARKER_SCHEMA}.schema_chain order by 1`)).rows;

  /** Claims the database for schema `idx` of chain 31337, as a node whose blocks have `of`'s hashes (up to 20). */
  async function claim(of: (n: number) => string, schema = "idx"): Promise<PostgresClaim> {
    const claimed = await claimPostgresChain({
      databaseUrl: pg!.url,
      schema,
      chainId: 31337n,
      genesis: of(0),
      blockHash: async (n) => (n <= 20n ? of(Number(n)) : undefined),
    });
    held.push(claimed);
    return claimed;
  }

  async function refused(of: (n: number) => string, schema = "idx"): Promise<string> {
    try {
      await claim(of, schema);
    } catch (error) {
      expect(error).to.be.instanceOf(UserError);
      expect((error as Error).message).to.not.include("\n");
      return (error as Error).message;
    }
    expect.fail("the claim was not refused");
  }

  it("records the schema's chain, and takes the same chain again without touching its rows", async function () {
    await syncRows(31337, [1, 5, 9], OLD);
    const first = await claim(OLD);
    expect(first.pruned).to.deep.equal({});
    await first.release();
    await sql.query("create schema idx");
    const again = await claim(OLD);
    expect(again.pruned).to.deep.equal({});
    expect(await rowsOf(31337)).to.deep.equal([3, 3, 3, 1]);
    expect(await markers()).to.deep.equal([{ schema_name: "idx", chain_id: "31337", genesis: OLD(0) }]);
  });

  it("refuses a schema that indexed another chain, in one line, and changes nothing", async function () {
    await syncRows(31337, [1, 5], OLD);
    await (await claim(OLD)).release();
    await sql.query("create schema idx");
    const message = await refused(NEW);
    expect(message).to.match(/^schema "idx" in DATABASE_URL's database holds the index of another chain/);
    expect(message).to.include('drop schema "idx" cascade');
    expect(await rowsOf(31337)).to.deep.equal([2, 2, 2, 1]);
    expect(await markers()).to.deep.equal([{ schema_name: "idx", chain_id: "31337", genesis: OLD(0) }]);
  });

  it("a dropped schema takes the new chain, and the old chain's ponder_sync rows go (only this chain id's)", async function () {
    await syncRows(31337, [1, 5, 9], OLD);
    await syncRows(1, [1, 5], NEW);
    await (await claim(OLD)).release();
    // The schema was never made (or was dropped): its record binds nothing.
    const taken = await claim(NEW);
    expect(taken.pruned).to.deep.equal({ blocks: 3, logs: 3, transactions: 3, intervals: 1 });
    expect(await rowsOf(31337)).to.deep.equal([0, 0, 0, 0]);
    expect(await rowsOf(1)).to.deep.equal([2, 2, 2, 1]);
    expect(await markers()).to.deep.equal([{ schema_name: "idx", chain_id: "31337", genesis: NEW(0) }]);
  });

  it("finds another chain's rows with no record of them, by their blocks' hashes (lowest or highest)", async function () {
    // Rows made before this check: the lowest block matches the node, the highest does not exist on it.
    await sql.query("insert into ponder_sync.blocks values (31337, 3, $1), (31337, 40, $2)", [NEW(3), OLD(40)]);
    expect((await claim(NEW, "other")).pruned).to.deep.equal({ blocks: 2 });
    // A log whose block hash differs from the node's, under a block that matches.
    await sql.query("insert into ponder_sync.blocks values (31337, 4, $1)", [NEW(4)]);
    await sql.query("insert into ponder_sync.logs values (31337, 4, 0, $1)", [OLD(4)]);
    for (const c of held.splice(0)) await c.release();
    expect((await claim(NEW, "other")).pruned).to.deep.equal({ blocks: 1, logs: 1 });
  });

  it("keeps ponder_sync rows that are this chain's", async function () {
    await syncRows(31337, [0, 7, 20], NEW);
    expect((await claim(NEW, "a")).pruned).to.deep.equal({});
    expect((await claim(NEW, "b")).pruned).to.deep.equal({});
    expect(await rowsOf(31337)).to.deep.equal([3, 3, 3, 1]);
  });

  it("refuses a chain with the same id while an indexer of another one runs, then prunes once it has stopped", async function () {
    await syncRows(31337, [1, 2], OLD);
    const running = await claim(OLD, "first");
    const message = await refused(NEW, "second");
    expect(message).to.match(/^another indexer on DATABASE_URL's database follows a different chain with id 31337/);
    expect(await rowsOf(31337)).to.deep.equal([2, 2, 2, 1]);
    await running.release();
    expect((await claim(NEW, "second")).pruned).to.deep.equal({ blocks: 2, logs: 2, transactions: 2, intervals: 1 });
  });

  it("a recorded genesis of another chain alone gives its rows away, and so does one table's row alone", async function () {
    await (await claim(OLD, "first")).release();
    // Rows that look like the node's at their ends, recorded as the old chain's.
    await syncRows(31337, [2, 6], NEW);
    expect((await claim(NEW, "second")).pruned).to.deep.equal({ blocks: 2, logs: 2, transactions: 2, intervals: 1 });
    for (const c of held.splice(0)) await c.release();
    // Only a transaction's block hash differs, at a number where a block row matches.
    await syncRows(31337, [3], NEW);
    await sql.query("update ponder_sync.transactions set block_hash = $1", [OLD(3)]);
    expect((await claim(NEW, "second")).pruned).to.deep.equal({ blocks: 1, logs: 1, transactions: 1, intervals: 1 });
  });

  it("a block the node does not have yet deletes nothing on a chain that is not a development one", async function () {
    await syncRows(10, [5, 90], NEW);
    const claimed = await claimPostgresChain({
      databaseUrl: pg!.url,
      schema: "live",
      chainId: 10n,
      genesis: NEW(0),
      blockHash: async (n) => (n <= 20n ? NEW(Number(n)) : undefined), // a lagging node: 90 not there yet
    });
    held.push(claimed);
    expect(claimed.pruned).to.deep.equal({});
    expect(await rowsOf(10)).to.deep.equal([2, 2, 2, 1]);
  });

  it("two chains with one id starting at the same moment: one is refused, and nothing is half-done", async function () {
    await syncRows(31337, [1, 2], OLD);
    const results = await Promise.allSettled([claim(OLD, "first"), claim(NEW, "second")]);
    const refusedOnes = results.filter((r) => r.status === "rejected");
    expect(refusedOnes).to.have.length(1);
    expect(String((refusedOnes[0] as PromiseRejectedResult).reason.message)).to.match(
      /^another indexer on DATABASE_URL's database follows a different chain with id 31337/,
    );
    const sync = await sql.query(`select genesis from ${MARKER_SCHEMA}.sync_chain`);
    const winner = results[0].status === "fulfilled" ? OLD : NEW;
    expect(sync.rows).to.deep.equal([{ genesis: winner(0) }]);
    expect(await rowsOf(31337)).to.deep.equal(winner === OLD ? [2, 2, 2, 1] : [0, 0, 0, 0]);
  });

  it("the indexer is told when the connection holding its chain's lock is lost", async function () {
    const claimed = await claim(OLD, "first");
    await sql.query(
      "select pg_terminate_backend(pid) from pg_locks where locktype = 'advisory' and pid <> pg_backend_pid()",
    );
    const reason = await Promise.race([claimed.lost, new Promise((r) => setTimeout(() => r("not told"), 10_000))]);
    expect(reason).to.match(/^its Postgres connection holding the chain's lock was lost \(/);
  });

  it("a malformed DATABASE_URL fails in one line", async function () {
    const claimed = claimPostgresChain({
      databaseUrl: "postgres://someone:s3cret@127.0.0.1:abc/none",
      schema: "idx",
      chainId: 1n,
      genesis: NEW(0),
      blockHash: async () => NEW(0),
    });
    await claimed.then(
      () => expect.fail("connected"),
      (error: Error) => {
        expect(error).to.be.instanceOf(UserError);
        expect(error.message).to.match(/^DATABASE_URL: cannot connect to Postgres \(/);
        expect(error.message).to.not.include("s3cret");
      },
    );
  });

  it("an unreachable database fails in one line that does not show the URL", async function () {
    const url = "postgres://someone:s3cret@127.0.0.1:1/none";
    try {
      await claimPostgresChain({
        databaseUrl: url,
        schema: "idx",
        chainId: 1n,
        genesis: NEW(0),
        blockHash: async () => NEW(0),
      });
      expect.fail("connected");
    } catch (error) {
      expect(error).to.be.instanceOf(UserError);
      expect((error as Error).message).to.match(/^DATABASE_URL: cannot connect to Postgres \(/);
      expect((error as Error).message).to.not.include("s3cret");
    }
  });
});

/**
 * The same, end to end: `npx hardhat indexer` on Postgres against a real `hardhat node` that is restarted
 * (stopped, started again on its port: a new chain with id 31337) and redeployed (the same addresses).
 * Before the fix, a new schema indexed the old chain's devices: Ponder read them back from `ponder_sync`
 * under the new chain's block numbers; and the old schema was resumed from the old chain's checkpoint.
 */
describe("indexer on Postgres: a restarted development node is indexed from its own blocks", function () {
  this.timeout(900_000);

  let pg: ScratchPostgres | undefined;
  const ended: (() => Promise<void>)[] = [];

  before(async function () {
    // Child processes recompile the contracts, which would overwrite coverage's instrumented build.
    if (coverageRunning()) this.skip();
    pg = await startScratchPostgres(requirePostgres(this));
  });

  after(async function () {
    for (const end of ended.reverse()) await end().catch(() => undefined);
    pg?.stop();
  });

  it("refuses the old chain's schema in one line, and a new schema holds none of the old chain's devices", async function () {
    // Chain A: deployed, the demo run, indexed into schema "first".
    const a = await startNodeDeployment("pg-restart");
    const providerA = new JsonRpcProvider(a.node.url, undefined, { staticNetwork: true, cacheTimeout: -1 });
    ended.push(() => endNodeDeployment(a, providerA));
    const addressesA = await runDemo(a.node.url, a.env.THINGLEDGER_DEPLOYMENT_ID!);
    // Past Ponder's finality depth (30 blocks on 31337): the demo's blocks are synced as history, the rows
    // Ponder keeps in ponder_sync (its live blocks it does not keep there with its cache off).
    const demoHead = await providerA.getBlockNumber();
    while ((await providerA.getBlockNumber()) < demoHead + 35) await providerA.send("evm_mine", []);
    const envA = { ...a.env, DATABASE_URL: pg!.url };
    const first = await startIndexer({
      env: envA,
      dir: path.join(a.scratch, "unused"),
      provider: providerA,
      schema: "first",
    });
    const fleetA = (await (await fetch(`${first.url}/stats/fleet`)).json()) as { total: number };
    expect(fleetA.total).to.be.greaterThan(0);
    await first.stop();
    const headA = await providerA.getBlockNumber();
    const genesisA = (await providerA.getBlock(0))!.hash;

    // Chain B: the node restarted on its port, redeployed (same addresses), then only empty blocks.
    await a.node.stop();
    const b = await startNodeDeployment("pg-restart-b");
    await b.node.stop();
    const port = Number(new URL(a.node.url).port);
    const nodeB = await startNode(undefined, port);
    const providerB = new JsonRpcProvider(nodeB.url, undefined, { staticNetwork: true, cacheTimeout: -1 });
    ended.push(() => endNodeDeployment({ ...b, node: nodeB }, providerB));
    const envB = { ...b.env, THINGLEDGER_LOCALHOST_URL: nodeB.url, DATABASE_URL: pg!.url };
    const deploy = hardhat(["deploy", "--network", "localhost", "--json"], envB);
    expect(deploy.status, deploy.stderr).to.equal(0);
    expect(deploy.stdout).to.include(addressesA.DeviceRegistry);
    expect((await providerB.getBlock(0))!.hash).to.not.equal(genesisA);
    // One by one: hardhat_mine's reserved blocks do not link by parent hash, which Ponder takes for a reorg.
    while ((await providerB.getBlockNumber()) < headA + 5) await providerB.send("evm_mine", []);

    // The old chain's schema: refused before Ponder starts, in one line.
    const refused = hardhat(
      ["indexer", "--network", "localhost", "--schema", "first", "--port", String(await freePort())],
      envB,
    );
    expect(refused.status).to.not.equal(0);
    const lines = errorLines(refused);
    expect(lines, refused.stderr).to.have.length(1);
    expect(lines[0]).to.match(/^Error: schema "first" in DATABASE_URL's database holds the index of another chain/);

    // A new schema: chain B's own (empty) registry, with chain A's rows gone from ponder_sync.
    const second = await startIndexer({
      env: envB,
      dir: path.join(b.scratch, "unused"),
      provider: providerB,
      schema: "second",
    });
    ended.push(() => second.stop());
    expect(second.output()).to.match(/removed \d+ rows of another chain with id 31337 from ponder_sync/);
    const fleetB = (await (await fetch(`${second.url}/stats/fleet`)).json()) as { total: number };
    expect(fleetB.total).to.equal(0);
    const sql = new Client({ connectionString: pg!.url });
    await sql.connect();
    try {
      const { rows } = await sql.query<{ hash: string }>(
        "select hash from ponder_sync.blocks where chain_id = 31337 and number = 1",
      );
      for (const row of rows) expect(row.hash).to.equal((await providerB.getBlock(1))!.hash);

      // The connection holding the chain's lock is cut (a Postgres restart, an idle connection killed): the
      // task stops the indexer with one line and exit code 1 rather than index on without the lock.
      const exited = new Promise<number | null>((resolve) => second.process.once("exit", (code) => resolve(code)));
      await sql.query("select pg_terminate_backend(pid) from pg_locks where locktype = 'advisory'");
      expect(await exited).to.equal(1);
      expect(second.output()).to.match(
        /Error: the indexer cannot advance: its Postgres connection holding the chain's lock was lost \(.*\); it stopped/,
      );
    } finally {
      await sql.end();
    }
  });
});

describe("indexer: the node's blocks for the chain check, and schema names", function () {
  it("refuses, before anything starts, a schema that is Postgres's, Ponder's or the chain records', or too long", async function () {
    for (const schema of ["ponder_sync", "thingledger_indexer", "pg_temp", "Information_Schema", "x".repeat(46)]) {
      const started = startIndexerProcess({
        rpcUrl: "http://127.0.0.1:1",
        chainId: 31337n,
        deploymentDir: "/nonexistent",
        port: 1,
        dataDir: "/nonexistent",
        databaseUrl: "postgres://127.0.0.1:1/none",
        schema,
      });
      await started.then(
        () => expect.fail(`${schema} started`),
        (error: Error) => {
          expect(error).to.be.instanceOf(UserError);
          expect(error.message).to.match(new RegExp(`^schema "${schema}" is (reserved|not a database schema name)`));
        },
      );
    }
  });

  it("a node that does not answer fails in one line that does not show its URL (it may hold an API key)", async function () {
    const url = `http://127.0.0.1:${await freePort()}/v3/secret-api-key`;
    try {
      await rpcBlockHash(url, 0n);
      expect.fail("answered");
    } catch (error) {
      expect(error).to.be.instanceOf(UserError);
      expect((error as Error).message).to.match(/^the node did not give block 0 \(/);
      expect((error as Error).message).to.not.include("secret-api-key");
      expect((error as Error).message).to.not.include("\n");
    }
  });
});
