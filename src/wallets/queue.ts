import fs from "node:fs";
import path from "node:path";

import type { TypedDataDomain } from "ethers";
import { getAddress, isAddress } from "ethers";

import { UserError } from "../errors";
import { checkSignatureForm, checkSignatures, ownerSigners, parseProposal, proposalDigest } from "./proposal";
import type { Proposal } from "./proposal";
import { readProposal, writeProposal } from "./proposal-file";
import { MAX_OWNERS } from "./wallet";

/**
 * The proposal queue the app server keeps so that owners in different browsers sign the same proposal: one
 * file per proposal, `<dir>/<wallet>/<nonce>-<digest>.json`, in the CLI's Proposal format (so `wallet:sign`
 * and `wallet:exec` take the files as they are), written atomically. Every signature posted is checked
 * against the chain before anything is stored: it must recover to the address it is listed under, over that
 * very proposal in the wallet's EIP-712 domain, and that address must be an owner of the wallet now. What
 * needs no chain is checked first (the proposal's shape, a signature at all, each signature's form, and, for a
 * wallet read before, its chain and domain), so that garbage costs no RPC call; and the queue's chain reads
 * are capped: unknown wallets (discovery) at most {@link MAX_CHAIN_READS} at once, {@link MAX_WAITING_READS}
 * waiting, then 503; known wallets under their own cap ({@link MAX_KNOWN_READS}, {@link MAX_WAITING_KNOWN_READS}).
 * A stored proposal is one file per EIP-712 digest; each owner has a share of the wallet's waiting proposals.
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

/** The most reads of wallets the queue does not know yet (discovery, the costly kind) it runs at once. */
export const MAX_CHAIN_READS = 4;

/** The most discovery reads that wait for one of those; a request beyond them is refused (503, "busy"). */
export const MAX_WAITING_READS = 16;

/** The most reads of known wallets (domain and chain read before) at once: a cap of their own, beside discovery's. */
export const MAX_KNOWN_READS = 8;

/** The most reads of known wallets waiting for one of those; beyond them, 503 ("busy"). */
export const MAX_WAITING_KNOWN_READS = 32;

/** The most wallets whose EIP-712 domain and chain the queue remembers, to check signatures before any read. */
const KNOWN_WALLETS = 1_000;

/** The queue's chain reads are at their cap: the HTTP layer answers 503 with this one line. */
export class QueueBusy extends Error {}

/** The chain limits of a queue (tests lower them). */
export interface QueueLimits {
  maxChainReads?: number;
  maxWaitingReads?: number;
  maxKnownReads?: number;
  maxWaitingKnownReads?: number;
}

/** The most proposals a wallet keeps waiting (nonce not spent yet): a bound on what a stranger can store. */
export const MAX_PENDING = 50;

/** The most bytes of waiting proposal files a wallet keeps (besides their count). */
export const MAX_PENDING_BYTES = 256 * 1024;

/** The most waiting proposals one owner (their proposer) keeps in a wallet, within {@link MAX_PENDING}. */
export const MAX_PENDING_PER_OWNER = 10;

/** The most bytes of waiting proposals one owner (their proposer) keeps in a wallet, within the wallet's. */
export const MAX_PENDING_BYTES_PER_OWNER = 64 * 1024;

export class ProposalQueue {
  /** The domain and chain of wallets read before (they never change): signatures are checked before a read. */
  private readonly known = new Map<string, { chainId: bigint; domain: TypedDataDomain }>();
  /** Reads of wallets not known yet (discovery: code check, log scans), under the smaller cap. */
  private readonly discover: WalletReader;
  /** Reads of known wallets (a `nonce()` call, owners again only after an execution), under their own cap. */
  private readonly refresh: WalletReader;

  constructor(
    readonly dir: string,
    read: WalletReader,
    limits: QueueLimits = {},
  ) {
    this.discover = capped(read, limits.maxChainReads ?? MAX_CHAIN_READS, limits.maxWaitingReads ?? MAX_WAITING_READS);
    this.refresh = capped(
      read,
      limits.maxKnownReads ?? MAX_KNOWN_READS,
      limits.maxWaitingKnownReads ?? MAX_WAITING_KNOWN_READS,
    );
  }

