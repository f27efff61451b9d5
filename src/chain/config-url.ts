/**
 * `?<param>=<given>` resolved against the app's page, refused unless it is on the app's own origin: a link must
 * not be able to point the app at another host or a `data:` URL. `why` ends the refusal ("since …").
 */
function sameOrigin(param: string, given: string, page: string, why: string): string {
  let resolved: URL;
  try {
    resolved = new URL(given, page);
  } catch {
    throw new Error(`?${param}=${given.slice(0, 60)} is not a URL`);
  }
  const origin = new URL(page).origin;
  if (resolved.origin !== origin)
    throw new Error(
      `?${param}= must name a ${param === "config" ? "file" : "path"} on this app's own origin (${origin}); ${resolved.origin === "null" ? resolved.protocol : resolved.origin} is refused, since ${why}`,
    );
  return resolved.href;
}

/**
 * Where the config comes from: `thingledger.json` next to the app, or `?config=` on the app's own origin only.
 * A config names the contracts the owner signs for, so a link must not be able to point it elsewhere (another
 * host, a `data:` URL).
 */
export function configUrl(given: string | null, page: string): string {
  if (given === null) return "thingledger.json";
  return sameOrigin("config", given, page, "a config names the contracts you sign for");
}

/**
 * The indexer a link names with `?indexer=`, on the app's own origin only (e.g. a proxy path such as
 * `/indexer2/`), or null when the link names none (the config's indexer is used). An indexer on another host is
 * configured in the app's config, never taken from a link: a hostile one could show anything.
 */
export function indexerUrlFromLink(given: string | null, page: string): string | null {
  if (given === null) return null;
  return sameOrigin("indexer", given, page, "a link must not choose what the app shows as indexed");
}

/**
 * The relayer the app sends relay requests to (`relay:serve`): `?relayer=` in a link, else the config's
 * `relayerUrl`, either on the app's own origin only (a proxy path such as `relayer/`), or null when neither names
 * one. The relayer sends no CORS headers, and a link must not send the owner's signatures to another host.
 */
export function relayerUrlOf(linked: string | null, configured: string | undefined, page: string): string | null {
  const given = linked ?? configured ?? null;
  if (given === null || given === "") return null;
  const url = sameOrigin("relayer", given, page, "the owner's signatures must not go to another host");
  return url.endsWith("/") ? url : `${url}/`;
}
