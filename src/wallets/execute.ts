import type { Signer } from "ethers";
import { getAddress } from "ethers";

import type { DeviceWallet } from "../../typechain-types";
import type { SystemContext } from "../chain/context";
import { readDomain } from "../eip712/domain";
import { signExecute } from "../eip712/wallet";
import { UserError } from "../errors";
import { checkSignatures, ownerSigners, proposalAuthorization, proposalMessage } from "./proposal";
import { readProposal, writeProposal } from "./proposal-file";
import type { Proposal } from "./proposal";
import { ownerAmong, walletAt, walletOwners } from "./wallet";

/** Checks a proposal against the network: right chain, wallet exists, nonce not used, signatures its owners'. */
async function checkProposal(ctx: SystemContext, p: Proposal, label: string): Promise<DeviceWallet> {
  if (BigInt(p.chainId) !== ctx.chainId) {
    throw new UserError(`${label} is for chain ${p.chainId}, but network "${ctx.network}" is chain ${ctx.chainId}`);
  }
  const wallet = await walletAt(ctx, p.wallet);
  const current = await wallet.nonce();
  if (BigInt(p.nonce) < current) {
    throw new UserError(`${label} is stale: its nonce ${p.nonce} is already used (the wallet's nonce is ${current})`);
  }
  checkSignatures(p, await readDomain(wallet), label);
  return wallet;
}

export interface SignResult {
  file: string;
  wallet: string;
  signer: string;
  signatures: number;
  threshold: number;
  ready: boolean;
}

/** Adds `owner`'s signature to a proposal (in memory), after checking it against the network. */
export async function addSignature(
  ctx: SystemContext,
  p: Proposal,
  owner: Signer,
  label = "the proposal",
): Promise<SignResult> {
  const wallet = await checkProposal(ctx, p, label);
  const owners = await walletOwners(ctx, wallet);
  const signer = ownerAmong(owners, await owner.getAddress(), p.wallet);
  if (Object.keys(p.signatures).some((k) => getAddress(k) === signer)) {
    throw new UserError(`${signer} has already signed ${label}`);
  }
  p.signatures[signer] = await signExecute(owner, await readDomain(wallet), proposalMessage(p));
  const threshold = Number(await wallet.threshold());
  const signatures = ownerSigners(p, owners).length;
  return { file: label, wallet: p.wallet, signer, signatures, threshold, ready: signatures >= threshold };
}

/** Adds one owner's signature to a proposal file. */
export async function signProposal(ctx: SystemContext, file: string, owner: Signer): Promise<SignResult> {
  const p = readProposal(file);
  const result = await addSignature(ctx, p, owner, file);
  writeProposal(file, p);
  return result;
}

export interface ExecResult {
  wallet: string;
  nonce: bigint;
  to: string;
  value: bigint;
  /** Whether the inner call succeeded; the nonce is spent either way. */
  success: boolean;
  gasUsed: bigint;
  txHash: string;
}

/** Executes a proposal file that carries the threshold's signatures; `relayer` pays the gas. */
export async function executeProposal(ctx: SystemContext, file: string, relayer: Signer): Promise<ExecResult> {
  return execute(ctx, readProposal(file), relayer, file);
}

/** Executes a proposal (in memory) that carries the threshold's signatures. */
export async function execute(
  ctx: SystemContext,
  p: Proposal,
  relayer: Signer,
  label = "the proposal",
): Promise<ExecResult> {
  const wallet = (await checkProposal(ctx, p, label)).connect(relayer);
  const current = await wallet.nonce();
  if (BigInt(p.nonce) !== current) {
    throw new UserError(
      `${label} has nonce ${p.nonce}, but the wallet's next nonce is ${current}: execute that one first`,
    );
  }
  const owners = await walletOwners(ctx, wallet);
  const auth = proposalAuthorization(p, owners, Number(await wallet.threshold()), label);
  const m = proposalMessage(p);
  const tx = await wallet.execute(m.to, m.value, m.data, m.gasLimit, auth);
  const receipt = await tx.wait();
  if (receipt === null || receipt.status !== 1) throw new Error(`transaction ${tx.hash} failed`);
  const executed = receipt.logs
    .map((l) => (getAddress(l.address) === p.wallet ? wallet.interface.parseLog(l) : null))
    .find((l) => l?.name === "Executed");
  return {
    wallet: p.wallet,
    nonce: m.nonce,
    to: m.to,
    value: m.value,
    success: executed?.args.success === true,
    gasUsed: receipt.gasUsed,
    txHash: tx.hash,
  };
}
