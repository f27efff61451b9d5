import { db, publicClients } from "ponder:api";
import schema from "ponder:schema";
import { Hono } from "hono";
import type { Context } from "hono";
import { and, asc, count, desc, eq, gt, inArray, lt, lte, or, replaceBigInts, sum } from "ponder";

import { availableAt, periodIndex, spentAt } from "../window";
import {
  addressParam,
  channelIdParam,
  channelListQuery,
  epochPageQuery,
  eventPageQuery,
  noParams,
  periodPageQuery,
  walletQuery,
} from "./money-params";
import type { PageQuery } from "./money-params";

const {
  auditor,
  auditorEpoch,
  auditorWithdrawal,
  channel,
  channelEvent,
  channelRefund,
  deviceWallet,
  walletAllowance,
  walletChange,
  walletExecution,
  walletPeriodUse,
  walletSpend,
} = schema;

type Hex = `0x${string}`;
type Db = typeof db;

/** The longest history a single answer carries where a route has no cursor of its own. */
const HISTORY_CAP = 500;

/** A JSON answer; bigints as decimal strings. */
function json(c: Context, body: unknown, status: 200 | 400 | 404 | 503 = 200): Response {
  return c.json(replaceBigInts(body, (v) => v.toString()) as object, status);
}

/** Runs a route; a failure of the database or the chain is a 503 with one line, never a 500. */
function route(handler: (c: Context) => Promise<Response>) {
  return async (c: Context): Promise<Response> => {
    try {
      return await handler(c);
    } catch (error) {
      const line = String((error as Error)?.message ?? error)
        .split("\n")[0]!
        .slice(0, 200);
      return json(c, { error: `the indexer could not answer: ${line}` }, 503);
    }
  };
}

/** One page of rows, newest first by event id: `limit + 1` were read, so a longer read means another page. */
function paged<T extends { id: string }>(rows: T[], limit: number): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit);
  return { items, nextCursor: rows.length > limit ? items[items.length - 1]!.id : null };
}

async function executionsPage(wallet: Hex, q: PageQuery) {
  const rows = await db
    .select()
    .from(walletExecution)
    .where(
      and(eq(walletExecution.wallet, wallet), q.cursor === undefined ? undefined : lt(walletExecution.id, q.cursor)),
    )
    .orderBy(desc(walletExecution.id))
    .limit(q.limit + 1);
  return paged(rows, q.limit);
}

async function spendsPage(wallet: Hex, q: PageQuery) {
  const rows = await db
    .select()
    .from(walletSpend)
    .where(and(eq(walletSpend.wallet, wallet), q.cursor === undefined ? undefined : lt(walletSpend.id, q.cursor)))
    .orderBy(desc(walletSpend.id))
    .limit(q.limit + 1);
  return paged(rows, q.limit);
}

/**
 * Limit use per period, the period spent in last first (an hour's index and a day's are not comparable, so
 * periods are ordered by their latest spend, across a change of period); the cursor is that spend's event id.
 */
async function periodsPage(wallet: Hex, q: PageQuery) {
  const rows = await db
    .select()
    .from(walletPeriodUse)
    .where(
      and(
        eq(walletPeriodUse.wallet, wallet),
        q.cursor === undefined ? undefined : lt(walletPeriodUse.lastSpend, q.cursor),
      ),
    )
    .orderBy(desc(walletPeriodUse.lastSpend))
    .limit(q.limit + 1);
  const items = rows.slice(0, q.limit);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > q.limit && last ? last.lastSpend : null };
}

/** An allowance as the wallet held it at some time: its limit and spend window. */
type AllowanceThen = Pick<
  typeof walletAllowance.$inferSelect,
  "asset" | "limit" | "transferCap" | "windowIndex" | "windowCurrent" | "windowPrevious" | "totalSpent"
>;

/**
 * A wallet's period and allowances as they were at `at` (unix seconds): the creation's period and limits with
 * every change of them up to `at` replayed, and each asset's spend window as its latest spend up to `at` left
 * it (`totalSpent`: the spends up to `at`). The transfer caps are today's.
 */
