import fs from "node:fs";
import path from "node:path";

import { IgnitionError } from "@nomicfoundation/ignition-core";
import type { DeploymentParameters } from "@nomicfoundation/ignition-core";
import { formatEther, isAddress } from "ethers";
import { HardhatPluginError } from "hardhat/plugins";
import type { HardhatRuntimeEnvironment } from "hardhat/types";

import { ALL_CONTRACTS, SYSTEM_CONTRACTS, registryAt } from "../../src/chain/context";
import type { SystemAddresses, SystemContext, SystemContract } from "../../src/chain/context";
import { chainRecord, checkChain } from "../../src/chain/reset";
import type { ChainCheck, ChainRecord } from "../../src/chain/reset";
import { confirm } from "../../src/cli/confirm";
import { writeJsonOutput } from "../../src/cli/files";
import { toJsonValue } from "../../src/cli/output";
import { LIVE_NETWORKS, liveNetwork, verifyApiKey } from "./networks";
import { UserError } from "../../src/errors";

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
  const id = process.env.THINGLEDGER_DEPLOYMENT_ID ?? `chain-${chainId}`;
  // Ignition's own rule, checked before the id names a folder (which `deploy --reset` removes): a value such
  // as "../x" must never point outside the deployments folder.
  if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(id))
    throw new UserError(
      `THINGLEDGER_DEPLOYMENT_ID "${id}" is not a deployment id: letters, digits, "-" and "_" only, starting with a letter`,
    );
  return id;
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

/** The file, next to Ignition's address book, that records which chain a deployment was made on. */
export function chainRecordPath(hre: HardhatRuntimeEnvironment, chainId: bigint): string {
  return path.join(deploymentDir(hre, chainId), "thingledger-chain.json");
}

/** The chain a deployment recorded, or undefined for a deployment made before chains were recorded. */
function readChainRecord(hre: HardhatRuntimeEnvironment, chainId: bigint): ChainRecord | undefined {
  const file = chainRecordPath(hre, chainId);
  if (!fs.existsSync(file)) return undefined;
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as ChainRecord;
  } catch (error) {
    throw new UserError(`the chain record ${file} is not valid JSON: ${(error as Error).message}`);
  }
}

/**
 * The one line for a deployment whose chain is gone, saying which way: the chain was reset (same genesis
 * block, its contracts gone), or this is another chain with the same id (another genesis block: another
 * node, or a development node that restarted), or, for a deployment that recorded no genesis block,
 * either. On a development network the deployment is redeployed with `--reset`. A live chain does not
 * reset, so there the RPC URL points elsewhere, or the user wants a new deployment (a new id).
 */
export function resetError(network: string, chainId: bigint, check: ChainCheck): UserError {
  const id = deploymentId(chainId);
  const why = check.reset ?? "";
  const live = liveNetwork(network);
  if (live !== undefined) {
    return new UserError(
      `deployment ${id} was not made on the chain network "${network}" reaches (${why}): check ${live.prefix}_RPC_URL, or set THINGLEDGER_DEPLOYMENT_ID to deploy anew`,
    );
  }
  const redeploy = `redeploy with ${deployCommand(network)} --reset`;
  if (check.gone === "other-chain") {
    return new UserError(
      `network "${network}" is a different chain from the one deployment ${id} was made on, with the same chain id ${chainId} (${why}: another node, or a development node that restarted): ${redeploy}, or point the network at the node it was made on`,
    );
  }
  if (check.gone === "reset-or-other") {
    return new UserError(
      `the chain of network "${network}" was reset since deployment ${id}, or it is another node with chain id ${chainId} (${why}): ${redeploy}`,
    );
  }
  return new UserError(`the chain of network "${network}" was reset since deployment ${id} (${why}): ${redeploy}`);
}

/** The address book of a deployment folder, or an empty one when there is none yet. */
function addressBookIfAny(hre: HardhatRuntimeEnvironment, chainId: bigint): Record<string, string> {
  return fs.existsSync(path.join(deploymentDir(hre, chainId), "deployed_addresses.json"))
    ? readAddressBook(hre, chainId)
    : {};
}

/** What `deploy --reset` discarded: the deployment folder, its id, and the addresses its book held. */
export interface Discarded {
  deploymentId: string;
  folder: string;
  addresses: Record<string, string>;
}

