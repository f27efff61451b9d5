import { useQuery } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import type { FormEvent } from "react";
import { useNavigate, useParams } from "react-router";
import { formatEther } from "viem";
import type { Address } from "viem";
import { usePublicClient } from "wagmi";

import { registryAbi } from "../chain/contracts";
import { useAppConfig } from "../chain/context";
import { manufacturerDetail } from "../indexer/api";
import { useIndexer } from "../indexer/hooks";
import "../indexer/indexer.css";

const short = (hex: string) => `${hex.slice(0, 10)}…${hex.slice(-6)}`;

/** A manufacturer: its whitelists with capacity and used (from the indexer), and its fee credit (from the chain). */
export function ManufacturerPage() {
  const { id } = useParams();
  const navigate = useNavigate();
  // The field follows the route's id (one form, never keyed: a key it shared with the detail below left a
  // stale copy of the form on every page).
  const [value, setValue] = useState(id ?? "");
  useEffect(() => setValue(id ?? ""), [id]);

  function open(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (value.trim() !== "") void navigate(`/manufacturer/${value.trim()}`);
  }

  return (
    <>
      <h1>Manufacturer</h1>
      <form className="filters" onSubmit={open} aria-label="Manufacturer">
        <label>
          Manufacturer id
          <input
            name="id"
            value={value}
            onChange={(e) => setValue(e.target.value)}
            placeholder="1"
            inputMode="numeric"
          />
        </label>
        <div>
          <button type="submit">Show</button>
        </div>
      </form>
      {id === undefined ? (
        <p className="hint">Enter a manufacturer id (the registry numbers them from 1).</p>
      ) : (
        <Manufacturer key={id} id={id} />
      )}
    </>
  );
}

function Manufacturer({ id }: { id: string }) {
  const detail = useIndexer(["manufacturer", id], (url, signal) => manufacturerDetail(url, id, signal));
  if (detail.isPending) return <p className="hint">Reading the indexer…</p>;
  if (detail.isError)
    return (
      <p role="alert" className="error" data-testid="manufacturer-error">
        {detail.error.message}
      </p>
    );
  const { manufacturer, whitelists } = detail.data;
  return (
    <>
      <section aria-label="Identity">
        <dl className="card" aria-label="Identity">
          <dt>Account</dt>
          <dd data-testid="manufacturer-account">{manufacturer.account}</dd>
          <dt>Payout</dt>
          <dd>{manufacturer.payout}</dd>
          <dt>Status</dt>
          <dd>{manufacturer.active ? "Active" : "Removed"}</dd>
          <dt>Fee credit</dt>
          <dd data-testid="fee-credit">
            <FeeCredit id={manufacturer.id} />
          </dd>
        </dl>
      </section>
      <section aria-label="Whitelists">
        <h2>Whitelists</h2>
        {whitelists.length === 0 ? (
          <p data-testid="no-whitelists">This manufacturer has committed no whitelist.</p>
        ) : (
          <div className="table-scroll">
            <table className="history">
              <thead>
                <tr>
                  <th>Root</th>
                  <th>Capacity</th>
                  <th>Used</th>
                  <th>Left</th>
                  <th>Open</th>
                </tr>
              </thead>
              <tbody>
                {whitelists.map((w) => (
                  <tr key={w.root} data-testid="whitelist-row" data-root={w.root}>
                    <th scope="row" title={w.root}>
                      {short(w.root)}
                    </th>
                    <td data-testid="whitelist-capacity">{w.capacity}</td>
                    <td data-testid="whitelist-used">{w.used}</td>
                    <td>{w.capacity - w.used}</td>
                    <td>{w.closed ? "closed" : "open"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}

/** The manufacturer's prepaid fee credit, read from the registry (its account, then `getManufacturer`). */
function FeeCredit({ id }: { id: number }) {
  const config = useAppConfig();
  const client = usePublicClient({ chainId: config.chainId })!;
  const credit = useQuery({
    queryKey: ["fee-credit", config.registry, id],
    queryFn: async () => {
      const account: Address = await client.readContract({
        address: config.registry,
        abi: registryAbi,
        functionName: "manufacturerAccount",
        args: [id],
      });
      const view = await client.readContract({
        address: config.registry,
        abi: registryAbi,
        functionName: "getManufacturer",
        args: [account],
      });
      return view.credit;
    },
  });
  if (credit.isPending) return <>reading the chain…</>;
  if (credit.isError) return <span role="alert">cannot read the chain: {credit.error.message.split("\n")[0]}</span>;
  return <>{formatEther(credit.data)} THING</>;
}
