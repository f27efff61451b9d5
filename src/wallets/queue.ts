import fs from "node:fs";
import path from "node:path";

import type { TypedDataDomain } from "ethers";
import { getAddress, isAddress } from "ethers";

import { UserError } from "../errors";
import { checkSignatureForm, checkSignatures, ownerSigners, parseProposal, proposalDigest } from "./proposal";
import type { Proposal } from "./proposal";
import { readProposal, writeProposal } from "./proposal-file";

/**
 * The proposal queue the app server keeps so that owners in different browsers sign the same proposal: one
 * file per proposal, `<dir>/<wallet>/<nonce>-<digest>.json`, in the CLI's Proposal format (so `wallet:sign`
 * and `wallet:exec` take the files as they are), written atomically. Every signature posted is checked
 * against the chain before anything is stored: it must recover to the address it is listed under, over that
 * very proposal in the wallet's EIP-712 domain, and that address must be an owner of the wallet now. What
 * needs no chain is checked first (the proposal's shape, a signature at all, each signature's form, and, for a
 * wallet read before, its chain and domain), so that garbage costs no RPC call; and the queue's chain reads
 * are capped (at most {@link MAX_CHAIN_READS} at once, {@link MAX_WAITING_READS} waiting, then 503).
 */

/** What the queue reads of a wallet on chain (see {@link walletViewReader} for the provider-backed one). */
export interface WalletView {
  chainId: bigint;
  domain: TypedDataDomain;
  owners: string[];
  threshold: number;
  /** The wallet's next nonce: proposals below it are spent (executed, or replaced by another). */
  nonce: bigint;
}

/** Reads a wallet's view; throws a UserError when the address is not a device wallet. */
export type WalletReader = (wallet: string) => Promise<WalletView>;

export type ProposalStatus = "pending" | "ready" | "spent";

/** A queued proposal as the queue answers it. */
export interface QueuedProposal {
  /** The EIP-712 digest the owners sign: the proposal's id. */
  id: string;
  /** The file's name in the wallet's folder. */
  file: string;
  status: ProposalStatus;
  /** The owners whose signatures it carries (current owners only), increasing. */
  signers: string[];
  proposal: Proposal;
}

export interface WalletQueue {
  wallet: string;
  owners: string[];
  threshold: number;
  nonce: string;
  proposals: QueuedProposal[];
}

/**
 * How far ahead of the wallet's nonce a proposal may wait: the queue takes nonces from the wallet's nonce to
 * that plus this, so owners can line up a few executions; further ahead is refused.
 */
export const MAX_NONCE_AHEAD = 5;

/** The most wallet reads (chain work) the queue runs at once, over all wallets. */
export const MAX_CHAIN_READS = 4;

/** The most wallet reads that wait for one of those; a request beyond them is refused (503, "busy"). */
export const MAX_WAITING_READS = 16;

/** The most wallets whose EIP-712 domain and chain the queue remembers, to check signatures before any read. */
const KNOWN_WALLETS = 1_000;

/** The queue's chain reads are at their cap: the HTTP layer answers 503 with this one line. */
export class QueueBusy extends Error {}

/** The chain limits of a queue (tests lower them). */
export interface QueueLimits {
  maxChainReads?: number;
  maxWaitingReads?: number;
}

/** The most proposals a wallet keeps waiting (nonce not spent yet): a bound on what a stranger can store. */
export const MAX_PENDING = 50;

/** The most bytes of waiting proposal files a wallet keeps (besides their count). */
export const MAX_PENDING_BYTES = 256 * 1024;

export class ProposalQueue {
  /** Posts are applied one at a time (read, merge, write), so two owners signing at once both count. */
  private tail: Promise<unknown> = Promise.resolve();

  /** The domain and chain of wallets read before (they never change): signatures are checked before a read. */
  private readonly known = new Map<string, { chainId: bigint; domain: TypedDataDomain }>();
  private readonly read: WalletReader;

