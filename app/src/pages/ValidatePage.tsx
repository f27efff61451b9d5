import { useQuery } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { useNavigate, useParams } from "react-router";
import type { Hex } from "viem";
import { bytesToHex } from "viem";
import { usePublicClient } from "wagmi";

import { checkDeviceId } from "../../../src/devices/id";
import { DEVICE_SIGNATURE_PATTERN, fullSignature, identityClaimDigest } from "../../../src/eip712/device";
import { useAppConfig } from "../chain/context";
import { readDevice, readDomain, registryAbi } from "../chain/contracts";
import { plainError } from "../chain/errors";
import { DeviceCard } from "../components/DeviceCard";
import { DeviceIdForm } from "../components/DeviceIdForm";

/** A device's signed answer to a challenge: `{ deviceId, challenge, signature }` (an identity claim). */
interface Claim {
  deviceId: string;
  challenge: string;
  signature: string;
}

function parseClaim(text: string): Claim {
  let json: Partial<Claim>;
  try {
    json = JSON.parse(text) as Partial<Claim>;
  } catch {
    throw new Error('a signed challenge is JSON: { "deviceId": "0x…", "challenge": "0x…", "signature": "0x…" }');
  }
  const deviceId = checkDeviceId(String(json.deviceId ?? ""));
  if (!/^0x[0-9a-fA-F]{64}$/.test(String(json.challenge))) throw new Error("the challenge is not 32 bytes of hex");
  if (!DEVICE_SIGNATURE_PATTERN.test(String(json.signature)))
    throw new Error("the signature is not a 64- or 65-byte hex signature");
  return { deviceId, challenge: json.challenge!, signature: json.signature! };
}

/** 32 random bytes from the browser's CSPRNG: a challenge no device has answered before. */
function freshChallenge(): string {
  return bytesToHex(crypto.getRandomValues(new Uint8Array(32)));
}

/** Why a claim over another challenge than the page's own is refused: anyone who saw an answer could paste it. */
export const OTHER_CHALLENGE = "this answers a different challenge; a recorded answer can be replayed";

/**
 * Atonomi's validation service: is this device what it claims? By id, its registry record (active or not,
 * its manufacturer, its reputation); with a signed challenge, also whether its registered key signed it. The
 * page issues the challenge itself (fresh and random, for the device to sign): an answer to any other challenge
 * proves nothing, since whoever recorded a device's answer once could paste it forever.
 */
export function ValidatePage() {
  const { deviceId } = useParams();
  const navigate = useNavigate();
  const config = useAppConfig();
  const client = usePublicClient({ chainId: config.chainId })!;
  const [claimText, setClaimText] = useState("");
  const [claim, setClaim] = useState<string>();
  const [challenge, setChallenge] = useState(freshChallenge);
  const [copied, setCopied] = useState(false);
  // Each press of a button is a new check: the chain is read afresh, never an earlier answer reused.
  const [checks, setChecks] = useState(0);
  // A pasted claim is about its own device: opening another device's link drops it.
  useEffect(() => setClaim(undefined), [deviceId]);

  const verdict = useQuery({
    queryKey: ["validate", config.registry, deviceId ?? null, claim ?? null, challenge, checks],
    gcTime: 0,
    enabled: deviceId !== undefined || claim !== undefined,
    queryFn: async () => {
      const c = claim === undefined ? undefined : parseClaim(claim);
      const info = await readDevice(client, config.registry, c?.deviceId ?? deviceId!);
      let claimValid: boolean | undefined;
      if (c !== undefined && c.challenge.toLowerCase() !== challenge.toLowerCase())
        return { info, claimValid: false, otherChallenge: true, valid: false };
      if (c !== undefined) {
        const domain = await readDomain(client, config.registry);
        const digest = identityClaimDigest(
          { ...domain, chainId: domain.chainId === undefined ? undefined : BigInt(domain.chainId) },
          { deviceId: c.deviceId, challenge: c.challenge },
        );
        claimValid = await client.readContract({
          address: config.registry,
          abi: registryAbi,
          functionName: "isValidDeviceSignature",
          args: [c.deviceId as Hex, digest as Hex, fullSignature(c.signature) as Hex],
        });
      }
      const valid = info.status === "active" && claimValid !== false;
      return { info, claimValid, otherChallenge: false, valid };
    },
  });

  const v = verdict.data;
  const reason =
    v === undefined
      ? ""
      : v.info.status !== "active"
        ? `the device is ${v.info.status === "unknown" ? "not registered" : v.info.status}`
        : v.otherChallenge
          ? OTHER_CHALLENGE
          : v.claimValid === false
            ? "the challenge was not signed by the device's registered key"
            : v.claimValid
              ? "active, and its registered key signed the challenge"
              : "active in the registry";

  return (
    <section aria-labelledby="validate-title">
      <h1 id="validate-title">Validate a device</h1>
      <DeviceIdForm
        initial={deviceId}
        action="Validate"
        onSubmit={(id) => {
          setClaim(undefined);
          setChecks((n) => n + 1);
          void navigate(`/validate/${id}`);
        }}
      />
      <div className="lookup challenge">
        <label>
          Challenge for the device to sign
          <input readOnly className="mono" value={challenge} spellCheck={false} onFocus={(e) => e.target.select()} />
        </label>
        <div className="buttons">
          <button
            type="button"
            onClick={() =>
              void navigator.clipboard.writeText(challenge).then(
                () => setCopied(true),
                () => setCopied(false),
              )
            }
          >
            {copied ? "Copied" : "Copy"}
          </button>
          <button
            type="button"
            onClick={() => {
              setChallenge(freshChallenge());
              setCopied(false);
            }}
          >
            New challenge
          </button>
        </div>
        <p className="hint">Only an answer to this challenge counts: an answer to any other one may be a recording.</p>
      </div>
      <form
        className="lookup"
        onSubmit={(e) => {
          e.preventDefault();
          setClaim(claimText.trim());
          setChecks((n) => n + 1);
        }}
      >
        <label>
          Or paste the device&apos;s signed answer to it
          <textarea
            rows={4}
            value={claimText}
            spellCheck={false}
            placeholder='{ "deviceId": "0x…", "challenge": "0x…", "signature": "0x…" }'
            onChange={(e) => setClaimText(e.target.value)}
          />
        </label>
        <button type="submit" disabled={claimText.trim() === ""}>
          Check the signature
        </button>
      </form>
      {verdict.isLoading && <p aria-busy="true">Reading the registry…</p>}
      {verdict.error !== null && (
        <p role="alert" className="error">
          {plainError(verdict.error)}
        </p>
      )}
      {v !== undefined && (
        <>
          <p role="status" data-testid="verdict" className={`verdict ${v.valid ? "ok" : "error"}`}>
            {v.valid ? "Valid" : "Not valid"}: {reason}.
          </p>
          <DeviceCard info={v.info} />
        </>
      )}
    </section>
  );
}