async function walletAt(address: Hex, at: bigint, now: AllowanceThen[]) {
  const changes = await db
    .select()
    .from(walletChange)
    .where(
      and(
        eq(walletChange.wallet, address),
        lte(walletChange.timestamp, at),
        inArray(walletChange.kind, ["Created", "PeriodChanged", "AllowanceChanged"]),
      ),
    )
    .orderBy(asc(walletChange.id));
  let period: number | undefined;
  const limits = new Map<string, bigint>();
  for (const { kind, detail } of changes) {
    const d = detail as {
      period?: number;
      asset?: string;
      limit?: string;
      limits?: { asset: string; limit: string }[];
    };
    if (d.period !== undefined) period = Number(d.period);
    const set =
      kind === "Created"
        ? (d.limits ?? [])
        : kind === "AllowanceChanged"
          ? [d as { asset: string; limit: string }]
          : [];
    for (const l of set) limits.set(l.asset.toLowerCase(), BigInt(l.limit));
  }
  const allowances = await Promise.all(
    now.map(async (a) => {
      const [spent] = await db
        .select({ n: sum(walletSpend.amount) })
        .from(walletSpend)
        .where(and(eq(walletSpend.wallet, address), eq(walletSpend.asset, a.asset), lte(walletSpend.timestamp, at)));
      const [last] = await db
        .select()
        .from(walletSpend)
        .where(and(eq(walletSpend.wallet, address), eq(walletSpend.asset, a.asset), lte(walletSpend.timestamp, at)))
        .orderBy(desc(walletSpend.id))
        .limit(1);
      return {
        ...a,
        limit: limits.get(a.asset.toLowerCase()) ?? 0n,
        windowIndex: last?.windowIndex ?? 0n,
        windowCurrent: last?.windowCurrent ?? 0n,
        windowPrevious: last?.windowPrevious ?? 0n,
        totalSpent: BigInt(spent?.n ?? 0),
      };
    }),
  );
  return { period, allowances };
}

/** The chain's time: its latest block's timestamp (the wallet's own clock), or this machine's if unreachable. */
export async function chainNow(): Promise<bigint> {
  try {
    return (await publicClients.thingledger.getBlock({ blockTag: "latest" })).timestamp;
  } catch {
    return BigInt(Math.floor(Date.now() / 1000));
  }
}

/**
 * A device's money: its wallets, and the channels those wallets opened or are paid by (a channel names no
 * device on chain; its owner or payee may be the device's wallet). For GET /devices/:id. A wallet counts as
 * the device's only when the device is owned by it or it linked the device (the registry checked both): the
 * factory lets anyone create a wallet naming any device, and such wallets are not listed here.
 */
export async function deviceMoney(database: Db, deviceId: Hex, owner: Hex | null) {
  const wallets = await database
    .select()
    .from(deviceWallet)
    .where(
      and(
        eq(deviceWallet.deviceId, deviceId),
        owner === null
          ? eq(deviceWallet.linked, true)
          : or(eq(deviceWallet.linked, true), eq(deviceWallet.address, owner)),
      ),
    )
    .orderBy(asc(deviceWallet.createdBlock))
    .limit(25);
  const addresses = wallets.map((w) => w.address);
  const channels =
    addresses.length === 0
      ? []
      : await database
          .select()
          .from(channel)
          .where(or(inArray(channel.owner, addresses), inArray(channel.payee, addresses)))
          .orderBy(desc(channel.openBlock), asc(channel.id))
          .limit(25);
  return { wallets, channels };
}

const money = new Hono();

/**
 * A wallet: its owners, threshold, device key state, and each asset's limit with what the device spent this
 * period (`?at=<unix seconds>`, default the chain's latest block), as the contract's sliding window counts it;
 * the first page of its executions, spends and per-period limit use (newest first), and its changes.
 */
