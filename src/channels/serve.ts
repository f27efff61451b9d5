import os from "node:os";

import type { Signer } from "ethers";

import type { PaymentChannels } from "../../typechain-types";
import { channelsAt } from "../chain/context";
import type { SystemContext } from "../chain/context";
import { parseAmount } from "../cli/parse";
import { readJsonFile } from "../cli/json";
import { labelId } from "../devices/fleet";
import { readDomain } from "../eip712/domain";
import { UserError, ensure } from "../errors";
import type { HttpOptions } from "../http/service";
import { AuthorizationServer } from "./as-server";
import { ChannelFollower, oneLine } from "./follower";
import { AsStore, secretKeyFrom } from "./store";
import { ReceiptVerifier } from "./verify";
import { trackCreation } from "../cli/created";

/** A device the AS sells access to: its id, the secret it shares with the AS, and the price of a slot. */
export interface DeviceProvision {
  deviceId: string;
  secret: string;
  price: bigint;
}

/**
 * Reads a devices file: a JSON array of `{ "deviceId": "0x…" | "a UID", "secret": "hex, ≥ 16 bytes",
 * "price": "0.001" }` (price in ETH or THING, 18 decimals). Secrets are provisioned at setup and kept
 * out of version control; every problem is reported before anything is stored.
 */
export function readDevicesFile(file: string): DeviceProvision[] {
  const parsed = readJsonFile(file, "a JSON array of { deviceId, secret, price }");
  ensure(Array.isArray(parsed), `${file}: expected an array of { deviceId, secret, price }`);
  const problems: string[] = [];
  const devices: DeviceProvision[] = [];
  const seen = new Set<string>();
  parsed.forEach((entry: unknown, i) => {
    const e = (entry ?? {}) as { deviceId?: unknown; secret?: unknown; price?: unknown };
    const at = `entry ${i + 1}`;
    if (typeof e.deviceId !== "string" || e.deviceId === "") return problems.push(`${at}: "deviceId" is missing`);
    const deviceId = labelId(e.deviceId);
    if (seen.has(deviceId)) return problems.push(`${at}: device ${e.deviceId} is listed twice`);
    seen.add(deviceId);
    if (typeof e.secret !== "string" || !/^([0-9a-fA-F]{2}){16,}$/.test(e.secret))
      return problems.push(`${at}: "secret" must be hex of at least 16 bytes`);
    if (typeof e.price !== "string") return problems.push(`${at}: "price" must be a decimal string such as "0.001"`);
    try {
      devices.push({ deviceId, secret: e.secret.toLowerCase(), price: parseAmount("price", e.price) });
    } catch (error) {
      problems.push(`${at}: ${(error as Error).message.replace(/^--price: /, "")}`);
    }
  });
  if (problems.length > 0) throw new UserError(`${file}: ${problems.length} problem(s): ${problems.join("; ")}`);
  ensure(devices.length > 0, `${file} lists no devices`);
  return devices;
}

export interface ServeOptions {
  signer: Signer;
  port: number;
  host: string;
  db: string;
  devices?: DeviceProvision[];
  /** Close channels this many seconds before their expiry. */
  closeMargin: number;
  /** How often to look for due channels, in seconds. */
  pollSeconds: number;
  minConfirmations: number;
  /** Create the database if it does not exist (`--init`); otherwise a missing database is refused. */
  init?: boolean;
  /** The devices' HOTP window W (`--hotp-window`): at most W codes outstanding per device. */
  hotpWindow?: number;
  /** Lifetime of a code in seconds (`--code-ttl`, default 600). */
  codeTtl?: number;
  /** After restoring a database (`--resync`): sell nothing for a device until its own acknowledgement arrives. */
  resync?: boolean;
  /** Seconds between reads of the contract's events (default 5). */
  followSeconds?: number;
  /** Re-read a channel on chain before a sale when its state is older than this many seconds (default 5). */
  stateMaxAge?: number;
  /** Timeout of each RPC read, in milliseconds (default 5,000). */
  rpcTimeoutMs?: number;
  /** Channels per closeBatch transaction (default 50). */
  maxCloseBatch?: number;
  log: (line: string) => void;
  /** HTTP limits, logger and health thresholds. */
  http?: HttpOptions;
  /** Seconds a channel found not open on chain is answered 404 without another chain read. */
  unknownChannelTtl?: number;
  /** Milliseconds a head block that refused a request naming a later block refuses more without a read. */
  headCacheMs?: number;
  /** Recover receipts' signers in a second process (`--recovery`; see {@link recoveryProcessFor}). */
  recoveryProcess?: boolean;
}

/**
 * `--recovery`: "process" recovers receipts' signatures in a second process (another core), "loop" on the
 * event loop, "auto" in a process when the machine has two cores or more.
 */
export function recoveryProcessFor(choice: string): boolean {
  if (choice === "process") return true;
  if (choice === "loop") return false;
  ensure(choice === "auto", `--recovery: expected process, loop or auto, got "${choice}"`);
  return os.availableParallelism() > 1;
}

export interface RunningAs {
  url: string;
  payee: string;
  db: string;
  devices: number;
  receipts: number;
  /** Stops the service and the close loop; closes the database. */
  stop: () => Promise<void>;
}

