import { useConnect, useConnection, useConnectors, useDisconnect, useSwitchChain } from "wagmi";

import { useAppConfig } from "../chain/context";
import { plainError } from "../chain/errors";

/** Connect, the connected account, and a switch when the wallet is on another chain than the deployment. */
export function WalletButton() {
  const config = useAppConfig();
  const { address, chainId, status } = useConnection();
  const connectors = useConnectors();
  const connect = useConnect();
  const disconnect = useDisconnect();
  const switchChain = useSwitchChain();
  if (status === "connected" && address !== undefined)
    return (
      <span className="wallet">
        <span className="account" title={address}>
          {address.slice(0, 6)}…{address.slice(-4)}
        </span>
        {chainId !== config.chainId && (
          <button type="button" onClick={() => switchChain.mutate({ chainId: config.chainId })}>
            Switch to chain {config.chainId}
          </button>
        )}
        <button type="button" onClick={() => disconnect.mutate({})}>
          Disconnect
        </button>
      </span>
    );
  const connector = connectors[0];
  return (
    <span className="wallet">
      <button
        type="button"
        disabled={connector === undefined || status === "connecting"}
        onClick={() => connector !== undefined && connect.mutate({ connector })}
      >
        {status === "connecting" ? "Connecting…" : "Connect wallet"}
      </button>
      {connect.error !== null && (
        <span role="alert" className="error">
          {plainError(connect.error)}
        </span>
      )}
    </span>
  );
}
