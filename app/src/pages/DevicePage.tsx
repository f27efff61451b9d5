import { useQuery } from "@tanstack/react-query";
import { useMemo } from "react";
import { Link, useParams } from "react-router";
import { zeroAddress } from "viem";
import { usePublicClient } from "wagmi";

import { isDeviceIdHex } from "../../../src/devices/id";
import type { DeviceInfo } from "../../../src/registry/device-info";
import { useAppConfig } from "../chain/context";
import { readDevice } from "../chain/contracts";
import { plainError } from "../chain/errors";

import { HistoryTable } from "../components/HistoryTable";
import { TimeChart } from "../components/TimeChart";
import { IndexerError, channelsOf, deviceDetail, utcTime, walletOf } from "../indexer/api";
import type { ScoreChange } from "../indexer/api";
import { useIndexer } from "../indexer/hooks";
import "../indexer/indexer.css";

const capitalized = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** The device's status and owner from the registry itself, read afresh on each visit. */
function useChainDevice(deviceId: string) {
  const config = useAppConfig();
  const client = usePublicClient({ chainId: config.chainId })!;
  return useQuery({
    queryKey: ["chain-device", config.registry, deviceId],
    enabled: isDeviceIdHex(deviceId),
    staleTime: 0,
    queryFn: () => readDevice(client, config.registry, deviceId),
  });
}

/**
 * Where the indexer contradicts the chain (status or owner), one sentence; empty when they agree. The page shows
 * the chain's values, so nothing on screen is what the chain contradicts.
 */
function disagreement(indexed: { status: string; owner: string | null }, chain: DeviceInfo): string {
  const chainOwner = chain.owner === zeroAddress ? null : chain.owner.toLowerCase();
  const differ: string[] = [];
  if (indexed.status.toLowerCase() !== chain.status)
    differ.push(`status ${indexed.status} where the chain says ${capitalized(chain.status)}`);
  if ((indexed.owner?.toLowerCase() ?? null) !== chainOwner)
    differ.push(`owner ${indexed.owner ?? "none"} where the chain says ${chainOwner ?? "none"}`);
  if (differ.length === 0) return "";
  return `The indexer disagrees with the chain (it lags or is wrong): it says ${differ.join(", and ")}. The chain's values are shown; the histories below are the indexer's.`;
}

/** A device as the indexer has it (histories, reputation, wallet, channels), its status and owner as the chain has them. */
export function DevicePage() {
  const { deviceId = "" } = useParams();
  const detail = useIndexer(["device", deviceId], (url, signal) => deviceDetail(url, deviceId, signal));
  const chain = useChainDevice(deviceId);
  if (detail.isPending || (chain.isPending && chain.fetchStatus !== "idle"))
    return <p className="hint">Reading the indexer and the chain…</p>;
  if (detail.isError)
    return (
      <>
        <h1>Device</h1>
        <p role="alert" className="error" data-testid="device-error">
          {detail.error.message}
        </p>
        <Link to="/fleet">Back to the fleet</Link>
      </>
    );
  const { device: d, statusHistory, ownerHistory, reputationHistory } = detail.data;
  const onChain = chain.data;
  const status = onChain === undefined ? d.status : capitalized(onChain.status);
  const owner = onChain === undefined ? d.owner : onChain.owner === zeroAddress ? null : onChain.owner.toLowerCase();
  const differs = onChain === undefined ? "" : disagreement(d, onChain);
  return (
    <>
      <h1>Device</h1>
      {chain.isError && (
        <p role="alert" className="error" data-testid="device-unchecked">
          The status and owner shown are the indexer&apos;s, unchecked: the chain could not be read (
          {plainError(chain.error)}).
        </p>
      )}
      {differs !== "" && (
        <p role="alert" className="error" data-testid="device-disagrees">
          {differs}
        </p>
      )}
      <dl className="card" aria-label="Identity">
        <dt>Id</dt>
        <dd className="mono" data-testid="device-id">
          {d.id}
        </dd>
        <dt>Status</dt>
        <dd className={`status-${status.toLowerCase()}`} data-testid="device-status">
          {status}
        </dd>
        <dt>Manufacturer</dt>
        <dd>{d.manufacturerId}</dd>
        <dt>Device key</dt>
        <dd className="mono">{d.deviceKey}</dd>
        <dt>Type</dt>
        <dd>{d.deviceType}</dd>
        <dt>Whitelist root</dt>
        <dd className="mono">{d.whitelistRoot ?? "— (registered directly)"}</dd>
        <dt>Owner</dt>
        <dd className="mono" data-testid="device-owner">
          {owner ?? "—"}
        </dd>
        <dt>Reputation</dt>
        <dd>{d.score === null ? "—" : `${d.score} / 1000 (trend ${d.trend ?? 0})`}</dd>
        <dt>Registered</dt>
        <dd>
          {utcTime(d.registeredAt)} UTC, block {d.registeredBlock}
        </dd>
        <dt>Activated</dt>
        <dd>{d.activatedAt === null ? "—" : `${utcTime(d.activatedAt)} UTC`}</dd>
      </dl>

      <h2>Status history</h2>
      <HistoryTable
        testId="status-history"
        headers={["Status", "Block", "Time (UTC)", "By", "Reason"]}
        items={statusHistory}
        row={(s) => (
          <tr key={s.id}>
            <td>{s.status}</td>
            <td>{s.block}</td>
            <td>{utcTime(s.timestamp)}</td>
            <td className="mono">{s.by ?? "—"}</td>
            <td>{s.reason ?? "—"}</td>
          </tr>
        )}
      />

      <h2>Owner history</h2>
      <HistoryTable
        testId="owner-history"
        headers={["From", "To", "Block", "Time (UTC)"]}
        items={ownerHistory}
        empty={<p data-testid="owner-history-empty">Never owned: the device has not been activated.</p>}
        row={(o) => (
          <tr key={o.id}>
            <td className="mono">{o.from ?? "— (activation)"}</td>
            <td className="mono">{o.to}</td>
            <td>{o.block}</td>
            <td>{utcTime(o.timestamp)}</td>
          </tr>
        )}
      />

      <h2>Reputation over time</h2>
      <ReputationChart history={reputationHistory} />

      {owner !== null && <OwnerWallet owner={owner} />}
      <DeviceWallets wallets={detail.data.wallets} />
      {owner !== null && <OwnerChannels owner={owner} />}
      <p>
        <Link to="/fleet">Back to the fleet</Link>
      </p>
    </>
  );
}

