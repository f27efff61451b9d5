import { useState } from "react";
import type { FormEvent } from "react";
import type { Address } from "viem";
import { usePublicClient } from "wagmi";
import { Wallet } from "ethers";
import type { TypedDataDomain } from "ethers";

import { AccessProblem, buySlot, channelFileFrom, clientKeyFrom } from "../channels/access";
import type { Bought } from "../channels/access";
import { useAppConfig } from "../chain/context";
import { readDomain } from "../chain/contracts";

/** Served by Vite, the AS is proxied at `as/` (THINGLEDGER_AS_URL): same origin, no CORS needed. */
const DEFAULT_AS_URL = "as";

/**
 * Paid access as a channel's client: the client key (pasted, or a throwaway one made here for the owner to add
 * to the channel's group) lives in this page's memory only; the page signs the next cumulative receipt and shows
 * the code the AS trades for it.
 */
export function AccessPage() {
  const config = useAppConfig();
  const client = usePublicClient({ chainId: config.chainId })!;
  const [wallet, setWallet] = useState<Wallet | null>(null);
  const [keyProblem, setKeyProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [bought, setBought] = useState<Bought | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

  function useKey(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const text = String(new FormData(event.currentTarget).get("key") ?? "");
    try {
      setWallet(clientKeyFrom(text));
      setKeyProblem(null);
      event.currentTarget.reset();
    } catch (error) {
      setKeyProblem((error as Error).message);
    }
  }

  async function buy(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (wallet === null) return;
    const form = new FormData(event.currentTarget);
    setBusy(true);
    setProblem(null);
    setBought(null);
    try {
      const channel = channelFileFrom(String(form.get("channel") ?? ""));
      if (Number(channel.chainId) !== config.chainId)
        throw new AccessProblem(`The channel is on chain ${channel.chainId}, this app on chain ${config.chainId}.`);
      let domain: TypedDataDomain;
      try {
        domain = await readDomain(client, channel.contract as Address);
      } catch {
        throw new AccessProblem(`Cannot read the channels contract ${channel.contract} on chain ${config.chainId}.`);
      }
      setBought(
        await buySlot({
          wallet,
          channel,
          domain,
          asUrl: String(form.get("as") ?? ""),
          deviceId: String(form.get("device") ?? ""),
          maxPrice: String(form.get("maxPrice") ?? ""),
        }),
      );
    } catch (error) {
      setProblem(error instanceof AccessProblem ? error.message : `Failed: ${(error as Error).message}`);
    } finally {
      setBusy(false);
    }
  }

  return (
    <>
      <h1>Paid access</h1>
      <section aria-label="Client key">
        <h2>Client key</h2>
        {wallet === null ? (
          <form onSubmit={useKey}>
            <label>
              Client private key
              <input name="key" type="password" autoComplete="off" placeholder="0x…" />
            </label>
            <button type="submit">Use this key</button>{" "}
            <button type="button" onClick={() => setWallet(Wallet.createRandom() as unknown as Wallet)}>
              Make a throwaway key
            </button>
            {keyProblem !== null && (
              <p role="alert" className="error" data-testid="key-problem">
                {keyProblem}
              </p>
            )}
          </form>
        ) : (
          <p>
            Client{" "}
            <span className="mono" data-testid="client-address">
              {wallet.address}
            </span>{" "}
            (kept in this page's memory only: reloading forgets it). The channel's owner must have this address in the
            channel's client group.{" "}
            <button type="button" onClick={() => setWallet(null)}>
              Forget the key
            </button>
          </p>
        )}
      </section>
      <form onSubmit={(e) => void buy(e)} aria-label="Buy a slot">
        <h2>Buy a slot</h2>
        <label>
          Channel file
          <textarea name="channel" rows={4} placeholder="The JSON channel:open --out wrote" />
        </label>
        <label>
          AS URL
          <input name="as" defaultValue={DEFAULT_AS_URL} />
        </label>
        <label>
          Device id
          <input name="device" placeholder="0x…" />
        </label>
        <label>
          Maximum price per slot
          <input name="maxPrice" defaultValue="0.001" inputMode="decimal" />
        </label>
        <button type="submit" disabled={wallet === null || busy}>
          {busy ? "Buying…" : "Buy a code"}
        </button>
      </form>
      {problem !== null && (
        <p role="alert" className="error" data-testid="problem">
          {problem}
        </p>
      )}
      {bought !== null && (
        <section aria-label="Code" data-testid="bought">
          <p>
            Code{" "}
            <strong className="mono" data-testid="otp">
              {bought.otp}
            </strong>{" "}
            for device <span className="mono">{bought.deviceId}</span> (counter{" "}
            <span data-testid="counter">{bought.counter}</span>).
          </p>
          <p className="hint">
            Paid in all on this channel: <span data-testid="amount">{bought.amount}</span> wei (this slot {bought.price}{" "}
            wei). Valid until at least {new Date(bought.expiresAt * 1000).toISOString()}.
          </p>
          {bought.advance !== undefined && (
            <p className="hint">
              Present it with the AS's advance: <code data-testid="advance">{JSON.stringify(bought.advance)}</code>
            </p>
          )}
        </section>
      )}
    </>
  );
}
