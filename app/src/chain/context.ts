import { createContext, useContext } from "react";
import type { Address } from "viem";

import type { AppConfig } from "./config";

export const ConfigContext = createContext<AppConfig | null>(null);

/** The deployment the app talks to, with its addresses typed for viem. */
export function useAppConfig(): AppConfig & { registry: Address; token: Address } {
  const config = useContext(ConfigContext);
  if (config === null) throw new Error("no app config");
  return {
    ...config,
    registry: config.addresses.DeviceRegistry as Address,
    token: config.addresses.ThingToken as Address,
  };
}
