import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import type { FormEvent } from "react";
import { useLocation, useNavigate, useParams } from "react-router";
import type { Hex } from "viem";
import { formatUnits, parseUnits } from "viem";
import { useConfig, useConnection, usePublicClient } from "wagmi";

import { manufacturerIdOf } from "../../../src/devices/id";
import { activationProblem, parseActivationQuery } from "../../../src/registry/activation-link";
import type { ActivationPayload, RelayRequest } from "../../../src/registry/activation-link";
import { sendToRelayer } from "../../../src/relay/client";
import { TOKEN_DECIMALS, formatThing } from "../../../src/units";
import { activateWithPermit, signRelayRequest } from "../chain/activation";
import { useAppConfig } from "../chain/context";
import { chainNow, readDevice, registryAbi, tokenAbi } from "../chain/contracts";
import { plainError } from "../chain/errors";
import { DeviceCard } from "../components/DeviceCard";
import { DeviceIdForm } from "../components/DeviceIdForm";

/** The link's signed activation, or the one-line reason it is malformed. */
function payloadOf(deviceId: string | undefined, search: string): { payload?: ActivationPayload; error?: string } {
  if (deviceId === undefined) return {};
  try {
    return { payload: parseActivationQuery(deviceId, search) };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

/** The device owner's page: the device as the chain states it, the activation it signed, and Activate. */
export function ActivatePage() {
  const { deviceId } = useParams();
  const { search } = useLocation();
  const navigate = useNavigate();
  const config = useAppConfig();
  const client = usePublicClient({ chainId: config.chainId })!;
  const wagmi = useConfig();
  const { address, chainId: walletChainId } = useConnection();
  const queries = useQueryClient();
  const [maxFeeText, setMaxFeeText] = useState<string>();
  const [busy, setBusy] = useState<string>();
  const [result, setResult] = useState<{ ok: boolean; text: string }>();
  const [relayRequest, setRelayRequest] = useState<RelayRequest>();

  const { payload, error: linkError } = payloadOf(deviceId, search);
  const device = useQuery({
    queryKey: ["activation", config.registry, deviceId, address],
    enabled: deviceId !== undefined,
    queryFn: async () => {
      const info = await readDevice(client, config.registry, deviceId!);
      const [fee, now, balance] = await Promise.all([
        info.status === "unknown" && payload?.whitelist !== undefined
          ? client
              .readContract({
                address: config.registry,
                abi: registryAbi,
                functionName: "getWhitelist",
                args: [manufacturerIdOf(info.deviceId), payload.whitelist.root as Hex],
              })
              .then((w) => w.activationFee)
          : client.readContract({
              address: config.registry,
              abi: registryAbi,
              functionName: "activationFeeOf",
              args: [info.deviceId as Hex],
            }),
        chainNow(client),
        address === undefined
          ? undefined
          : client.readContract({ address: config.token, abi: tokenAbi, functionName: "balanceOf", args: [address] }),
      ]);
      return { info, fee, now, balance };
    },
  });

  const data = device.data;
  let maxFee: bigint | undefined = data?.fee;
  let maxFeeError: string | undefined;
  if (maxFeeText !== undefined && maxFeeText.trim() !== "") {
    try {
      maxFee = parseUnits(maxFeeText.trim(), TOKEN_DECIMALS);
    } catch {
      maxFeeError = `"${maxFeeText}" is not an amount of THING`;
    }
  }
  const problem =
    data === undefined || maxFee === undefined
      ? undefined
      : activationProblem({
          info: data.info,
          payload,
          account: address,
          walletChainId,
          chainId: config.chainId,
          now: data.now,
          fee: data.fee,
          maxFee,
          balance: data.balance,
        });
  const ready = data !== undefined && payload !== undefined && address !== undefined && !problem && !maxFeeError;
  const deployment = { chainId: config.chainId, registry: config.registry, token: config.token };

  async function run(what: string, action: () => Promise<void>): Promise<void> {
    setBusy(what);
    setResult(undefined);
    try {
      await action();
    } catch (error) {
      setResult({ ok: false, text: plainError(error) });
    } finally {
      setBusy(undefined);
      await queries.invalidateQueries({ queryKey: ["activation"] });
    }
  }

  const activate = () =>
    run("Waiting for your wallet…", async () => {
      const register = data!.info.status === "unknown";
      const hash = await activateWithPermit(wagmi, client, deployment, payload!, maxFee!, register);
      const after = await readDevice(client, config.registry, payload!.deviceId);
      setResult({
        ok: after.status === "active",
        text: `Activated: the device is ${after.status}, owned by ${after.owner}; fee ${formatThing(data!.fee)} paid (transaction ${hash}).`,
      });
    });

  const forRelayer = () =>
    run("Waiting for your two signatures…", async () => {
      const register = data!.info.status === "unknown";
      setRelayRequest(await signRelayRequest(wagmi, client, deployment, payload!, maxFee!, register));
    });

  /** The signed request to the configured relayer (same origin only): its transaction, or its one-line refusal. */
  const toRelayer = () =>
    run("Sending to the relayer and waiting for the transaction…", async () => {
      const answer = await sendToRelayer(config.relayerUrl!, relayRequest!);
      const after = await readDevice(client, config.registry, answer.device);
      setResult({
        ok: after.status === "active",
        text: `Relayed: the device is ${after.status}, owned by ${after.owner}; fee ${formatThing(BigInt(answer.fee))} taken from the owner, gas paid by the relayer (transaction ${answer.txHash}).`,
      });
      setRelayRequest(undefined);
    });

  const lookUp = (id: string) => navigate(`/activate/${id}`);

  return (
    <section aria-labelledby="activate-title">
      <h1 id="activate-title">Activate a device</h1>
      <DeviceIdForm initial={deviceId} onSubmit={lookUp} action="Look up" />
      {linkError !== undefined && (
        <p role="alert" className="error">
          {linkError}
        </p>
      )}
      {device.isLoading && <p aria-busy="true">Reading the registry…</p>}
      {device.error !== null && (
        <p role="alert" className="error">
          {plainError(device.error)}
        </p>
      )}
      {data !== undefined && <DeviceCard info={data.info} fee={data.fee} />}
      {data !== undefined && payload !== undefined && (
        <dl className="card" aria-label="Signed activation">
          <dt>Signed by the device for</dt>
          <dd className="mono">{payload.owner}</dd>
          <dt>Good until</dt>
          <dd>{new Date(Number(payload.deadline) * 1000).toISOString()}</dd>
          {payload.whitelist !== undefined && (
            <>
              <dt>Whitelist</dt>
              <dd className="mono">{payload.whitelist.root}</dd>
            </>
          )}
        </dl>
      )}
      {data !== undefined && (
        <form className="actions" onSubmit={(e: FormEvent) => e.preventDefault()}>
          <label>
            Maximum fee (THING)
            <input
              inputMode="decimal"
              value={maxFeeText ?? formatUnits(data.fee, TOKEN_DECIMALS)}
              onChange={(e) => setMaxFeeText(e.target.value)}
            />
          </label>
          {maxFeeError !== undefined && (
            <p role="alert" className="error">
              {maxFeeError}
            </p>
          )}
          {problem !== undefined && (
            <p role="alert" className="error" data-testid="problem">
              {problem}
            </p>
          )}
          {address === undefined && payload !== undefined && problem === undefined && (
            <p>Connect the wallet of {payload.owner} to activate.</p>
          )}
          <button type="button" disabled={!ready || busy !== undefined} onClick={activate}>
            Activate and pay with a permit
          </button>
          <button type="button" disabled={!ready || busy !== undefined} onClick={forRelayer}>
            Sign for a relayer (no ETH needed)
          </button>
        </form>
      )}
      {busy !== undefined && <p aria-busy="true">{busy}</p>}
      {result !== undefined && (
        <p role={result.ok ? "status" : "alert"} className={result.ok ? "ok" : "error"} data-testid="result">
          {result.text}
        </p>
      )}
      {relayRequest !== undefined && (
        <div className="card">
          <p>
            Signed. {config.relayerUrl === undefined ? "Hand this" : "Send it to this app's relayer, or hand this"} to a
            relayer (the Relay page submits it from any account with ETH); the fee comes from {payload?.owner}, at most{" "}
            {formatThing(BigInt(relayRequest.maxFee))}:
          </p>
          {config.relayerUrl !== undefined && (
            <button type="button" disabled={busy !== undefined} onClick={toRelayer}>
              Send to relayer
            </button>
          )}
          <textarea readOnly rows={8} aria-label="Relay request" value={JSON.stringify(relayRequest, null, 2)} />
        </div>
      )}
      <p className="hint">
        A device&apos;s link or QR code opens this page as <code>#/activate/&lt;device id&gt;?owner=…&amp;sig=…</code>.
      </p>
    </section>
  );
}
