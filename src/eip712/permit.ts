import type { TypedDataDomain, TypedDataField } from "ethers";

/**
 * EIP-2612 permit, the only place ThingLedger builds it. Its domain is the token's own
 * (`readDomain(token)`; OpenZeppelin's ERC20Permit uses the token name and version "1"): it binds the
 * chain id and the token's address, so a permit signed for one chain or one token is useless on another.
 */
export const PERMIT_TYPES: Record<string, TypedDataField[]> = {
  Permit: [
    { name: "owner", type: "address" },
    { name: "spender", type: "address" },
    { name: "value", type: "uint256" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint256" },
  ],
};

export interface PermitMessage {
  owner: string;
  spender: string;
  value: bigint;
  nonce: bigint;
  deadline: bigint;
}

/** Something that can sign typed data: an ethers Signer or Wallet. */
export interface TypedDataSigner {
  signTypedData(
    domain: TypedDataDomain,
    types: Record<string, TypedDataField[]>,
    value: Record<string, unknown>,
  ): Promise<string>;
}

/** Signs `message` for the token at `domain.verifyingContract`. */
export function signPermit(signer: TypedDataSigner, domain: TypedDataDomain, message: PermitMessage): Promise<string> {
  return signer.signTypedData(domain, PERMIT_TYPES, { ...message });
}
