import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import type { ChangeEvent, FormEvent } from "react";
import { formatUnits, isAddress, parseUnits } from "viem";
import type { Address } from "viem";
import { useConfig, useConnection, usePublicClient } from "wagmi";

import { decodeProposalCall } from "../../../src/wallets/decode";
import type { Proposal } from "../../../src/wallets/proposal";
import { useAppConfig } from "../chain/context";
import { plainError } from "../chain/errors";
import {
  buildProposal,
  executeProposal,
  executionOutcome,
  pageAssets,
  postProposal,
  proposalFromFile,
  signProposal,
} from "../chain/wallets";
import type { PageAction, QueuedProposal, WalletChainState, WalletQueue } from "../chain/wallets";

type Kind = "send-eth" | "send-thing" | "limit-eth" | "limit-thing" | "unfreeze";
const KINDS: { kind: Kind; label: string }[] = [
  { kind: "send-eth", label: "Send ETH out" },
  { kind: "send-thing", label: "Send THING out" },
  { kind: "limit-eth", label: "Set the device's ETH limit" },
  { kind: "limit-thing", label: "Set the device's THING limit" },
  { kind: "unfreeze", label: "Unfreeze the device key" },
];

/** The portal's wrong-network line, or null when the connected wallet is on the app's chain. */
export function wrongNetwork(connected: number | undefined, expected: number): string | null {
  return connected !== undefined && connected !== expected
    ? `Wrong network: your wallet is on chain ${connected}, the device wallet is on chain ${expected}. Switch network.`
    : null;
}

/**
 * A busy flag and the last problem of the page's actions; `run` refreshes the queue and chain after one, and
 * refuses an action that signs or sends (`usesWallet`) while the connected wallet is on another chain.
 */
function useAction() {
  const queryClient = useQueryClient();
  const config = useAppConfig();
  const { chainId } = useConnection();
  const [busy, setBusy] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  async function run(label: string, action: () => Promise<unknown>, usesWallet = true) {
    setBusy(label);
    setProblem(null);
    try {
      const wrong = usesWallet ? wrongNetwork(chainId, config.chainId) : null;
      if (wrong !== null) throw new Error(wrong);
      await action();
    } catch (error) {
      setProblem(plainError(error).split("\n")[0]!);
    } finally {
      setBusy(null);
      await queryClient.invalidateQueries({ queryKey: ["wallet-queue"] });
      await queryClient.invalidateQueries({ queryKey: ["wallet-chain"] });
    }
  }
  return { busy, problem, run };
}

/** The owners' proposals: create and sign one, import a file, sign others', see progress, execute. */
export function WalletProposals(props: {
  wallet: Address;
  state: WalletChainState;
  owners?: string[];
  queue?: WalletQueue;
  queueError: Error | null;
  /** The indexer's executions of the wallet (newest first), when it answered. */
  executions?: { nonce: string; success: boolean }[];
}) {
  const { wallet, state, owners, queue, queueError, executions } = props;
  const { address: account } = useConnection();
  const isOwner = account !== undefined && owners?.some((o) => o.toLowerCase() === account.toLowerCase()) === true;
  const action = useAction();
  // The queue lines proposals up a few nonces ahead: the waiting ones by increasing nonce, then the spent ones.
  const byNonce = (a: QueuedProposal, b: QueuedProposal) => Number(BigInt(a.proposal.nonce) - BigInt(b.proposal.nonce));
  const waiting = (queue?.proposals ?? []).filter((q) => !isSpent(q, state.nonce)).sort(byNonce);
  const spent = (queue?.proposals ?? []).filter((q) => isSpent(q, state.nonce)).sort((a, b) => byNonce(b, a));

  return (
    <section aria-label="Proposals" data-testid="proposals">
      <h2>Proposals</h2>
      <p className="hint">
        {`An owner proposes and signs; the other owners sign in their own browsers; once ${state.threshold} have signed, anyone executes.`}
      </p>
      {queueError !== null && (
        <p role="alert" className="error" data-testid="queue-error">
          {queueError.message}
        </p>
      )}
      {queue !== undefined && (
        <>
          {isOwner ? (
            <NewProposal wallet={wallet} state={state} account={account!} action={action} />
          ) : (
            <p className="hint">Connect an owner&apos;s account to propose or sign.</p>
          )}
          <ImportProposal wallet={wallet} action={action} signer={isOwner ? account : undefined} />
          {action.problem !== null && (
            <p role="alert" className="error" data-testid="proposal-problem">
              {action.problem}
            </p>
          )}
          {queue.proposals.length === 0 ? (
            <p data-testid="proposals-empty">No proposal queued for this wallet.</p>
          ) : (
            (
              [
                ["waiting", "Waiting, in the order they can execute", waiting],
                ["spent", "Spent nonces (no longer executable)", spent],
              ] as const
            ).map(
              ([key, title, list]) =>
                list.length > 0 && (
                  <div key={key} data-testid={`proposals-${key}`}>
                    <h3>{title}</h3>
                    <ul className="proposals">
                      {list.map((q) => (
                        <ProposalCard
                          key={q.id}
                          queued={q}
                          nonce={state.nonce}
                          queue={queue}
                          account={account}
                          isOwner={isOwner}
                          action={action}
                          executions={executions}
                        />
                      ))}
                    </ul>
                  </div>
                ),
            )
          )}
        </>
      )}
    </section>
  );
}

