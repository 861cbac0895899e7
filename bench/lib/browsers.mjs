// The benchmark page in a browser, behind one interface: { name, version, eval(fn, arg), close() }.
// Chromium through Playwright (with a CDP session for the leak metrics), Firefox ESR through
// WebdriverIO and geckodriver (Playwright cannot drive Debian's Firefox), as in e2e/specs/lib.
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const READY = () => document.getElementById('ready')?.textContent === 'ready';

export async function openChromium(url, log) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--js-flags=--expose-gc'],
  });
  // A context of its own (not browser.newPage's, which allows one page), so that newTab can
  // open more pages of the same origin in it.
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (error) => log('page error', error));
  await page.goto(url);
  await page.waitForFunction(READY, null, { timeout: 30_000 });
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  return {
    name: 'Chromium',
    version: browser.version(),
    eval: (fn, arg) => page.evaluate(fn, arg),
    cdp,
    // More bench pages in the same context: tabs of one origin (bench/modules/tabs.mjs).
    async newTab() {
      const tab = await context.newPage();
      tab.on('pageerror', (error) => log('page error', error));
      await tab.goto(url);
      await tab.waitForFunction(READY, null, { timeout: 30_000 });
      return tab;
    },
    close: () => browser.close(),
  };
}

export async function openFirefox(url, root) {
  // WebdriverIO is the end-to-end suite's (e2e/package.json); the bench borrows it.
  const { remote } = await import(path.join(root, 'e2e', 'node_modules', 'webdriverio', 'build', 'node.js'));
  const binary = ['/usr/bin/firefox-esr', '/usr/bin/firefox'].find((p) => existsSync(p));
  const geckodriver = process.env.GECKODRIVER || execFileSync('sh', ['-c', 'command -v geckodriver'], { encoding: 'utf8' }).trim();
  const session = await remote({
    logLevel: 'error',
    capabilities: {
      browserName: 'firefox',
      'moz:firefoxOptions': {
        args: ['-headless'],
        ...(binary ? { binary } : {}),
        // Firefox rounds performance.now() to 1 ms by default (timing-attack mitigation): the
        // round trips, well under a millisecond, need the full clock.
        prefs: { 'privacy.reduceTimerPrecision': false },
      },
      'wdio:geckodriverOptions': { binary: geckodriver },
    },
  });
  // A benchmark call runs for seconds; WebDriver's default script timeout is 30 s.
  await session.setTimeout({ script: 600_000 });
  await session.url(url);
  await session.waitUntil(() => session.execute(READY), { timeout: 30_000 });
  return {
    name: 'Firefox',
    version: `${session.capabilities.browserVersion}`,
    // WebDriver serialises the function and awaits the promise it returns.
    eval: (fn, arg) => session.execute(fn, arg),
    close: () => session.deleteSession(),
  };
}