money.get(
  "/wallets/:address",
  route(async (c) => {
    const address = addressParam(c.req.param("address") ?? "", "wallet");
    if (typeof address === "object") return json(c, address, 400);
    const query = walletQuery(new URL(c.req.url).searchParams);
    if ("error" in query) return json(c, query, 400);
    const [wallet] = await db.select().from(deviceWallet).where(eq(deviceWallet.address, address));
    if (wallet === undefined) return json(c, { error: `no device wallet ${address} is indexed` }, 404);
    const at = query.at ?? (await chainNow());
    const first = { limit: 25 };
    const [allowancesNow, changes, executions, spends, periods] = await Promise.all([
      db.select().from(walletAllowance).where(eq(walletAllowance.wallet, address)).orderBy(asc(walletAllowance.asset)),
      db
        .select()
        .from(walletChange)
        .where(eq(walletChange.wallet, address))
        .orderBy(desc(walletChange.id))
        .limit(HISTORY_CAP),
      executionsPage(address, first),
      spendsPage(address, first),
      periodsPage(address, first),
    ]);
    // A given time reads the wallet as it was then; without one, as it is now.
    const then = query.at === undefined ? undefined : await walletAt(address, query.at, allowancesNow);
    const period = then?.period ?? wallet.period;
    const allowances = then?.allowances ?? allowancesNow;
    const index = periodIndex(at, period);
    return json(c, {
      wallet,
      at,
      period,
      periodIndex: index,
      periodStart: index * BigInt(period),
      allowances: allowances.map((a) => {
        const spent = spentAt(a, index);
        return {
          asset: a.asset,
          limit: a.limit,
          transferCap: a.transferCap,
          spentThisPeriod: spent.current,
          spentPreviousPeriod: spent.previous,
          available: availableAt(a, index),
          totalSpent: a.totalSpent,
        };
      }),
      changes: changes.reverse(),
      executions,
      spends,
      periods,
    });
  }),
);

for (const [path, pageOf, parse] of [
  ["executions", executionsPage, eventPageQuery],
  ["spends", spendsPage, eventPageQuery],
  ["periods", periodsPage, periodPageQuery],
] as const) {
  money.get(
    `/wallets/:address/${path}`,
    route(async (c) => {
      const address = addressParam(c.req.param("address") ?? "", "wallet");
      if (typeof address === "object") return json(c, address, 400);
      const query = parse(new URL(c.req.url).searchParams);
      if ("error" in query) return json(c, query, 400);
      return json(c, await pageOf(address, query));
    }),
  );
}

/** A channel's life: its row (key, deposit, expiry, how it ended) and every event of it, oldest first. */
money.get(
  "/channels/:id",
  route(async (c) => {
    const id = channelIdParam(c.req.param("id") ?? "");
    if (typeof id === "object") return json(c, id, 400);
    const bad = noParams(new URL(c.req.url).searchParams);
    if (bad !== undefined) return json(c, bad, 400);
    const [row] = await db.select().from(channel).where(eq(channel.id, id));
    if (row === undefined) return json(c, { error: `no channel ${id} is indexed` }, 404);
    const [events, refunds] = await Promise.all([
      db
        .select()
        .from(channelEvent)
        .where(eq(channelEvent.channelId, id))
        .orderBy(asc(channelEvent.id))
        .limit(HISTORY_CAP),
      db.select().from(channelRefund).where(eq(channelRefund.channelId, id)).orderBy(asc(channelRefund.id)),
    ]);
    return json(c, { channel: row, events, refunds });
  }),
);

/** Channels by AS (`as`, the payee) and/or `owner`, and `status`, by id, a page at a time. */
money.get(
  "/channels",
  route(async (c) => {
    const query = channelListQuery(new URL(c.req.url).searchParams);
    if ("error" in query) return json(c, query, 400);
    const rows = await db
      .select()
      .from(channel)
      .where(
        and(
          query.as === undefined ? undefined : eq(channel.payee, query.as),
          query.owner === undefined ? undefined : eq(channel.owner, query.owner),
          query.status === undefined ? undefined : eq(channel.status, query.status),
          query.cursor === undefined ? undefined : gt(channel.id, query.cursor as Hex),
        ),
      )
      .orderBy(asc(channel.id))
      .limit(query.limit + 1);
    const items = rows.slice(0, query.limit);
    return json(c, { items, nextCursor: rows.length > query.limit ? items[items.length - 1]!.id : null });
  }),
);

