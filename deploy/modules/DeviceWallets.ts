import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";

import DeviceRegistryModule from "./DeviceRegistry";

/**
 * Device wallets: the factory, which deploys and locks the wallet implementation in its constructor
 * (no parameters). Wallets are clones the factory creates on demand (`wallet:create`).
 */
const DeviceWalletsModule = buildModule("DeviceWallets", (m) => {
  const { registry } = m.useModule(DeviceRegistryModule);
  const walletFactory = m.contract("DeviceWalletFactory", [registry]);
  return { walletFactory };
});

export default DeviceWalletsModule;
