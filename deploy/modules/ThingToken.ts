import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";

/** 1,000,000,000 THING, in base units. */
export const DEFAULT_SUPPLY = 1_000_000_000n * 10n ** 18n;

/**
 * The network token. Parameters:
 * - `treasury` (required): receives the whole fixed supply; use a multisig in production;
 * - `supply`: the fixed supply in base units (default 1e9 THING).
 */
const ThingTokenModule = buildModule("ThingToken", (m) => {
  const treasury = m.getParameter<string>("treasury");
  const supply = m.getParameter<bigint>("supply", DEFAULT_SUPPLY);
  const token = m.contract("ThingToken", [treasury, supply]);
  return { token };
});

export default ThingTokenModule;
