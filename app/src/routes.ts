/**
 * Every page's route, in one place: the router (router.tsx) gives each path its page, and TypeScript makes it
 * give every one; the screenshot test (test/app/Journeys.test.ts) visits each, so a new page is photographed
 * as soon as it is routed. A `:param` is filled by that test from real data, by the param's name.
 */
export const PAGE_PATHS = [
  "activate",
  "activate/:deviceId",
  "validate",
  "validate/:deviceId",
  "relay",
  "fleet",
  "devices/:deviceId",
  "wallets/:address",
  "manufacturer",
  "manufacturer/:id",
  "channels",
  "access",
] as const;

export type PagePath = (typeof PAGE_PATHS)[number];