  constructor(
    readonly dir: string,
    read: WalletReader,
    limits: QueueLimits = {},
  ) {
    this.read = capped(read, limits.maxChainReads ?? MAX_CHAIN_READS, limits.maxWaitingReads ?? MAX_WAITING_READS);
  }

  /** Reads a wallet (through the cap) and remembers its domain and chain. */
  private async view(wallet: string): Promise<WalletView> {
    const view = await this.read(wallet);
    if (!this.known.has(wallet)) {
      if (this.known.size >= KNOWN_WALLETS) this.known.delete(this.known.keys().next().value!);
      this.known.set(wallet, { chainId: view.chainId, domain: view.domain });
    }
    return view;
  }

  /** A wallet's folder (the address checksummed, so one wallet has one folder). */
  folderOf(wallet: string): string {
    return path.join(this.dir, getAddress(wallet));
  }

  /**
   * A wallet's proposals, each with its status against the wallet's nonce: the waiting ones first, in the order
   * they can execute (lowest nonce first), then the spent ones, newest first.
   */
  async list(wallet: string): Promise<WalletQueue> {
    if (!isAddress(wallet)) throw new UserError(`"${wallet}" is not an address`);
    const view = await this.view(getAddress(wallet));
    const proposals = this.files(wallet).map((file) => this.entry(file, readProposal(file), view));
    // Waiting before spent; waiting by increasing nonce, spent by decreasing nonce; then by id.
    const key = (q: QueuedProposal) => {
      const n = BigInt(q.proposal.nonce);
      return n >= view.nonce ? n : -n - 1n;
    };
    proposals.sort((a, b) => {
      const [ka, kb] = [key(a), key(b)];
      if (ka < 0n !== kb < 0n) return ka < 0n ? 1 : -1;
      return ka < kb ? -1 : ka > kb ? 1 : a.id.localeCompare(b.id);
    });
    return {
      wallet: getAddress(wallet),
      owners: view.owners,
      threshold: view.threshold,
      nonce: view.nonce.toString(),
      proposals,
    };
  }

