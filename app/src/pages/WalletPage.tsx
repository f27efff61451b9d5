import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useParams } from "react-router";
import { formatUnits, getAddress, isAddress, zeroAddress } from "viem";
import type { Address } from "viem";
import { useConfig, useConnection, usePublicClient } from "wagmi";

import { useAppConfig } from "../chain/context";
import { plainError } from "../chain/errors";
import { fetchQueue, freezeDevice, readWallet } from "../chain/wallets";
import type { AssetState, WalletChainState } from "../chain/wallets";
import { HistoryTable } from "../components/HistoryTable";
import { WalletProposals, wrongNetwork } from "../components/WalletProposals";
import { IndexerError, utcTime, walletOf } from "../indexer/api";
import type { WalletDetail } from "../indexer/api";
import { useIndexer } from "../indexer/hooks";
import "../indexer/indexer.css";

/** How often the page rereads the chain and the queue, so another owner's signature shows up. */
export const REFRESH_MS = 3_000;

/**
 * A device wallet: balances, owners and threshold, the device key and whether it is frozen, each asset's
 * limit with what the device used this period (all from the chain), its history (from the indexer), and the
 * owners' proposals (from the app server's queue).
 */
export function WalletPage() {
  const { address = "" } = useParams();
  if (!isAddress(address))
    return (
      <>
        <h1>Device wallet</h1>
        <p role="alert" className="error" data-testid="wallet-error">
          {`"${address}" is not an address: a wallet address is 0x and 40 hex digits.`}
        </p>
      </>
    );
  return <Wallet key={address} wallet={getAddress(address)} />;
}

function Wallet({ wallet }: { wallet: Address }) {
  const config = useAppConfig();
  const client = usePublicClient({ chainId: config.chainId })!;
  const chain = useQuery({
    queryKey: ["wallet-chain", config.chainId, wallet],
    queryFn: () => readWallet(client, wallet, config.token),
    refetchInterval: REFRESH_MS,
  });
  const queue = useQuery({
    queryKey: ["wallet-queue", wallet],
    queryFn: () => fetchQueue(wallet),
    refetchInterval: REFRESH_MS,
    retry: false,
  });
  const history = useIndexer(["wallet", wallet], (url, signal) => walletOf(url, wallet, signal));
  const owners = queue.data?.owners ?? history.data?.wallet.owners;

  return (
    <>
      <h1>Device wallet</h1>
      <p className="mono" data-testid="wallet-address">
        {wallet}
      </p>
      {chain.isPending && <p className="hint">Reading the chain…</p>}
      {chain.isError && (
        <p role="alert" className="error" data-testid="wallet-error">
          {`No device wallet could be read at ${wallet}: ${plainError(chain.error)}`}
        </p>
      )}
      {chain.data !== undefined && (
        <>
          <Overview wallet={wallet} state={chain.data} owners={owners} />
          <Limits assets={chain.data.assets} period={chain.data.period} />
          <WalletProposals
            wallet={wallet}
            state={chain.data}
            owners={owners}
            queue={queue.data}
            queueError={queue.error}
            executions={history.data?.executions.items}
          />
        </>
      )}
      <History history={history.data} error={history.error} pending={history.isPending} token={config.token} />
    </>
  );
}

const amount = (value: bigint | string, symbol: string) => `${formatUnits(BigInt(value), 18)} ${symbol}`;

function Overview({ wallet, state, owners }: { wallet: Address; state: WalletChainState; owners?: string[] }) {
  return (
    <section aria-label="Wallet">
      <dl className="card">
        <dt>Device</dt>
        <dd className="mono">
          <Link to={`/devices/${state.deviceId}`}>{state.deviceId}</Link>
        </dd>
        <dt>Device key</dt>
        <dd className="mono">{state.deviceKey}</dd>
        <dt>Device spending</dt>
        <dd className={state.frozen ? "error" : "ok"} data-testid="wallet-frozen">
          {state.frozen ? "Frozen: the device cannot spend until the owners unfreeze it" : "Active"}
        </dd>
        <dt>Owners</dt>
        <dd className="mono" data-testid="wallet-owners">
          {owners === undefined ? `${state.ownerCount} (their addresses are not known here)` : owners.join(", ")}
        </dd>
        <dt>Threshold</dt>
        <dd data-testid="wallet-threshold">{`${state.threshold} of ${state.ownerCount} owners sign an execution`}</dd>
        <dt>Next nonce</dt>
        <dd data-testid="wallet-nonce">{state.nonce.toString()}</dd>
        {state.assets.map((a) => (
          <div key={a.asset.address} style={{ display: "contents" }}>
            <dt>{`${a.asset.symbol} balance`}</dt>
            <dd data-testid={`balance-${a.asset.symbol.toLowerCase()}`}>{amount(a.balance, a.asset.symbol)}</dd>
          </div>
        ))}
      </dl>
      <FreezeButton wallet={wallet} frozen={state.frozen} owners={owners} />
    </section>
  );
}

