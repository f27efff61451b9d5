import type { BaseContract, ContractRunner, TypedDataDomain, TypedDataField } from "ethers";
import { Contract, TypedDataEncoder, id, isError } from "ethers";

import { UserError } from "../errors";

/** ERC-5267's `eip712Domain()`, which OpenZeppelin's `EIP712` implements. */
const ERC5267_ABI = [
  "function eip712Domain() view returns (bytes1 fields, string name, string version, uint256 chainId, address verifyingContract, bytes32 salt, uint256[] extensions)",
];

/** ERC-5267's `fields` bits: which of the domain's members the contract uses. */
const NAME = 0x01;
const VERSION = 0x02;
const CHAIN_ID = 0x04;
const VERIFYING_CONTRACT = 0x08;
const SALT = 0x10;

/** A deployed contract: a typed (TypeChain) contract, or a runner and an address. */
export type DomainSource = BaseContract | { runner: ContractRunner; address: string };

/**
 * The EIP-712 domain that a contract signs messages in, as the contract itself states it (ERC-5267's
 * `eip712Domain()`): the one source of every ThingLedger domain, so that no name, version, chain id or
 * address is restated off chain. Only the members the contract declares in `fields` are set.
 */
export async function readDomain(source: DomainSource): Promise<TypedDataDomain> {
  const address = "address" in source ? source.address : await source.getAddress();
  const contract = new Contract(address, ERC5267_ABI, source.runner);
  let stated: Erc5267Answer;
  try {
    stated = (await contract.getFunction("eip712Domain").staticCall()).toObject() as Erc5267Answer;
  } catch (error) {
    if (reverted(error)) {
      throw new UserError(`${address} states no EIP-712 domain (it has no ERC-5267 eip712Domain())`);
    }
    throw error;
  }
  return statedDomain(address, stated);
}

/** What ERC-5267's `eip712Domain()` answers, as ethers or viem decode it (fields as hex or number). */
export interface Erc5267Answer {
  fields: string | number;
  name: string;
  version: string;
  chainId: bigint;
  verifyingContract: string;
  salt: string;
  extensions: readonly unknown[];
}

/**
 * The domain a contract states in its `eip712Domain()` answer: only the members its `fields` declare. No
 * provider here: {@link readDomain} and the browser app (which calls through viem) share it.
 */
export function statedDomain(address: string, stated: Erc5267Answer): TypedDataDomain {
  if (stated.extensions.length > 0)
    throw new UserError(`${address} states an EIP-712 domain with extensions, not supported`);
  const fields = Number(stated.fields);
  const domain: TypedDataDomain = {};
  if (fields & NAME) domain.name = stated.name;
  if (fields & VERSION) domain.version = stated.version;
  if (fields & CHAIN_ID) domain.chainId = stated.chainId;
  if (fields & VERIFYING_CONTRACT) domain.verifyingContract = stated.verifyingContract;
  if (fields & SALT) domain.salt = stated.salt;
  return domain;
}

/**
 * Refuses a stated domain that does not name the contract itself and the chain the caller reads: a contract
 * stating another's domain (a token's, say) would have its user sign a permit valid elsewhere than shown.
 */
export function checkStatedDomain(address: string, chainId: number | bigint, domain: TypedDataDomain): void {
  const named = domain.verifyingContract;
  if (named == null || named.toLowerCase() !== address.toLowerCase())
    throw new UserError(
      `${address} states an EIP-712 domain for ${named ?? "no contract"}, not itself: refusing to sign`,
    );
  if (domain.chainId == null || BigInt(domain.chainId) !== BigInt(chainId))
    throw new UserError(
      `${address} states an EIP-712 domain for chain ${domain.chainId ?? "none"}, not ${chainId}: refusing to sign`,
    );
}

/**
 * True for a call that reverted or returned nothing: ethers calls it CALL_EXCEPTION (BAD_DATA when an
 * account without code answers "0x"); Hardhat's in-process network throws its own "Transaction reverted".
 */
function reverted(error: unknown): boolean {
  if (isError(error, "CALL_EXCEPTION") || isError(error, "BAD_DATA")) return true;
  return error instanceof Error && error.message.startsWith("Transaction reverted");
}

/** A typed message's type string, as Solidity's `keccak256("Name(type name,…)")` typehash spells it. */
export function typeString(types: Record<string, TypedDataField[]>, primary: string): string {
  return TypedDataEncoder.from(types).encodeType(primary);
}

/** A typed message's typehash: keccak256 of its {@link typeString}. */
export function typeHash(types: Record<string, TypedDataField[]>, primary: string): string {
  return id(typeString(types, primary));
}
