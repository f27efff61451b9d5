import type { IncomingMessage, ServerResponse } from "node:http";

import { JsonRpcProvider } from "ethers";

import { contextFor } from "../chain/context";
import type { SystemAddresses, SystemContext } from "../chain/context";
import { readDomain } from "../eip712/domain";
import { UserError } from "../errors";
import { DeviceWallet__factory } from "../chain/factories";
import { TtlCache } from "../http/cache";
import { QueueBusy, sharedReads } from "./queue";
import type { ProposalQueue, WalletReader, WalletView } from "./queue";
import { walletAt, walletCreation, walletOwners } from "./wallet";
import type { LogScan, WalletCreation } from "./wallet";

/** The largest body a POST to the queue takes: a proposal with its call data and up to 20 signatures. */
export const MAX_PROPOSAL_BODY = 64 * 1024;

/** The path the app server serves the queue under (the app fetches `proposals/…` beside itself). */
export const QUEUE_PATH = "/proposals";

/**
 * How long the reader remembers that an address has the wallet's code but no `WalletCreated` event (a clone the
 * factory never made): requests for it meanwhile are refused without another log scan.
 */
export const REFUSED_WALLET_TTL_MS = 10 * 60 * 1000;

/** The most such refused addresses remembered at once (least recently used dropped first). */
const REFUSED_WALLETS = 10_000;

/** What the reader keeps of a wallet: its domain never changes; owners and threshold only with its nonce. */
interface CachedWallet {
  creation: WalletCreation;
  domain: WalletView["domain"];
  nonce: bigint;
  owners: string[];
  threshold: number;
}

/**
 * Reads a wallet as the queue needs it, through `ctx`: owners from its events, domain from the wallet itself.
 * A wallet's code check and domain are read once; its owners and threshold (which change only by an
 * execution, which spends a nonce) are reread only when its nonce moved, so a request costs one `nonce()`
 * call once the wallet is known. Concurrent reads of one wallet share one read. Events are read in ranges of at
 * most `scan.maxBlockRange` blocks, the factory's `WalletCreated` from `scan.fromBlock` (the factory's
 * deployment block), then owner changes only from the wallet's creation block (remembered) on. An address with
 * the wallet's code but no creation event (a clone the factory never made) is refused for
 * {@link REFUSED_WALLET_TTL_MS} without another scan.
 */
export function walletViewReader(ctx: SystemContext, scan: LogScan = {}): WalletReader {
  const known = new Map<string, CachedWallet>();
  const refused = new TtlCache<true>(REFUSED_WALLET_TTL_MS, REFUSED_WALLETS);
  const noOwners = (address: string) => new UserError(`cannot find the owner set of wallet ${address} in its events`);
  async function read(address: string): Promise<WalletView> {
    if (refused.has(address)) throw noOwners(address);
    const cached = known.get(address);
    const wallet =
      cached === undefined ? await walletAt(ctx, address) : DeviceWallet__factory.connect(address, ctx.provider);
    const nonce = await wallet.nonce();
    if (cached !== undefined && cached.nonce === nonce) {
      return { chainId: ctx.chainId, domain: cached.domain, owners: cached.owners, threshold: cached.threshold, nonce };
    }
    const creation = cached?.creation ?? (await walletCreation(ctx, address, scan));
    if (creation === undefined) {
      refused.set(address, true);
      throw noOwners(address);
    }
    const [owners, threshold, domain] = await Promise.all([
      walletOwners(ctx, wallet, scan, creation),
      wallet.threshold(),
      cached?.domain ?? readDomain(wallet),
    ]);
    known.set(address, { creation, domain, nonce, owners, threshold: Number(threshold) });
    return { chainId: ctx.chainId, domain, owners, threshold: Number(threshold), nonce };
  }
  return sharedReads(read);
}

/** What the app server's reader reads: the chain at `rpcUrl`, the system's `addresses`, and how to read logs. */
export interface ReaderConfig extends LogScan {
  rpcUrl: string;
  addresses: SystemAddresses;
}

/** A reader for the chain at `rpcUrl` with the system `addresses` (the app server's config), one per config. */
export function rpcWalletReader(config: () => ReaderConfig): WalletReader {
  const readers = new Map<string, Promise<WalletReader>>();
  return async (address) => {
    const { rpcUrl, addresses, fromBlock, maxBlockRange } = config();
    const key = `${rpcUrl} ${JSON.stringify(addresses)} ${fromBlock} ${maxBlockRange}`;
    let reader = readers.get(key);
    if (reader === undefined) {
      const provider = new JsonRpcProvider(rpcUrl, undefined, { staticNetwork: true });
      reader = contextFor(provider, addresses).then((ctx) => walletViewReader(ctx, { fromBlock, maxBlockRange }));
      // A failed start (the RPC down) is retried on the next request.
      reader.catch(() => readers.delete(key));
      readers.set(key, reader);
    }
    return (await reader)(address);
  };
}

class TooLarge extends Error {}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? "0");
    if (declared > limit) return reject(new TooLarge());
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners("data");
        req.resume();
        reject(new TooLarge());
      } else chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function answer(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader("content-type", "application/json");
  res.setHeader("cache-control", "no-store");
  res.end(JSON.stringify(body));
}

/**
 * The queue's HTTP routes, as Connect middleware (Vite's `vite` and `vite preview` servers use it):
 * `GET /proposals/<wallet>` lists a wallet's proposals with its owners, threshold and nonce;
 * `POST /proposals` (a Proposal as JSON, at most {@link MAX_PROPOSAL_BODY} bytes) adds one or adds its
 * signatures to the stored one. A refusal is a 4xx with `{ error }`, one line; nothing is stored.
 */
export function proposalQueueMiddleware(queue: () => ProposalQueue) {
  return (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void): void => {
    const url = (req.url ?? "").split("?")[0]!;
    if (url !== QUEUE_PATH && !url.startsWith(`${QUEUE_PATH}/`)) return next();
    void handle(queue(), req, url).then(
      ([status, body]) => answer(res, status, body),
      () => answer(res, 500, { error: "the proposal queue failed" }),
    );
  };
}

async function handle(queue: ProposalQueue, req: IncomingMessage, url: string): Promise<[number, unknown]> {
  try {
    if (req.method === "GET" && url.startsWith(`${QUEUE_PATH}/`)) {
      return [200, await queue.list(decodeURIComponent(url.slice(QUEUE_PATH.length + 1)))];
    }
    if (req.method === "POST" && url === QUEUE_PATH) {
      if (!/^application\/json\b/.test(req.headers["content-type"] ?? "")) {
        return [415, { error: "post the proposal as application/json" }];
      }
      let body: unknown;
      try {
        body = JSON.parse(await readBody(req, MAX_PROPOSAL_BODY));
      } catch (error) {
        if (error instanceof TooLarge) return [413, { error: `the body is over ${MAX_PROPOSAL_BODY} bytes` }];
        return [400, { error: "the body is not JSON" }];
      }
      return [200, await queue.submit(body)];
    }
    return [405, { error: `${req.method} ${url} is not a route of the proposal queue` }];
  } catch (error) {
    if (error instanceof UserError || error instanceof URIError) return [400, { error: error.message.split("\n")[0] }];
    if (error instanceof QueueBusy) return [503, { error: error.message }];
    // A chain or disk fault: no internal text reaches the client.
    return [503, { error: "the proposal queue could not read the chain or its folder; try again" }];
  }
}
