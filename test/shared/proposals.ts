import { getAddress } from "ethers";
import type { Signer, TypedDataDomain } from "ethers";

import { signExecute } from "../../src/eip712/wallet";
import { PROPOSAL_KIND, proposalMessage } from "../../src/wallets";
import type { Proposal } from "../../src/wallets";

/*
 * A proposal queue's wallet without a chain (test/wallet/ProposalQueue and AttackQueue): its address, its
 * EIP-712 domain, a proposal for it and owners' signatures over one.
 */

export const WALLET = getAddress("0x" + "ab".repeat(20));
export const domain: TypedDataDomain = {
  name: "DeviceWallet",
  version: "1",
  chainId: 31337n,
  verifyingContract: WALLET,
};

/** A proposal to pay 1,000 wei at nonce 3, with `overrides`. */
export function proposal(overrides: Partial<Proposal> = {}): Proposal {
  return {
    kind: PROPOSAL_KIND,
    version: 1,
    chainId: "31337",
    wallet: WALLET,
    nonce: "3",
    to: getAddress("0x" + "cd".repeat(20)),
    value: "1000",
    data: "0x",
    gasLimit: "0",
    description: "pay the mechanic",
    signatures: {},
    ...overrides,
  };
}

/** `p` with the signatures of `by` added. */
export async function signed(p: Proposal, ...by: Signer[]): Promise<Proposal> {
  const signatures = { ...p.signatures };
  for (const owner of by) signatures[await owner.getAddress()] = await signExecute(owner, domain, proposalMessage(p));
  return { ...p, signatures };
}
