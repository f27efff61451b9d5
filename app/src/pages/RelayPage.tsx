import { useMemo, useState } from "react";
import { getAddress } from "viem";
import { useConfig, useConnection, usePublicClient } from "wagmi";

import { parseRelayRequest } from "../../../src/registry/activation-link";
import { formatThing } from "../../../src/units";
import { relay } from "../chain/activation";
import { useAppConfig } from "../chain/context";
import { readDevice } from "../chain/contracts";
import { plainError } from "../chain/errors";

/**
 * A relayer submits an owner's signed activation (permit and payment consent), paying the gas from the
 * connected account; the fee comes from the owner. A relayer run by hand: `relay:serve` is the service (src/relay/).
 */
export function RelayPage() {
  const config = useAppConfig();
  const client = usePublicClient({ chainId: config.chainId })!;
  const wagmi = useConfig();
  const { address, chainId } = useConnection();
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<{ ok: boolean; text: string }>();
  // What Submit would send, shown before it is pressed: the device, its new owner, the most the owner pays.
  const preview = useMemo(() => {
    if (text.trim() === "") return undefined;
    try {
      const { request, payload } = parseRelayRequest(text);
      return {
        ok: true,
        text: `Submit activates device ${payload.deviceId} for owner ${getAddress(payload.owner)}; the owner pays a fee of at most ${formatThing(BigInt(request.maxFee))}, your account the gas.`,
      };
    } catch (error) {
      return { ok: false, text: plainError(error) };
    }
  }, [text]);

  async function submit(): Promise<void> {
    setBusy(true);
    setResult(undefined);
    try {
      const { request, payload } = parseRelayRequest(text);
      if (request.chainId !== config.chainId)
        throw new Error(`this request is for chain ${request.chainId}, the registry is on chain ${config.chainId}`);
      if (chainId !== config.chainId)
        throw new Error(
          `Wrong network: your wallet is on chain ${chainId}, the registry is on chain ${config.chainId}.`,
        );
      const before = await readDevice(client, config.registry, payload.deviceId);
      const deployment = { chainId: config.chainId, registry: config.registry, token: config.token };
      const hash = await relay(wagmi, client, deployment, payload, request, before.status === "unknown");
      const after = await readDevice(client, config.registry, payload.deviceId);
      setResult({
        ok: after.status === "active",
        text: `Relayed: the device is ${after.status}, owned by ${after.owner}; at most ${formatThing(BigInt(request.maxFee))} taken from the owner (transaction ${hash}).`,
      });
    } catch (error) {
      setResult({ ok: false, text: plainError(error) });
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby="relay-title">
      <h1 id="relay-title">Relay an activation</h1>
      <p>Paste an owner&apos;s relay request. Your account pays the gas; the owner pays the fee.</p>
      <label>
        Relay request
        <textarea rows={10} spellCheck={false} value={text} onChange={(e) => setText(e.target.value)} />
      </label>
      {preview !== undefined && (
        <p className={preview.ok ? "hint" : "error"} data-testid="relay-preview">
          {preview.text}
        </p>
      )}
      <button type="button" disabled={address === undefined || busy || text.trim() === ""} onClick={submit}>
        {address === undefined ? "Connect a wallet to relay" : "Submit"}
      </button>
      {busy && <p aria-busy="true">Submitting…</p>}
      {result !== undefined && (
        <p role={result.ok ? "status" : "alert"} className={result.ok ? "ok" : "error"} data-testid="result">
          {result.text}
        </p>
      )}
    </section>
  );
}
