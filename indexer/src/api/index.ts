import { db } from "ponder:api";
import schema from "ponder:schema";
import { Hono } from "hono";
import type { Context } from "hono";
import { and, asc, between, client, count, eq, graphql, gt, replaceBigInts } from "ponder";

import { refuseGraphqlArguments } from "./graphql-guard";
import type { GraphqlRequest } from "./graphql-guard";
import { cursorTables } from "./graphql-tables";
import manufacturers from "./manufacturers";
import money, { chainNow, deviceMoney } from "./money";
import { activationRange, checkKeys, deviceListQuery, deviceIdParam, shown, utcDay } from "./params";

const { activationDay, device, deviceOwnerChange, deviceStatusChange, reputationScore } = schema;

const app = new Hono();

// Every failure answers JSON in one line: a bad request 400, an unexpected error 500 (without its stack or
// the request echoed back), an unknown route 404.
app.onError((error, c) => {
  const status = "status" in error && error.status === 400 ? 400 : 500;
  if (status === 500) console.error(`indexer API: ${c.req.method} ${c.req.path}: ${error.message}`);
  return c.json({ error: status === 400 ? "malformed request" : "internal error; see the indexer's log" }, status);
});

// Documents Ponder's GraphQL would run without bound (pages, offsets, aliases, fields, depth), and arguments it
// would answer with an empty page or an error of its SQL (a cursor it did not return): a one-line 400.
const tables = cursorTables(schema as unknown as Record<string, unknown>);
/** Characters of a GraphQL POST body: a 2000-token document and 20,000 characters of variables fit. */
const MAX_GRAPHQL_BODY = 100_000;
app.use("/graphql", async (c, next) => {
  let request: GraphqlRequest = {};
  if (c.req.method === "POST") {
    const body = await c.req.raw.clone().text();
    if (body.length > MAX_GRAPHQL_BODY)
      return c.json(
        { errors: [{ message: `the body is over ${MAX_GRAPHQL_BODY} characters; split the request` }] },
        400,
      );
    try {
      request = JSON.parse(body) as GraphqlRequest;
    } catch {
      return c.json({ errors: [{ message: "the body is not JSON ({ query, variables })" }] }, 400);
    }
  } else if (c.req.method === "GET") {
    const variables = c.req.query("variables");
    let parsed: unknown;
    try {
      parsed = variables === undefined ? undefined : JSON.parse(variables);
    } catch {
      return c.json({ errors: [{ message: "variables is not JSON" }] }, 400);
    }
    request = { query: c.req.query("query"), variables: parsed };
  }
  const refusal = request === null || typeof request !== "object" ? undefined : refuseGraphqlArguments(request, tables);
  if (refusal !== undefined) return c.json({ errors: [{ message: refusal }] }, 400);
  await next();
});

// Ponder's own query APIs: GraphQL (with its GraphiQL page; pages and documents are capped), and SQL over
// HTTP (`@ponder/client`) only when asked for (`npx hardhat indexer --sql`): it runs any read-only query,
// so one join without bound holds the embedded database, and every route with it, for minutes.
if (process.env.THINGLEDGER_INDEXER_SQL === "1") app.use("/sql/*", client({ db, schema }));
app.use("/graphql", graphql({ db, schema }));

/** A JSON answer; bigints (blocks, timestamps, types) as decimal strings. */
function json(c: Context, body: unknown, status: 200 | 400 | 404 | 500 = 200): Response {
  return c.json(replaceBigInts(body, (v) => v.toString()) as object, status);
}

/** A device by id: its identity, status, owner and score, and their histories, oldest first. */
app.get("/devices/:id", async (c) => {
  const id = deviceIdParam(c.req.param("id"));
  if (typeof id === "object") return json(c, id, 400);
  const [row] = await db.select().from(device).where(eq(device.id, id));
  if (row === undefined) return json(c, { error: `no device ${id} is indexed` }, 404);
  const [statusHistory, ownerHistory, reputationHistory, { wallets, channels }] = await Promise.all([
    db
      .select()
      .from(deviceStatusChange)
      .where(eq(deviceStatusChange.deviceId, id))
      .orderBy(asc(deviceStatusChange.block), asc(deviceStatusChange.id)),
    db
      .select()
      .from(deviceOwnerChange)
      .where(eq(deviceOwnerChange.deviceId, id))
      .orderBy(asc(deviceOwnerChange.block), asc(deviceOwnerChange.id)),
    db
      .select()
      .from(reputationScore)
      .where(eq(reputationScore.deviceId, id))
      .orderBy(asc(reputationScore.block), asc(reputationScore.id)),
    deviceMoney(db, id, row.owner),
  ]);
  return json(c, { device: row, statusHistory, ownerHistory, reputationHistory, wallets, channels });
});

/** Devices filtered by manufacturer, owner, status, type and whitelist, by id, a page at a time: `cursor` is the last id seen. */
app.get("/devices", async (c) => {
  const query = deviceListQuery(new URL(c.req.url).searchParams);
  if ("error" in query) return json(c, query, 400);
  const where = and(
    query.manufacturer === undefined ? undefined : eq(device.manufacturerId, query.manufacturer),
    query.owner === undefined ? undefined : eq(device.owner, query.owner),
    query.status === undefined ? undefined : eq(device.status, query.status),
    query.type === undefined ? undefined : eq(device.deviceType, query.type),
    query.whitelist === undefined ? undefined : eq(device.whitelistRoot, query.whitelist),
    query.cursor === undefined ? undefined : gt(device.id, query.cursor),
  );
  const rows = await db
    .select()
    .from(device)
    .where(where)
    .orderBy(asc(device.id))
    .limit(query.limit + 1);
  const items = rows.slice(0, query.limit);
  const nextCursor = rows.length > query.limit ? items[items.length - 1]!.id : null;
  return json(c, { items, nextCursor });
});

/** How many devices are in each status, and in all. */
app.get("/stats/fleet", async (c) => {
  const bad = checkKeys(new URL(c.req.url).searchParams, [], "parameter");
  if (bad !== undefined) return json(c, bad, 400);
  const rows = await db.select({ status: device.status, n: count() }).from(device).groupBy(device.status);
  const byStatus = { Registered: 0, Active: 0, Revoked: 0 };
  for (const r of rows) byStatus[r.status] = Number(r.n);
  return json(c, { total: byStatus.Registered + byStatus.Active + byStatus.Revoked, byStatus });
});

app.route("/", money);
app.route("/", manufacturers);

/**
 * Fleet activations per UTC day (of the activating block): `days=N` (ending with the day of the chain's latest
 * block, not this machine's) or `from`/`to`, zeros included.
 */
app.get("/stats/activations", async (c) => {
  const range = activationRange(new URL(c.req.url).searchParams, utcDay(await chainNow()));
  if ("error" in range) return json(c, range, 400);
  const rows = await db
    .select()
    .from(activationDay)
    .where(between(activationDay.day, range.from, range.to));
  const counts = new Map(rows.map((r) => [r.day, r.activations]));
  return json(
    c,
    range.days.map((day) => ({ day, activations: counts.get(day) ?? 0 })),
  );
});

// Last: any other route (a trailing slash too) is a JSON 404; Ponder's own routes (/health, /ready, /status,
// /metrics) come before this app.
app.all("*", (c) => json(c, { error: `no route ${c.req.method} ${shown(c.req.path)}` }, 404));

export default app;
