import type { Signer } from "ethers";
import { Signature, hexlify, parseUnits, randomBytes } from "ethers";

import { nextBlockTime } from "../chain/time";
import { randomDeviceKey } from "../devices/keystore";
import { compact, identityClaimDigest, signActivation, signIdentityClaim } from "../eip712/device";
import { readDomain } from "../eip712/domain";
import { signPermit } from "../eip712/permit";
import { buildWhitelist } from "../merkle/whitelist";
import { deviceIdOf } from "../devices/fleet";
import { deviceTypeName } from "../devices/types";

import { formatThing } from "../units";
import type { DemoRun } from "./state";
import { MANUFACTURER_THING, OPERATOR_THING, OWNER_THING } from "./state";

// ---------------------------------------------------------------- the token

export async function deployed(d: DemoRun): Promise<void> {
  d.record(
    "Deploy the system",
    `ThingToken at ${await d.token.getAddress()}; fixed supply ${formatThing(await d.token.totalSupply())} held by the treasury ${await d.cast.treasury.getAddress()}`,
    d.system.gasUsed,
  );
}

export async function fundOperator(d: DemoRun): Promise<void> {
  const operator = await d.cast.operator.getAddress();
  const sent = await (await d.token.transfer(operator, OPERATOR_THING)).wait();
  d.record(
    "Fund a device operator",
    `treasury sends ${formatThing(OPERATOR_THING)} to operator ${operator}`,
    sent?.gasUsed ?? 0n,
  );
}

const ALLOWANCE = parseUnits("250", 18);

export async function permitOffline(d: DemoRun): Promise<void> {
  const operator = await d.cast.operator.getAddress();
  const service = await d.cast.service.getAddress();
  const deadline = (await nextBlockTime(d.system.provider)) + 3600n;
  const nonce = await d.token.nonces(operator);
  const signature = await signPermit(d.cast.operator, await readDomain(d.token), {
    owner: operator,
    spender: service,
    value: ALLOWANCE,
    nonce,
    deadline,
  });
  const { v, r, s } = Signature.from(signature);
  const permitted = await (
    await d.token.connect(d.cast.service).permit(operator, service, ALLOWANCE, deadline, v, r, s)
  ).wait();
  d.record(
    "Operator signs a permit offline; the service submits it",
    `operator holds no ETH for this: the service relays the EIP-2612 permit for ${formatThing(ALLOWANCE)}`,
    permitted?.gasUsed ?? 0n,
  );
}

export async function serviceCollects(d: DemoRun): Promise<void> {
  const operator = await d.cast.operator.getAddress();
  const service = await d.cast.service.getAddress();
  const pulled = await (await d.token.connect(d.cast.service).transferFrom(operator, service, ALLOWANCE)).wait();
  d.record(
    "The service collects its payment",
    `service pulls ${formatThing(ALLOWANCE)}; operator now holds ${formatThing(await d.token.balanceOf(operator))}`,
    pulled?.gasUsed ?? 0n,
  );
}

// ---------------------------------------------------------------- device identity

export async function admitManufacturer(d: DemoRun): Promise<void> {
  const maker = await d.cast.manufacturer.getAddress();
  d.makerInfo = await d.registry.getManufacturer(maker);
  if (d.makerInfo.active) {
    d.record(
      "The network admin admits a manufacturer",
      `manufacturer #${d.makerInfo.id} ${maker} was admitted by an earlier run on this network`,
      0n,
    );
    return;
  }
  const added = await (await d.registry.addManufacturer(maker, maker, 600)).wait();
  d.makerInfo = await d.registry.getManufacturer(maker);
  d.record(
    "The network admin admits a manufacturer",
    `manufacturer #${d.makerInfo.id} ${maker}, default reputation 600/1000`,
    added?.gasUsed ?? 0n,
  );
}

export async function fundManufacturer(d: DemoRun): Promise<void> {
  const funded = await (await d.token.transfer(await d.cast.manufacturer.getAddress(), MANUFACTURER_THING)).wait();
  d.record(
    "Fund the manufacturer",
    `treasury sends ${formatThing(MANUFACTURER_THING)} for registration fees`,
    funded?.gasUsed ?? 0n,
  );
}

/** A fleet of 1,000 fresh devices with unique ids of this run, and its whitelist. */
export function makeFleet(d: DemoRun): void {
  const run = Date.now().toString(36);
  d.fleet = Array.from({ length: 1000 }, (_, i) => {
    const wallet = randomDeviceKey();
    const uid = `DEMO-${run}-${String(i + 1).padStart(4, "0")}`;
    const deviceId = deviceIdOf(d.makerInfo.id, uid);
    return { uid, wallet, deviceId, deviceKey: wallet.address, deviceType: 1 + (i % 6) };
  });
  d.whitelist = buildWhitelist(d.fleet, Number(d.makerInfo.id));
}

