import { Client } from "pg";

import { UserError } from "../errors";

/**
 * The schema this project keeps its own records in, beside Ponder's: which chain each indexer schema indexes,
 * and which chain the rows of Ponder's shared `ponder_sync` belong to, both by genesis block hash.
 */
export const MARKER_SCHEMA = "thingledger_indexer";

/** Ponder 0.16's `ponder_sync` tables that hold rows by chain id (its `sync-store/schema.js`). */
export const PONDER_SYNC_TABLES = [
  "blocks",
  "transactions",
  "transaction_receipts",
  "logs",
  "traces",
  "rpc_request_results",
  "intervals",
  "factory_addresses",
] as const;

/** Chain ids of development nodes (Hardhat's, Ganache's): a restart makes a new chain with the same id. */
export const DEVELOPMENT_CHAINS: readonly bigint[] = [31337n, 1337n];

/** Where rows of a chain sit in `ponder_sync`, by block: the tables whose rows name their block's hash. */
const HASHED = [
  { table: "blocks", number: "number", hash: "hash" },
  { table: "logs", number: "block_number", hash: "block_hash" },
  { table: "transactions", number: "block_number", hash: "block_hash" },
] as const;

export interface PostgresChainOptions {
  databaseUrl: string;
  /** Ponder's schema for this indexer (already checked to be a plain name). */
  schema: string;
  chainId: bigint;
  /** The genesis block hash of the chain the node serves. */
  genesis: string;
  /** The node's hash of block `number`, or undefined when it has no such block. */
  blockHash(number: bigint): Promise<string | undefined>;
}

/** A claim on a Postgres database for one chain; `release` when the indexer has stopped. */
export interface PostgresClaim {
  /** Rows of another chain with this chain id removed from `ponder_sync`, by table (none: empty). */
  pruned: Record<string, number>;
  /** Resolves with a one-line reason if the connection holding the chain's lock is lost while the indexer
   * runs (Postgres restarted, an idle connection cut): another chain's indexer could then delete its rows. */
  lost: Promise<string>;
  release(): Promise<void>;
}

const lower = (hash: string): string => hash.toLowerCase();

/** Connects, or fails in one line that names the cause but not the URL (it may hold a password). */
async function connect(databaseUrl: string): Promise<Client> {
  let client: Client | undefined;
  try {
    // Made inside the try: a malformed URL throws here.
    client = new Client({ connectionString: databaseUrl, connectionTimeoutMillis: 10_000, keepAlive: true });
    // A connection lost later must not end the process; the claim reports it (`lost`).
    client.on("error", () => undefined);
    await client.connect();
  } catch (error) {
    await client?.end().catch(() => undefined);
    throw new UserError(`DATABASE_URL: cannot connect to Postgres (${(error as Error).message.split("\n")[0]})`);
  }
  return client;
}

/**
 * Whether `ponder_sync` holds rows of this chain id that are not this chain's: the recorded genesis differs,
 * or the lowest or highest block of a table's rows is not the node's block of that number (or, on a development
 * chain, a block the node does not have).
 */
async function syncRowsForeign(client: Client, options: PostgresChainOptions, recorded?: string): Promise<boolean> {
  if (recorded !== undefined && recorded !== lower(options.genesis)) return true;
  const present = await client.query<{ blocks: string | null }>(`select to_regclass('ponder_sync.blocks') as blocks`);
  if (present.rows[0]?.blocks === null) return false;
  const seen: { number: string; hash: string }[] = [];
  for (const { table, number, hash } of HASHED) {
    const ends = await client.query<{ number: string; hash: string }>(
      `(select ${number}::text as number, ${hash} as hash from ponder_sync.${table} where chain_id = $1
          order by ${number} limit 1)
       union all
       (select ${number}::text, ${hash} from ponder_sync.${table} where chain_id = $1 order by ${number} desc limit 1)`,
      [options.chainId.toString()],
    );
    seen.push(...ends.rows);
  }
  for (const { number, hash } of seen) {
    const nodes = await options.blockHash(BigInt(number));
    // A block the node does not have is evidence only on a development chain (a restarted node is shorter);
    // elsewhere a lagging or load-balanced node may simply not have it yet, and the rows stay.
    if (nodes === undefined ? DEVELOPMENT_CHAINS.includes(options.chainId) : lower(nodes) !== lower(hash)) return true;
  }
  return false;
}

/** Refuses a schema that exists and indexed another chain (its record outlives a dropped schema: ignored then). */
async function refuseAnotherChainsSchema(client: Client, options: PostgresChainOptions): Promise<void> {
  const schema = await client.query<{ genesis: string; live: boolean }>(
    `select genesis, exists (select 1 from pg_namespace where nspname = $1) as live
       from ${MARKER_SCHEMA}.schema_chain where schema_name = $1`,
    [options.schema],
  );
  const bound = schema.rows[0];
  if (bound !== undefined && bound.live && bound.genesis !== lower(options.genesis))
    throw new UserError(
      `schema "${options.schema}" in DATABASE_URL's database holds the index of another chain (genesis block ` +
        `${bound.genesis.slice(0, 10)}…; this node's is ${options.genesis.slice(0, 10)}…: a development node ` +
        `that restarted?); drop it (drop schema "${options.schema}" cascade), or choose another --schema`,
    );
}

