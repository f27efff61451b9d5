import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";

import ThingTokenModule from "./ThingToken";

/** Merkle-group payment channels in ETH and the ThingToken (no parameters). */
const PaymentChannelsModule = buildModule("PaymentChannels", (m) => {
  const { token } = m.useModule(ThingTokenModule);
  const channels = m.contract("PaymentChannels", [token]);
  return { channels };
});

export default PaymentChannelsModule;