/**
 * An AS's revenue: per asset (ETH, THING), what its closes paid it and refunded owners, how many channels it
 * closed, and what its open channels still hold.
 */
money.get(
  "/as/:address/revenue",
  route(async (c) => {
    const address = addressParam(c.req.param("address") ?? "", "AS");
    if (typeof address === "object") return json(c, address, 400);
    const bad = noParams(new URL(c.req.url).searchParams);
    if (bad !== undefined) return json(c, bad, 400);
    const rows = await db
      .select({
        token: channel.token,
        status: channel.status,
        channels: count(),
        paid: sum(channel.paid),
        refunded: sum(channel.refunded),
        deposits: sum(channel.deposit),
      })
      .from(channel)
      .where(eq(channel.payee, address))
      .groupBy(channel.token, channel.status);
    const asset = (token: boolean) => {
      const of = (status: string) => rows.find((r) => r.token === token && r.status === status);
      const closed = of("Closed");
      const open = of("Open");
      return {
        paid: BigInt(closed?.paid ?? 0),
        refunded: BigInt(closed?.refunded ?? 0),
        closed: Number(closed?.channels ?? 0),
        reclaimed: Number(of("Reclaimed")?.channels ?? 0),
        open: Number(open?.channels ?? 0),
        openDeposits: BigInt(open?.deposits ?? 0),
      };
    };
    return json(c, { as: address, eth: asset(false), token: asset(true) });
  }),
);

/**
 * An auditor: its state, its epochs (submissions, reports, changed and rewarded scores, reward earned),
 * newest first, a page at a time (`cursor`: the last epoch seen), what it earned and withdrew in all, and
 * its withdrawals.
 */
money.get(
  "/auditors/:address",
  route(async (c) => {
    const address = addressParam(c.req.param("address") ?? "", "auditor");
    if (typeof address === "object") return json(c, address, 400);
    const params = new URL(c.req.url).searchParams;
    const query = epochPageQuery(params);
    if ("error" in query) return json(c, query, 400);
    const [row] = await db.select().from(auditor).where(eq(auditor.address, address));
    if (row === undefined) return json(c, { error: `no auditor ${address} is indexed` }, 404);
    const [epochs, [totals], withdrawals] = await Promise.all([
      db
        .select()
        .from(auditorEpoch)
        .where(
          and(
            eq(auditorEpoch.auditor, address),
            query.cursor === undefined ? undefined : lt(auditorEpoch.epoch, Number(query.cursor)),
          ),
        )
        .orderBy(desc(auditorEpoch.epoch))
        .limit(query.limit + 1),
      db
        .select({ earned: sum(auditorEpoch.reward), rewarded: sum(auditorEpoch.rewarded) })
        .from(auditorEpoch)
        .where(eq(auditorEpoch.auditor, address)),
      db
        .select()
        .from(auditorWithdrawal)
        .where(eq(auditorWithdrawal.auditor, address))
        .orderBy(desc(auditorWithdrawal.id))
        .limit(HISTORY_CAP),
    ]);
    const items = epochs.slice(0, query.limit);
    const earned = BigInt(totals?.earned ?? 0);
    return json(c, {
      auditor: row,
      earned,
      rewardedScores: BigInt(totals?.rewarded ?? 0),
      withdrawn: row.withdrawn,
      unwithdrawn: earned - row.withdrawn,
      epochs: {
        items,
        nextCursor: epochs.length > query.limit ? String(items[items.length - 1]!.epoch) : null,
      },
      withdrawals,
    });
  }),
);

export default money;
