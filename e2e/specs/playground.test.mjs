// The playground end to end: connect, send every kind of frame, close codes, heartbeat timeout.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { launch } from './browser.mjs';

const base = process.env.HEARTLINE_URL;
const wsBase = base.replace(/^http/, 'ws');
let browser;
before(async () => {
  if (process.env.HEARTLINE_SCREENSHOTS) mkdirSync(process.env.HEARTLINE_SCREENSHOTS, { recursive: true });
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

async function playground() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  await page.goto(new URL('/playground', base).toString());
  return { page, context };
}

const frames = (page) => page.getByRole('log', { name: 'Frames' });
const events = (page) => page.getByRole('log', { name: 'Events' });

async function connect(page, url) {
  if (url) await page.getByLabel('URL').fill(url);
  await page.getByRole('button', { name: 'Connect' }).click();
  await events(page).getByText(/\bopen$/).waitFor({ timeout: 10_000 });
  await page.getByLabel('Ready state').filter({ hasText: 'OPEN 1' }).waitFor();
}

test('connects to the echo endpoint and sees text, JSON, a file and hex bytes come back', async () => {
  const { page, context } = await playground();
  assert.match(await page.getByLabel('URL').inputValue(), /\/echo$/, 'the default URL is this server\'s echo');
  await connect(page);

  await page.getByLabel('Text', { exact: true }).fill('hello playground');
  await page.getByRole('button', { name: 'Send text' }).click();
  await frames(page).locator('li.in').filter({ hasText: 'hello playground' }).waitFor();

  await page.getByLabel('JSON', { exact: true }).fill('{"a": [1, 2]}');
  await page.getByRole('button', { name: 'Send JSON' }).click();
  await frames(page).locator('li.in').filter({ hasText: '{"a":[1,2]}' }).waitFor();

  await page.getByLabel('JSON', { exact: true }).fill('{"a": }');
  await page.getByRole('button', { name: 'Send JSON' }).click();
  await page.getByRole('alert').filter({ hasText: 'line 1, column 7' }).waitFor();

  await page.getByLabel('File (sent as Blob)').setInputFiles({ name: 'hi.txt', mimeType: 'text/plain', buffer: Buffer.from('Hi!') });
  await frames(page).locator('li.in').filter({ hasText: '48 69 21 |Hi!|' }).waitFor();

  await page.getByLabel('Hex bytes').fill('de ad be ef');
  await page.getByRole('button', { name: 'Send hex' }).click();
  await frames(page).locator('li.in').filter({ hasText: 'de ad be ef' }).waitFor();

  await page.getByRole('button', { name: 'Send canvas (ArrayBuffer)' }).click();
  await frames(page).locator('li.in').filter({ hasText: '2048 B' }).waitFor();
  if (process.env.HEARTLINE_SCREENSHOTS) {
    await page.screenshot({ path: `${process.env.HEARTLINE_SCREENSHOTS}/playground.png`, fullPage: true });
  }
  await context.close();
});

test('close with 4000 "bye" shows the code, name and meaning; 1001 is refused with the reason', async () => {
  const { page, context } = await playground();
  await connect(page);
  await page.getByLabel('Close code').fill('1001');
  await page.getByRole('button', { name: 'Close', exact: true }).click();
  await page.getByRole('alert').filter({ hasText: 'close code 1001 (Going Away) cannot be sent by a browser' }).waitFor();
  assert.match(await page.getByLabel('Ready state').textContent(), /OPEN 1/);

  await page.getByLabel('Close code').fill('4000');
  await page.getByLabel('Close reason').fill('bye');
  await page.getByRole('button', { name: 'Close', exact: true }).click();
  await events(page).getByText('close: 4000 Application — Defined by the application. (wasClean true, reason "bye")').waitFor();
  await page.getByLabel('Ready state').filter({ hasText: 'CLOSED 3' }).waitFor();
  await context.close();
});

test('an invalid URL is explained and nothing is opened', async () => {
  const { page, context } = await playground();
  await page.getByLabel('URL').fill('http://example.com/');
  await page.getByRole('button', { name: 'Connect' }).click();
  await page.getByRole('alert').filter({ hasText: 'ws:// or wss://' }).waitFor();
  assert.equal(await events(page).locator('li').count(), 0);
  await context.close();
});

test('a server that goes silent shows the heartbeat timeout and the reconnect', async () => {
  const { page, context } = await playground();
  await page.getByLabel('Interval (ms)').fill('300');
  await page.getByLabel('Pong timeout (ms)').fill('300');
  await page.getByLabel('Min delay (ms)').fill('200');
  await page.getByLabel('Max delay (ms)').fill('400');
  await connect(page, `${wsBase}/test/ws?key=pg-${Date.now()}&mode=silent`);
  await frames(page).locator('li.heartbeat').first().waitFor({ timeout: 5_000 });
  await events(page).getByText('heartbeat timeout').first().waitFor({ timeout: 5_000 });
  await events(page).getByText(/close: 1006 Abnormal Closure/).first().waitFor();
  await events(page).getByText(/reconnect 1 scheduled/).waitFor();
  await events(page).getByText('reconnect attempt 1').waitFor({ timeout: 5_000 });
  // Heartbeat frames can be hidden.
  await page.getByLabel('Hide heartbeats').check();
  assert.equal(await frames(page).locator('li.heartbeat').count(), 0);
  await context.close();
});

test('the frame log stays responsive with 10,000 frames', async () => {
  const { page, context } = await playground();
  await page.getByRole('group', { name: 'Heartbeat' }).getByRole('checkbox').uncheck();
  await connect(page);
  await page.getByLabel('Text', { exact: true }).fill('x');
  const send = page.getByRole('button', { name: 'Send text' });
  // 5,000 sends and their 5,000 echoes, clicked from inside the page.
  await send.evaluate((button) => {
    for (let i = 0; i < 5_000; i++) button.click();
  });
  await page.getByText(/older frames were dropped/).waitFor({ timeout: 60_000 });
  await page.getByLabel('Direction', { exact: true }).selectOption('in');
  await page.getByLabel('Type', { exact: true }).selectOption('text');
  // The page renders a bounded window of the log, whatever its length.
  assert.equal(await frames(page).locator('li').count(), 300);
  await context.close();
});
