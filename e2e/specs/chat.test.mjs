// The chat room end to end: real server, real Chromium, selected by role and label.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { launch } from './browser.mjs';
import { freePort, startServer } from './server.mjs';

const SCREENSHOTS = process.env.HEARTLINE_SCREENSHOTS; // a folder, when set

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

let rooms = 0;
const uniqueRoom = () => `e2e-${process.pid}-${++rooms}`;

async function joinPage(url, nick, room) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
  const page = await context.newPage();
  page.on('dialog', (dialog) => {
    throw new Error(`unexpected dialog: ${dialog.message()}`);
  });
  await page.goto(url);
  await page.getByLabel('Nickname').fill(nick);
  await page.getByLabel('Room').fill(room);
  await page.getByRole('button', { name: 'Join' }).click();
  await page.getByRole('status').filter({ hasText: 'Connected' }).waitFor({ timeout: 10_000 });
  return { page, context };
}

async function say(page, text) {
  await page.getByRole('textbox', { name: 'Message' }).fill(text);
  await page.getByRole('button', { name: 'Send', exact: true }).click();
}

// The texts of the delivered messages in a page's log, in order.
async function delivered(page) {
  return page.getByRole('log').locator('li[data-seq] .text').allTextContents();
}

async function waitForLog(page, text, timeout = 10_000) {
  await page.getByRole('log').locator('li[data-seq]').filter({ hasText: text }).first().waitFor({ timeout });
}

test('two pages chat both ways', async () => {
  const room = uniqueRoom();
  const a = await joinPage(process.env.HEARTLINE_URL, 'alice', room);
  const b = await joinPage(process.env.HEARTLINE_URL, 'bob', room);
  await a.page.getByRole('list', { name: 'Members' }).getByText('bob').waitFor();
  await say(a.page, 'hello bob');
  await waitForLog(b.page, 'hello bob');
  await say(b.page, 'hello alice');
  await waitForLog(a.page, 'hello alice');
  assert.deepEqual(await delivered(a.page), ['hello bob', 'hello alice']);
  assert.deepEqual(await delivered(b.page), ['hello bob', 'hello alice']);
  if (SCREENSHOTS) {
    mkdirSync(SCREENSHOTS, { recursive: true });
    await say(b.page, 'Heartline keeps the line alive 💓');
    await waitForLog(a.page, 'keeps the line');
    await a.page.screenshot({ path: `${SCREENSHOTS}/chat.png` });
  }
  await a.context.close();
  await b.context.close();
});

test('a message with markup shows as text', async () => {
  const room = uniqueRoom();
  const a = await joinPage(process.env.HEARTLINE_URL, 'mallory', room);
  await say(a.page, '<img src=x onerror=alert(1)>');
  await waitForLog(a.page, '<img src=x onerror=alert(1)>');
  assert.equal(await a.page.getByRole('log').locator('img').count(), 0);
  await a.context.close();
});

test('messages sent while the server restarts arrive once each, in order', async () => {
  const port = await freePort();
  let server = await startServer(port);
  const room = uniqueRoom();
  const a = await joinPage(server.url, 'ann', room);
  const b = await joinPage(server.url, 'ben', room);
  try {
    await server.stop();
    await a.page.getByRole('status').filter({ hasText: 'Reconnecting' }).waitFor({ timeout: 10_000 });
    if (SCREENSHOTS) await a.page.screenshot({ path: `${SCREENSHOTS}/reconnecting.png` });
    for (const text of ['first', 'second', 'third']) {
      await say(a.page, text);
      await a.page.getByRole('log').getByRole('listitem', { name: new RegExp(`${text} \\(pending\\)`) }).waitFor();
    }
    server = await startServer(port);
    await waitForLog(b.page, 'third', 30_000);
    await waitForLog(a.page, 'third', 10_000);
    assert.deepEqual(await delivered(b.page), ['first', 'second', 'third']);
    assert.deepEqual(await delivered(a.page), ['first', 'second', 'third']);
    assert.equal(await a.page.getByRole('listitem', { name: /pending/ }).count(), 0);
  } finally {
    await a.context.close();
    await b.context.close();
    await server.stop();
  }
});

