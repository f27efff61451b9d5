import type { Signer, TypedDataDomain } from "ethers";
import { parseEther, parseUnits } from "ethers";

import type { randomDeviceKey } from "../devices/keystore";

import type { buildWhitelist } from "../merkle/whitelist";

import type { DeviceRegistry, ThingToken } from "../../typechain-types";

import type { runAccessSimulation } from "../channels/simulation";

import type { openAuditor } from "../reputation";

import type { SystemAddresses, SystemContext } from "../chain/context";

/** The system the demo runs on: a context, and the gas its deployment took (0 if it was there already). */
export type DemoSystem = SystemContext & { readonly gasUsed: bigint };

export interface DemoStep {
  step: number;
  title: string;
  detail: string;
  gasUsed: bigint;
}

export interface DemoResult {
  network: string;
  chainId: bigint;
  ephemeral: boolean;
  addresses: SystemAddresses;
  steps: DemoStep[];
  totalGas: bigint;
  seconds: number;
}

/** THING the first account hands out: the operator, the manufacturer's fees, two owners' activations. */
export const OPERATOR_THING = parseUnits("1000", 18);
export const MANUFACTURER_THING = parseUnits("5000", 18);
export const OWNER_THING = parseUnits("100", 18);
export const DEMO_THING = OPERATOR_THING + MANUFACTURER_THING + 2n * OWNER_THING;
/** ETH the first account puts into the first device wallet. */
export const WALLET_ETH = parseEther("0.1");
/** ETH each fresh cast member gets on a network without enough local accounts (a channel deposit and gas). */
export const CAST_ETH = parseEther("0.03");
export const CAST_SIZE = 7;

/** A fleet device: its key, unique id and type. */
export interface FleetDevice {
  uid: string;
  wallet: ReturnType<typeof randomDeviceKey>;
  deviceId: string;
  deviceKey: string;
  deviceType: number;
}

export type Simulation = Awaited<ReturnType<typeof runAccessSimulation>>;

/**
 * One run of the demo: the cast and contracts every step uses, the steps recorded so far, and what earlier
 * steps leave for later ones (set by the step that makes it, before any step that reads it).
 */
export class DemoRun {
  readonly steps: DemoStep[] = [];
  /** Run after the last step, or after a failing one: what the steps opened. */
  readonly cleanups: (() => Promise<void>)[] = [];
  makerInfo!: Awaited<ReturnType<DeviceRegistry["getManufacturer"]>>;
  fleet!: FleetDevice[];
  whitelist!: ReturnType<typeof buildWhitelist>;
  domain!: TypedDataDomain;
  activationFee!: bigint;
  wallet!: string;
  simulation!: Simulation;
  guests!: Simulation;
  auditorUrl!: string;
  auditorService!: Awaited<ReturnType<typeof openAuditor>>["service"];

  constructor(
    readonly system: DemoSystem,
    readonly cast: Cast,
    readonly token: ThingToken,
    readonly registry: DeviceRegistry,
    private readonly onStep: (step: DemoStep) => void,
  ) {}

  record(title: string, detail: string, gasUsed: bigint): void {
    const step = { step: this.steps.length + 1, title, detail, gasUsed };
    this.steps.push(step);
    this.onStep(step);
  }
}

export interface Cast {
  treasury: Signer;
  operator: Signer;
  service: Signer;
  manufacturer: Signer;
  ownerA: Signer;
  ownerB: Signer;
  auditor: Signer;
}
