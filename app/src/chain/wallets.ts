import type { Address, Hex, PublicClient } from "viem";
import { erc20Abi, zeroAddress } from "viem";
import type { Config } from "wagmi";
import { signTypedData, simulateContract, waitForTransactionReceipt, writeContract } from "wagmi/actions";

import { DeviceWallet__factory } from "../../../src/chain/factories";
import { EXECUTE_TYPES, sortOwners } from "../../../src/eip712/wallet";
import { parseProposal, proposalAuthorization, proposalMessage } from "../../../src/wallets/proposal";
import type { Proposal } from "../../../src/wallets/proposal";
import { actionCall, innerGasLimit, limitCall, newProposal } from "../../../src/wallets/propose";
import type { Asset } from "../../../src/wallets/assets";
import type { QueuedProposal, WalletQueue } from "../../../src/wallets/queue";

export type { QueuedProposal, WalletQueue };
import { readDomain } from "./contracts";

export const walletAbi = DeviceWallet__factory.abi;

export interface AssetState {
  asset: Asset;
  balance: bigint;
  limit: bigint;
  spentCurrentPeriod: bigint;
  available: bigint;
}

/** What the page reads of a wallet from the chain itself. */
export interface WalletChainState {
  deviceId: Hex;
  deviceKey: Address;
  frozen: boolean;
  period: number;
  threshold: number;
  ownerCount: number;
  nonce: bigint;
  assets: AssetState[];
}

/** ETH and the ThingToken: the two assets the page shows. */
export function pageAssets(token: Address): Asset[] {
  return [
    { address: zeroAddress, symbol: "ETH", decimals: 18 },
    { address: token, symbol: "THING", decimals: 18 },
  ];
}

/** A wallet's state, balances and per-asset limits (the contract's sliding window) from the chain. */
export async function readWallet(client: PublicClient, wallet: Address, token: Address): Promise<WalletChainState> {
  const read = <F extends "deviceId" | "deviceConfig" | "threshold" | "ownerCount" | "nonce">(functionName: F) =>
    client.readContract({ address: wallet, abi: walletAbi, functionName });
  const [deviceId, config, threshold, ownerCount, nonce] = await Promise.all([
    read("deviceId"),
    read("deviceConfig"),
    read("threshold"),
    read("ownerCount"),
    read("nonce"),
  ]);
  const assets = await Promise.all(
    pageAssets(token).map(async (asset): Promise<AssetState> => {
      const [balance, allowance] = await Promise.all([
        asset.address === zeroAddress
          ? client.getBalance({ address: wallet })
          : client.readContract({ address: token, abi: erc20Abi, functionName: "balanceOf", args: [wallet] }),
        client.readContract({
          address: wallet,
          abi: walletAbi,
          functionName: "allowance",
          args: [asset.address as Address],
        }),
      ]);
      const { limit, spentCurrentPeriod, available } = allowance;
      return { asset, balance, limit, spentCurrentPeriod, available };
    }),
  );
  return {
    deviceId,
    deviceKey: config.deviceKey,
    frozen: config.frozen,
    period: Number(config.period),
    threshold: Number(threshold),
    ownerCount: Number(ownerCount),
    nonce,
    assets,
  };
}

/** What the owners can propose from the page. */
export type PageAction =
  | { kind: "send"; asset: Asset; to: Address; amount: bigint }
  | { kind: "limit"; asset: Asset; limit: bigint }
  | { kind: "unfreeze" };

/**
 * A new, unsigned proposal for the wallet's next nonce, built with the CLI's own call builders; the inner
 * call's gas is estimated from the wallet, as `wallet:propose` does.
 */
export async function buildProposal(
  client: PublicClient,
  chainId: number,
  wallet: Address,
  nonce: bigint,
  action: PageAction,
): Promise<Proposal> {
  const call =
    action.kind === "limit"
      ? limitCall(wallet, action.asset, action.limit)
      : action.kind === "unfreeze"
        ? actionCall(wallet, { kind: "unfreeze" })
        : action.asset.address === zeroAddress
          ? actionCall(wallet, { kind: "call", to: action.to, value: action.amount, data: "0x" })
          : actionCall(wallet, { kind: "transfer", asset: action.asset, to: action.to, amount: action.amount });
  const estimate = await client.estimateGas({
    account: wallet,
    to: call.to as Address,
    value: call.value,
    data: call.data as Hex,
  });
  const code = await client.getCode({ address: call.to as Address });
  return newProposal(
    chainId,
    wallet,
    nonce,
    call,
    innerGasLimit(estimate, call.data, code !== undefined && code !== "0x"),
  );
}