type Action = ReturnType<typeof useAction>;

function NewProposal(props: { wallet: Address; state: WalletChainState; account: Address; action: Action }) {
  const { wallet, state, account, action } = props;
  const config = useAppConfig();
  const wagmi = useConfig();
  const client = usePublicClient({ chainId: config.chainId })!;
  const [kind, setKind] = useState<Kind>("send-eth");
  const [eth, thing] = pageAssets(config.token);

  function pageAction(form: FormData): PageAction {
    const to = String(form.get("to") ?? "").trim();
    const value = String(form.get("amount") ?? "").trim();
    const asset = kind.endsWith("eth") ? eth! : thing!;
    if (kind === "unfreeze") return { kind: "unfreeze" };
    let parsed: bigint;
    try {
      parsed = parseUnits(value, asset.decimals);
    } catch {
      throw new Error(`"${value}" is not an amount of ${asset.symbol} (e.g. 0.5).`);
    }
    if (parsed < 0n) throw new Error("An amount cannot be negative.");
    if (kind.startsWith("limit")) return { kind: "limit", asset, limit: parsed };
    if (!isAddress(to)) throw new Error(`"${to}" is not an address: the recipient is 0x and 40 hex digits.`);
    return { kind: "send", asset, to, amount: parsed };
  }

  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    void action.run("propose", async () => {
      const p = await buildProposal(client, config.chainId, wallet, state.nonce, pageAction(form));
      await postProposal(await signProposal(wagmi, client, p, account));
    });
  }

  return (
    <form className="filters" aria-label="New proposal" onSubmit={submit}>
      <label>
        Proposal
        <select name="kind" aria-label="Proposal kind" value={kind} onChange={(e) => setKind(e.target.value as Kind)}>
          {KINDS.map((k) => (
            <option key={k.kind} value={k.kind}>
              {k.label}
            </option>
          ))}
        </select>
      </label>
      {kind.startsWith("send") && (
        <label>
          Recipient
          <input name="to" placeholder="0x…" autoComplete="off" />
        </label>
      )}
      {kind !== "unfreeze" && (
        <label>
          {kind.startsWith("send") ? "Amount" : "New limit per period"}
          <input name="amount" placeholder="0.5" inputMode="decimal" autoComplete="off" />
        </label>
      )}
      <div>
        <button type="submit" disabled={action.busy !== null}>
          {action.busy === "propose" ? "Proposing…" : "Propose and sign"}
        </button>
      </div>
    </form>
  );
}

/**
 * Imports a proposal file (`wallet:propose`'s, or one downloaded here): a file for another wallet or chain is
 * refused in one line; otherwise the proposal is shown decoded, and is signed (by a connected owner) and added
 * to the queue only on an explicit press. The queue opens only signed proposals.
 */
