import type { TypedDataDomain } from "ethers";

import { registryAt } from "../chain/context";
import type { SystemContext } from "../chain/context";
import { readDomain } from "../eip712/domain";

/** The registry's EIP-712 domain, as its `eip712Domain()` (ERC-5267) reports it: what devices sign for. */
export function registryDomain(ctx: SystemContext): Promise<TypedDataDomain> {
  return readDomain(registryAt(ctx));
}
