import type { Browser } from "playwright-core";
import { chromium } from "playwright-core";

/* Chromium for the app tests (./app) and bench:app, free of Hardhat and of the test runner. */

/** Debian's `chromium`, which the app tests drive with playwright-core. */
export const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Launches headless {@link CHROMIUM}. */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
}
