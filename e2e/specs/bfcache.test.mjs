// The back/forward cache, in Chromium (Playwright, with the cache turned back on): a page with
// an open heartline socket stays eligible (no `unload` listener; the socket is closed on
// `beforeunload`/`pagehide`), is restored when the user goes back, and reopens its socket
// (`pageshow` with `persisted`). The playground connects to a test-mode endpoint whose per-key
// stats the server reports.
//
// Not in Firefox: Firefox ESR keeps any page whose WebSocket is not yet CLOSED out of the cache,
// and a close started on `beforeunload` or `pagehide` is still CLOSING when it decides (a page
// whose socket had finished closing before the navigation was restored; one with a bare
// `beforeunload` listener too). There the page is loaded afresh on Back, socket and all.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BROWSERS, suiteBrowser } from './lib/drivers.mjs';
import { Ui, pollUntil } from './lib/ui.mjs';

const base = process.env.HEARTLINE_URL;
if (!base) throw new Error('HEARTLINE_URL is not set: run the end-to-end tests through scripts/test.sh');
const wsBase = base.replace(/^http/, 'ws');

async function stats(key) {
  const response = await fetch(new URL(`/test/stats?key=${key}`, base));
  return response.json();
}

// Polls the server's stats for `key` until `ok` holds.
function statsUntil(key, ok, what, timeout = 10_000) {
  return pollUntil(() => stats(key), ok, timeout, what, 50);
}

for (const name of BROWSERS.filter((browser) => browser === 'chromium')) {
  describe(`the back/forward cache (${name})`, () => {
    const browser = suiteBrowser(name, { bfcache: true });

    test('a page left with its socket open is restored on Back and reconnects', async () => {
      const key = `bfcache-${name}-${Date.now()}`;
      const context = await browser.newContext();
      const tab = await context.newPage(new URL('/playground', base).toString());
      const page = new Ui(tab);
      await page.fill('URL', `${wsBase}/test/ws?key=${key}&mode=echo`);
      await page.click('Connect');
      await statsUntil(key, (s) => s.opened === 1 && s.open_now === 1, 'the first connection');
      // Marks this document, and records its pageshow events: a restored page keeps both.
      await tab.eval(() => {
        window.e2eSameDocument = true;
        window.e2ePageshows = [];
        addEventListener('pageshow', (event) => window.e2ePageshows.push(event.persisted));
      });

      await tab.goto(new URL('/health', base).toString());
      const away = await statsUntil(key, (s) => s.open_now === 0, 'the socket closed on pagehide');
      // `beforeunload` comes first on a navigation, then `pagehide`: one clean close either way.
      assert.equal(away.closes.length, 1, JSON.stringify(away.closes));
      assert.equal(away.closes[0].code, 1000);

      await tab.back();
      const where = () => tab.eval(() => {
        const navigation = performance.getEntriesByType('navigation')[0];
        return {
          url: location.pathname,
          restored: window.e2eSameDocument === true,
          pageshows: window.e2ePageshows ?? null,
          type: navigation?.type ?? null,
          // Chromium 123+: why the page was not restored, on the entry of the page loaded instead.
          notRestoredReasons: navigation?.notRestoredReasons ? JSON.stringify(navigation.notRestoredReasons) : null,
        };
      }).catch(() => null);
      const back = (state) => state?.url === '/playground' && (state.restored || state.type === 'back_forward');
      const state = await pollUntil(where, back, 10_000, 'the page back from the history', 50);
      assert.ok(state.restored, `loaded again instead of restored from the back/forward cache: ${JSON.stringify(state)}`);
      assert.deepEqual(state.pageshows, [true]);

      const reopened = await statsUntil(key, (s) => s.opened === 2 && s.open_now === 1, 'the socket reopened after pageshow');
      assert.equal(reopened.rejected, 0);
      await page.until('text', { label: 'Ready state' }, (t) => typeof t === 'string' && t.includes('OPEN 1'), 5_000, 'ready state OPEN 1');
    });
  });
}
