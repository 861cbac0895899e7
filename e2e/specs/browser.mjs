// Shared by the specs: launches Debian's Chromium through playwright-core, and knows the
// address of the server the test command started.
import { chromium } from 'playwright-core';

export const baseUrl = process.env.HEARTLINE_URL;
if (!baseUrl) {
  throw new Error('HEARTLINE_URL is not set: run the end-to-end tests through scripts/test.sh');
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

// Opens a fresh page; fails the test on any uncaught page error.
export async function openPage(browser, path = '/') {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(error));
  await page.goto(new URL(path, baseUrl).toString());
  return { page, context, errors };
}
