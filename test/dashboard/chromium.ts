// Debian's chromium, driven by playwright-core, for the dashboard's browser
// test and the docs screenshot. Missing chromium skips the test with the
// reason, unless CODA_REQUIRE_BROWSER=1 (set by .ci/run) makes it a failure.
import { existsSync } from 'node:fs';
import type { Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Why the browser test cannot run here, or undefined when it can; throws when CI requires the browser. */
export function missingBrowser(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  const reason = `${CHROMIUM} is not installed (apt-get install -y chromium)`;
  if (process.env['CODA_REQUIRE_BROWSER'] === '1') throw new Error(`CODA_REQUIRE_BROWSER=1 but ${reason}`);
  return reason;
}

/** Headless chromium; without the sandbox when running as root (containers, CI), where chromium refuses it. */
export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  const root = process.getuid?.() === 0;
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: root ? ['--no-sandbox'] : [] });
}