function ImportProposal(props: { wallet: Address; action: Action; signer?: Address }) {
  const { wallet, action, signer } = props;
  const config = useAppConfig();
  const wagmi = useConfig();
  const client = usePublicClient({ chainId: config.chainId })!;
  const [imported, setImported] = useState<Proposal | null>(null);
  function pick(event: ChangeEvent<HTMLInputElement>) {
    const file = event.target.files?.[0];
    event.target.value = "";
    setImported(null);
    if (file === undefined) return;
    void action.run(
      "import",
      async () => {
        const p = await proposalFromFile(file);
        if (p.wallet.toLowerCase() !== wallet.toLowerCase() || p.chainId !== String(config.chainId)) {
          throw new Error(
            `${file.name} is a proposal for wallet ${p.wallet} on chain ${p.chainId}, not for this wallet (${wallet} on chain ${config.chainId}).`,
          );
        }
        setImported(p);
      },
      false,
    );
  }
  const unsigned = imported !== null && Object.keys(imported.signatures).length === 0;
  function add(sign: boolean) {
    const p = imported!;
    void action.run("import", async () => {
      await postProposal(sign ? await signProposal(wagmi, client, p, signer!) : p);
      setImported(null);
    });
  }
  return (
    <>
      <p>
        <label>
          Import a proposal file{" "}
          <input type="file" accept="application/json,.json" onChange={pick} data-testid="import-proposal" />
        </label>
      </p>
      {imported !== null && (
        <div className="card proposal" data-testid="imported-proposal">
          <p>Imported file: check what it does before signing.</p>
          <ProposalCall p={imported} />
          <div className="actions">
            {signer !== undefined && (
              <button type="button" disabled={action.busy !== null} onClick={() => add(true)}>
                Sign and add to the queue
              </button>
            )}{" "}
            {!unsigned && (
              <button type="button" disabled={action.busy !== null} onClick={() => add(false)}>
                Add to the queue unsigned by me
              </button>
            )}{" "}
            <button type="button" onClick={() => setImported(null)}>
              Cancel
            </button>
          </div>
          {unsigned && signer === undefined && (
            <p className="hint">Connect an owner&apos;s account to sign it: the queue takes only signed proposals.</p>
          )}
        </div>
      )}
    </>
  );
}

/** Downloads the proposal as the CLI's file, for `wallet:sign --file` and `wallet:exec --file`. */
function download(q: QueuedProposal) {
  const blob = new Blob([`${JSON.stringify(q.proposal, null, 2)}\n`], { type: "application/json" });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = q.file;
  link.click();
  URL.revokeObjectURL(link.href);
}

/** A spent proposal's outcome: from the indexer's history when it lists the nonce, else the chain's event. */
function useOutcome(p: Proposal, spent: boolean, executions?: { nonce: string; success: boolean }[]) {
  const config = useAppConfig();
  const client = usePublicClient({ chainId: config.chainId })!;
  const indexed = executions?.find((e) => e.nonce === p.nonce)?.success;
  const chain = useQuery({
    queryKey: ["wallet-executed", p.wallet, p.nonce],
    queryFn: () => executionOutcome(client, p.wallet as Address, BigInt(p.nonce)),
    enabled: spent && indexed === undefined,
  });
  return indexed ?? chain.data;
}

function isSpent(q: QueuedProposal, nonce: bigint): boolean {
  return q.status === "spent" || BigInt(q.proposal.nonce) < nonce;
}

/** Which nonce a proposal is for, and what it waits for. */
function nonceLine(q: QueuedProposal, nonce: bigint): string {
  const p = BigInt(q.proposal.nonce);
  if (p < nonce) return `Nonce ${p}: spent.`;
  if (p === nonce) return `Nonce ${p}: the wallet's next execution.`;
  return `Nonce ${p}: waits for nonce ${p === nonce + 1n ? nonce : `${nonce} to ${p - 1n}`} to execute first.`;
}