export async function prepayFees(d: DemoRun): Promise<void> {
  makeFleet(d);
  const maker = await d.cast.manufacturer.getAddress();
  const deposit = (await d.registry.registrationFee()) * BigInt(d.fleet.length);
  const data = d.registry.interface.encodeFunctionData("depositFeeCredit", [maker, deposit]);
  const registry = await d.registry.getAddress();
  const credited = await (await d.token.connect(d.cast.manufacturer).approveAndCall(registry, deposit, data)).wait();
  d.record(
    "The manufacturer prepays registration fees in one approveAndCall",
    `${formatThing(deposit)} of fee credit for ${d.fleet.length} devices; the registry learns the payer from the token`,
    credited?.gasUsed ?? 0n,
  );
}

export async function commitFleet(d: DemoRun): Promise<void> {
  const fee = await d.registry.registrationFee();
  const committed = await (
    await d.registry
      .connect(d.cast.manufacturer)
      .commitWhitelist(fee, await d.registry.activationFee(), d.whitelist.root, d.fleet.length)
  ).wait();
  d.record(
    "Register a fleet of 1,000 devices by Merkle root",
    `one root ${d.whitelist.root.slice(0, 18)}…, paid capacity ${d.fleet.length}; each device registers when it first presents its proof (depth ${d.whitelist.entries[0].proof.length})`,
    committed?.gasUsed ?? 0n,
  );
  d.domain = await readDomain(d.registry);
  // The fee fixed for the root's devices when it was committed.
  d.activationFee = (await d.registry.getWhitelist(d.makerInfo.id, d.whitelist.root)).activationFee;
}

/** The device signs Activate(deviceId, owner, deadline); the owner pays and proves the leaf in one approveAndCall. */
async function activateForOwner(d: DemoRun, index: number, owner: Signer): Promise<bigint> {
  const ownerAddress = await owner.getAddress();
  const entry = d.whitelist.entries[index];
  const until = (await nextBlockTime(d.system.provider)) + 3600n;
  const signature = await signActivation(d.fleet[index].wallet, d.domain, {
    deviceId: d.fleet[index].deviceId,
    owner: ownerAddress,
    deadline: until,
  });
  const data = d.registry.interface.encodeFunctionData("activateFromWhitelist", [
    d.activationFee,
    d.whitelist.root,
    entry.deviceId,
    entry.deviceType,
    entry.proof,
    ownerAddress,
    until,
    ...compact(signature),
  ]);
  const registry = await d.registry.getAddress();
  const activated = await (await d.token.connect(owner).approveAndCall(registry, d.activationFee, data)).wait();
  return activated?.gasUsed ?? 0n;
}

export async function ownersActivate(d: DemoRun): Promise<void> {
  for (const [index, owner] of [
    [0, d.cast.ownerA],
    [1, d.cast.ownerB],
  ] as const) {
    const ownerAddress = await owner.getAddress();
    await (await d.token.transfer(ownerAddress, OWNER_THING)).wait();
    const device = d.fleet[index];
    const gasUsed = await activateForOwner(d, index, owner);
    d.record(
      `Owner activates ${device.uid} (${deviceTypeName(device.deviceType)})`,
      `the device signed Activate(deviceId, owner, deadline) with its own key; owner ${ownerAddress} paid ${formatThing(d.activationFee)} and the whitelist proof in one transaction`,
      gasUsed,
    );
  }
}

/** Two more devices, for the reputation story: they will buy access from fleet[0] and report on it. */
export async function activateMore(d: DemoRun): Promise<void> {
  const gasUsed = (await activateForOwner(d, 2, d.cast.ownerA)) + (await activateForOwner(d, 3, d.cast.ownerA));
  d.record(
    `Owner activates ${d.fleet[2].uid} and ${d.fleet[3].uid}`,
    "the same way: each device signs its activation, the owner pays in one approveAndCall",
    gasUsed,
  );
}

export async function peerValidates(d: DemoRun): Promise<void> {
  const device = d.fleet[0];
  const claim = { deviceId: device.deviceId, challenge: hexlify(randomBytes(32)) };
  const signature = await signIdentityClaim(device.wallet, d.domain, claim);
  const digest = identityClaimDigest(d.domain, claim);
  const valid = await d.registry.isValidDeviceSignature(device.deviceId, digest, signature);
  const view = await d.registry.getDevice(device.deviceId);
  d.record(
    "A peer validates a device",
    `${device.uid}: status active, manufacturer #${view.manufacturerId}, reputation ${view.score}/1000; its signed answer to a fresh challenge ${valid ? "checks out" : "FAILS"} (a view: no gas)`,
    0n,
  );
}