function Limits({ assets, period }: { assets: AssetState[]; period: number }) {
  return (
    <section aria-label="Limits">
      <h2>Device limits</h2>
      <p className="hint">{`Per period of ${period} s, counted over a sliding window.`}</p>
      <div className="table-scroll">
        <table className="history">
          <thead>
            <tr>
              <th>Asset</th>
              <th>Limit per period</th>
              <th>Used this period</th>
              <th>Available now</th>
            </tr>
          </thead>
          <tbody>
            {assets.map((a) => (
              <tr key={a.asset.address} data-testid={`limit-${a.asset.symbol.toLowerCase()}`}>
                <td>{a.asset.symbol}</td>
                <td>{a.limit === 0n ? "none (the device cannot spend it)" : amount(a.limit, a.asset.symbol)}</td>
                <td>{amount(a.spentCurrentPeriod, a.asset.symbol)}</td>
                <td>{amount(a.available, a.asset.symbol)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

/** Any single owner freezes the device key at once; unfreezing is a proposal. */
function FreezeButton({ wallet, frozen, owners }: { wallet: Address; frozen: boolean; owners?: string[] }) {
  const config = useAppConfig();
  const wagmi = useConfig();
  const queryClient = useQueryClient();
  const { address: account, chainId } = useConnection();
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const isOwner = account !== undefined && owners?.some((o) => o.toLowerCase() === account.toLowerCase()) === true;
  if (frozen) return null;

  async function freeze() {
    setBusy(true);
    setProblem(null);
    try {
      const wrong = wrongNetwork(chainId, config.chainId);
      if (wrong !== null) throw new Error(wrong);
      await freezeDevice(wagmi, config.chainId, account!, wallet, owners!);
      await queryClient.invalidateQueries({ queryKey: ["wallet-chain"] });
    } catch (error) {
      setProblem(plainError(error));
    } finally {
      setBusy(false);
    }
  }

  return (
    <p>
      <button type="button" disabled={!isOwner || busy} onClick={() => void freeze()}>
        {busy ? "Freezing…" : "Freeze the device key"}
      </button>{" "}
      <span className="hint">
        {isOwner ? "Any one owner can freeze it at once." : "Connect an owner's account to freeze the device key."}
      </span>
      {problem !== null && (
        <span role="alert" className="error" data-testid="freeze-problem">
          {` ${problem}`}
        </span>
      )}
    </p>
  );
}

function History(props: { history?: WalletDetail; error: Error | null; pending: boolean; token: Address }) {
  const { history, error, pending, token } = props;
  const symbol = (asset: string) =>
    asset === zeroAddress ? "ETH" : asset.toLowerCase() === token.toLowerCase() ? "THING" : getAddress(asset);
  return (
    <section aria-label="History" data-testid="wallet-history">
      <h2>History</h2>
      {pending && <p className="hint">Reading the indexer…</p>}
      {error !== null && (
        <p className={error instanceof IndexerError && error.missingRoute ? "hint" : "error"}>
          {error instanceof IndexerError && error.missingRoute
            ? "Wallet history is not available from this indexer."
            : error.message}
        </p>
      )}
      {history !== undefined && (
        <>
          <h3>Owner executions</h3>
          <HistoryTable
            testId="executions"
            headers={["Nonce", "To", "Value", "Result", "Time (UTC)"]}
            items={history.executions.items}
            empty={<p data-testid="executions-empty">No execution yet.</p>}
            row={(e) => (
              <tr key={e.id}>
                <td>{e.nonce}</td>
                <td className="mono">{getAddress(e.to)}</td>
                <td>{amount(e.value, "ETH")}</td>
                <td>{e.success ? "succeeded" : "failed (nonce spent)"}</td>
                <td>{utcTime(e.timestamp)}</td>
              </tr>
            )}
          />
          <h3>Device spends</h3>
          <HistoryTable
            testId="spends"
            headers={["Asset", "To", "Amount", "Time (UTC)"]}
            items={history.spends.items}
            empty={<p data-testid="spends-empty">The device has spent nothing yet.</p>}
            row={(s) => (
              <tr key={s.id}>
                <td>{symbol(s.asset)}</td>
                <td className="mono">{getAddress(s.to)}</td>
                <td>{formatUnits(BigInt(s.amount), 18)}</td>
                <td>{utcTime(s.timestamp)}</td>
              </tr>
            )}
          />
        </>
      )}
    </section>
  );
}
