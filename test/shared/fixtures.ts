import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { ethers } from "hardhat";

import type { MockTokenReceiver, ReentrantCallee, ThingToken } from "../../typechain-types";

export const SUPPLY = 1_000_000_000n * 10n ** 18n;
export const ONE = 10n ** 18n;

export interface TokenFixture {
  token: ThingToken;
  treasury: HardhatEthersSigner;
  alice: HardhatEthersSigner;
  bob: HardhatEthersSigner;
  mallory: HardhatEthersSigner;
  receiver: MockTokenReceiver;
  reentrant: ReentrantCallee;
}

/** ThingToken with its supply at `treasury`, 1,000 THING each for alice and mallory, and two callees. */
export async function tokenFixture(): Promise<TokenFixture> {
  const [treasury, alice, bob, mallory] = await ethers.getSigners();
  const token = await ethers.deployContract("ThingToken", [treasury.address, SUPPLY]);
  await token.transfer(alice.address, 1_000n * ONE);
  await token.transfer(mallory.address, 1_000n * ONE);
  const receiver = await ethers.deployContract("MockTokenReceiver", [await token.getAddress()]);
  const reentrant = await ethers.deployContract("ReentrantCallee", [await token.getAddress()]);
  return { token, treasury, alice, bob, mallory, receiver, reentrant };
}
