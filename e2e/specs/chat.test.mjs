// The chat room end to end: a real server, in Chromium (Playwright) and Firefox (WebdriverIO),
// selected by role and label through the shared page helpers.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { BROWSERS, suiteBrowser } from './lib/drivers.mjs';
import { Ui, pollUntil } from './lib/ui.mjs';
import { freePort, startServer } from './server.mjs';

const base = process.env.HEARTLINE_URL;
if (!base) throw new Error('HEARTLINE_URL is not set: run the end-to-end tests through scripts/test.sh');
const SCREENSHOTS = process.env.HEARTLINE_SCREENSHOTS; // a folder, when set: the README's pictures
let rooms = 0;
const uniqueRoom = () => `e2e-${process.pid}-${++rooms}`;

// A 2×2 PNG.
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAYAAABytg0kAAAAFklEQVR4nGP8z8DwnwEIGEEEIwMDAwAuLgT9yX9O5AAAAABJRU5ErkJggg==';

// My messages in the log whose accessible name says they are still pending.
const pendingItems = async (page) => (await page.do('outbox')).filter((name) => /pending/.test(name));

for (const name of BROWSERS) {
  describe(`the chat (${name})`, () => {
    const browser = suiteBrowser(name);
    before(() => {
      if (SCREENSHOTS) mkdirSync(SCREENSHOTS, { recursive: true });
    });
    // The README's screenshots come from Chromium alone (one set of pictures, full-page capable).
    const screenshot = async (page, file) => {
      if (SCREENSHOTS && name === 'chromium') await page.page.screenshot(`${SCREENSHOTS}/${file}`);
    };

    // A person in a fresh profile, joined to `room` on the server at `url`.
    async function person(url, nick, room) {
      const context = await browser.newContext();
      const page = new Ui(await context.newPage(url));
      await page.join(nick, room);
      return page;
    }

    // No page opened a dialog (markup in a message must never run).
    function noDialogs(...pages) {
      for (const page of pages) assert.deepEqual(page.page.dialogs, [], 'no page opened a dialog');
    }

    test('two pages chat both ways', async () => {
      const room = uniqueRoom();
      const a = await person(base, 'alice', room);
      const b = await person(base, 'bob', room);
      await a.until('members', {}, (m) => m.includes('bob'), 10_000, 'bob in the members');
      await a.say('hello bob');
      await b.logHas('hello bob');
      await b.say('hello alice');
      await a.logHas('hello alice');
      // Each side's own message is delivered once the server has echoed it with its seq.
      await a.logHas('hello bob');
      await b.logHas('hello alice');
      assert.deepEqual(await a.delivered(), ['hello bob', 'hello alice']);
      assert.deepEqual(await b.delivered(), ['hello bob', 'hello alice']);
      // Each page marks its own messages and its own name, and shows the connection as good.
      assert.deepEqual(await a.do('marks'), { mine: ['hello bob'], me: ['alice'], state: 'state ok' });
      assert.deepEqual(await b.do('marks'), { mine: ['hello alice'], me: ['bob'], state: 'state ok' });
      if (SCREENSHOTS && name === 'chromium') {
        await b.say('Heartline keeps the line alive 💓');
        await a.logHas('Heartline keeps the line alive 💓');
        await screenshot(a, 'chat.png');
      }
      noDialogs(a, b);
    });

    test('a message with markup shows as text', async () => {
      const a = await person(base, 'mallory', uniqueRoom());
      await a.say('<img src=x onerror=alert(1)>');
      await a.logHas('<img src=x onerror=alert(1)>');
      assert.deepEqual(await a.do('logPictures'), [], 'no image in the log');
      noDialogs(a);
    });

    test('older messages come a page at a time with Load older messages', async () => {
      const port = await freePort();
      const server = await startServer(port, ['--store', 'memory', '--history-page-messages', '3']);
      try {
        const room = uniqueRoom();
        const a = await person(server.url, 'ann', room);
        const said = ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7'];
        for (const text of said) {
          await a.say(text);
          await a.logHas(text);
        }
        const b = await person(server.url, 'ben', room);
        await b.until('delivered', {}, (t) => t.length === 3, 10_000, 'the newest page');
        assert.deepEqual(await b.delivered(), ['m5', 'm6', 'm7']);
        await b.clickWhenReady('Load older messages');
        await b.until('delivered', {}, (t) => t.length === 6, 10_000, 'the page before it');
        assert.deepEqual(await b.delivered(), ['m2', 'm3', 'm4', 'm5', 'm6', 'm7']);
        await b.clickWhenReady('Load older messages');
        await b.logHas('m1');
        assert.deepEqual(await b.delivered(), said);
        await b.until('enabled', { name: 'Load older messages' }, (v) => v === false, 10_000, 'no button once all is shown');
        noDialogs(a, b);
      } finally {
        await server.stop();
      }
    });

    // The next `page` frame never reaches the app: it reads a heartbeat reply instead (as a
    // following tab, frozen while its leading tab relayed the answer, never hears it).
    const dropNextPage = (ui) => ui.page.eval(() => {
      const data = Object.getOwnPropertyDescriptor(MessageEvent.prototype, 'data');
      Object.defineProperty(MessageEvent.prototype, 'data', {
        configurable: true,
        get() {
          const value = data.get.call(this);
          if (!window.pageDropped && typeof value === 'string' && value.includes('"type":"page"')) {
            window.pageDropped = true;
            return 'pong';
          }
          return value;
        },
      });
    });
    const pageDropped = (ui) => pollUntil(() => ui.page.eval(() => window.pageDropped === true), (v) => v, 10_000, 'the page answer dropped');

    test('Load older messages comes back when its answer is lost on a connection that stays up', async () => {
      const port = await freePort();
      const server = await startServer(port, ['--store', 'memory', '--history-page-messages', '3']);
      try {
        const room = uniqueRoom();
        const a = await person(server.url, 'ann', room);
        const said = ['m1', 'm2', 'm3', 'm4', 'm5'];
        for (const text of said) {
          await a.say(text);
          await a.logHas(text);
        }
        const b = await person(server.url, 'ben', room);
        await b.until('delivered', {}, (t) => t.length === 3, 10_000, 'the newest page');
        await dropNextPage(b);
        await b.clickWhenReady('Load older messages');
        await pageDropped(b);
        assert.equal(await b.do('enabled', { name: 'Load older messages' }), false, 'hidden while its page is awaited');
        // Given up for lost after its wait: the button is back, and asks again.
        await b.clickWhenReady('Load older messages', 20_000);
        await b.until('delivered', {}, (t) => t.length === 5, 10_000, 'the page before the newest');
        assert.deepEqual(await b.delivered(), said);
        assert.equal(await b.do('lastClose'), '', 'the same connection all along: no close shown');
        noDialogs(a, b);
      } finally {
        await server.stop();
      }
    });

    test('the log stays where its reader scrolled: older pages load above, new lines do not pull it down', async () => {
      const port = await freePort();
      const server = await startServer(port, ['--store', 'memory', '--history-page-messages', '15']);
      try {
        const room = uniqueRoom();
        const a = await person(server.url, 'ann', room);
        const said = Array.from({ length: 40 }, (_, i) => `line ${i + 1}`);
        for (const text of said) await a.say(text);
        await a.logHas('line 40', 20_000);
        const b = await person(server.url, 'ben', room);
        await b.until('delivered', {}, (t) => t.length === 15, 10_000, 'the newest page');
        const atEnd = ({ top, height, client }) => top + client >= height - 16;
        assert.ok(atEnd(await b.do('logScroll')), 'a new reader sees the newest lines');
        // Ben reads up, and asks for the page before.
        await b.do('scrollLog', { to: 'top' });
        await b.until('logScroll', {}, (s) => s.top === 0, 5_000, 'scrolled to the top');
        await b.clickWhenReady('Load older messages');
        await b.until('delivered', {}, (t) => t.length === 30, 10_000, 'the page before');
        const after = await b.do('logScroll');
        assert.ok(!atEnd(after), `pulled to the newest lines after loading older ones: ${JSON.stringify(after)}`);
        // A new message while he reads the older ones: it arrives, and he stays where he is.
        await a.say('while ben reads back');
        await b.logHas('while ben reads back');
        const reading = await b.do('logScroll');
        assert.ok(!atEnd(reading), `pulled down by a new message: ${JSON.stringify(reading)}`);
        // What he writes himself is shown: the log goes to the end for it.
        await b.say('ben writes from up there');
        await b.until('logScroll', {}, atEnd, 5_000, 'his own message in view');
        await b.do('scrollLog', { to: 'top' });
        await b.until('logScroll', {}, (s) => s.top === 0, 5_000, 'scrolled up again');
        // Back at the end, the log follows again.
        await b.do('scrollLog', { to: 'end' });
        await b.until('logScroll', {}, atEnd, 5_000, 'at the end');
        await a.say('ben follows again');
        await b.logHas('ben follows again');
        await b.until('logScroll', {}, atEnd, 5_000, 'still at the newest line');
        noDialogs(a, b);
      } finally {
        await server.stop();
      }
    });

    // A server whose history pages hold 3 messages, ann and ben in a room, and ben disconnected
    // while ann says each of `said`; then `then(ann, ben)`.
    async function benMisses(said, then) {
      const port = await freePort();
      const server = await startServer(port, ['--store', 'memory', '--history-page-messages', '3']);
      try {
        const room = uniqueRoom();
        const a = await person(server.url, 'ann', room);
        const b = await person(server.url, 'ben', room);
        await b.clickWhenReady('Disconnect');
        await b.statusIs('Disconnected', 10_000);
        for (const text of said) {
          await a.say(text);
          await a.logHas(text);
        }
        await then(a, b);
      } finally {
        await server.stop();
      }
    }

    test('a reconnect after missing more than a page shows every missed message, in order', async () => {
      const said = ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7'];
      await benMisses(said, async (a, b) => {
        // The welcome holds the newest 3; the 4 before them are fetched without a click.
        await b.clickWhenReady('Reconnect now');
        await b.until('delivered', {}, (t) => t.length === said.length, 10_000, 'every missed message');
        assert.deepEqual(await b.delivered(), said);
        noDialogs(a, b);
      });
    });

    test('a missed page fetched after a reconnect is asked again when its answer is lost', async () => {
      const said = ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7'];
      await benMisses(said, async (a, b) => {
        await dropNextPage(b);
        await b.clickWhenReady('Reconnect now');
        await pageDropped(b);
        // Asked again after its wait, on the same connection.
        await b.until('delivered', {}, (t) => t.length === said.length, 25_000, 'every missed message');
        assert.deepEqual(await b.delivered(), said);
        noDialogs(a, b);
      });
    });

    test('a reconnect after missing pages, with a backlog of its own, stays under the flood guard: the page requests are paced with the messages', async () => {
      const missed = Array.from({ length: 12 }, (_, i) => `missed ${i}`);
      await benMisses(missed, async (a, b) => {
        // About as many as the pacer sends at once (the burst of 20, less its margin of 3, less
        // what the join took): with the join and three page requests beside them, more than
        // the server's burst at once.
        const backlog = Array.from({ length: 17 }, (_, i) => `backlog ${i}`);
        for (const text of backlog) await b.say(text);
        await b.until('outbox', {}, (items) => items.length === backlog.length, 5_000, 'the backlog pending');
        await b.do('watchStatus');
        await b.clickWhenReady('Reconnect now');
        const all = [...missed, ...backlog];
        await b.until('delivered', {}, (t) => t.length >= all.length, 20_000, 'every missed message and the backlog');
        assert.deepEqual(await b.delivered(), all);
        await a.until('delivered', {}, (t) => t.length >= all.length, 10_000, 'the backlog at the other end');
        const statuses = await b.do('statuses');
        const connected = statuses.findIndex((s) => s.startsWith('Connected'));
        assert.ok(connected >= 0 && statuses.slice(connected).every((s) => s.startsWith('Connected')), `the connection dropped: ${statuses.join(' → ')}`);
        assert.deepEqual(await b.do('alerts'), [], 'no flood warning');
        noDialogs(a, b);
      });
    });

    test('messages sent while the server restarts arrive once each, in order', async () => {
      const port = await freePort();
      let server = await startServer(port);
      try {
        const room = uniqueRoom();
        const a = await person(server.url, 'ann', room);
        const b = await person(server.url, 'ben', room);
        await server.stop();
        await a.statusIs('Reconnecting', 10_000);
        await screenshot(a, 'reconnecting.png');
        await a.do('watchStatus');
        for (const text of ['first', 'second', 'third']) {
          await a.say(text);
          await a.until('outbox', {}, (items) => items.some((n) => n.includes(`${text} (pending)`)), 10_000, `${text} pending`);
        }
        // The countdown to the next try shows beside the status, not in its live region (a
        // screen reader would read the whole status again at each of its ticks).
        await a.until('countdown', {}, (text) => /next try in \d+\.\d s/.test(text), 10_000, 'the countdown');
        const statuses = await a.do('statuses');
        assert.ok(statuses.every((status) => !status.includes('next try')), `the status region ticked: ${statuses.join(' → ')}`);
        server = await startServer(port);
        await b.logHas('third', 30_000);
        await a.logHas('third', 10_000);
        // A marker after them: a duplicate sent late would be in the log before it.
        await a.say('marker');
        await b.logHas('marker');
        await a.logHas('marker');
        assert.deepEqual(await b.delivered(), ['first', 'second', 'third', 'marker']);
        assert.deepEqual(await a.delivered(), ['first', 'second', 'third', 'marker']);
        assert.deepEqual(await pendingItems(a), []);
        noDialogs(a, b);
      } finally {
        await server.stop();
      }
    });

    test('a newcomer after a crash sees the history, pictures included', async () => {
      const port = await freePort();
      let server = await startServer(port);
      try {
        const room = uniqueRoom();
        const a = await person(server.url, 'hana', room);
        await a.say('said before the crash');
        await a.must('setFile', { label: 'Image', base64: PNG, name: 'dot.png', mime: 'image/png' });
        await a.logHas('said before the crash', 10_000);
        await a.until('logPictures', {}, (list) => list.some((p) => p.name === 'image'), 10_000, 'my image in the log');
        // Acknowledged means stored: nothing of mine is waiting any more.
        await a.until('outbox', {}, (items) => items.length === 0, 10_000, 'the outbox empty');
        // SIGKILL: no shutdown, only what was committed is left. Same port, same data dir.
        await server.kill();
        server = await startServer(port);
        const b = await person(server.url, 'ivo', room);
        await b.logHas('said before the crash', 10_000);
        // A picture's line reads "[image]"; the picture itself is checked below.
        assert.deepEqual(await b.delivered(), ['said before the crash', '[image]']);
        const pictures = await b.until('logPictures', {}, (list) => list.some((p) => p.name === 'image' && p.complete), 10_000, 'the image, loaded from the restarted server');
        assert.equal(pictures.find((p) => p.name === 'image').width, 2, 'the image decodes');
        noDialogs(a, b);
      } finally {
        await server.stop();
      }
    });

    test('Disconnect stays disconnected for longer than the max backoff', async () => {
      const port = await freePort();
      const server = await startServer(port);
      try {
        const a = await person(server.url, 'dora', uniqueRoom());
        await a.click('Disconnect');
        await a.statusIs('Disconnected', 5_000);
        const health = async () => (await fetch(`${server.url}health`)).json();
        // Observed for longer than the app's max backoff (8 s): nothing reconnects. This loop
        // watches for a reconnect that must not come; it synchronises nothing.
        const until = Date.now() + 9_000;
        while (Date.now() < until) {
          assert.equal((await health()).connections, 0);
          assert.match(await a.do('status'), /Disconnected/);
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
        await a.click('Reconnect now');
        await a.statusIs('Connected', 5_000);
        assert.equal((await health()).connections, 1);
        noDialogs(a);
      } finally {
        await server.stop();
      }
    });

    test('a reload while a message is pending still delivers it once', async () => {
      const room = uniqueRoom();
      const a = await person(base, 'rita', room);
      const b = await person(base, 'sam', room);
      await a.click('Disconnect');
      await a.statusIs('Disconnected', 5_000);
      await a.say('survives a reload');
      await a.until('outbox', {}, (items) => items.some((n) => n.includes('survives a reload (pending)')), 10_000, 'the pending mark');
      // A picture too large for localStorage (over 1 MiB) is kept by this page only, and says so.
      await a.must('setFile', { label: 'Image', size: 2 << 20, byte: 7, name: 'big.png', mime: 'image/png' });
      await a.until('outbox', {}, (items) => items.some((n) => n.includes('(pending; not kept if this page is reloaded)')), 10_000, 'the picture marked as not kept');
      // The outbox is in localStorage; the reloaded page rejoins and sends it.
      await a.page.reload();
      await b.logHas('survives a reload', 15_000);
      await a.logHas('survives a reload', 10_000);
      await a.say('marker');
      await b.logHas('marker');
      await a.logHas('marker');
      assert.deepEqual(await b.delivered(), ['survives a reload', 'marker']);
      assert.deepEqual(await a.delivered(), ['survives a reload', 'marker']);
      assert.deepEqual(await pendingItems(a), []);
      noDialogs(a, b);
    });

    test('a picture past the browser\'s storage quota is marked as not kept on a reload', async () => {
      const a = await person(base, 'uma', uniqueRoom());
      await a.click('Disconnect');
      await a.statusIs('Disconnected', 5_000);
      // Room for a text, not for a 200 KB picture: under the 1 MiB stored bound, yet not kept.
      const filler = await a.do('fillStorage', { leave: 16 * 1024 });
      assert.ok(Array.isArray(filler), `filling localStorage: ${filler}`);
      try {
        await a.must('setFile', { label: 'Image', size: 200_000, byte: 7, name: 'quota.png', mime: 'image/png' });
        await a.until('outbox', {}, (items) => items.some((n) => n.includes('(pending; not kept if this page is reloaded)')), 10_000, 'the picture marked as not kept');
      } finally {
        await a.do('removeStorage', { keys: filler });
      }
      await a.click('Reconnect now');
      await a.until('outbox', {}, (items) => items.length === 0, 15_000, 'the picture sent once connected');
      noDialogs(a);
    });

    test('an image and a sketch reach the other page', async () => {
      const room = uniqueRoom();
      const a = await person(base, 'pia', room);
      const b = await person(base, 'quinn', room);
      await a.must('setFile', { label: 'Image', base64: PNG, name: 'dot.png', mime: 'image/png' });
      await b.until('logPictures', {}, (list) => list.some((p) => p.name === 'image'), 10_000, 'the image at the other page');
      // Decoding is asynchronous (Firefox reports the element before its pixels).
      const pictures = await b.until('logPictures', {}, (list) => list.some((p) => p.name === 'image' && p.complete), 5_000, 'the image decoded');
      const picture = pictures.find((p) => p.name === 'image');
      assert.ok(picture.complete && picture.width === 2, `the image decodes: ${JSON.stringify(picture)}`);

      // A stroke from (10, 10) to (100, 80) in ten steps, as a mouse draws it.
      const points = Array.from({ length: 11 }, (_, i) => [10 + 9 * i, 10 + 7 * i]);
      await a.must('draw', { region: 'Sketch', points });
      assert.deepEqual(await a.do('canvasInk', { region: 'Sketch' }), { stroke: true, background: true }, 'the pad shows the stroke');
      await a.click('Send sketch');
      await b.until('logPictures', {}, (list) => list.some((p) => p.name === 'sketch' && p.complete), 10_000, 'the sketch at the other page, decoded');
      // The stroke's colour arrived on the white pad: an opaque pixel that is not white.
      const sketch = (await b.do('logPictures')).find((p) => p.name === 'sketch');
      assert.deepEqual({ stroke: sketch.stroke, background: sketch.background }, { stroke: true, background: true }, 'the sketch has the stroke');
      noDialogs(a, b);
    });

    test('an image one byte over the limit is refused with the exact limit, one at it is sent', async () => {
      const room = uniqueRoom();
      const a = await person(base, 'olga', room);
      const b = await person(base, 'petra', room);
      // An upload frame is the header's length (4 bytes), the header, then the file: at most the
      // server's binary limit (its default, 5 MiB, here). Every message id has 16 hex digits.
      const header = JSON.stringify({ kind: 'image', client_msg_id: 'm-ffffffffffffffff', mime: 'image/png' });
      const most = 5 * 1024 * 1024 - 4 - header.length;
      const spaced = (n) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
      await a.must('setFile', { label: 'Image', size: most + 1, byte: 1, name: 'over.png', mime: 'image/png' });
      await a.until('alerts', {}, (list) => list.some((t) => t.includes(`limit is ${spaced(most)} bytes`)), 5_000, `the size alert naming ${most}`);
      assert.deepEqual((await a.do('logItems')).filter((item) => !item.classes.includes('system')), [], 'nothing sent');
      await a.must('setFile', { label: 'Image', size: most, byte: 1, name: 'at.png', mime: 'image/png' });
      await b.until('logPictures', {}, (list) => list.some((p) => p.name === 'image'), 30_000, 'the picture at the limit at the other page');
      await a.until('outbox', {}, (items) => items.length === 0, 10_000, 'the picture acknowledged, not refused');
      assert.deepEqual(await a.do('alerts'), [], 'no alert left');
      noDialogs(a, b);
    });

    test('the 中文 switch translates the connection bar and is remembered', async () => {
      const a = await person(base, 'lin', uniqueRoom());
      await a.click('中文');
      await a.statusIs('已连接');
      await a.until('enabled', { name: '断开' }, (v) => v === true, 10_000, 'the 断开 button');
      await a.page.reload();
      await a.statusIs('已连接', 10_000);
      await a.clickWhenReady('English');
      await a.statusIs('Connected');
      noDialogs(a);
    });
  });
}
