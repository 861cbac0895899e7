// The playground end to end, in Chromium (Playwright) and Firefox (WebdriverIO): connect, send
// every kind of frame, close codes, heartbeat timeout, a long frame log.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { BROWSERS, suiteBrowser } from './lib/drivers.mjs';
import { Ui, pollUntil } from './lib/ui.mjs';

const base = process.env.HEARTLINE_URL;
if (!base) throw new Error('HEARTLINE_URL is not set: run the end-to-end tests through scripts/test.sh');
const wsBase = base.replace(/^http/, 'ws');
const SCREENSHOTS = process.env.HEARTLINE_SCREENSHOTS; // a folder, when set: the README's pictures

// The lines of the frame log and the event log.
const frames = (page) => page.do('logItems', { name: 'Frames' });
const events = async (page) => (await page.do('logItems', { name: 'Events' })).map((item) => item.text);

// Waits for an incoming frame whose line shows `text`.
const frameIn = (page, text, timeout = 10_000) => page.until('logItems', { name: 'Frames' },
  (items) => items.some((i) => i.classes.includes('in') && i.text.includes(text)), timeout, `an incoming frame "${text}"`);

// Waits for an event line that `matches` (a string it contains, or a RegExp).
const eventSeen = (page, matches, timeout = 10_000) => page.until('logItems', { name: 'Events' },
  (items) => items.some((i) => (typeof matches === 'string' ? i.text.includes(matches) : matches.test(i.text))),
  timeout, `the event ${matches}`);

const alertSays = (page, text, timeout = 5_000) => page.until('alerts', {},
  (list) => list.some((t) => t.includes(text)), timeout, `an alert "${text}"`);

const readyState = (page) => page.do('text', { label: 'Ready state' });

