import { UserError } from "../errors";

/** A service's JSON answer: its HTTP status, and its body (`{}` when the body was empty). */
export interface JsonAnswer<T> {
  status: number;
  statusText: string;
  ok: boolean;
  headers: Headers;
  body: T & { error?: string; reason?: string };
}

/** No answer from the service (refused connection, DNS failure, timeout): one line naming it and the cause. */
export class UnreachableError extends UserError {}

/** An answer whose body is not JSON: one line naming the URL and the HTTP status (kept in `status`). */
export class NotJsonError extends UserError {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/**
 * The one way the command-line clients (access:buy, the channel client, reputation submission and
 * verification) ask a service over HTTP: `fetch`, then the body as JSON. The service is `what` (e.g. "AS",
 * "lock", "auditor") in the one-line errors: no answer is an {@link UnreachableError} naming its origin and
 * cause; an answer whose body is not JSON (a proxy's HTML 502 page, a wrong URL) is one line naming the URL
 * and the HTTP status, never a parser's message. Any status is returned: the caller judges it.
 */
export async function fetchJson<T>(what: string, url: string, init?: RequestInit): Promise<JsonAnswer<T>> {
  let response: Response;
  let text: string;
  try {
    response = await fetch(url, init);
    text = await response.text();
  } catch (error) {
    if ((error as Error).name === "TimeoutError")
      throw new UnreachableError(`the ${what} at ${new URL(url).origin} did not answer in time`);
    const why = (error as { cause?: { code?: string; message?: string } }).cause;
    const cause = why?.code ?? why?.message ?? (error as Error).name;
    throw new UnreachableError(`cannot reach the ${what} at ${new URL(url).origin} (${cause})`);
  }
  const answer = {
    status: response.status,
    statusText: response.statusText,
    ok: response.ok,
    headers: response.headers,
  };
  if (text.trim() === "") return { ...answer, body: {} as JsonAnswer<T>["body"] };
  try {
    return { ...answer, body: JSON.parse(text) as JsonAnswer<T>["body"] };
  } catch {
    const type = response.headers.get("content-type")?.split(";")[0] ?? "no content type";
    throw new NotJsonError(
      `the ${what} at ${url} answered ${`${response.status} ${response.statusText}`.trim()} with a body that is not JSON (${type})`,
      response.status,
    );
  }
}

/**
 * {@link fetchJson}, with a refusal (a status `answers` rejects; by default anything but 2xx) as one line:
 * "the <what> refused: <status> <its error>". Gives up after `timeoutMs` (default 30 s).
 */
export async function askJson<T>(
  what: string,
  url: string,
  init?: RequestInit,
  answers: (status: number) => boolean = (status) => status < 300,
  timeoutMs = 30_000,
): Promise<T & { error?: string; reason?: string }> {
  const answer = await fetchJson<T>(what, url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  if (!answers(answer.status))
    throw new UserError(`the ${what} refused: ${answer.status} ${answer.body.error ?? answer.statusText}`);
  return answer.body;
}