/** The connected owner signs the proposal's EIP-712 `Execute` in the wallet's own domain; returns it signed. */
export async function signProposal(
  wagmi: Config,
  client: PublicClient,
  p: Proposal,
  owner: Address,
): Promise<Proposal> {
  const signature = await signTypedData(wagmi, {
    account: owner,
    domain: await readDomain(client, p.wallet as Address),
    types: EXECUTE_TYPES,
    primaryType: "Execute",
    message: { ...proposalMessage(p) },
  });
  return { ...p, signatures: { ...p.signatures, [owner]: signature } };
}

/**
 * Whether the wallet's execution at `nonce` ran its call successfully (its `Executed` event's `success`), or
 * undefined when no execution at that nonce is found.
 */
export async function executionOutcome(
  client: PublicClient,
  wallet: Address,
  nonce: bigint,
): Promise<boolean | undefined> {
  const logs = await client.getContractEvents({
    address: wallet,
    abi: walletAbi,
    eventName: "Executed",
    args: { nonce },
    fromBlock: 0n,
    strict: true,
  });
  return logs.length === 0 ? undefined : logs[logs.length - 1]!.args.success;
}

/**
 * Sends a wallet call from the connected account, simulated first, and waits for it. `gas` is passed as it
 * is (an execution's gas comes from its own inner gas limit: an estimate can fail on a call whose inner call
 * reverts).
 */
async function send(wagmi: Config, request: Parameters<typeof simulateContract>[1], gas?: bigint): Promise<Hex> {
  const simulated = await simulateContract(wagmi, request);
  const hash = await writeContract(wagmi, { ...simulated.request, gas } as Parameters<typeof writeContract>[1]);
  const receipt = await waitForTransactionReceipt(wagmi, { hash });
  if (receipt.status !== "success") throw new Error(`transaction ${hash} reverted`);
  return hash;
}

/** Anyone executes a proposal that carries the threshold's signatures (the auth built as the CLI builds it). */
export function executeProposal(
  wagmi: Config,
  chainId: number,
  account: Address,
  p: Proposal,
  owners: readonly string[],
  threshold: number,
): Promise<Hex> {
  const m = proposalMessage(p);
  // The inner call gets at least its gas limit (the wallet checks 63/64 of what is left): give it that plus
  // the wallet's own work (signature checks, calldata, the event), rather than an estimate.
  const gas = (m.gasLimit * 64n) / 63n + EXECUTE_OVERHEAD + BigInt(p.data.length) * 8n;
  return send(
    wagmi,
    {
      account,
      chainId,
      address: p.wallet as Address,
      abi: walletAbi,
      functionName: "execute",
      args: [
        m.to as Address,
        m.value,
        m.data as Hex,
        m.gasLimit,
        proposalAuthorization(p, owners, threshold, "the proposal") as Hex,
      ],
    },
    gas,
  );
}

/** Gas an execution uses besides its inner call: ample for 20 owners' signature checks. */
const EXECUTE_OVERHEAD = 250_000n;

/** Any single owner freezes the device key at once (`freezeDevice` with the whole owner set). */
export function freezeDevice(
  wagmi: Config,
  chainId: number,
  account: Address,
  wallet: Address,
  owners: readonly string[],
): Promise<Hex> {
  return send(wagmi, {
    account,
    chainId,
    address: wallet,
    abi: walletAbi,
    functionName: "freezeDevice",
    args: [sortOwners(owners) as Address[]],
  });
}

export class QueueError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
  ) {
    super(message);
    this.name = "QueueError";
  }
}

async function queueRequest<T>(path: string, init?: RequestInit): Promise<T> {
  let response: Response;
  try {
    response = await fetch(new URL(path, window.location.href), { cache: "no-store", ...init });
  } catch (error) {
    throw new QueueError(`The proposal queue is unreachable (${(error as Error).message}).`, null);
  }
  const body = (await response.json().catch(() => undefined)) as { error?: string } | undefined;
  if (!response.ok || body === undefined) {
    if (response.status === 404 || body === undefined)
      throw new QueueError("This app server keeps no proposal queue (serve the app with vite or vite preview).", 404);
    throw new QueueError(body.error ?? `The proposal queue answered HTTP ${response.status}.`, response.status);
  }
  return body as T;
}

/** The wallet's queued proposals, with its owners, threshold and nonce as the server read them. */
export function fetchQueue(wallet: string): Promise<WalletQueue> {
  return queueRequest<WalletQueue>(`proposals/${wallet}`);
}

/** Posts a proposal (new, or with more signatures): the server checks every signature before storing it. */
export function postProposal(p: Proposal): Promise<QueuedProposal> {
  return queueRequest<QueuedProposal>("proposals", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(p),
  });
}

/** A proposal file a user picked (from `wallet:propose` or a download), parsed as the CLI parses it. */
export async function proposalFromFile(file: File): Promise<Proposal> {
  let value: unknown;
  try {
    value = JSON.parse(await file.text());
  } catch {
    throw new Error(`${file.name} is not JSON: expected a wallet proposal file.`);
  }
  return parseProposal(value, file.name);
}