  /**
   * Reads a wallet and remembers its domain and chain. A known wallet is read under its own cap, so discovery of
   * unknown addresses (each maybe a long log scan) cannot take the places of owners of wallets already served.
   */
  private async view(wallet: string): Promise<WalletView> {
    const view = await (this.known.has(wallet) ? this.refresh : this.discover)(wallet);
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
  async submit(body: unknown): Promise<QueuedProposal> {
    const p = this.checkChainFree(body);
    const view = await this.view(p.wallet);
    return this.store(p, view);
  }

  /**
   * What a post needs no chain for, before it takes any place in the chain-read cap: its shape, one to
   * {@link MAX_OWNERS} signatures (counted before any key is recovered), each signature's form, and, for a wallet
   * read before, its chain and domain.
   */
  private checkChainFree(body: unknown): Proposal {
    const p = parseProposal(body, "the proposal");
    // Only owners open proposals (a stranger cannot fill the wallet's queue), and a post without a signature
    // adds nothing: refused before any chain work, as is a signature that recovers to no key at all.
    const count = Object.keys(p.signatures).length;
    if (count === 0) {
      throw new UserError("a new proposal needs an owner's signature: sign it first (wallet:sign, or the page)");
    }
    if (count > MAX_OWNERS) {
      throw new UserError(`the proposal carries ${count} signatures, but a wallet has at most ${MAX_OWNERS} owners`);
    }
    checkSignatureForm(p, "the proposal");
    const known = this.known.get(p.wallet);
    if (known !== undefined) {
      checkChain(p, known.chainId);
      checkSignatures(p, known.domain, "the proposal");
    }
    return p;
  }

  /**
   * Checks a post against the wallet's view and stores it. Synchronous from the first file read to the write,
   * so two posts never interleave (two owners signing at once both count; two posts racing for the last slot:
   * one is stored) and no post waits in a line behind another's chain read.
   */
  private store(p: Proposal, view: WalletView): QueuedProposal {
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
      // Signatures added to a stored proposal are never refused for size: its growth is bounded by the owners.
      const before = readProposal(file);
      stored = { ...before, signatures: { ...before.signatures, ...p.signatures } };
    } else {
      this.checkRoom(p, view);
    }
    writeProposal(file, stored);
    return this.entry(file, stored, view);
  }

  /**
   * Whether a new proposal fits: at most {@link MAX_PENDING} proposals and {@link MAX_PENDING_BYTES} bytes waiting
   * per wallet, and within those at most {@link MAX_PENDING_PER_OWNER} and {@link MAX_PENDING_BYTES_PER_OWNER}
   * per proposer (the owner whose signature comes first in the post that stored it, kept first in its file), so
   * one owner cannot take every place.
   */
  private checkRoom(p: Proposal, view: WalletView): void {
    const waiting = this.pending(p.wallet, view.nonce);
    if (waiting.length >= MAX_PENDING) {
      throw new UserError(
        `wallet ${p.wallet} already has ${MAX_PENDING} proposals waiting; execute or drop some first`,
      );
    }
    const proposer = Object.keys(p.signatures)[0]!;
    const bytes = proposalBytes(p);
    let held = 0;
    let own = 0;
    let ownBytes = 0;
    for (const f of waiting) {
      const size = fs.statSync(f).size;
      held += size;
      if (Object.keys(readProposal(f).signatures)[0] === proposer) {
        own++;
        ownBytes += size;
      }
    }
    if (own >= MAX_PENDING_PER_OWNER) {
      throw new UserError(
        `${proposer} already has ${own} proposals waiting in wallet ${p.wallet} (at most ${MAX_PENDING_PER_OWNER} per owner); execute some first`,
      );
    }
    if (ownBytes + bytes > MAX_PENDING_BYTES_PER_OWNER) {
      throw new UserError(
        `${proposer} already holds ${ownBytes} bytes of waiting proposals in wallet ${p.wallet} (at most ${MAX_PENDING_BYTES_PER_OWNER} per owner); execute some first`,
      );
    }
    if (held + bytes > MAX_PENDING_BYTES) {
      throw new UserError(
        `wallet ${p.wallet} already holds ${held} bytes of waiting proposals (at most ${MAX_PENDING_BYTES}); execute or drop some first`,
      );
    }
  }

  private files(wallet: string): string[] {
    const folder = this.folderOf(wallet);
    if (!fs.existsSync(folder)) return [];
    return (
      fs
        .readdirSync(folder)
        // Canonical nonces only (a file with another spelling is not the queue's and is left alone).
        .filter((f) => /^(0|[1-9]\d*)-0x[0-9a-f]{64}\.json$/.test(f))
        .map((f) => path.join(folder, f))
    );
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
