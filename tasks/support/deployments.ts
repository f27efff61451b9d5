import fs from "node:fs";
import path from "node:path";

import type { DeploymentParameters } from "@nomicfoundation/ignition-core";
import { isAddress } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types";

import ThingLedgerModule from "../../deploy/modules/ThingLedger";
import { ALL_CONTRACTS, SYSTEM_CONTRACTS, registryAt } from "../../src/chain/context";
import type { SystemAddresses, SystemContext, SystemContract } from "../../src/chain/context";
import { LIVE_NETWORKS, liveNetwork, verifyApiKey } from "./networks";
import { UserError } from "../../src/errors";
import { signerAt } from "./signers";

/** The Hardhat side of the library's {@link SystemContext}: the system as deployed on `hre`'s network. */
export interface System extends SystemContext {
  /** Gas spent by the deployment that produced this view (0 when nothing had to be deployed). */
  readonly gasUsed: bigint;
}

/** What is cached per network: everything but the provider, which belongs to each `hre`. */
type SystemRecord = Omit<System, "provider">;

/**
 * Systems already loaded in this process, by network name: a task run from code (`hre.run`) may receive
 * another environment object than its caller, but it is the same network.
 */
const cache = new Map<string, Promise<SystemRecord>>();

/** Ignition deployment id used for the address book: `THINGLEDGER_DEPLOYMENT_ID` or `chain-<id>`. */
export function deploymentId(chainId: bigint): string {
  return process.env.THINGLEDGER_DEPLOYMENT_ID ?? `chain-${chainId}`;
}

export function deploymentDir(hre: HardhatRuntimeEnvironment, chainId: bigint): string {
  return path.join(hre.config.paths.ignition, "deployments", deploymentId(chainId));
}

/** The parameters file of a network: `deploy/parameters/<network>.json`. */
export function parametersPath(hre: HardhatRuntimeEnvironment): string {
  return path.join(hre.config.paths.ignition, "parameters", `${hre.network.name}.json`);
}

export function deployCommand(network: string): string {
  return `npx hardhat deploy --network ${network}`;
}

async function chainIdOf(hre: HardhatRuntimeEnvironment): Promise<bigint> {
  return (await hre.ethers.provider.getNetwork()).chainId;
}

