import { QueryClientProvider } from "@tanstack/react-query";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { RouterProvider } from "react-router";
import { WagmiProvider } from "wagmi";

import { ConfigContext } from "./chain/context";
import { loadConfig, queryClient, wagmiConfigOf } from "./chain/config";
import { router } from "./router";
import "./styles.css";

const root = createRoot(document.getElementById("root")!);

loadConfig().then(
  (config) =>
    root.render(
      <StrictMode>
        <ConfigContext.Provider value={config}>
          <WagmiProvider config={wagmiConfigOf(config)}>
            <QueryClientProvider client={queryClient}>
              <RouterProvider router={router} />
            </QueryClientProvider>
          </WagmiProvider>
        </ConfigContext.Provider>
      </StrictMode>,
    ),
  (error: Error) =>
    root.render(
      <main className="page">
        <h1>ThingLedger</h1>
        <p role="alert" className="error">
          No deployment to talk to: {error.message}
        </p>
      </main>,
    ),
);