  /**
   * Adds a proposal (carrying at least one owner's signature), or merges its signatures into the stored one
   * with the same content. Refuses (UserError, nothing stored) malformed input, another chain, a spent nonce
   * or one more than {@link MAX_NONCE_AHEAD} ahead, and any signature that is not an owner's over this
   * proposal in the wallet's domain. Everything that needs no chain is checked before the wallet is read.
   */
  submit(body: unknown): Promise<QueuedProposal> {
    const run = this.tail.then(() => this.apply(body));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async apply(body: unknown): Promise<QueuedProposal> {
    const p = parseProposal(body, "the proposal");
    // Only owners open proposals (a stranger cannot fill the wallet's queue), and a post without a signature
    // adds nothing: refused before any chain work, as is a signature that recovers to no key at all.
    if (Object.keys(p.signatures).length === 0) {
      throw new UserError("a new proposal needs an owner's signature: sign it first (wallet:sign, or the page)");
    }
    checkSignatureForm(p, "the proposal");
    const known = this.known.get(p.wallet);
    if (known !== undefined) {
      checkChain(p, known.chainId);
      checkSignatures(p, known.domain, "the proposal");
    }
    const view = await this.view(p.wallet);
    checkChain(p, view.chainId);
    const last = view.nonce + BigInt(MAX_NONCE_AHEAD);
    if (BigInt(p.nonce) < view.nonce) {
      throw new UserError(`the proposal's nonce ${p.nonce} is already spent (the wallet's nonce is ${view.nonce})`);
    }
    if (BigInt(p.nonce) > last) {
      throw new UserError(
        `the proposal's nonce ${p.nonce} is too far ahead: the wallet's nonce is ${view.nonce}, and the queue takes nonces ${view.nonce} to ${last}`,
      );
    }
    checkSignatures(p, view.domain, "the proposal");
    const owners = new Set(view.owners.map((o) => getAddress(o)));
    for (const signer of Object.keys(p.signatures)) {
      if (!owners.has(signer)) throw new UserError(`${signer} signed the proposal but is not an owner of ${p.wallet}`);
    }
    const id = proposalDigest(p, view.domain);
    // One file per digest: the stored one with this digest, whatever its name, else `<nonce>-<digest>.json`.
    const file =
      this.files(p.wallet).find((f) => f.endsWith(`-${id}.json`)) ??
      path.join(this.folderOf(p.wallet), `${BigInt(p.nonce)}-${id}.json`);
    let stored = p;
    if (fs.existsSync(file)) {
      const before = readProposal(file);
      stored = { ...before, signatures: { ...before.signatures, ...p.signatures } };
    } else if (this.pending(p.wallet, view.nonce).length >= MAX_PENDING) {
      throw new UserError(
        `wallet ${p.wallet} already has ${MAX_PENDING} proposals waiting; execute or drop some first`,
      );
    }
    const held = this.pending(p.wallet, view.nonce)
      .filter((f) => f !== file)
      .reduce((sum, f) => sum + fs.statSync(f).size, 0);
    if (held + proposalBytes(stored) > MAX_PENDING_BYTES) {
      throw new UserError(
        `wallet ${p.wallet} already holds ${held} bytes of waiting proposals (at most ${MAX_PENDING_BYTES}); execute or drop some first`,
      );
    }
    writeProposal(file, stored);
    return this.entry(file, stored, view);
  }

  private files(wallet: string): string[] {
    const folder = this.folderOf(wallet);
    if (!fs.existsSync(folder)) return [];
    return fs
      .readdirSync(folder)
      // Canonical nonces only (a file with another spelling is not the queue's and is left alone).
      .filter((f) => /^(0|[1-9]\d*)-0x[0-9a-f]{64}\.json$/.test(f))
      .map((f) => path.join(folder, f));
  }

  private pending(wallet: string, nonce: bigint): string[] {
    return this.files(wallet).filter((f) => BigInt(path.basename(f).split("-")[0]!) >= nonce);
  }

  private entry(file: string, p: Proposal, view: WalletView): QueuedProposal {
    const signers = ownerSigners(p, view.owners);
    const status: ProposalStatus =
      BigInt(p.nonce) < view.nonce ? "spent" : signers.length >= view.threshold ? "ready" : "pending";
    return { id: proposalDigest(p, view.domain), file: path.basename(file), status, signers, proposal: p };
  }
}

function checkChain(p: Proposal, chainId: bigint): void {
  if (BigInt(p.chainId) !== chainId) {
    throw new UserError(`the proposal is for chain ${p.chainId}, but this app serves chain ${chainId}`);
  }
}

/**
 * `read` with at most `running` reads at once over all wallets and at most `waiting` more queued behind them;
 * one more is refused with {@link QueueBusy}. Requests for a wallet already being read (or queued) share it.
 */
function capped(read: WalletReader, running: number, waiting: number): WalletReader {
  let active = 0;
  const queued: (() => void)[] = [];
  async function run(wallet: string): Promise<WalletView> {
    if (active < running) active++;
    else if (queued.length < waiting) await new Promise<void>((resolve) => queued.push(resolve));
    else {
      throw new QueueBusy(
        `the proposal queue is busy (${running} chain reads running, ${waiting} waiting); try again shortly`,
      );
    }
    try {
      return await read(wallet);
    } finally {
      // The slot passes to the first waiting read, or frees.
      const next = queued.shift();
      if (next !== undefined) next();
      else active--;
    }
  }
  return sharedReads(run);
}

/** `read` with concurrent calls for one wallet sharing one call. */
export function sharedReads(read: WalletReader): WalletReader {
  const inFlight = new Map<string, Promise<WalletView>>();
  return (wallet) => {
    let pending = inFlight.get(wallet);
    if (pending === undefined) {
      pending = read(wallet).finally(() => inFlight.delete(wallet));
      inFlight.set(wallet, pending);
    }
    return pending;
  };
}

/** About the bytes a proposal's file takes (its JSON as `writeProposal` writes it). */
function proposalBytes(p: Proposal): number {
  return Buffer.byteLength(`${JSON.stringify(p, null, 2)}\n`);
}