function statusLine(q: QueuedProposal, nonce: bigint, threshold: number, outcome?: boolean): string {
  const p = BigInt(q.proposal.nonce);
  if (q.status === "spent" || p < nonce) {
    if (outcome === false) return "Nonce spent: executed, but the call failed (the wallet's Executed event says so).";
    return "Nonce spent: executed, or replaced by another proposal.";
  }
  if (q.signers.length < threshold) return "Waiting for signatures.";
  if (p > nonce) return `Signed; nonce ${nonce} must execute first.`;
  return "Ready: anyone can execute it.";
}

/**
 * What a proposal's call does, decoded from its data (never from its description), the description labelled as
 * the proposer's own words, and the raw data of a call the page cannot decode.
 */
export function ProposalCall({ p }: { p: Proposal }) {
  const config = useAppConfig();
  const call = decodeProposalCall(p, pageAssets(config.token));
  return (
    <>
      <p data-testid="proposal-call" className={call.dangerous || !call.decoded ? "error" : undefined}>
        <strong>{call.dangerous ? `Dangerous: ${call.summary}` : call.summary}</strong>
        {call.dangerous && " (this changes who controls the wallet or the device's key)"}
      </p>
      {!call.decoded && (
        <p role="alert" className="error mono" data-testid="proposal-raw">
          {`Raw data (not decoded): ${p.data}`}
        </p>
      )}
      <p className="hint">
        {"The proposer's description (their own words, not checked): "}
        <q data-testid="proposal-description">{p.description || "(none)"}</q>
      </p>
      <p className="mono">
        {`nonce ${p.nonce} · to ${p.to} · ${formatUnits(BigInt(p.value), 18)} ETH · gas ${p.gasLimit}`}
      </p>
    </>
  );
}

function ProposalCard(props: {
  queued: QueuedProposal;
  nonce: bigint;
  queue: WalletQueue;
  account?: Address;
  isOwner: boolean;
  action: Action;
  executions?: { nonce: string; success: boolean }[];
}) {
  const { queued: q, nonce, queue, account, isOwner, action, executions } = props;
  const config = useAppConfig();
  const wagmi = useConfig();
  const client = usePublicClient({ chainId: config.chainId })!;
  const p: Proposal = q.proposal;
  const spent = isSpent(q, nonce);
  const outcome = useOutcome(p, spent, executions);
  const signed = account !== undefined && q.signers.some((s) => s.toLowerCase() === account.toLowerCase());
  const executable = !spent && q.signers.length >= queue.threshold && BigInt(p.nonce) === nonce;

  return (
    <li className="card proposal" data-testid="proposal" data-id={q.id}>
      <ProposalCall p={p} />
      <p data-testid="proposal-nonce">{nonceLine(q, nonce)}</p>
      <p data-testid="proposal-progress">{`${q.signers.length} of ${queue.threshold} signatures`}</p>
      <progress max={queue.threshold} value={Math.min(q.signers.length, queue.threshold)} />
      <p className="mono">{q.signers.length === 0 ? "No owner has signed." : `Signed by ${q.signers.join(", ")}`}</p>
      <p data-testid="proposal-status" className={spent ? "hint" : executable ? "ok" : undefined}>
        {statusLine(q, nonce, queue.threshold, outcome)}
      </p>
      <div className="actions">
        <button
          type="button"
          disabled={!isOwner || signed || spent || action.busy !== null}
          onClick={() =>
            void action.run("sign", async () => postProposal(await signProposal(wagmi, client, p, account!)))
          }
        >
          {signed ? "Signed" : action.busy === "sign" ? "Signing…" : "Sign"}
        </button>{" "}
        <button
          type="button"
          disabled={!executable || account === undefined || action.busy !== null}
          onClick={() =>
            void action.run("execute", () =>
              executeProposal(wagmi, config.chainId, account!, p, queue.owners, queue.threshold),
            )
          }
        >
          {action.busy === "execute" ? "Executing…" : "Execute"}
        </button>{" "}
        <button type="button" onClick={() => download(q)}>
          Download file
        </button>
      </div>
    </li>
  );
}
