import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";

import ThingTokenModule from "./ThingToken";

/**
 * The device registry, charging fees in the ThingToken. Parameters:
 * - `admin` (required): the network admin; use a multisig in production (two-step transferable);
 * - `registrationFee`, `activationFee`: initial fees in token base units (default 1 and 2 THING; each
 *   capped at 100 THING by the contract);
 * - `epochLength`: seconds per reputation epoch (default one day);
 * - `auditReward`: reward per changed score, in token base units (default 0.1 THING; capped at 100 THING).
 */
const DeviceRegistryModule = buildModule("DeviceRegistry", (m) => {
  const { token } = m.useModule(ThingTokenModule);
  const admin = m.getParameter<string>("admin");
  const registrationFee = m.getParameter<bigint>("registrationFee", 10n ** 18n);
  const activationFee = m.getParameter<bigint>("activationFee", 2n * 10n ** 18n);
  const epochLength = m.getParameter<bigint>("epochLength", 86_400n);
  const auditReward = m.getParameter<bigint>("auditReward", 10n ** 17n);
  const registry = m.contract("DeviceRegistry", [
    admin,
    token,
    registrationFee,
    activationFee,
    epochLength,
    auditReward,
  ]);
  return { token, registry };
});

export default DeviceRegistryModule;
