import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";

import DeviceRegistryModule from "./DeviceRegistry";
import DeviceWalletsModule from "./DeviceWallets";
import PaymentChannelsModule from "./PaymentChannels";

/**
 * The whole ThingLedger system, wired: `npx hardhat deploy --network NAME` deploys this with the
 * parameters in `deploy/parameters/NAME.json`. Later domains join here as they land.
 */
const ThingLedgerModule = buildModule("ThingLedger", (m) => {
  const { token, registry } = m.useModule(DeviceRegistryModule);
  const { channels } = m.useModule(PaymentChannelsModule);
  const { walletFactory } = m.useModule(DeviceWalletsModule);
  return { token, registry, channels, walletFactory };
});

export default ThingLedgerModule;
