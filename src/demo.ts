import type { Signer } from "ethers";
import { Signature, Wallet, parseEther, parseUnits } from "ethers";
import type { HardhatRuntimeEnvironment } from "hardhat/types";

import { deploySystem } from "./deployments";
import type { System } from "./deployments";
import { permitDomain, signPermit } from "./eip712/permit";
import { connectToken, formatThing } from "./token";

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
  addresses: System["addresses"];
  steps: DemoStep[];
  totalGas: bigint;
  seconds: number;
}

/**
 * The demo's cast. On networks with enough local accounts (the in-process network, a `hardhat node`)
 * they are those accounts; otherwise fresh keys funded with a little ETH by the first account.
 */
async function cast(hre: HardhatRuntimeEnvironment, count: number): Promise<Signer[]> {
  const signers = await hre.ethers.getSigners();
  if (signers.length >= count) {
    return signers.slice(0, count);
  }
  const [funder] = signers;
  const extra: Signer[] = [];
  for (let i = signers.length; i < count; i++) {
    const wallet = Wallet.createRandom().connect(hre.ethers.provider);
    await (await funder.sendTransaction({ to: wallet.address, value: parseEther("0.01") })).wait();
    extra.push(wallet);
  }
  return [...signers, ...extra];
}

/** Runs the network's lifecycle, as far as it exists, and reports each step with its gas. */
export async function runDemo(
  hre: HardhatRuntimeEnvironment,
  onStep: (step: DemoStep) => void = () => undefined,
): Promise<DemoResult> {
  const started = Date.now();
  const steps: DemoStep[] = [];
  const record = (title: string, detail: string, gasUsed: bigint): void => {
    const step = { step: steps.length + 1, title, detail, gasUsed };
    steps.push(step);
    onStep(step);
  };

  const system = await deploySystem(hre);
  const [treasury, operator, service] = await cast(hre, 3);
  const token = await connectToken(hre, treasury);
  const tokenAddress = await token.getAddress();
  record(
    "Deploy the system",
    `ThingToken at ${tokenAddress}; fixed supply ${formatThing(await token.totalSupply())} held by the treasury ${await treasury.getAddress()}`,
    system.gasUsed,
  );

  const operatorAddress = await operator.getAddress();
  const amount = parseUnits("1000", 18);
  const sent = await (await token.transfer(operatorAddress, amount)).wait();
  record(
    "Fund a device operator",
    `treasury sends ${formatThing(amount)} to operator ${operatorAddress}`,
    sent?.gasUsed ?? 0n,
  );

  const serviceAddress = await service.getAddress();
  const { chainId } = await hre.ethers.provider.getNetwork();
  const allowance = parseUnits("250", 18);
  const latest = await hre.ethers.provider.getBlock("latest");
  const deadline = BigInt(latest?.timestamp ?? 0) + 3600n;
  const nonce = await token.nonces(operatorAddress);
  const signature = await signPermit(operator, permitDomain(await token.name(), chainId, tokenAddress), {
    owner: operatorAddress,
    spender: serviceAddress,
    value: allowance,
    nonce,
    deadline,
  });
  const { v, r, s } = Signature.from(signature);
  const permitted = await (
    await token.connect(service).permit(operatorAddress, serviceAddress, allowance, deadline, v, r, s)
  ).wait();
  record(
    "Operator signs a permit offline; the service submits it",
    `operator holds no ETH for this: the service relays the EIP-2612 permit for ${formatThing(allowance)}`,
    permitted?.gasUsed ?? 0n,
  );

  const pulled = await (await token.connect(service).transferFrom(operatorAddress, serviceAddress, allowance)).wait();
  record(
    "The service collects its payment",
    `service pulls ${formatThing(allowance)}; operator now holds ${formatThing(await token.balanceOf(operatorAddress))}`,
    pulled?.gasUsed ?? 0n,
  );

  return {
    network: hre.network.name,
    chainId: system.chainId,
    ephemeral: system.ephemeral,
    addresses: system.addresses,
    steps,
    totalGas: steps.reduce((sum, s) => sum + s.gasUsed, 0n),
    seconds: (Date.now() - started) / 1000,
  };
}
