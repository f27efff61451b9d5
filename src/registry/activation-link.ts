import { checkDeviceId } from "../devices/id";
import { UserError } from "../errors";
import { formatThing } from "../units";
import type { DeviceInfo } from "./device-info";

/*
 * The activation a device signed, as a link or QR payload (`#/activate/<deviceId>?owner=…&deadline=…&sig=…`),
 * and the plain words for why an activation cannot go through. Free of Node and of any provider: the
 * browser portal and the tools share them.
 */

/** A whitelisted device's proof, for a device not registered yet (registered from it in the same flow). */
export interface WhitelistProof {
  root: string;
  deviceType: number;
  deviceKey: string;
  proof: string[];
}

/** `Activate(deviceId, owner, deadline)` as the device signed it (65-byte signature), and its proof if any. */
export interface ActivationPayload {
  deviceId: string;
  owner: string;
  deadline: bigint;
  signature: string;
  whitelist?: WhitelistProof;
}

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const BYTES32 = /^0x[0-9a-fA-F]{64}$/;
const SIGNATURE = /^0x[0-9a-fA-F]{130}$/;
/** The latest time a date can show (JavaScript's limit, the year 275760), in seconds: a later deadline is a typo. */
export const MAX_DEADLINE = 8_640_000_000_000n;

/** The query string (no "?") that carries a payload: owner, deadline, sig, and root, type, key, proof. */
export function activationQuery(p: ActivationPayload): string {
  const q = new URLSearchParams({ owner: p.owner, deadline: p.deadline.toString(), sig: p.signature });
  if (p.whitelist !== undefined) {
    q.set("root", p.whitelist.root);
    q.set("type", String(p.whitelist.deviceType));
    q.set("key", p.whitelist.deviceKey);
    q.set("proof", p.whitelist.proof.join(","));
  }
  return q.toString();
}

/** The portal's route for a payload, to append to the app's URL: `#/activate/<id>?…`. */
export function activationLink(p: ActivationPayload): string {
  return `#/activate/${p.deviceId}?${activationQuery(p)}`;
}

/**
 * The payload a link's query carries for `deviceId`, or undefined when it carries none (a bare id: the
 * page then only shows the device). A malformed field is a one-line {@link UserError} naming it.
 */
export function parseActivationQuery(deviceId: string, query: string): ActivationPayload | undefined {
  const id = checkDeviceId(deviceId);
  const q = new URLSearchParams(query.startsWith("?") ? query.slice(1) : query);
  if (!q.has("sig") && !q.has("owner") && !q.has("deadline")) return undefined;
  const field = (name: string, pattern: RegExp, what: string): string => {
    const value = q.get(name) ?? "";
    if (!pattern.test(value)) throw new UserError(`the activation link's "${name}" is not ${what}`);
    return value;
  };
  const payload: ActivationPayload = {
    deviceId: id,
    owner: field("owner", ADDRESS, "an address"),
    deadline: BigInt(field("deadline", /^\d{1,20}$/, "a time in seconds")),
    signature: field("sig", SIGNATURE, "a 65-byte signature"),
  };
  if (payload.deadline > MAX_DEADLINE)
    throw new UserError(
      `the activation link's "deadline" ${payload.deadline} is not a time in seconds up to ${MAX_DEADLINE} (the year 275760)`,
    );
  if (q.has("root")) {
    const proof = (q.get("proof") ?? "").split(",").filter((p) => p !== "");
    if (!proof.every((p) => BYTES32.test(p)))
      throw new UserError(`the activation link's "proof" is not a list of 32-byte hashes`);
    payload.whitelist = {
      root: field("root", BYTES32, "a 32-byte root"),
      deviceType: Number(field("type", /^\d{1,10}$/, "a device type number")),
      deviceKey: field("key", ADDRESS, "an address"),
      proof,
    };
  }
  return payload;
}

/** What the portal knows before it sends anything. */
export interface ActivationCheck {
  info: DeviceInfo;
  payload?: ActivationPayload;
  /** The connected account, if any. */
  account?: string;
  /** The wallet's chain id, and the deployment's. */
  walletChainId?: number;
  chainId: number;
  /** The latest block's time, in seconds. */
  now: bigint;
  fee: bigint;
  maxFee: bigint;
  balance?: bigint;
}

/**
 * Why this activation cannot go through, in words an owner understands, or undefined when it can. The
 * order is the order in which an owner can act on them: the device first, then the network, then the
 * signature, then the money.
 */
