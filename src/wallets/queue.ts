import fs from "node:fs";
import path from "node:path";

import type { TypedDataDomain } from "ethers";
import { getAddress, isAddress } from "ethers";

import { UserError } from "../errors";
import { checkSignatures, ownerSigners, parseProposal, proposalDigest } from "./proposal";
import type { Proposal } from "./proposal";
import { readProposal, writeProposal } from "./proposal-file";

/**
 * The proposal queue the app server keeps so that owners in different browsers sign the same proposal: one
 * file per proposal, `<dir>/<wallet>/<nonce>-<digest>.json`, in the CLI's Proposal format (so `wallet:sign`
 * and `wallet:exec` take the files as they are), written atomically. Every signature posted is checked
 * against the chain before anything is stored: it must recover to the address it is listed under, over that
 * very proposal in the wallet's EIP-712 domain, and that address must be an owner of the wallet now.
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

/** The most proposals a wallet keeps waiting (nonce not spent yet): a bound on what a stranger can store. */
export const MAX_PENDING = 50;

/** The most bytes of waiting proposal files a wallet keeps (besides their count). */
export const MAX_PENDING_BYTES = 256 * 1024;

export class ProposalQueue {
  /** Posts are applied one at a time (read, merge, write), so two owners signing at once both count. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    readonly dir: string,
    private readonly read: WalletReader,
  ) {}

  /** A wallet's folder (the address checksummed, so one wallet has one folder). */
  folderOf(wallet: string): string {
    return path.join(this.dir, getAddress(wallet));
  }

  /** A wallet's proposals, newest nonce first, each with its status against the wallet's nonce. */
  async list(wallet: string): Promise<WalletQueue> {
    if (!isAddress(wallet)) throw new UserError(`"${wallet}" is not an address`);
    const view = await this.read(getAddress(wallet));
    const proposals = this.files(wallet).map((file) => this.entry(file, readProposal(file), view));
    proposals.sort((a, b) => Number(BigInt(b.proposal.nonce) - BigInt(a.proposal.nonce)) || a.id.localeCompare(b.id));
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
   * with the same content. Refuses (UserError, nothing stored) malformed input, another chain, a spent nonce,
   * and any signature that is not an owner's over this proposal in the wallet's domain.
   */
  submit(body: unknown): Promise<QueuedProposal> {
    const run = this.tail.then(() => this.apply(body));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async apply(body: unknown): Promise<QueuedProposal> {
    const p = parseProposal(body, "the proposal");
    const view = await this.read(p.wallet);
    if (BigInt(p.chainId) !== view.chainId) {
      throw new UserError(`the proposal is for chain ${p.chainId}, but this app serves chain ${view.chainId}`);
    }
    if (BigInt(p.nonce) < view.nonce) {
      throw new UserError(`the proposal's nonce ${p.nonce} is already spent (the wallet's nonce is ${view.nonce})`);
    }
    checkSignatures(p, view.domain, "the proposal");
    const owners = new Set(view.owners.map((o) => getAddress(o)));
    for (const signer of Object.keys(p.signatures)) {
      if (!owners.has(signer)) throw new UserError(`${signer} signed the proposal but is not an owner of ${p.wallet}`);
    }
    const id = proposalDigest(p, view.domain);
    const file = path.join(this.folderOf(p.wallet), `${p.nonce}-${id}.json`);
    let stored = p;
    if (fs.existsSync(file)) {
      const before = readProposal(file);
      stored = { ...before, signatures: { ...before.signatures, ...p.signatures } };
    } else if (Object.keys(p.signatures).length === 0) {
      // Only owners open proposals: a stranger cannot fill the wallet's queue.
      throw new UserError("a new proposal needs an owner's signature: sign it first (wallet:sign, or the page)");
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
      .filter((f) => /^\d+-0x[0-9a-f]{64}\.json$/.test(f))
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

/** About the bytes a proposal's file takes (its JSON as `writeProposal` writes it). */
function proposalBytes(p: Proposal): number {
  return Buffer.byteLength(`${JSON.stringify(p, null, 2)}\n`);
}
