// The chat survives what people do (issue 10), in Chromium (Playwright) and Firefox (WebdriverIO):
// a text at and over the limit, a message the server would refuse, a 200-message backlog, two tabs
// of one person, a half-open connection, and a member whose network died.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BROWSERS, suiteBrowser } from './lib/drivers.mjs';
import { Ui, pollUntil } from './lib/ui.mjs';
import { startProxy } from './lib/proxy.mjs';
import { freePort, startServer } from './server.mjs';

const base = process.env.HEARTLINE_URL;
if (!base) throw new Error('HEARTLINE_URL is not set: run the end-to-end tests through scripts/test.sh');
let rooms = 0;
const uniqueRoom = () => `sv-${process.pid}-${++rooms}`;

// The server's default text limit, and the bytes a say frame adds around its text (with the
// longest message id the app makes).
const MAX_TEXT_BYTES = 65_536;
const SAY_OVERHEAD = JSON.stringify({ type: 'say', client_msg_id: 'm-ffffffffffffffff', text: '' }).length;

// A 2×2 PNG.
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAYAAABytg0kAAAAFklEQVR4nGP8z8DwnwEIGEEEIwMDAwAuLgT9yX9O5AAAAABJRU5ErkJggg==';

for (const name of BROWSERS) {
  describe(`the chat survives what people do (${name})`, () => {
    const browser = suiteBrowser(name);

    // A person in a fresh profile, joined.
    async function person(url, nick, room) {
      const context = await browser.newContext();
      const page = new Ui(await context.newPage(url));
      await page.join(nick, room);
      return { context, page };
    }

    const { closeAll } = browser;

    test('a text just at the limit is sent; one byte over is refused in the composer, and nothing is sent', async () => {
      const room = uniqueRoom();
      const { page: a } = await person(base, 'lim', room);
      const { page: b } = await person(base, 'obs', room);
      const atLimit = 'a'.repeat(MAX_TEXT_BYTES - SAY_OVERHEAD);
      await a.say(atLimit);
      await b.logHas(atLimit, 15_000);

      await a.fill('Message', `${atLimit}é`); // é is two bytes of UTF-8: over by two
      const size = await a.until('composerSize', {}, (t) => t.includes('limit'), 5_000, 'the size line');
      assert.ok(size.includes('65 536 bytes (64 KiB)'), size);
      assert.equal(await a.do('enabled', { name: 'Send' }), false, 'Send is disabled');
      await a.fill('Message', 'x'.repeat(70_000));
      await a.until('composerSize', {}, (t) => t.includes('70 0'), 5_000, 'the size line with the size');

      await a.say('after the refusal');
      await b.logHas('after the refusal');
      assert.deepEqual(await b.delivered(), [atLimit, 'after the refusal'], 'the oversize text never went');
      assert.match(await a.do('status'), /^Connected/);
      await closeAll();
    });

    test('a message the server would refuse is marked "not sent" with Retry and Delete, and the room keeps flowing', async () => {
      const room = uniqueRoom();
      const { page: b } = await person(base, 'bystander', room);
      // A 70 000-character message left pending by an older app (it was resent, and refused
      // with 1009, on every reconnect): the outbox in localStorage as that app saved it.
      const context = await browser.newContext();
      const a = new Ui(await context.newPage(base));
      const outboxKey = `heartline.outbox.${JSON.stringify([room, 'stuck'])}`;
      const stuck = { client_msg_id: 'm-old', body: { kind: 'text', text: 'y'.repeat(70_000) } };
      await a.setStorage({ 'heartline.nick': 'stuck', 'heartline.room': room, 'heartline.joined': '1', [outboxKey]: JSON.stringify([stuck]) });
      await a.page.reload();
      await a.statusIs('Connected', 15_000);
      const outbox = await a.until('outbox', {}, (items) => items.some((t) => t.includes('not sent')), 10_000, 'the refused mark');
      assert.match(outbox[0], /not sent: Too long to send: 70 0\d\d bytes; the server's limit is 65 536 bytes/);

      await a.say('later messages flow');
      await b.logHas('later messages flow');
      await a.logHas('later messages flow');
      // Retry sends it through the same check: refused again, still marked, still not blocking.
      await a.must('clickIn', { item: 'yyyy', name: 'Retry' });
      await a.until('outbox', {}, (items) => items.length === 1 && items[0].includes('not sent'), 5_000);
      await a.must('clickIn', { item: 'yyyy', name: 'Delete' });
      await a.until('outbox', {}, (items) => items.length === 0, 5_000, 'an empty outbox');
      await a.page.reload();
      await a.statusIs('Connected', 15_000);
      assert.deepEqual(await a.do('outbox'), [], 'deleted for good');
      assert.deepEqual(await b.delivered(), ['later messages flow']);
      await closeAll();
    });

    test('a reload whose client id lost its secret takes a new id and keeps its name, not the join form', async () => {
      // As when a page kept its client id without the secret that backs it (an older app, or a
      // server-made secret whose welcome never came): the server refuses the old id (4006), the
      // page takes a new one, and its name is still held by the old id's member for the server's
      // departure grace.
      const room = uniqueRoom();
      const { page: b } = await person(base, 'witness', room);
      const { page: a } = await person(base, 'forgetful', room);
      await a.say('before the reload');
      await b.logHas('before the reload');
      const oldId = await a.do('storage', { key: 'heartline.client_id' });
      await a.must('removeStorage', { keys: ['heartline.secret'] });
      await a.page.reload();
      await a.statusIs('Connected', 20_000);
      const newId = await a.do('storage', { key: 'heartline.client_id' });
      assert.ok(oldId && newId && newId !== oldId, `a new client id: ${oldId} → ${newId}`);
      await a.say('after the reload');
      await b.logHas('after the reload');
      await a.logHas('after the reload');
      assert.deepEqual(await a.do('alerts'), [], 'no refusal shown');
      await b.until('members', {}, (m) => JSON.stringify(m) === JSON.stringify(['forgetful', 'witness']), 10_000, 'one forgetful');
      await closeAll();
    });

    // A fresh profile, and a client id kept without a secret that this server does not know
    // (from an older app whose server was restarted with `--store memory`).
    for (const keptId of [false, true]) {
      test(`a page reloaded before its first welcome arrived keeps its client id and its name, with no refusal (${keptId ? 'an id kept without its secret' : 'a fresh profile'})`, async () => {
        const kept = keptId && `c-kept-${process.pid}-${name}`;
        // As when a person joins and reloads at once: the server admitted the join, and its
        // welcome (which used to be the only bearer of the client id's secret) never came.
        const proxy = await startProxy(Number(new URL(base).port));
        try {
          const room = uniqueRoom();
          const { page: b } = await person(base, 'witness', room);
          const context = await browser.newContext();
          const a = new Ui(await context.newPage(proxy.url));
          if (kept) await a.setStorage({ 'heartline.client_id': kept });
          proxy.muteNew(true);
          await a.fill('Nickname', 'hasty');
          await a.fill('Room', room);
          await a.click('Join');
          await b.until('members', {}, (m) => m.includes('hasty'), 10_000, 'hasty admitted by the server');
          const id = await a.do('storage', { key: 'heartline.client_id' });
          assert.match(id ?? '', kept ? new RegExp(`^${kept}$`) : /^c-/);
          // The page made the secret itself: no welcome brought it.
          assert.match(await a.do('storage', { key: 'heartline.secret' }) ?? '', /^s-[0-9a-f]{32}$/);
          proxy.muteNew(false);
          await a.page.reload();
          await a.statusIs('Connected', 15_000);
          assert.equal(await a.do('storage', { key: 'heartline.client_id' }), id, 'the same client id');
          assert.deepEqual(await a.do('alerts'), [], 'no refusal shown');
          await a.say('after the reload');
          await b.logHas('after the reload');
          await a.logHas('after the reload');
          await b.until('members', {}, (m) => JSON.stringify(m) === JSON.stringify(['hasty', 'witness']), 10_000, 'one hasty');
        } finally {
          await closeAll();
          await proxy.stop();
        }
      });
    }

    test('a page with a copied client id and a name someone else holds ends at the join form, after one retry', async () => {
      // Its id is refused (4006: not its secret), and its name is held by a real other member,
      // not by its own departing one: one retry after the grace, then the join form says why.
      const room = uniqueRoom();
      const { page: holder } = await person(base, 'taken', room);
      // Its client id is kept once its join goes out (a moment after "Connected" shows).
      const clientId = await holder.until('storage', { key: 'heartline.client_id' }, (id) => Boolean(id), 5_000, 'the holder\'s client id');
      const context = await browser.newContext();
      const a = new Ui(await context.newPage(base));
      await a.setStorage({ 'heartline.nick': 'taken', 'heartline.room': room, 'heartline.joined': '1', 'heartline.client_id': clientId });
      const reloaded = Date.now();
      await a.page.reload();
      await a.until('alerts', {}, (alerts) => alerts.some((text) => /Nickname Taken/.test(text)), 20_000, 'the refusal on the join form');
      // Without the retry the form would say so within a second; the retry waits out the
      // server's departure grace (3 s) first.
      assert.ok(Date.now() - reloaded >= 3_000, `the join form came ${Date.now() - reloaded} ms after the reload: no retry`);
      // The copied id was refused and given up.
      assert.notEqual(await a.do('storage', { key: 'heartline.client_id' }), clientId);
      await holder.until('members', {}, (m) => JSON.stringify(m) === JSON.stringify(['taken']), 5_000, 'still one member');
      await closeAll();
    });

    test('a text the server refuses with 1009 is marked "not sent", the chat reconnects by itself, and later messages flow', async () => {
      const port = await freePort();
      // The server announces a larger text limit than it enforces, as a server with smaller
      // limits than the one the client last met would.
      const server = await startServer(port, ['--test-mode', '--test-announce-max-text-bytes', '1048576']);
      try {
        const room = uniqueRoom();
        const { page: a } = await person(server.url, 'refused', room);
        const { page: b } = await person(server.url, 'other', room);
        await a.do('watchStatus');
        await a.say('z'.repeat(70_000));
        const outbox = await a.until('outbox', {}, (items) => items.some((t) => t.includes('not sent')), 10_000, 'the refused mark');
        assert.match(outbox[0], /not sent: 1009 Message Too Big/);
        await a.until('statuses', {}, (list) => list.some((s) => !s.startsWith('Connected')), 5_000, 'the close');
        await a.statusIs('Connected', 10_000);
        assert.match(await a.do('lastClose'), /1009/);
        await a.say('after the 1009');
        await b.logHas('after the 1009');
        await a.logHas('after the 1009');
        assert.deepEqual(await b.delivered(), ['after the 1009']);
        assert.equal((await a.do('outbox')).length, 1, 'only the refused one is left, marked');
      } finally {
        await closeAll();
        await server.stop();
      }
    });

    test('a picture too slow to arrive is marked "not sent" (4007), the chat reconnects by itself, and later messages flow', async () => {
      const port = await freePort();
      // A message must arrive within 500 ms of its first byte; the uplink carries 200 KB/s, so
      // a 1 MiB picture takes 5 s (as a photo on a slow mobile uplink takes longer than the
      // server's 30 s). Short frames pass at once.
      const server = await startServer(port, ['--frame-timeout-ms', '500']);
      const proxy = await startProxy(port, { uplinkBytesPerSecond: 200_000 });
      try {
        const room = uniqueRoom();
        const { page: a } = await person(proxy.url, 'slowlink', room);
        const { page: b } = await person(server.url, 'other', room);
        const big = Buffer.alloc(1 << 20, 7).toString('base64');
        await a.must('setFile', { label: 'Image', base64: big, name: 'big.png', mime: 'image/png' });
        const outbox = await a.until('outbox', {}, (items) => items.some((t) => t.includes('not sent')), 15_000, 'the refused mark');
        assert.match(outbox[0], /not sent: 4007 Message Too Slow/);
        assert.match(await a.do('lastClose'), /4007/);
        await a.statusIs('Connected', 10_000);
        await a.say('after the 4007');
        await b.logHas('after the 4007');
        await a.logHas('after the 4007');
        assert.deepEqual(await b.delivered(), ['after the 4007']);
        assert.equal((await a.do('outbox')).length, 1, 'only the refused one is left, marked');
      } finally {
        await closeAll();
        await proxy.stop();
        await server.stop();
      }
    });

    test('a picture still in the browser\'s send buffer when the server refuses it (4007) is not sent again once marked, and later messages flow', async () => {
      const port = await freePort();
      // A picture far larger than the kernel's buffers between the browser and the proxy hold,
      // on an uplink of 200 KB/s: most of it is still in the browser (its `bufferedAmount`)
      // when the server gives up on it 500 ms after its first byte.
      const server = await startServer(port, ['--frame-timeout-ms', '500', '--max-binary-bytes', String(32 << 20)]);
      const proxy = await startProxy(port, { uplinkBytesPerSecond: 200_000 });
      try {
        const room = uniqueRoom();
        const { page: a } = await person(proxy.url, 'bigpic', room);
        const { page: b } = await person(server.url, 'other', room);
        await a.do('watchStatus');
        await a.must('setFile', { label: 'Image', size: 24 << 20, byte: 7, name: 'huge.png', mime: 'image/png' });
        const outbox = await a.until('outbox', {}, (items) => items.some((t) => t.includes('not sent')), 30_000, 'the refused mark');
        // Chromium may see the refusal as a 1006 (the server's close frame is lost behind the
        // upload it cuts short), a network loss after which the picture is sent once more; the
        // second loss under it marks it, whatever its code.
        assert.match(outbox[0], /not sent: (4007 Message Too Slow|1006 Abnormal Closure: the connection was lost twice while it was being sent)/);
        await a.statusIs('Connected', 10_000);
        const before = await a.do('statuses');
        const losses = before.filter((s, i) => i > 0 && !s.startsWith('Connected') && before[i - 1].startsWith('Connected'));
        assert.ok(losses.length >= 1 && losses.length <= 2, JSON.stringify(before));
        // Once marked, it does not go out again: the connection stays up and later messages
        // flow both ways (before, the library sent it again after every reconnect, and what
        // came after it never arrived).
        await a.do('watchStatus');
        await a.say('after the huge picture');
        await b.logHas('after the huge picture', 15_000);
        await a.logHas('after the huge picture');
        await b.say('and back');
        await a.logHas('and back');
        assert.deepEqual(await b.delivered(), ['after the huge picture', 'and back']);
        const after = await a.do('statuses');
        assert.ok(after.every((s) => s.startsWith('Connected')), JSON.stringify(after));
        assert.equal((await a.do('outbox')).length, 1, 'only the refused one is left, marked');
      } finally {
        await closeAll();
        await proxy.stop();
        await server.stop();
      }
    });

    test('an upload the connection is lost under twice is marked, not sent again and again', async () => {
      const port = await freePort();
      const server = await startServer(port);
      // A slow uplink, so the picture is still on its way when the network drops.
      const proxy = await startProxy(port, { uplinkBytesPerSecond: 200_000 });
      try {
        const room = uniqueRoom();
        const { page: a } = await person(proxy.url, 'flaky', room);
        const { page: b } = await person(server.url, 'other', room);
        await a.must('setFile', { label: 'Image', size: 4 << 20, byte: 7, name: 'flaky.png', mime: 'image/png' });
        for (const loss of [1, 2]) {
          // The picture is going out on this connection (far more than a join and a welcome).
          await pollUntil(() => proxy.uplinkBytes(), (bytes) => bytes > 100_000, 15_000, `the picture on its way (${loss})`, 20);
          assert.ok(proxy.cutClients() >= 1);
          await a.until('status', {}, (s) => !s.startsWith('Connected'), 10_000, `loss ${loss}`);
          await a.statusIs('Connected', 15_000);
        }
        const outbox = await a.until('outbox', {}, (items) => items.some((t) => t.includes('not sent')), 5_000, 'the mark');
        assert.match(outbox[0], /not sent: 1006 Abnormal Closure: the connection was lost twice while it was being sent/);
        await a.say('after the flaky picture');
        await b.logHas('after the flaky picture', 15_000);
        assert.deepEqual(await b.delivered(), ['after the flaky picture']);
        assert.equal((await a.do('outbox')).length, 1, 'only the marked one is left');
      } finally {
        await closeAll();
        await proxy.stop();
        await server.stop();
      }
    });

    test('200 messages written while disconnected, 3 of them images, arrive once each, in order, on a connection that stays up', async () => {
      const room = uniqueRoom();
      const { page: a } = await person(base, 'backlog', room);
      const { page: b } = await person(base, 'reader', room);
      await a.click('Disconnect');
      await a.statusIs('Disconnected');
      const expected = [];
      for (let i = 0; i < 200; i++) {
        if (i === 50 || i === 100 || i === 150) {
          await a.must('setFile', { label: 'Image', base64: PNG, name: `dot${i}.png`, mime: 'image/png' });
          expected.push('[image]');
        } else {
          await a.say(`backlog ${i}`);
          expected.push(`backlog ${i}`);
        }
        // Queued in order: the image's file read is asynchronous.
        await a.until('outbox', {}, (items) => items.length === i + 1, 5_000, `message ${i} queued`);
      }
      // Watched from before the reconnect, so a drop while the backlog starts going is seen.
      await a.do('watchStatus');
      await a.click('Reconnect now');
      await a.statusIs('Connected', 10_000);
      await b.until('delivered', {}, (texts) => texts.length >= 200, 90_000, '200 messages at the reader');
      await a.until('outbox', {}, (items) => items.length === 0, 10_000, 'an empty outbox');
      assert.deepEqual(await b.delivered(), expected, 'every message once, in order');
      assert.deepEqual(await a.delivered(), expected);
      assert.equal(await b.do('imagesDecoded'), 3);
      const statuses = await a.do('statuses');
      const connected = statuses.findIndex((s) => s.startsWith('Connected'));
      assert.ok(connected >= 0 && statuses.slice(connected).every((s) => s.startsWith('Connected')), `the connection dropped: ${statuses.join(' → ')}`);
      assert.doesNotMatch(await a.do('lastClose'), /1008/);
      await closeAll();
    });

    test('an image whose file read ends after the welcome is sent on that connection, by the state at that moment', async () => {
      const room = uniqueRoom();
      const { page: a } = await person(base, 'reader', room);
      const { page: b } = await person(base, 'viewer', room);
      await a.click('Disconnect');
      await a.statusIs('Disconnected');
      // Picked while disconnected; the file read is held until after the welcome.
      await a.must('holdFileReads');
      await a.must('setFile', { label: 'Image', base64: PNG, name: 'late.png', mime: 'image/png' });
      await a.until('heldFileReads', {}, (n) => n === 1, 5_000, 'the read under way');
      await a.click('Reconnect now');
      await a.statusIs('Connected', 10_000);
      await a.do('watchStatus');
      await a.must('releaseFileReads');
      // Sent now, not at the next reconnect.
      await b.until('delivered', {}, (texts) => texts.includes('[image]'), 10_000, 'the image at the viewer');
      await a.until('outbox', {}, (items) => items.length === 0, 10_000, 'an empty outbox');
      assert.ok((await a.do('statuses')).every((s) => s.startsWith('Connected')), 'no reconnect was needed');
      await closeAll();
    });

    test('two tabs of one person are one member, each message shows once in each tab, and another client cannot take the nickname', async () => {
      const room = uniqueRoom();
      const context = await browser.newContext();
      const tab1 = new Ui(await context.newPage(base));
      await tab1.join('twin', room);
      // The second tab of the same profile rejoins as the same person.
      const tab2 = new Ui(await context.newPage(base));
      await tab2.statusIs('Connected', 15_000);
      const { page: friend } = await person(base, 'friend', room);
      for (const page of [tab1, tab2, friend]) {
        await page.until('members', {}, (m) => JSON.stringify(m) === JSON.stringify(['friend', 'twin']), 10_000, 'members once each');
      }
      await friend.say('hi twins');
      await tab1.logHas('hi twins');
      await tab2.logHas('hi twins');
      await tab2.say('from tab two');
      await tab1.logHas('from tab two');
      await friend.logHas('from tab two');
      // A marker after both, so a late duplicate would be in the log by now.
      await friend.say('marker');
      for (const page of [tab1, tab2, friend]) {
        await page.logHas('marker');
        assert.deepEqual(await page.delivered(), ['hi twins', 'from tab two', 'marker']);
      }
      // Someone else, in another profile, asking for the same nickname is refused.
      const other = await browser.newContext();
      const impostor = new Ui(await other.newPage(base));
      await impostor.fill('Nickname', 'twin');
      await impostor.fill('Room', room);
      await impostor.click('Join');
      await impostor.until('alerts', {}, (list) => list.some((t) => t.includes('Nickname Taken')), 10_000, 'Nickname Taken');
      await closeAll();
    });

    test('after a half-open loss, the same tab takes its old session over at once', async () => {
      const port = Number(new URL(base).port);
      const proxy = await startProxy(port);
      try {
        const room = uniqueRoom();
        const { page: watcher } = await person(base, 'watcher', room);
        const { page: a } = await person(proxy.url, 'halfopen', room);
        await watcher.until('members', {}, (m) => m.includes('halfopen'), 10_000);
        await a.do('watchStatus');
        // The network under the tab dies: the browser sees its socket drop, the server sees
        // nothing (its side of the connection stays open and silent).
        assert.ok(proxy.cutClients() >= 1);
        await a.until('statuses', {}, (list) => list.some((s) => !s.startsWith('Connected')), 10_000, 'the loss');
        await a.statusIs('Connected', 10_000);
        assert.doesNotMatch(await a.do('lastClose'), /4002|Nickname Taken/);
        await a.say('back at once');
        await watcher.logHas('back at once');
        // Presence never flickered for the watcher: one "joined", no "left".
        const lines = await watcher.do('system');
        assert.equal(lines.filter((l) => l.startsWith('halfopen joined')).length, 1, lines.join(' | '));
        assert.equal(lines.filter((l) => l.startsWith('halfopen left')).length, 0, lines.join(' | '));
        assert.deepEqual(await watcher.do('members'), ['halfopen', 'watcher']);
      } finally {
        await closeAll();
        await proxy.stop();
      }
    });

    test('a message the server stored while its ack was lost is not sent again after the welcome that confirms it', async () => {
      const port = await freePort();
      const server = await startServer(port);
      const proxy = await startProxy(port);
      const health = async () => (await fetch(`${server.url}health`)).json();
      try {
        const room = uniqueRoom();
        const { page: watcher } = await person(server.url, 'watcher', room);
        const { page: a } = await person(proxy.url, 'lossy', room);
        // The way back goes silent: the message is stored and broadcast, but its ack and its
        // broadcast never reach the sender, which keeps it pending.
        proxy.muteServer();
        await a.say('stored once');
        await watcher.logHas('stored once');
        assert.ok((await a.do('outbox')).some((t) => t.includes('stored once (pending)')));
        proxy.cutClients();
        // The reconnect's welcome replays it; the outbox must not send it again.
        await a.logHas('stored once', 15_000);
        await a.until('outbox', {}, (items) => items.length === 0, 5_000, 'an empty outbox');
        await a.say('marker');
        await watcher.logHas('marker');
        assert.equal((await health()).deduplicated, 0, 'a confirmed message was resent');
        assert.deepEqual(await watcher.delivered(), ['stored once', 'marker']);
      } finally {
        await closeAll();
        await proxy.stop();
        await server.stop();
      }
    });

    test('a member whose network died leaves the member list by the server\'s own liveness check', async () => {
      const port = await freePort();
      const server = await startServer(port, ['--liveness-timeout-ms', '2000']);
      const proxy = await startProxy(port);
      try {
        const room = uniqueRoom();
        const { page: alive } = await person(server.url, 'alive', room);
        await person(proxy.url, 'ghost', room);
        await alive.until('members', {}, (m) => m.includes('ghost'), 10_000);
        proxy.blockNew();
        proxy.cutClients();
        const started = Date.now();
        await alive.until('members', {}, (m) => JSON.stringify(m) === '["alive"]', 8_000, 'the ghost gone');
        const took = Date.now() - started;
        assert.ok(took >= 1_000, `gone after ${took} ms: sooner than the 2 s timeout allows`);
        assert.ok((await alive.do('system')).some((l) => l.startsWith('ghost left')));
      } finally {
        await closeAll();
        await proxy.stop();
        await server.stop();
      }
    });
  });
}