/** Reads and checks a network's parameters file, failing with one line that names the problem. */
export function readParameters(file: string): DeploymentParameters {
  if (!fs.existsSync(file)) {
    throw new UserError(
      `no deployment parameters at ${path.relative(process.cwd(), file)}: copy deploy/parameters/sepolia.example.json there and set the treasury and admin`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (error) {
    throw new UserError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null) {
    throw new UserError(`${file} must hold a JSON object of module parameters`);
  }
  // Ignition's convention: a string like "1000n" in a parameters file is a bigint.
  const params = JSON.parse(JSON.stringify(parsed), (_key, v: unknown) =>
    typeof v === "string" && /^\d+n$/.test(v) ? BigInt(v.slice(0, -1)) : v,
  ) as DeploymentParameters;
  for (const [module, key] of [
    ["ThingToken", "treasury"],
    ["DeviceRegistry", "admin"],
  ] as const) {
    const value = params[module]?.[key];
    if (typeof value !== "string" || !isAddress(value)) {
      throw new UserError(`${file}: ${module}.${key} must be an address, got ${JSON.stringify(value)}`);
    }
  }
  return params;
}

async function ignitionDeploy(
  hre: HardhatRuntimeEnvironment,
  parameters: DeploymentParameters,
  displayUi: boolean,
): Promise<SystemAddresses> {
  const chainId = await chainIdOf(hre);
  const deployed = await hre.ignition.deploy(ThingLedgerModule, {
    parameters,
    deploymentId: hre.network.name === "hardhat" ? undefined : deploymentId(chainId),
    displayUi,
  });
  return {
    ThingToken: await deployed.token.getAddress(),
    DeviceRegistry: await deployed.registry.getAddress(),
    PaymentChannels: await deployed.channels.getAddress(),
    DeviceWalletFactory: await deployed.walletFactory.getAddress(),
  };
}

/**
 * Deploys (or, through Ignition's journal, resumes or confirms) the whole system on the current network.
 * On the in-process network the treasury defaults to the first account.
 */
export async function deploySystem(
  hre: HardhatRuntimeEnvironment,
  options: { displayUi?: boolean; parametersFile?: string } = {},
): Promise<System> {
  const chainId = await chainIdOf(hre);
  const ephemeral = hre.network.name === "hardhat";
  let parameters: DeploymentParameters;
  if (ephemeral && options.parametersFile !== undefined) {
    throw new UserError(
      "--parameters: the in-process network always deploys with the first account as treasury and admin; use it with --network",
    );
  }
  if (ephemeral) {
    const [first] = await hre.ethers.getSigners();
    parameters = { ThingToken: { treasury: first.address }, DeviceRegistry: { admin: first.address } };
  } else {
    parameters = readParameters(options.parametersFile ?? parametersPath(hre));
    await signerAt(hre, 0); // a live network without a deployer key fails here, before Ignition starts
  }
  const before = await hre.ethers.provider.getBlockNumber();
  const addresses = await ignitionDeploy(hre, parameters, options.displayUi ?? false);
  const after = await hre.ethers.provider.getBlockNumber();
  let gasUsed = 0n;
  for (let n = before + 1; n <= after; n++) {
    const block = await hre.ethers.provider.getBlock(n);
    gasUsed += block?.gasUsed ?? 0n;
  }
  const system: SystemRecord = { network: hre.network.name, chainId, ephemeral, addresses, gasUsed };
  cache.set(hre.network.name, Promise.resolve(system));
  return { ...system, provider: hre.ethers.provider };
}

function readAddressBook(hre: HardhatRuntimeEnvironment, chainId: bigint): Record<string, string> {
  const file = path.join(deploymentDir(hre, chainId), "deployed_addresses.json");
  if (!fs.existsSync(file)) {
    throw new UserError(
      `ThingLedger is not deployed on network "${hre.network.name}" (chain ${chainId}): no address book at ${path.relative(process.cwd(), file)}. Deploy it with: ${deployCommand(hre.network.name)}`,
    );
  }
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as Record<string, string>;
  } catch (error) {
    throw new UserError(`the address book ${file} is not valid JSON: ${(error as Error).message}`);
  }
}

/**
 * The deployed system on the current network. On the in-process network it is deployed on first use
 * (deterministically: the same addresses every run). Elsewhere it is read from the address book, and
 * every contract is checked to have code, so a stale book or a wrong network fails with one line.
 */
export function loadSystem(
  hre: HardhatRuntimeEnvironment,
  needs: readonly SystemContract[] = ALL_CONTRACTS,
): Promise<System> {
  let pending = cache.get(hre.network.name);
  if (pending !== undefined && hre.network.name === "hardhat") {
    // The in-process chain can be reset (tests do): redeploy if the cached system is gone.
    const cached = pending;
    pending = cached.then(async (system) =>
      (await hre.ethers.provider.getCode(system.addresses.ThingToken)) === "0x" ? deployDevSystem(hre) : system,
    );
    cache.set(hre.network.name, pending);
  }
  if (pending === undefined) {
    pending = hre.network.name === "hardhat" ? deployDevSystem(hre) : readDeployed(hre);
    cache.set(hre.network.name, pending);
  }
  return pending.then(async (system) => {
    if (!system.ephemeral) {
      for (const name of needs) {
        const address = system.addresses[name];
        if ((await hre.ethers.provider.getCode(address)) === "0x") {
          throw new UserError(
            `${name} is not deployed on network "${hre.network.name}": the address book says ${address} but there is no code there. Deploy it with: ${deployCommand(hre.network.name)}`,
          );
        }
      }
    }
    return { ...system, provider: hre.ethers.provider };
  });
}

/**
 * The in-process network forgets everything between runs, so a single task must find a usable network:
 * the system is deployed and the first account (already the admin) is admitted as manufacturer #1.
 */
async function deployDevSystem(hre: HardhatRuntimeEnvironment): Promise<SystemRecord> {
  const system = await deploySystem(hre);
  const [first] = await hre.ethers.getSigners();
  await (await registryAt(system, first).addManufacturer(first.address, first.address, 500)).wait();
  return record(system);
}

/** A system without its provider, as cached. */
function record(system: System): SystemRecord {
  const { network, chainId, ephemeral, addresses, gasUsed } = system;
  return { network, chainId, ephemeral, addresses, gasUsed };
}

async function readDeployed(hre: HardhatRuntimeEnvironment): Promise<SystemRecord> {
  const chainId = await chainIdOf(hre);
  const book = readAddressBook(hre, chainId);
  const addresses = {} as SystemAddresses;
  for (const [name, futureId] of Object.entries(SYSTEM_CONTRACTS) as [SystemContract, string][]) {
    const address = book[futureId];
    if (address === undefined) {
      throw new UserError(
        `${name} is missing from the address book of network "${hre.network.name}". Deploy it with: ${deployCommand(hre.network.name)}`,
      );
    }
    addresses[name] = address;
  }
  return { network: hre.network.name, chainId, ephemeral: false, addresses, gasUsed: 0n };
}

/**
 * The system a walkthrough runs on: on a network with an address book, the deployed system (whatever
 * parameters it was deployed with); otherwise a deployment made now with the network's parameters.
 */
export async function deployedOrDeploy(hre: HardhatRuntimeEnvironment): Promise<System> {
  if (hre.network.name !== "hardhat") {
    const book = path.join(deploymentDir(hre, await chainIdOf(hre)), "deployed_addresses.json");
    if (fs.existsSync(book)) return loadSystem(hre, ALL_CONTRACTS);
  }
  return deploySystem(hre);
}

export interface VerifyResult {
  network: string;
  chainId: bigint;
  deploymentId: string;
  addresses: SystemAddresses;
}

/**
 * Submits every deployed contract's source to the network's explorer (Etherscan's v2 API, one key for
 * every chain) through Ignition's journal. The network, the address book and the API key are checked
 * first, each failing with one line.
 */
export async function verifySystem(hre: HardhatRuntimeEnvironment): Promise<VerifyResult> {
  if (liveNetwork(hre.network.name) === undefined) {
    throw new UserError(
      `network "${hre.network.name}" has no block explorer: verify:system is for ${LIVE_NETWORKS.map((n) => n.name).join(", ")}`,
    );
  }
  const system = await loadSystem(hre, ALL_CONTRACTS);
  if (verifyApiKey() === "") {
    throw new UserError(
      "verify:system needs an explorer API key: set ETHERSCAN_API_KEY (environment, or `npx hardhat vars set ETHERSCAN_API_KEY`)",
    );
  }
  const id = deploymentId(system.chainId);
  try {
    await hre.run({ scope: "ignition", task: "verify" }, { deploymentId: id, includeUnrelatedContracts: true });
  } catch (error) {
    throw new UserError(
      `verification of deployment ${id} on "${hre.network.name}" failed (${(error as Error).message.split("\n")[0]}): check ETHERSCAN_API_KEY and that the explorer is reachable`,
    );
  }
  return { network: hre.network.name, chainId: system.chainId, deploymentId: id, addresses: system.addresses };
}
