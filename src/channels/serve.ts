import fs from "node:fs";

import type { Signer } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types";

import { PaymentChannels__factory } from "../../typechain-types";
import { parseAmount } from "../cli/parse";
import { loadSystem } from "../deployments";
import { labelId } from "../devices/fleet";
import { channelsDomain } from "../eip712/receipt";
import { UserError, ensure } from "../errors";
import type { HttpOptions } from "../http/service";
import { AuthorizationServer } from "./as-server";
import { AsStore } from "./store";
import { ReceiptVerifier } from "./verify";

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
  ensure(fs.existsSync(file), `devices file ${file} does not exist`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (error) {
    throw new UserError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
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
  log: (line: string) => void;
  /** HTTP limits, logger and health thresholds. */
  http?: HttpOptions;
  /** Seconds a channel found not open on chain is answered 404 without another chain read. */
  unknownChannelTtl?: number;
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

/**
 * Starts the Authorization Server for the current network: HTTP on `host:port`, receipts in SQLite at
 * `db`, and a loop that closes channels (one `closeBatch` when several are due) `closeMargin` seconds
 * before their expiry.
 */
export async function startAs(hre: HardhatRuntimeEnvironment, o: ServeOptions): Promise<RunningAs> {
  const system = await loadSystem(hre, ["PaymentChannels"]);
  const payee = await o.signer.getAddress();
  ensure(o.closeMargin >= 0 && o.closeMargin < 86_400 * 365, "--close-margin: seconds before expiry, at most a year");
  const store = new AsStore(o.db);
  const server = new AuthorizationServer({
    channels: PaymentChannels__factory.connect(system.addresses.PaymentChannels, o.signer),
    payee,
    verifier: new ReceiptVerifier(channelsDomain(system.chainId, system.addresses.PaymentChannels)),
    store,
    minConfirmations: o.minConfirmations,
    // Refuse new receipts a little before the AS closes, so the close has the final one.
    expiryMargin: o.closeMargin + o.pollSeconds,
    now: () => Math.floor(Date.now() / 1000),
    http: o.http,
    unknownChannelTtl: o.unknownChannelTtl,
  });
  for (const d of o.devices ?? []) server.provisionDevice(d.deviceId, d.secret, d.price);
  let url: string;
  try {
    url = await server.listen(o.port, o.host);
  } catch (error) {
    store.close();
    throw new UserError(`cannot listen on ${o.host}:${o.port}: ${(error as Error).message}`);
  }
  let closing = false;
  // Each pass is tracked: /health reports its last run and error, the metrics count its results.
  server.watchLoop("close", o.pollSeconds);
  const timer = setInterval(() => {
    if (closing) return;
    closing = true;
    server
      .track("close", async () => {
        const due = server.dueChannels(o.closeMargin);
        if (due.length === 0) return;
        const r = await server.closeChannels(due);
        server.metrics.channelsClosed.inc(r.closed.length);
        o.log(`closed ${r.closed.length} channel(s) with their best receipts, gas ${r.gasUsed}`);
        for (const s of r.skipped) {
          server.metrics.closesSkipped.inc({ reason: s.reason });
          o.log(`skipped channel ${s.channelId}: ${s.reason}`);
        }
      })
      .catch((error: Error) => o.log(`closing due channels failed: ${error.message}`))
      .finally(() => (closing = false));
  }, o.pollSeconds * 1000);
  return {
    url,
    payee,
    db: o.db,
    devices: store.devices().length,
    receipts: store.receiptCount(),
    stop: async () => {
      clearInterval(timer);
      await server.stop();
      store.close();
    },
  };
}
