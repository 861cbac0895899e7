// The back/forward cache, in Chromium (Playwright, with the cache turned back on): a page with
// an open heartline socket stays eligible (no `unload` listener; the socket is closed on
// `beforeunload`/`pagehide`), is restored when the user goes back, and reopens its socket
// (`pageshow` with `persisted`). The playground connects to a test-mode endpoint whose per-key
// stats the server reports. The chat page, alone or sharing its connection with another tab of
// the same person (Web Locks, BroadcastChannels), is restored too, and shows what was said while
// it was away.
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

const health = async () => (await fetch(new URL('/health', base))).json();

// Where `tab` is after Back: restored (the same document, marked before leaving) or loaded again.
function whereAfterBack(tab) {
  return () => tab.eval(() => {
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
}

// Marks this document, and records its pageshow events: a restored page keeps both.
const markDocument = (tab) => tab.eval(() => {
  if (!window.e2eSameDocument) addEventListener('pageshow', (event) => window.e2ePageshows.push(event.persisted));
  window.e2eSameDocument = true;
  window.e2ePageshows = [];
});

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
      await markDocument(tab);

      await tab.goto(new URL('/health', base).toString());
      const away = await statsUntil(key, (s) => s.open_now === 0, 'the socket closed on pagehide');
      // `beforeunload` comes first on a navigation, then `pagehide`: one clean close either way.
      assert.equal(away.closes.length, 1, JSON.stringify(away.closes));
      assert.equal(away.closes[0].code, 1000);

      await tab.back();
      const where = whereAfterBack(tab);
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

// The chat page, in both browsers: Chromium restores it from the cache; Firefox ESR loads it
// afresh on Back (a leading tab has its socket; for a following tab WebDriver reports no
// reason), and either way the page must show what was said while it was away.
for (const name of BROWSERS) {
  describe(`the chat through the back/forward cache (${name})`, () => {
    const browser = suiteBrowser(name, { bfcache: true });
    const cached = name === 'chromium';
    // Back in the history: restored from the cache where this browser caches the page.
    async function backAgain(tab, what) {
      await tab.back();
      const state = await pollUntil(whereAfterBack(tab), (s) => s?.url === '/' && (s.restored || s.type === 'back_forward'), 10_000, what, 50);
      if (cached) {
        assert.ok(state.restored, `${what}: loaded again instead of restored from the back/forward cache: ${JSON.stringify(state)}`);
        assert.deepEqual(state.pageshows, [true]);
      }
    }

    // The chat page shares one connection between a person's tabs (Web Locks and a
    // BroadcastChannel): neither may keep it out of the cache. The leading tab leaves, the other
    // takes the lead; on Back the restored tab follows it, and both talk on one connection.
    test('the chat: a leading tab left and restored follows the tab that took over', async () => {
      const room = `bfcache-chat-${Date.now()}`;
      const friend = new Ui(await (await browser.newContext()).newPage(base));
      await friend.join('friend', room);
      const others = (await health()).connections;
      const context = await browser.newContext();
      const tab = await context.newPage(base);
      const leader = new Ui(tab);
      await leader.join('ada', room);
      const second = new Ui(await context.newPage(base));
      await second.statusIs('Connected', 15_000);
      await leader.say('before leaving');
      for (const page of [leader, second, friend]) await page.logHas('before leaving');
      await markDocument(tab);

      await tab.goto(new URL('/health', base).toString());
      // The tab left takes nothing with it: the other tab leads, and ada stays in the room.
      await second.say('while the first tab is away');
      await friend.logHas('while the first tab is away');
      // Ada stayed: no tab of hers left the room (her other tab held the connection).
      assert.deepEqual((await friend.do('system')).filter((line) => /ada/.test(line) && /left/.test(line)), []);
      await friend.until('members', {}, (m) => JSON.stringify(m) === JSON.stringify(['ada', 'friend']), 10_000, 'ada once');

      await backAgain(tab, 'the leading tab back');
      await leader.statusIs('Connected', 15_000);
      // What was said while it was away shows in the restored tab, and its words go out once.
      await leader.logHas('while the first tab is away');
      await leader.say('after coming back');
      // Sent through the other tab's connection: in the friend's log before the friend answers,
      // so the two are in this order for everyone.
      await friend.logHas('after coming back', 15_000);
      await friend.say('welcome back');
      for (const page of [leader, second, friend]) {
        await page.logHas('welcome back');
        assert.deepEqual(await page.delivered(), ['before leaving', 'while the first tab is away', 'after coming back', 'welcome back']);
      }
      await friend.until('members', {}, (m) => JSON.stringify(m) === JSON.stringify(['ada', 'friend']), 10_000, 'ada once');
      assert.deepEqual((await friend.do('system')).filter((line) => /ada/.test(line) && /left/.test(line)), []);
      await pollUntil(health, (h) => h.connections === others + 1, 10_000, 'one connection for both of ada\'s tabs', 50);

      // Now a follower, the restored tab leaves and comes back again.
      await markDocument(tab);
      await tab.goto(new URL('/health', base).toString());
      await friend.say('while the follower is away');
      await second.logHas('while the follower is away');
      await backAgain(tab, 'the following tab back');
      await leader.logHas('while the follower is away');
      await leader.say('the follower is back');
      const all = ['before leaving', 'while the first tab is away', 'after coming back', 'welcome back', 'while the follower is away', 'the follower is back'];
      for (const page of [leader, second, friend]) {
        await page.logHas('the follower is back');
        assert.deepEqual(await page.delivered(), all);
      }
      assert.equal((await health()).connections, others + 1, 'one connection for both of ada\'s tabs');
    });

    test('the chat alone in its tab is restored, and rejoins', async () => {
      const room = `bfcache-alone-${Date.now()}`;
      const friend = new Ui(await (await browser.newContext()).newPage(base));
      await friend.join('friend', room);
      const tab = await (await browser.newContext()).newPage(base);
      const page = new Ui(tab);
      await page.join('ada', room);
      await friend.until('members', {}, (m) => m.includes('ada'), 10_000, 'ada in the room');
      await markDocument(tab);
      await tab.goto(new URL('/health', base).toString());
      await friend.until('members', {}, (m) => !m.includes('ada'), 10_000, 'ada gone while away');
      await friend.say('while ada is away');
      await backAgain(tab, 'the chat back');
      await friend.until('members', {}, (m) => m.includes('ada'), 10_000, 'ada back in the room');
      await page.logHas('while ada is away');
      await page.say('back');
      await friend.logHas('back');
      await page.logHas('back');
      assert.deepEqual(await page.delivered(), ['while ada is away', 'back']);
    });
  });
}
