import type { Address, Hex, PublicClient } from "viem";
import { BaseError, ContractFunctionRevertedError, parseSignature, toFunctionSelector, zeroHash } from "viem";
import type { Config } from "wagmi";
import { signTypedData, simulateContract, waitForTransactionReceipt, writeContract } from "wagmi/actions";
import type { SimulateContractParameters } from "wagmi/actions";

import { compact, PAY_ACTIVATION_TYPES } from "../../../src/eip712/device";
import { PERMIT_TYPES } from "../../../src/eip712/permit";
import type { ActivationPayload, RelayRequest } from "../../../src/registry/activation-link";
import { activationLink } from "../../../src/registry/activation-link";
import { chainNow, readDomain, registryAbi, tokenAbi } from "./contracts";

/** How long the owner's permit and payment consent stay good. */
const OWNER_WINDOW = 3600n;

export interface Deployment {
  chainId: number;
  registry: Address;
  token: Address;
}

interface Signed {
  maxFee: bigint;
  ownerDeadline: bigint;
  permit: Hex;
}

/** The owner's EIP-2612 permit: the registry may take up to `maxFee` of its THING until the deadline. */
async function signPermit(wagmi: Config, client: PublicClient, d: Deployment, owner: Address, maxFee: bigint) {
  const ownerDeadline = (await chainNow(client)) + OWNER_WINDOW;
  const nonce = await client.readContract({ address: d.token, abi: tokenAbi, functionName: "nonces", args: [owner] });
  const permit = await signTypedData(wagmi, {
    account: owner,
    domain: await readDomain(client, d.token),
    types: PERMIT_TYPES,
    primaryType: "Permit",
    message: { owner, spender: d.registry, value: maxFee, nonce, deadline: ownerDeadline },
  });
  return { maxFee, ownerDeadline, permit };
}

/**
 * Simulates a registry call first (a revert comes back with the registry's reason, which plainError words),
 * then sends it from the connected wallet and waits for it.
 */
async function send(wagmi: Config, request: SimulateContractParameters<typeof registryAbi>): Promise<Hex> {
  const simulated = await simulateContract(wagmi, request as Parameters<typeof simulateContract>[1]);
  const hash = await writeContract(wagmi, simulated.request as Parameters<typeof writeContract>[1]);
  const receipt = await waitForTransactionReceipt(wagmi, { hash });
  if (receipt.status !== "success") throw new Error(`transaction ${hash} reverted`);
  return hash;
}

/** The registry call that registers a whitelisted device from the link's proof (anyone may, no fee). */
function registerRequest(d: Deployment, p: ActivationPayload, w: NonNullable<ActivationPayload["whitelist"]>) {
  return {
    address: d.registry,
    abi: registryAbi,
    functionName: "registerFromWhitelist",
    args: [w.root as Hex, p.deviceId as Hex, w.deviceKey as Address, w.deviceType, w.proof as Hex[]],
    chainId: d.chainId,
  } as const;
}

/** A whitelisted device not registered yet is registered from its proof first (anyone may, no fee). */
async function registerFromProof(wagmi: Config, client: PublicClient, d: Deployment, p: ActivationPayload) {
  if (p.whitelist !== undefined) await send(wagmi, registerRequest(d, p, p.whitelist));
}

async function submit(
  wagmi: Config,
  client: PublicClient,
  d: Deployment,
  p: ActivationPayload,
  s: Signed,
  consent: Hex,
): Promise<Hex> {
  const [r, vs] = compact(p.signature) as [Hex, Hex];
  const permit = parseSignature(s.permit);
  return send(wagmi, {
    address: d.registry,
    abi: registryAbi,
    functionName: "activateDeviceWithPermit",
    args: [
      s.maxFee,
      p.deviceId as Hex,
      p.owner as Address,
      p.deadline,
      r,
      vs,
      s.ownerDeadline,
      Number(permit.v ?? BigInt(27 + (permit.yParity ?? 0))),
      permit.r,
      permit.s,
      consent,
    ],
    chainId: d.chainId,
  });
}

/** The token's refusal for want of an allowance (OpenZeppelin's ERC-6093 error), the one a permit will cure. */
const NO_ALLOWANCE = toFunctionSelector("ERC20InsufficientAllowance(address,uint256,uint256)");

