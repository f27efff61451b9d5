import { Navigate, createHashRouter } from "react-router";

import { Layout } from "./Layout";
import { AccessPage } from "./pages/AccessPage";
import { ActivatePage } from "./pages/ActivatePage";
import { ChannelsPage } from "./pages/ChannelsPage";
import { DevicePage } from "./pages/DevicePage";
import { FleetPage } from "./pages/FleetPage";
import { ManufacturerPage } from "./pages/ManufacturerPage";
import { RelayPage } from "./pages/RelayPage";
import { ValidatePage } from "./pages/ValidatePage";
import { WalletPage } from "./pages/WalletPage";

/**
 * Hash routes, so that a device's link or QR code (`#/activate/<id>?…`) opens the page from any static host.
 * Later pages are routes added here under the same layout.
 */
export const router = createHashRouter([
  {
    path: "/",
    element: <Layout />,
    children: [
      { index: true, element: <Navigate to="/activate" replace /> },
      { path: "activate", element: <ActivatePage /> },
      { path: "activate/:deviceId", element: <ActivatePage /> },
      { path: "validate", element: <ValidatePage /> },
      { path: "validate/:deviceId", element: <ValidatePage /> },
      { path: "relay", element: <RelayPage /> },
      { path: "fleet", element: <FleetPage /> },
      { path: "devices/:deviceId", element: <DevicePage /> },
      { path: "wallets/:address", element: <WalletPage /> },
      { path: "manufacturer", element: <ManufacturerPage /> },
      { path: "manufacturer/:id", element: <ManufacturerPage /> },
      { path: "channels", element: <ChannelsPage /> },
      { path: "access", element: <AccessPage /> },
      { path: "*", element: <p role="alert">No such page.</p> },
    ],
  },
]);
