import { formatUnits } from "ethers";

/** ThingToken's decimals. */
export const TOKEN_DECIMALS = 18;

/** Formats base units as THING with up to 18 decimals: 1500000000000000000n -> "1.5 THING". */
export function formatThing(amount: bigint): string {
  return `${formatUnits(amount, TOKEN_DECIMALS)} THING`;
}