/** How `deploy` proceeds besides its parameters: discard a stale deployment, and confirm a live one. */
export interface DeployOptions {
  displayUi?: boolean;
  parametersFile?: string;
  /** Discard the network's deployment folder (journal and address book) first, after `announce`-ing it. */
  reset?: boolean;
  announce?: (discarded: Discarded) => void;
  /** Ask before deploying to a live network, unless `yes`. */
  confirm?: { yes: boolean };
}

/** Refuses to deploy (or to answer "nothing new to deploy") over a deployment whose chain was reset. */
async function refuseResetChain(hre: HardhatRuntimeEnvironment, chainId: bigint): Promise<void> {
  const book = addressBookIfAny(hre, chainId);
  const recorded = readChainRecord(hre, chainId);
  if (recorded === undefined && Object.keys(book).length === 0) return;
  const check = await checkChain(hre.ethers.provider, Object.values(book), recorded);
  if (check.reset !== undefined) throw resetError(hre.network.name, chainId, check);
}

/**
 * Removes the network's deployment folder, announcing what it held first. A deployment that still works on
 * this chain (the chain was not reset: its contracts have code), or whose address book or chain record does
 * not parse (so that it cannot be checked), is discarded only with `yes` or after a terminal's
 * confirmation: `--reset` typed out of habit must not lose a live node's address book.
 */