export function activationProblem(c: ActivationCheck): string | undefined {
  const { info, payload } = c;
  if (info.status === "active") return `This device is already active (owner ${info.owner}).`;
  if (info.status === "revoked") return "This device was revoked by its manufacturer: it cannot be activated.";
  if (info.status === "unknown" && payload?.whitelist === undefined)
    return "This device is not registered, and its link carries no whitelist proof to register it from.";
  if (c.account !== undefined && c.walletChainId !== undefined && c.walletChainId !== c.chainId)
    return `Wrong network: your wallet is on chain ${c.walletChainId}, the registry is on chain ${c.chainId}. Switch network.`;
  if (payload === undefined) return "No signed activation: scan the device's QR code or open the link it shows.";
  if (payload.deadline <= c.now)
    return "The device's signature has expired: ask the device for a fresh activation link.";
  if (c.account !== undefined && payload.owner.toLowerCase() !== c.account.toLowerCase())
    return `The device signed this activation for ${payload.owner}, not for the connected account ${c.account}.`;
  if (c.fee > c.maxFee)
    return `The activation fee is ${formatThing(c.fee)}, above your maximum fee of ${formatThing(c.maxFee)}.`;
  if (c.balance !== undefined && c.balance < c.fee)
    return `The activation fee is ${formatThing(c.fee)} but this account holds ${formatThing(c.balance)}.`;
  return undefined;
}

const STATUS_WORDS = ["not registered", "only registered", "already active", "revoked"];

/** A registry revert during activation in plain words, by its custom error's name and arguments. */
export function explainActivationRevert(errorName: string, args: readonly unknown[] = []): string {
  switch (errorName) {
    case "UnexpectedDeviceStatus": {
      const words = STATUS_WORDS[Number(args[1] ?? 0)] ?? "in an unexpected state";
      return `The device is ${words}: it cannot be activated.`;
    }
    case "SignatureExpired":
      return "The signature has expired: ask the device for a fresh activation link.";
    case "FeeAboveMax":
      return `The activation fee ${formatThing(BigInt(String(args[0])))} is above your maximum fee of ${formatThing(BigInt(String(args[1])))}.`;
    case "InvalidDeviceSignature":
      return "The activation is not signed by this device's key.";
    case "InvalidOwnerConsent":
      return "The owner's payment consent does not match this activation.";
    case "DeviceNotRegistered":
      return "This device is not registered.";
    case "NotInWhitelist":
      return "The whitelist proof does not prove this device.";
    case "UnknownWhitelist":
      return "The whitelist named by the link is not committed on this network.";
    case "WhitelistCapacityExhausted":
      return "The whitelist has no capacity left.";
    case "ERC20InsufficientBalance":
      return "The owner's THING balance does not cover the fee.";
    case "ERC20InsufficientAllowance":
      return "The permit did not give the registry enough allowance for the fee.";
    default:
      return `The registry refused the activation (${errorName}).`;
  }
}

/**
 * An owner's gasless activation, for a relayer to submit with `activateDeviceWithPermit`: the device's signed
 * activation, the owner's EIP-2612 permit for `maxFee` and its `PayActivation` consent, both until
 * `ownerDeadline`. The relayer pays the gas; the fee comes from the owner. The portal shows it as JSON to hand
 * to any relayer (its Relay page submits it from a funded account) or sends it to a relayer service
 * (`relay:serve`, src/relay/).
 */
export interface RelayRequest {
  kind: "thingledger/relay-activation";
  chainId: number;
  /** The registry the owner signed for (its EIP-712 domain's address); absent in requests of older portals. */
  registry?: string;
  activation: string;
  maxFee: string;
  ownerDeadline: string;
  permit: string;
  consent: string;
}

/** A relay request as parsed JSON, fully checked, with its activation parsed; a one-line {@link UserError} if not one. */
export function relayRequestOf(json: unknown): { request: RelayRequest; payload: ActivationPayload } {
  const r = (typeof json === "object" && json !== null ? json : {}) as Partial<Record<keyof RelayRequest, unknown>>;
  if (r.kind !== "thingledger/relay-activation") throw new UserError("this is not a ThingLedger relay request");
  if (typeof r.chainId !== "number" || !Number.isSafeInteger(r.chainId) || r.chainId <= 0)
    throw new UserError(`the relay request's "chainId" is missing or malformed`);
  if (r.registry !== undefined && (typeof r.registry !== "string" || !ADDRESS.test(r.registry)))
    throw new UserError(`the relay request's "registry" is not an address`);
  for (const [name, pattern] of [
    ["maxFee", /^\d{1,78}$/],
    ["ownerDeadline", /^\d{1,20}$/],
    ["permit", SIGNATURE],
    ["consent", SIGNATURE],
  ] as const) {
    const value = r[name];
    if (typeof value !== "string" || !pattern.test(value))
      throw new UserError(`the relay request's "${name}" is missing or malformed`);
  }
  const [path, query] = String(r.activation ?? "").split("?");
  const deviceId = path.replace(/^#?\/activate\//, "");
  const payload = parseActivationQuery(deviceId, query ?? "");
  if (payload === undefined) throw new UserError("the relay request carries no signed activation");
  return { request: r as RelayRequest, payload };
}

/** A pasted relay request (text), as {@link relayRequestOf} checks it. */
export function parseRelayRequest(text: string): { request: RelayRequest; payload: ActivationPayload } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UserError("this is not a relay request: it is not JSON");
  }
  return relayRequestOf(json);
}
