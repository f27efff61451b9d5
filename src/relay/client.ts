import type { RelayRequest } from "../registry/activation-link";

/*
 * A relayer's client, free of Node (the browser portal uses it): posts a relay request to `relay:serve` and
 * reads its answer, checked at the boundary. Every failure is one line.
 */

/** What `POST /relay` answers once the activation is mined: amounts in token units and gas, as strings. */
export interface RelayAnswer {
  txHash: string;
  device: string;
  owner: string;
  /** What the registry took from the owner (token units). */
  fee: string;
  gasUsed: string;
}

/** The relayer said no (or could not be reached): `reason` is its stable name, when it gave one. */
export class RelayRefused extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly reason?: string,
  ) {
    super(message);
  }
}

function isAnswer(body: unknown): body is RelayAnswer {
  const b = body as Partial<Record<keyof RelayAnswer, unknown>>;
  return (
    typeof body === "object" &&
    body !== null &&
    typeof b.txHash === "string" &&
    /^0x[0-9a-fA-F]{64}$/.test(b.txHash) &&
    typeof b.device === "string" &&
    typeof b.owner === "string" &&
    typeof b.fee === "string" &&
    /^\d+$/.test(b.fee) &&
    typeof b.gasUsed === "string" &&
    /^\d+$/.test(b.gasUsed)
  );
}

/**
 * Sends `request` to the relayer at `base` (its URL, ending in `/`) and waits for the mined transaction. A
 * refusal throws a {@link RelayRefused} with the relayer's own one line; an answer for another device too.
 */
export async function sendToRelayer(
  base: string,
  request: RelayRequest,
  fetchFn: typeof fetch = fetch,
): Promise<RelayAnswer> {
  let response: Response;
  try {
    response = await fetchFn(new URL("relay", base), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(request),
    });
  } catch {
    throw new RelayRefused(`The relayer at ${base} could not be reached.`);
  }
  const body = (await response.json().catch(() => undefined)) as { error?: unknown; reason?: unknown } | undefined;
  if (!response.ok) {
    const error = typeof body?.error === "string" ? body.error.split("\n")[0].slice(0, 300) : undefined;
    if (error === undefined)
      throw new RelayRefused(`The relayer at ${base} could not be reached (HTTP ${response.status}).`, response.status);
    const reason = typeof body?.reason === "string" ? body.reason : undefined;
    throw new RelayRefused(`The relayer refused: ${error}`, response.status, reason);
  }
  const activation = request.activation
    .split("?")[0]
    .replace(/^#?\/activate\//, "")
    .toLowerCase();
  if (!isAnswer(body) || body.device.toLowerCase() !== activation)
    throw new RelayRefused("The relayer answered something unexpected: check the device before trying again.");
  return body;
}
