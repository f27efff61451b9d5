import { NavLink, Outlet } from "react-router";

import { useAppConfig } from "./chain/context";
import { WalletButton } from "./components/WalletButton";

export function Layout() {
  const config = useAppConfig();
  return (
    <>
      <header className="top">
        <strong className="brand">ThingLedger</strong>
        <nav aria-label="Main">
          <NavLink to="/activate">Activate</NavLink>
          <NavLink to="/validate">Validate</NavLink>
          <NavLink to="/relay">Relay</NavLink>
          <NavLink to="/fleet">Fleet</NavLink>
          <NavLink to="/manufacturer">Manufacturer</NavLink>
          <NavLink to="/channels">Channels</NavLink>
          <NavLink to="/access">Access</NavLink>
        </nav>
        <span className="network" title={config.rpcUrl}>
          {config.network} · chain {config.chainId}
        </span>
        <WalletButton />
      </header>
      <main className="page">
        <Outlet />
      </main>
    </>
  );
}
