/**
 * Where the config comes from: `thingledger.json` next to the app, or `?config=` on the app's own origin only.
 * A config names the contracts the owner signs for, so a link must not be able to point it elsewhere (another
 * host, a `data:` URL).
 */
export function configUrl(given: string | null, page: string): string {
  if (given === null) return "thingledger.json";
  let resolved: URL;
  try {
    resolved = new URL(given, page);
  } catch {
    throw new Error(`?config=${given.slice(0, 60)} is not a URL`);
  }
  const origin = new URL(page).origin;
  if (resolved.origin !== origin)
    throw new Error(
      `?config= must name a file on this app's own origin (${origin}); ${resolved.origin === "null" ? resolved.protocol : resolved.origin} is refused, since a config names the contracts you sign for`,
    );
  return resolved.href;
}