/** Builds the AS of `o` over `store`, with the devices of `o.devices` provisioned. */
async function authorizationServer(
  o: ServeOptions,
  channels: PaymentChannels,
  payee: string,
  store: AsStore,
): Promise<AuthorizationServer> {
  const server = new AuthorizationServer({
    channels,
    payee,
    verifier: new ReceiptVerifier(await readDomain(channels)),
    store,
    minConfirmations: o.minConfirmations,
    // Refuse new receipts a little before the AS closes, so the close has the final one.
    expiryMargin: o.closeMargin + o.pollSeconds,
    hotpWindow: o.hotpWindow,
    codeTtl: o.codeTtl,
    resync: o.resync,
    stateMaxAge: o.stateMaxAge,
    rpcTimeoutMs: o.rpcTimeoutMs,
    maxCloseBatch: o.maxCloseBatch,
    log: o.log,
    http: o.http,
    unknownChannelTtl: o.unknownChannelTtl,
    headCacheMs: o.headCacheMs,
    recoveryProcess: o.recoveryProcess,
  });
  for (const d of o.devices ?? []) server.provisionDevice(d.deviceId, d.secret, d.price);
  return server;
}

/**
 * Follows the contract's events for this payee every `o.followSeconds`; the cursor (last block applied) is
 * kept in the database. Returns the function that stops following.
 */
function followChannels(
  ctx: SystemContext,
  o: ServeOptions,
  at: { server: AuthorizationServer; store: AsStore; channels: PaymentChannels; payee: string },
): () => void {
  const { server, store } = at;
  const cursorKey = `follower:${ctx.chainId}:${ctx.addresses.PaymentChannels.toLowerCase()}`;
  let following = true;
  let timer: NodeJS.Timeout | undefined;
  const follower = new ChannelFollower({
    channels: at.channels,
    payee: at.payee,
    minConfirmations: o.minConfirmations,
    timeoutMs: o.rpcTimeoutMs ?? 5_000,
    cursor: () => {
      const value = store.meta(cursorKey);
      return value === undefined ? undefined : Number(value);
    },
    apply: (events, toBlock) => {
      if (!following) throw new Error("the AS is stopping");
      server.applyChainEvents(events, cursorKey, toBlock);
    },
    resync: () => server.refreshAll(),
  });
  const follow = (): void => {
    follower
      .poll()
      .catch((error: unknown) => o.log(`following channel events failed (retrying): ${oneLine(error)}`))
      .finally(() => {
        if (following) timer = setTimeout(follow, (o.followSeconds ?? 5) * 1000);
      });
  };
  follow();
  return () => {
    following = false;
    clearTimeout(timer);
  };
}

/**
 * Every `o.pollSeconds`, closes the channels due within `o.closeMargin` of their expiry. Each pass is tracked:
 * /health reports its last run and error, the metrics count its results. Returns the function that stops it.
 */
function closeLoop(server: AuthorizationServer, o: ServeOptions): () => void {
  let closing = false;
  server.watchLoop("close", o.pollSeconds);
  const timer = setInterval(() => {
    if (closing) return;
    closing = true;
    server
      .track("close", async () => {
        const r = await server.closeDue(o.closeMargin);
        server.metrics.channelsClosed.inc(r.closed.length);
        for (const skipped of r.skipped) server.metrics.closesSkipped.inc({ reason: skipped.reason });
        if (r.notes.length === 0 && r.failed.length === 0) return;
        o.log(
          `close round: ${r.closed.length} closed, ${r.skipped.length} ended or skipped, ${r.failed.length} left due, gas ${r.gasUsed}`,
        );
        for (const n of r.notes) o.log(`  channel ${n.channelId} ${n.outcome}: ${n.detail}`);
        if (r.notes.length === 0) for (const f of r.failed) o.log(`  ${f.error}`);
        // Channels left due make the loop unhealthy (/health) until a round closes them.
        if (r.failed.length > 0) throw new Error(`${r.failed.length} due channel(s) could not be closed; retrying`);
      })
      .catch((error: unknown) => o.log(`close round failed: ${oneLine(error)}`))
      .finally(() => (closing = false));
  }, o.pollSeconds * 1000);
  return () => clearInterval(timer);
}

/**
 * Starts the Authorization Server of the system's channels contract: HTTP on `host:port`, receipts in SQLite
 * at `db`, and a loop that closes channels (one `closeBatch` when several are due) `closeMargin` seconds
 * before their expiry.
 */
export async function startAs(ctx: SystemContext, o: ServeOptions): Promise<RunningAs> {
  const payee = await o.signer.getAddress();
  ensure(
    o.closeMargin >= 0 && o.closeMargin < 86_400 * 365,
    `the close margin ${o.closeMargin} must be under a year (seconds before expiry)`,
  );
  const created = trackCreation(o.db);
  const store = new AsStore(o.db, { create: o.init === true, secretKey: secretKeyFrom(process.env.AS_SECRET_KEY) });
  const channels = channelsAt(ctx, o.signer);
  const server = await authorizationServer(o, channels, payee, store);
  let url: string;
  try {
    url = await server.listen(o.port, o.host);
  } catch (error) {
    store.close();
    created.undo();
    throw new UserError(`cannot listen on ${o.host}:${o.port}: ${(error as Error).message}`);
  }
  const stopFollowing = followChannels(ctx, o, { server, store, channels, payee });
  const stopClosing = closeLoop(server, o);
  return {
    url,
    payee,
    db: o.db,
    devices: store.devices().length,
    receipts: store.receiptCount(),
    stop: async () => {
      stopClosing();
      stopFollowing();
      await server.stop();
      store.close();
    },
  };
}