for (const name of BROWSERS) {
  describe(`the playground (${name})`, () => {
    const browser = suiteBrowser(name);
    before(() => {
      if (SCREENSHOTS) mkdirSync(SCREENSHOTS, { recursive: true });
    });

    async function playground() {
      const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
      const page = new Ui(await context.newPage(new URL('/playground', base).toString()));
      await page.until('value', { label: 'URL' }, (v) => /^wss?:\/\//.test(v), 10_000, 'the playground with its URL');
      return page;
    }

    // Connects (to `url`, or the default) and waits for the open event and the OPEN ready state
    // (recorded as it changes: a silent server's connection may be closing again already).
    async function connect(page, url) {
      if (url) await page.fill('URL', url);
      await page.must('watchText', { label: 'Ready state' });
      await page.click('Connect');
      await eventSeen(page, /\bopen$/, 10_000);
      await page.until('watched', { label: 'Ready state' }, (texts) => texts.some((t) => t.includes('OPEN 1')), 5_000, 'ready state OPEN 1');
    }

    test('the chat and the playground link to each other, and the chat loads nothing of the playground', async () => {
      const context = await browser.newContext();
      const tab = await context.newPage(base);
      const page = new Ui(tab);
      const path = () => tab.eval(() => location.pathname).catch(() => null);
      const chatShown = (v) => !String(v).startsWith('no control');
      await page.until('value', { label: 'Nickname' }, chatShown, 10_000, 'the chat');
      const loaded = await tab.eval(() => performance.getEntriesByType('resource').map((entry) => new URL(entry.name).pathname));
      assert.ok(loaded.some((p) => p.endsWith('.wasm')), `the chat's own bundle: ${loaded}`);
      assert.deepEqual(loaded.filter((p) => p.startsWith('/playground')), [], 'nothing of the playground');
      await page.followLink('Playground');
      await pollUntil(path, (p) => p === '/playground', 10_000, 'the playground', 50);
      await page.until('value', { label: 'URL' }, (v) => /^wss?:\/\//.test(v), 10_000, 'the playground with its URL');
      await page.followLink('Chat');
      await pollUntil(path, (p) => p === '/', 10_000, 'the chat again', 50);
      await page.until('value', { label: 'Nickname' }, chatShown, 10_000, 'the chat again');
    });

    test('connects to the echo endpoint and sees text, JSON, a file and hex bytes come back', async () => {
      const page = await playground();
      assert.match(await page.do('value', { label: 'URL' }), /\/echo$/, 'the default URL is this server\'s echo');
      await connect(page);

      await page.fill('Text', 'hello playground');
      await page.click('Send text');
      await frameIn(page, 'hello playground');

      await page.fill('JSON', '{"a": [1, 2]}');
      await page.click('Send JSON');
      await frameIn(page, '{"a":[1,2]}');

      await page.fill('JSON', '{"a": }');
      await page.click('Send JSON');
      await alertSays(page, 'line 1, column 7');

      await page.must('setFile', { label: 'File (sent as Blob)', base64: Buffer.from('Hi!').toString('base64'), name: 'hi.txt', mime: 'text/plain' });
      await frameIn(page, '48 69 21 |Hi!|');

      await page.fill('Hex bytes', 'de ad be ef');
      await page.click('Send hex');
      await frameIn(page, 'de ad be ef');

      await page.click('Send canvas (ArrayBuffer)');
      await frameIn(page, '2048 B');
      if (SCREENSHOTS && name === 'chromium') {
        await page.page.screenshot(`${SCREENSHOTS}/playground.png`, { fullPage: true });
      }
    });

    test('close with 4000 "bye" shows the code, name and meaning; 1001 is refused with the reason', async () => {
      const page = await playground();
      await connect(page);
      await page.fill('Close code', '1001');
      await page.click('Close');
      await alertSays(page, 'close code 1001 (Going Away) cannot be sent by a browser');
      assert.match(await readyState(page), /OPEN 1/);

      await page.fill('Close code', '4000');
      await page.fill('Close reason', 'bye');
      await page.click('Close');
      await eventSeen(page, 'close: 4000 Application — Defined by the application. (wasClean true, reason "bye")');
      await page.until('text', { label: 'Ready state' }, (t) => t?.includes('CLOSED 3'), 10_000, 'ready state CLOSED 3');
    });

    test('an invalid URL is explained and nothing is opened', async () => {
      const page = await playground();
      await page.fill('URL', 'http://example.com/');
      await page.click('Connect');
      await alertSays(page, 'ws:// or wss://');
      assert.deepEqual(await events(page), []);
    });

    test('a server that goes silent shows the heartbeat timeout and the reconnect', async () => {
      const page = await playground();
      await page.fill('Interval (ms)', '300');
      await page.fill('Pong timeout (ms)', '300');
      await page.fill('Min delay (ms)', '200');
      await page.fill('Max delay (ms)', '400');
      await connect(page, `${wsBase}/test/ws?key=pg-${name}-${Date.now()}&mode=silent`);
      await page.until('logItems', { name: 'Frames' }, (items) => items.some((i) => i.classes.includes('heartbeat')), 5_000, 'a heartbeat frame');
      await eventSeen(page, 'heartbeat timeout', 5_000);
      await eventSeen(page, /close: 1006 Abnormal Closure/);
      await eventSeen(page, /reconnect 1 scheduled/);
      await eventSeen(page, 'reconnect attempt 1', 5_000);
      // Heartbeat frames can be hidden.
      await page.must('check', { label: 'Hide heartbeats', checked: true });
      assert.deepEqual((await frames(page)).filter((i) => i.classes.includes('heartbeat')), []);
    });

    test('the frame log stays responsive with 10,000 frames', async () => {
      const page = await playground();
      await page.must('check', { group: 'Heartbeat', checked: false });
      await connect(page);
      await page.fill('Text', 'x');
      // 5,000 sends and their 5,000 echoes, clicked from inside the page.
      await page.must('clickMany', { name: 'Send text', times: 5_000 });
      await page.until('hasText', { text: 'older frames were dropped' }, (v) => v === true, 60_000, 'the dropped-frames note');
      // Every echo is in: the log kept its last 2,000 of the 10,000 frames.
      await page.until('hasText', { text: '8000 older frames were dropped' }, (v) => v === true, 60_000, 'all 10,000 frames');
      await page.must('select', { label: 'Direction', value: 'in' });
      await page.must('select', { label: 'Type', value: 'text' });
      // The page renders a bounded window of the log, whatever its length.
      assert.equal((await frames(page)).length, 300);
    });
  });
}