function forWantOfAllowance(error: unknown): boolean {
  const reverted = error instanceof BaseError ? error.walk((e) => e instanceof ContractFunctionRevertedError) : null;
  return (
    reverted instanceof ContractFunctionRevertedError &&
    (reverted.data?.errorName === "ERC20InsufficientAllowance" || reverted.signature === NO_ALLOWANCE)
  );
}

/**
 * Every check of the activation, run before the owner is asked to sign, so a doomed activation never asks:
 * a whitelisted device's registration from its proof; else the activation itself with an empty permit (the
 * registry ignores a permit that fails, `tryPermit`), which then fails only at the payment, for want of the
 * allowance the owner's permit will give. Any other revert is the activation's own, thrown unsigned.
 */
async function preflight(wagmi: Config, d: Deployment, p: ActivationPayload, maxFee: bigint, register: boolean) {
  const w = p.whitelist;
  if (register && w !== undefined) {
    await simulateContract(wagmi, registerRequest(d, p, w));
    return;
  }
  const [r, vs] = compact(p.signature) as [Hex, Hex];
  try {
    await simulateContract(wagmi, {
      address: d.registry,
      abi: registryAbi,
      functionName: "activateDeviceWithPermit",
      args: [maxFee, p.deviceId as Hex, p.owner as Address, p.deadline, r, vs, 0n, 0, zeroHash, zeroHash, "0x"],
      chainId: d.chainId,
    });
  } catch (error) {
    if (!forWantOfAllowance(error)) throw error;
  }
}

/**
 * The owner activates its device and pays the fee with a permit: one signature, no approve transaction
 * (`activateDeviceWithPermit`, the caller being the owner needs no consent). `register` first registers a
 * whitelisted device from the link's proof. Everything is simulated before the owner is asked to sign.
 */
export async function activateWithPermit(
  wagmi: Config,
  client: PublicClient,
  d: Deployment,
  p: ActivationPayload,
  maxFee: bigint,
  register: boolean,
): Promise<Hex> {
  await preflight(wagmi, d, p, maxFee, register);
  const signed = await signPermit(wagmi, client, d, p.owner as Address, maxFee);
  if (register) await registerFromProof(wagmi, client, d, p);
  return submit(wagmi, client, d, p, signed, "0x");
}

/**
 * The owner signs, a relayer sends: the permit and the registry's `PayActivation(deviceId, owner, maxFee,
 * deadline)` consent, bundled with the device's activation for any account with ETH to submit. Simulated
 * first, as from the owner (a call costs no ETH), so a doomed activation asks for neither signature.
 */
export async function signRelayRequest(
  wagmi: Config,
  client: PublicClient,
  d: Deployment,
  p: ActivationPayload,
  maxFee: bigint,
  register: boolean,
): Promise<RelayRequest> {
  const owner = p.owner as Address;
  await preflight(wagmi, d, p, maxFee, register);
  const signed = await signPermit(wagmi, client, d, owner, maxFee);
  const consent = await signTypedData(wagmi, {
    account: owner,
    domain: await readDomain(client, d.registry),
    types: PAY_ACTIVATION_TYPES,
    primaryType: "PayActivation",
    message: { deviceId: p.deviceId, owner, maxFee, deadline: signed.ownerDeadline },
  });
  return {
    kind: "thingledger/relay-activation",
    chainId: d.chainId,
    registry: d.registry,
    activation: activationLink(p),
    maxFee: maxFee.toString(),
    ownerDeadline: signed.ownerDeadline.toString(),
    permit: signed.permit,
    consent,
  };
}

/** A relayer submits an owner's {@link RelayRequest} from the connected account, paying only the gas. */
export async function relay(
  wagmi: Config,
  client: PublicClient,
  d: Deployment,
  p: ActivationPayload,
  r: RelayRequest,
  register: boolean,
): Promise<Hex> {
  if (register) await registerFromProof(wagmi, client, d, p);
  const signed = { maxFee: BigInt(r.maxFee), ownerDeadline: BigInt(r.ownerDeadline), permit: r.permit as Hex };
  return submit(wagmi, client, d, p, signed, r.consent as Hex);
}
