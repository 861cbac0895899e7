// The served page loads the wasm app and a WebSocket echo works from it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage } from './browser.mjs';

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test('the served app connects and echoes a message', async () => {
  const { page, context, errors } = await openPage(browser);
  await page.getByRole('status').filter({ hasText: 'Open' }).waitFor({ timeout: 10_000 });
  await page.getByLabel('Message').fill('hello from playwright');
  await page.getByRole('button', { name: 'Send' }).click();
  await page.getByRole('log').getByText('← hello from playwright').waitFor({ timeout: 5_000 });
  assert.deepEqual(errors, []);
  await context.close();
});

test('a message with markup shows as text', async () => {
  const { page, context } = await openPage(browser);
  await page.getByRole('status').filter({ hasText: 'Open' }).waitFor({ timeout: 10_000 });
  let dialogs = 0;
  page.on('dialog', async (dialog) => {
    dialogs += 1;
    await dialog.dismiss();
  });
  await page.getByLabel('Message').fill('<img src=x onerror=alert(1)>');
  await page.getByRole('button', { name: 'Send' }).click();
  await page.getByRole('log').getByText('← <img src=x onerror=alert(1)>').waitFor({ timeout: 5_000 });
  assert.equal(await page.locator('[role=log] img').count(), 0);
  assert.equal(dialogs, 0);
  await context.close();
});
