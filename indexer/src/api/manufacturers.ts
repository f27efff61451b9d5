import { db } from "ponder:api";
import schema from "ponder:schema";
import { Hono } from "hono";
import { asc, eq, replaceBigInts } from "ponder";

import { shown } from "./params";

const { manufacturer, whitelist } = schema;

const app = new Hono();

/** A manufacturer id as the registry numbers them (uint32, from 1), in decimal; or the one-line refusal. */
export function manufacturerIdParam(value: string): number | { error: string } {
  const id = /^[1-9][0-9]{0,9}$/.test(value) ? Number(value) : NaN;
  return Number.isInteger(id) && id <= 0xffffffff
    ? id
    : { error: `manufacturer id ${shown(value)} is not a manufacturer id (a decimal from 1 to 4294967295)` };
}

/** A manufacturer: its account, payout, default score and whether it is active, and its whitelists (capacity, used, closed). */
app.get("/manufacturers/:id", async (c) => {
  const id = manufacturerIdParam(c.req.param("id"));
  if (typeof id === "object") return c.json(id, 400);
  // The id column is a 32-bit signed integer: an id above its range cannot be indexed (nor be compared with it).
  const [row] = id > 0x7fffffff ? [] : await db.select().from(manufacturer).where(eq(manufacturer.id, id));
  if (row === undefined) return c.json({ error: `no manufacturer ${id} is indexed` }, 404);
  const whitelists = await db
    .select({ root: whitelist.root, capacity: whitelist.capacity, used: whitelist.used, closed: whitelist.closed })
    .from(whitelist)
    .where(eq(whitelist.manufacturerId, id))
    .orderBy(asc(whitelist.root));
  return c.json(replaceBigInts({ manufacturer: row, whitelists }, (v) => v.toString()) as object);
});

export default app;