async function discardDeployment(
  hre: HardhatRuntimeEnvironment,
  chainId: bigint,
  announce: (d: Discarded) => void,
  yes: boolean,
): Promise<void> {
  const dir = deploymentDir(hre, chainId);
  if (!fs.existsSync(dir)) return;
  const names = new Map<string, string>(Object.entries(SYSTEM_CONTRACTS).map(([name, future]) => [future, name]));
  const unreadable: string[] = [];
  let book: Record<string, string> = {};
  let recorded: ChainRecord | undefined;
  try {
    book = addressBookIfAny(hre, chainId);
  } catch {
    unreadable.push(path.relative(process.cwd(), path.join(dir, "deployed_addresses.json")));
  }
  try {
    recorded = readChainRecord(hre, chainId);
  } catch {
    unreadable.push(path.relative(process.cwd(), chainRecordPath(hre, chainId)));
  }
  const id = deploymentId(chainId);
  const folder = path.relative(process.cwd(), dir);
  let what: string | undefined;
  if (unreadable.length > 0) {
    const verb = unreadable.length > 1 ? "do" : "does";
    what = `${unreadable.join(" and ")} of deployment ${id} of network "${hre.network.name}" ${verb} not parse, so whether the deployment still works on this chain is unknown`;
  } else if (!yes && Object.keys(book).length > 0) {
    const check = await checkChain(hre.ethers.provider, Object.values(book), recorded);
    if (check.reset === undefined)
      what = `deployment ${id} of network "${hre.network.name}" still works on this chain (it was not reset; its contracts have code)`;
  }
  if (!yes && what !== undefined) {
    const noTerminal = `--reset: ${what}; discarding ${folder} loses its address book: pass --yes to discard it anyway, nothing was changed`;
    if (!(await confirm(`${what}. Discard ${folder} and deploy afresh?`, noTerminal)))
      throw new UserError(`--reset cancelled: deployment ${id} was kept, nothing was changed`);
  }
  const addresses = Object.fromEntries(Object.entries(book).map(([future, a]) => [names.get(future) ?? future, a]));
  announce({ deploymentId: id, folder, addresses });
  fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * Asks before sending a deployment to a live network, showing where it goes, who pays and with what:
 * the network, its chain id, the deployer and its balance, and the parameters.
 */
async function confirmLiveDeploy(
  hre: HardhatRuntimeEnvironment,
  chainId: bigint,
  parameters: DeploymentParameters,
  yes: boolean,
): Promise<void> {
  const name = hre.network.name;
  if (liveNetwork(name) === undefined || yes) return;
  const noTerminal = `deploying to live network "${name}" needs a confirmation: run it in a terminal, or pass --yes`;
  if (process.stdin.isTTY !== true) throw new UserError(noTerminal);
  const { signerAt } = await import("./signers");
  const deployer = await (await signerAt(hre, 0)).getAddress();
  const balance = await hre.ethers.provider.getBalance(deployer);
  process.stderr.write(
    [
      `Network:    ${name} (chain ${chainId})`,
      `Deployer:   ${deployer} (balance ${formatEther(balance)} ETH)`,
      `Parameters: ${JSON.stringify(toJsonValue(parameters))}`,
      "",
    ].join("\n"),
  );
  if (!(await confirm(`Deploy ThingLedger to ${name} (chain ${chainId})?`, noTerminal))) {
    throw new UserError("deployment cancelled: nothing was sent");
  }
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

/**
 * Ignition's own refusal to go on from the state a previous run left (an `IGNnnn` error, a reconciliation,
 * previous-run or execution failure, an unreadable journal line after a kill), in one line; undefined for
 * anything else (a module's validation error is not the journal's: `--reset` would not help).
 */
export function ignitionProblem(error: unknown): string | undefined {
  const message = error instanceof Error ? error.message : "";
  const ours =
    error instanceof IgnitionError ||
    /^IGN\d+: /.test(message) ||
    (HardhatPluginError.isHardhatPluginError(error) &&
      error.pluginName.startsWith("hardhat-ignition") &&
      !message.includes("following validation errors")) ||
    /^Could not parse row/.test(message);
  return ours ? message.replace(/\s+/g, " ").trim() : undefined;
}

/**
 * The one line for a deployment Ignition will not continue: on a development node `--reset` (which says
 * what it discards); a live deployment is never discarded, so there a new deployment id is the way out.
 */
function ignitionError(hre: HardhatRuntimeEnvironment, chainId: bigint, problem: string): UserError {
  const name = hre.network.name;
  const id = deploymentId(chainId);
  const folder = path.relative(process.cwd(), deploymentDir(hre, chainId));
  const fix =
    liveNetwork(name) === undefined
      ? `run ${deployCommand(name)} --reset, which discards ${folder} (Ignition's journal and address book of that deployment) and deploys afresh`
      : `for a new deployment set THINGLEDGER_DEPLOYMENT_ID to a new id (--reset is refused on a live network)`;
  return new UserError(`Ignition cannot go on with deployment ${id} on network "${name}" (${problem}): ${fix}`);
}

async function ignitionDeploy(
  hre: HardhatRuntimeEnvironment,
  parameters: DeploymentParameters,
  displayUi: boolean,
): Promise<SystemAddresses> {
  const chainId = await chainIdOf(hre);
  const ephemeral = hre.network.name === "hardhat";
  let deployed;
  try {
    // Loaded here: a module definition loads Ignition's core, which other tasks never need.
    const { default: ThingLedgerModule } = await import("../../deploy/modules/ThingLedger");
    deployed = await hre.ignition.deploy(ThingLedgerModule, {
      parameters,
      deploymentId: ephemeral ? undefined : deploymentId(chainId),
      displayUi,
    });
  } catch (error) {
    const problem = ephemeral ? undefined : ignitionProblem(error);
    if (problem !== undefined) throw ignitionError(hre, chainId, problem);
    throw error;
  }
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
export async function deploySystem(hre: HardhatRuntimeEnvironment, options: DeployOptions = {}): Promise<System> {
  const chainId = await chainIdOf(hre);
  const ephemeral = hre.network.name === "hardhat";
  let parameters: DeploymentParameters;
  if (ephemeral && options.parametersFile !== undefined) {
    throw new UserError(
      "--parameters: the in-process network always deploys with the first account as treasury and admin; use it with --network",
    );
  }
  if (ephemeral && options.reset === true) {
    throw new UserError("--reset: the in-process network starts afresh on every run; use it with --network");
  }
  if (options.reset === true && liveNetwork(hre.network.name) !== undefined) {
    throw new UserError(
      `--reset: a live chain does not reset, so deployment ${deploymentId(chainId)} on "${hre.network.name}" stays; for a new deployment set THINGLEDGER_DEPLOYMENT_ID to a new id`,
    );
  }
  if (ephemeral) {
    const [first] = await hre.ethers.getSigners();
    parameters = { ThingToken: { treasury: first.address }, DeviceRegistry: { admin: first.address } };
  } else {
    parameters = readParameters(options.parametersFile ?? parametersPath(hre));
    // Loaded here (signers load the preflight and revert decoding): tasks that only read start without them.
    const { signerAt } = await import("./signers");
    await signerAt(hre, 0); // a live network without a deployer key fails here, before Ignition starts
    if (options.reset === true)
      await discardDeployment(hre, chainId, options.announce ?? (() => undefined), options.confirm?.yes === true);
    else await refuseResetChain(hre, chainId);
    if (options.confirm !== undefined) await confirmLiveDeploy(hre, chainId, parameters, options.confirm.yes);
    // Recorded before Ignition starts, so that an interrupted deployment is recognised too.
    if (readChainRecord(hre, chainId) === undefined) {
      fs.mkdirSync(deploymentDir(hre, chainId), { recursive: true });
      writeJsonOutput(chainRecordPath(hre, chainId), await chainRecord(hre.ethers.provider), {
        force: false,
        flag: "reset",
      });
    }
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
  // On a real network this is now the deployed system. On the in-process network, tasks run on the system
  // `loadSystem` keeps (deployed with the first account as manufacturer #1); a deployment made here for
  // another purpose (the demo, a test) must not replace it.
  if (!ephemeral) cache.set(hre.network.name, Promise.resolve(system));
  return { ...system, provider: hre.ethers.provider };
}

function readAddressBook(hre: HardhatRuntimeEnvironment, chainId: bigint): Record<string, string> {
  const file = path.join(deploymentDir(hre, chainId), "deployed_addresses.json");
  if (!fs.existsSync(file)) {
    throw new UserError(
      `ThingLedger is not deployed on network "${hre.network.name}" (chain ${chainId}): no address book at ${path.relative(process.cwd(), file)}. Deploy it with: ${deployCommand(hre.network.name)}`,
    );
  }
  let book: unknown;
  try {
    book = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (error) {
    throw new UserError(`the address book ${file} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof book !== "object" || book === null || Array.isArray(book)) {
    throw new UserError(`the address book ${file} is not a JSON object of addresses`);
  }
  return book as Record<string, string>;
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
    // The in-process chain can be reset (tests do): redeploy if the cached system is gone, even when other
    // contracts now sit at its addresses.
    const cached = pending;
    pending = cached.then(async (system) => ((await devSystemPresent(hre, system)) ? system : deployDevSystem(hre)));
    cache.set(hre.network.name, pending);
  }
  if (pending === undefined) {
    pending = hre.network.name === "hardhat" ? deployDevSystem(hre) : readDeployed(hre);
    cache.set(hre.network.name, pending);
  }
  return pending.then(async (system) => {
    if (!system.ephemeral) {
      const recorded = readChainRecord(hre, system.chainId);
      const check = await checkChain(hre.ethers.provider, Object.values(system.addresses), recorded);
      if (check.reset !== undefined) throw resetError(hre.network.name, system.chainId, check);
      for (const name of needs) {
        const address = system.addresses[name];
        if (check.withoutCode.includes(address)) {
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
/**
 * The block that finished each in-process deployment (by network name): a chain reset since (tests reset
 * it) replaces that block, even when other contracts now sit at the same addresses.
 */
const devDeployedAt = new Map<string, { number: number; hash: string }>();

async function deployDevSystem(hre: HardhatRuntimeEnvironment): Promise<SystemRecord> {
  const system = await deploySystem(hre);
  const [first] = await hre.ethers.getSigners();
  const receipt = await (await registryAt(system, first).addManufacturer(first.address, first.address, 500)).wait();
  if (receipt !== null) devDeployedAt.set(hre.network.name, { number: receipt.blockNumber, hash: receipt.blockHash });
  return record(system);
}

/** Whether the in-process system deployed last is still on the chain (not reset away since). */
async function devSystemPresent(hre: HardhatRuntimeEnvironment, system: SystemRecord): Promise<boolean> {
  const mark = devDeployedAt.get(hre.network.name);
  if (mark === undefined) return (await hre.ethers.provider.getCode(system.addresses.ThingToken)) !== "0x";
  return (await hre.ethers.provider.getBlock(mark.number))?.hash === mark.hash;
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