test('Disconnect stays disconnected for longer than the max backoff', async () => {
  const port = await freePort();
  const server = await startServer(port);
  const a = await joinPage(server.url, 'dora', uniqueRoom());
  try {
    await a.page.getByRole('button', { name: 'Disconnect' }).click();
    await a.page.getByRole('status').filter({ hasText: 'Disconnected' }).waitFor({ timeout: 5_000 });
    const health = async () => (await fetch(`${server.url}health`)).json();
    // Longer than the app's max backoff (8 s): nothing reconnects.
    const until = Date.now() + 9_000;
    while (Date.now() < until) {
      assert.equal((await health()).connections, 0);
      assert.match(await a.page.getByRole('status').textContent(), /Disconnected/);
      await a.page.waitForTimeout(500);
    }
    await a.page.getByRole('button', { name: 'Reconnect now' }).click();
    await a.page.getByRole('status').filter({ hasText: 'Connected' }).waitFor({ timeout: 5_000 });
    assert.equal((await health()).connections, 1);
  } finally {
    await a.context.close();
    await server.stop();
  }
});

test('a reload while a message is pending still delivers it once', async () => {
  const room = uniqueRoom();
  const a = await joinPage(process.env.HEARTLINE_URL, 'rita', room);
  const b = await joinPage(process.env.HEARTLINE_URL, 'sam', room);
  await a.page.getByRole('button', { name: 'Disconnect' }).click();
  await a.page.getByRole('status').filter({ hasText: 'Disconnected' }).waitFor({ timeout: 5_000 });
  await say(a.page, 'survives a reload');
  await a.page.getByRole('listitem', { name: /survives a reload \(pending\)/ }).waitFor();
  // The outbox is in localStorage; the reloaded page rejoins and sends it.
  await a.page.reload();
  await waitForLog(b.page, 'survives a reload', 15_000);
  await waitForLog(a.page, 'survives a reload', 10_000);
  assert.deepEqual(await delivered(b.page), ['survives a reload']);
  assert.deepEqual(await delivered(a.page), ['survives a reload']);
  assert.equal(await a.page.getByRole('listitem', { name: /pending/ }).count(), 0);
  await a.context.close();
  await b.context.close();
});

// A 2×2 PNG.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAYAAABytg0kAAAAFklEQVR4nGP8z8DwnwEIGEEEIwMDAwAuLgT9yX9O5AAAAABJRU5ErkJggg==',
  'base64',
);

test('an image and a sketch reach the other page', async () => {
  const room = uniqueRoom();
  const a = await joinPage(process.env.HEARTLINE_URL, 'pia', room);
  const b = await joinPage(process.env.HEARTLINE_URL, 'quinn', room);
  await a.page.getByLabel('Image').setInputFiles({ name: 'dot.png', mimeType: 'image/png', buffer: PNG });
  const picture = b.page.getByRole('log').getByRole('img', { name: 'image' });
  await picture.waitFor({ timeout: 10_000 });
  assert.ok(await picture.evaluate((img) => img.complete && img.naturalWidth === 2), 'the image decodes');

  const pad = a.page.getByRole('region', { name: 'Sketch' }).locator('canvas');
  const box = await pad.boundingBox();
  await a.page.mouse.move(box.x + 10, box.y + 10);
  await a.page.mouse.down();
  await a.page.mouse.move(box.x + 100, box.y + 80, { steps: 10 });
  await a.page.mouse.up();
  await a.page.getByRole('button', { name: 'Send sketch' }).click();
  const sketch = b.page.getByRole('log').getByRole('img', { name: 'sketch' });
  await sketch.waitFor({ timeout: 10_000 });
  // The stroke's colour arrived: some pixel is not white.
  const drawn = await sketch.evaluate((canvas) => {
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 0; i < data.length; i += 4) if (data[i + 1] < 200) return true;
    return false;
  });
  assert.ok(drawn, 'the sketch has the stroke');
  await a.context.close();
  await b.context.close();
});

test('an image over the limit is refused with a message, nothing sent', async () => {
  const a = await joinPage(process.env.HEARTLINE_URL, 'olga', uniqueRoom());
  const big = Buffer.alloc(6 * 1024 * 1024, 1);
  await a.page.getByLabel('Image').setInputFiles({ name: 'big.png', mimeType: 'image/png', buffer: big });
  await a.page.getByRole('alert').filter({ hasText: 'limit' }).waitFor({ timeout: 5_000 });
  assert.equal(await a.page.getByRole('log').locator('li').count(), 0);
  await a.context.close();
});

test('the 中文 switch translates the connection bar and is remembered', async () => {
  const a = await joinPage(process.env.HEARTLINE_URL, 'lin', uniqueRoom());
  await a.page.getByRole('button', { name: '中文' }).click();
  await a.page.getByRole('status').filter({ hasText: '已连接' }).waitFor();
  await a.page.getByRole('button', { name: '断开' }).waitFor();
  await a.page.reload();
  await a.page.getByRole('status').filter({ hasText: '已连接' }).waitFor({ timeout: 10_000 });
  await a.page.getByRole('button', { name: 'English' }).click();
  await a.page.getByRole('status').filter({ hasText: 'Connected' }).waitFor();
  await a.context.close();
});