/** Deletes `ponder_sync`'s rows of chain `chainId`, unless a running indexer holds the chain's lock. */
async function pruneSync(client: Client, chainId: bigint, chainKey: string): Promise<Record<string, number>> {
  const pruned: Record<string, number> = {};
  const free = await client.query<{ free: boolean }>("select pg_try_advisory_xact_lock(hashtext($1)) as free", [
    chainKey,
  ]);
  if (free.rows[0]?.free !== true)
    throw new UserError(
      `another indexer on DATABASE_URL's database follows a different chain with id ${chainId} ` +
        `(Ponder's ponder_sync keeps one chain per id); stop it, or use another database`,
    );
  for (const table of PONDER_SYNC_TABLES) {
    const exists = await client.query<{ t: string | null }>("select to_regclass($1) as t", [`ponder_sync.${table}`]);
    if (exists.rows[0]?.t === null) continue;
    const gone = await client.query(`delete from ponder_sync.${table} where chain_id = $1`, [chainId.toString()]);
    if ((gone.rowCount ?? 0) > 0) pruned[table] = gone.rowCount ?? 0;
  }
  return pruned;
}

/**
 * Binds a Postgres schema to one chain, and keeps Ponder's shared `ponder_sync` to one chain per chain id.
 *
 * A development node that restarts is a new chain with the same id, and redeployed it has the same addresses
 * and start blocks. Ponder would resume the schema from the old chain's checkpoint, and, since it stores every
 * chain's blocks and logs in `ponder_sync` keyed by chain id and block number (inserting with "on conflict do
 * nothing", then reading the events it indexes back from there), it would index the old chain's logs under the
 * new chain's numbers. So:
 * - a schema that indexed another chain is refused in one line (a dropped schema takes the new chain);
 * - `ponder_sync`'s rows of another chain with this id are deleted (a cache: Ponder fetches them again);
 * - while an indexer runs it holds a shared lock on its chain id, so that an indexer of a different chain
 *   with the same id is refused rather than deleting the rows the first one reads.
 * One start at a time checks and records, under a transaction-wide lock.
 */
export async function claimPostgresChain(options: PostgresChainOptions): Promise<PostgresClaim> {
  const client = await connect(options.databaseUrl);
  const chainKey = `${MARKER_SCHEMA}:${options.chainId}`;
  const pruned: Record<string, number> = {};
  try {
    await client.query("begin");
    await client.query("select pg_advisory_xact_lock(hashtext($1))", [MARKER_SCHEMA]);
    await client.query(`create schema if not exists ${MARKER_SCHEMA}`);
    await client.query(`create table if not exists ${MARKER_SCHEMA}.schema_chain
      (schema_name text primary key, chain_id numeric(78) not null, genesis text not null)`);
    await client.query(`create table if not exists ${MARKER_SCHEMA}.sync_chain
      (chain_id numeric(78) primary key, genesis text not null)`);
    await refuseAnotherChainsSchema(client, options);
    const sync = await client.query<{ genesis: string }>(
      `select genesis from ${MARKER_SCHEMA}.sync_chain where chain_id = $1`,
      [options.chainId.toString()],
    );
    if (await syncRowsForeign(client, options, sync.rows[0]?.genesis))
      Object.assign(pruned, await pruneSync(client, options.chainId, chainKey));
    await client.query(
      `insert into ${MARKER_SCHEMA}.schema_chain values ($1, $2, $3)
         on conflict (schema_name) do update set chain_id = excluded.chain_id, genesis = excluded.genesis`,
      [options.schema, options.chainId.toString(), lower(options.genesis)],
    );
    await client.query(
      `insert into ${MARKER_SCHEMA}.sync_chain values ($1, $2)
         on conflict (chain_id) do update set genesis = excluded.genesis`,
      [options.chainId.toString(), lower(options.genesis)],
    );
    // Held by this connection until release: a session lock outlives the transaction that took it.
    await client.query("select pg_advisory_lock_shared(hashtext($1))", [chainKey]);
    await client.query("commit");
  } catch (error) {
    await client.query("rollback").catch(() => undefined);
    await client.end().catch(() => undefined);
    if (error instanceof UserError) throw error;
    throw new UserError(`DATABASE_URL: ${(error as Error).message.split("\n")[0]}`);
  }
  let released = false;
  const lost = new Promise<string>((resolve) => {
    const gone = (why: string) => () => {
      if (!released) resolve(`its Postgres connection holding the chain's lock was lost (${why})`);
    };
    client.once("error", (error: Error) => gone(error.message.split("\n")[0])());
    client.once("end", gone("closed by the server"));
  });
  return {
    pruned,
    lost,
    async release() {
      if (released) return;
      released = true;
      await client.end().catch(() => undefined);
    },
  };
}