const SCORE_RANGE: [number, number] = [0, 1000];

function ReputationChart({ history }: { history: ScoreChange[] }) {
  const series = useMemo(
    () => ({ x: history.map((r) => Number(r.timestamp)), y: history.map((r) => r.score) }),
    [history],
  );
  if (history.length === 0) return <p data-testid="reputation-empty">No score submitted for this device yet.</p>;
  const last = history[history.length - 1]!;
  return (
    <TimeChart
      x={series.x}
      y={series.y}
      label="score"
      kind="steps"
      range={SCORE_RANGE}
      testId="reputation-chart"
      summary={`${history.length} score change${history.length === 1 ? "" : "s"}; latest ${last.score} / 1000 (epoch ${last.epoch}).`}
    />
  );
}

/** What a wallet or channel lookup says when it cannot answer: the route missing is no failure. */
function Unanswered({ error, what }: { error: Error; what: string }) {
  if (error instanceof IndexerError && error.missingRoute)
    return <p className="hint">{`${what} are not available from this indexer.`}</p>;
  return <p className="error">{error.message}</p>;
}

/** A device handed to a device wallet is owned by the wallet: the indexer's wallet, when it indexes wallets. */
function OwnerWallet({ owner }: { owner: string }) {
  const wallet = useIndexer(["wallet", owner], (url, signal) => walletOf(url, owner, signal));
  return (
    <section data-testid="device-wallet">
      <h2>Device wallet</h2>
      {wallet.isPending && <p className="hint">Reading the indexer…</p>}
      {wallet.isError &&
        (wallet.error instanceof IndexerError && wallet.error.status === 404 && !wallet.error.missingRoute ? (
          <p className="hint">The owner is an account, not a device wallet.</p>
        ) : (
          <Unanswered error={wallet.error} what="Device wallets" />
        ))}
      {wallet.data !== undefined && (
        <dl className="card">
          <dt>Wallet</dt>
          <dd className="mono">
            <Link to={`/wallets/${wallet.data.wallet.address}`}>{wallet.data.wallet.address}</Link>
          </dd>
          {wallet.data.wallet.owners !== undefined && (
            <>
              <dt>Owners</dt>
              <dd className="mono">{wallet.data.wallet.owners.join(", ")}</dd>
            </>
          )}
          {wallet.data.allowances?.map((a) => (
            <div key={a.asset} style={{ display: "contents" }}>
              <dt className="mono">{a.asset}</dt>
              <dd>
                limit {a.limit}, available {a.available}
              </dd>
            </div>
          ))}
        </dl>
      )}
    </section>
  );
}

/** Every wallet of the device the indexer lists (owning it or linked to it), each linking to its wallet page. */
function DeviceWallets({ wallets }: { wallets?: { address: string }[] }) {
  if (wallets === undefined || wallets.length === 0) return null;
  return (
    <section data-testid="device-wallets">
      <h2>Wallets of this device</h2>
      <ul>
        {wallets.map((w) => (
          <li key={w.address} className="mono">
            <Link to={`/wallets/${w.address}`}>{w.address}</Link>
          </li>
        ))}
      </ul>
    </section>
  );
}

/** The payment channels the device's owner opened, when the indexer indexes channels. */
function OwnerChannels({ owner }: { owner: string }) {
  const channels = useIndexer(["channels", owner], (url, signal) => channelsOf(url, owner, signal));
  return (
    <section data-testid="device-channels">
      <h2>Payment channels</h2>
      {channels.isPending && <p className="hint">Reading the indexer…</p>}
      {channels.isError && <Unanswered error={channels.error} what="Payment channels" />}
      {channels.data !== undefined &&
        (channels.data.items.length === 0 ? (
          <p>No channel opened by the owner.</p>
        ) : (
          <ul>
            {channels.data.items.map((c) => (
              <li key={c.id} className="mono">
                {c.id.slice(0, 18)}… {c.status}, deposit {c.deposit} {c.token ? "THING (wei)" : "wei"}, to {c.payee}
              </li>
            ))}
          </ul>
        ))}
    </section>
  );
}
