import type { ReactElement } from "react";
import { Navigate, createHashRouter } from "react-router";

import { Layout } from "./Layout";
import { RouteError } from "./components/RouteError";
import { AccessPage } from "./pages/AccessPage";
import { ActivatePage } from "./pages/ActivatePage";
import { ChannelsPage } from "./pages/ChannelsPage";
import { DevicePage } from "./pages/DevicePage";
import { FleetPage } from "./pages/FleetPage";
import { ManufacturerPage } from "./pages/ManufacturerPage";
import { RelayPage } from "./pages/RelayPage";
import { ValidatePage } from "./pages/ValidatePage";
import { WalletPage } from "./pages/WalletPage";
import { PAGE_PATHS } from "./routes";
import type { PagePath } from "./routes";

/** Each route's page: a path added to PAGE_PATHS (routes.ts) must be given one here. */
const PAGES: Record<PagePath, ReactElement> = {
  activate: <ActivatePage />,
  "activate/:deviceId": <ActivatePage />,
  validate: <ValidatePage />,
  "validate/:deviceId": <ValidatePage />,
  relay: <RelayPage />,
  fleet: <FleetPage />,
  "devices/:deviceId": <DevicePage />,
  "wallets/:address": <WalletPage />,
  manufacturer: <ManufacturerPage />,
  "manufacturer/:id": <ManufacturerPage />,
  channels: <ChannelsPage />,
  access: <AccessPage />,
};

/**
 * Hash routes, so that a device's link or QR code (`#/activate/<id>?…`) opens the page from any static host.
 * A page is added to PAGE_PATHS (routes.ts) and given its element in PAGES, under the same layout.
 */
export const router = createHashRouter([
  {
    path: "/",
    element: <Layout />,
    errorElement: <RouteError />,
    children: [
      {
        // A page that throws shows one line under the nav (RouteError), never React Router's stack page.
        errorElement: <RouteError />,
        children: [
          { index: true, element: <Navigate to="/activate" replace /> },
          ...PAGE_PATHS.map((path) => ({ path, element: PAGES[path] })),
          { path: "*", element: <p role="alert">No such page.</p> },
        ],
      },
    ],
  },
]);
