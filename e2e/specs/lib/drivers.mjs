// The two ways of driving a browser, behind one small interface:
//   const browser = await launch('chromium' | 'firefox');
//   const context = await browser.newContext();   // its own storage, like a fresh profile
//                                                  // ({ viewport: { width, height } } to size it)
//   const page = await context.newPage(url);       // a tab; tabs of one context share localStorage
//   await page.eval(fn, arg); await page.reload(); await page.back(); await context.close(); await browser.close();
//   launch(name, { bfcache: true }): the back/forward cache on (Playwright turns it off by default).
//   page.dialogs: messages of alert/confirm/prompt dialogs the page opened (each dismissed);
//   await page.freeze(true | false): stops or restarts the page's event loop (Chromium only);
//   await page.screenshot(path, { fullPage }): a PNG (Firefox: the viewport only).
// Chromium through Playwright (Debian's Chromium); Firefox ESR through WebdriverIO and the
// cargo-installed geckodriver (Playwright cannot drive Debian's Firefox).
import { execFileSync } from 'node:child_process';
import { after, afterEach, before } from 'node:test';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';

export const BROWSERS = (process.env.E2E_BROWSERS || 'chromium,firefox').split(',').filter(Boolean);

const VIEWPORT = { width: 1000, height: 800 };

// Called inside a describe: launches `name` before the suite and closes it after; every context
// opened through the returned `newContext` is closed after its test, passed or failed.
export function suiteBrowser(name, options) {
  let browser;
  const open = [];
  const closeAll = async () => {
    while (open.length) await open.pop().close();
  };
  before(async () => {
    browser = await launch(name, options);
  });
  after(async () => {
    await browser?.close();
  });
  afterEach(closeAll);
  return {
    async newContext(options) {
      const context = await browser.newContext(options);
      open.push(context);
      return context;
    },
    closeAll,
  };
}

export async function launch(name, options = {}) {
  if (name === 'chromium') return launchChromium(options);
  if (name === 'firefox') return launchFirefox();
  throw new Error(`unknown browser ${name}`);
}

async function launchChromium({ bfcache = false } = {}) {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    // Playwright passes --disable-back-forward-cache unless told not to.
    ...(bfcache ? { ignoreDefaultArgs: ['--disable-back-forward-cache'] } : {}),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
      // Tabs of a test are all "in the background" at times: timers must not be throttled.
      '--disable-background-timer-throttling', '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows'],
  });
  return {
    name: 'chromium',
    async newContext({ viewport = VIEWPORT } = {}) {
      const context = await browser.newContext({ viewport });
      return {
        async newPage(url) {
          const page = await context.newPage();
          const errors = [];
          const dialogs = [];
          page.on('pageerror', (error) => errors.push(error));
          page.on('dialog', (dialog) => {
            dialogs.push(dialog.message());
            dialog.dismiss().catch(() => {});
          });
          await page.goto(url);
          // A DevTools session of this page's own, kept while the page is frozen (a state set
          // through a session may not outlive it).
          let devtools;
          return {
            errors,
            dialogs,
            eval: (fn, arg) => page.evaluate(fn, arg),
            // Stops the page's event loop (its tasks wait, its Web Locks stay held, as in a tab
            // the browser froze or a main thread blocked for long), or lets it run again:
            // Chromium only. A debugger pause: Chromium's own freezing
            // (Page.setWebLifecycleState) silently does nothing to a visible page, and a
            // headless page is always visible.
            freeze: async (frozen) => {
              devtools ??= await context.newCDPSession(page);
              if (frozen) {
                await devtools.send('Debugger.enable');
                await devtools.send('Debugger.pause');
              } else {
                await devtools.send('Debugger.resume');
              }
            },
            reload: () => page.reload(),
            goto: (to) => page.goto(to),
            // A page restored from the back/forward cache fires no load event: wait for the commit.
            back: () => page.goBack({ waitUntil: 'commit' }),
            close: () => page.close(),
            screenshot: (path, { fullPage = false } = {}) => page.screenshot({ path, fullPage }),
          };
        },
        close: () => context.close(),
      };
    },
    close: () => browser.close(),
  };
}

// The cargo-installed geckodriver. Not the first `geckodriver` on PATH: under `npm test` that is
// node_modules/.bin/geckodriver, the npm wrapper webdriverio depends on, which tries to download
// a driver (and there is no network here).
function geckodriverPath() {
  if (process.env.GECKODRIVER) return process.env.GECKODRIVER;
  const cargo = path.join(homedir(), '.cargo', 'bin', 'geckodriver');
  if (existsSync(cargo)) return cargo;
  const found = execFileSync('sh', ['-c', 'command -v geckodriver'], { encoding: 'utf8' }).trim();
  if (found.includes('node_modules')) {
    throw new Error('no cargo-installed geckodriver: run scripts/install.sh (or set GECKODRIVER)');
  }
  return found;
}

async function launchFirefox() {
  const { remote } = await import('webdriverio');
  const binary = ['/usr/bin/firefox-esr', '/usr/bin/firefox'].find((path) => existsSync(path));
  const sessions = new Set();
  return {
    name: 'firefox',
    async newContext({ viewport = VIEWPORT } = {}) {
      // One WebDriver session per context: its own profile, so its own storage.
      const options = {
        logLevel: 'error',
        capabilities: {
          browserName: 'firefox',
          'moz:firefoxOptions': {
            args: ['-headless', '-width', String(viewport.width), '-height', String(viewport.height)],
            ...(binary ? { binary } : {}),
            // Background tabs keep their timers running, as the tests' tabs all are at times.
            prefs: { 'dom.min_background_timeout_value': 4, 'dom.timeout.enable_budget_timer_throttling': false },
          },
          'wdio:geckodriverOptions': { binary: geckodriverPath() },
        },
      };
      // geckodriver is started per session and waited for on a deadline; on a loaded 2-core
      // machine a start can miss it, so a failed start is tried again (twice) before failing.
      let session;
      for (let attempt = 1; ; attempt++) {
        try {
          session = await remote(options);
          break;
        } catch (error) {
          if (attempt >= 3) throw error;
        }
      }
      sessions.add(session);
      // Prompts arrive over WebDriver BiDi, for the whole session: every page of the context
      // sees them (a context's pages are one person's tabs).
      const dialogs = [];
      session.on('dialog', (dialog) => {
        dialogs.push(dialog.message());
        dialog.dismiss().catch(() => {});
      });
      let first = true;
      // WebDriver talks to one window at a time: every call switches to its page's window.
      let queue = Promise.resolve();
      const serial = (work) => {
        const run = queue.then(work, work);
        queue = run.catch(() => {});
        return run;
      };
      return {
        async newPage(url) {
          const handle = await serial(async () => {
            if (first) {
              first = false;
              await session.url(url);
              return session.getWindowHandle();
            }
            const { handle: created } = await session.createWindow('tab');
            await session.switchToWindow(created);
            await session.url(url);
            return created;
          });
          const inWindow = (work) => serial(async () => {
            await session.switchToWindow(handle);
            return work();
          });
          return {
            errors: [],
            dialogs,
            eval: (fn, arg) => inWindow(() => session.execute(fn, arg)),
            reload: () => inWindow(() => session.refresh()),
            goto: (to) => inWindow(() => session.url(to)),
            back: () => inWindow(() => session.back()),
            close: () => inWindow(() => session.closeWindow()),
            // WebDriver shoots the viewport; a full page is Chromium's alone.
            screenshot: (path) => inWindow(() => session.saveScreenshot(path)),
          };
        },
        async close() {
          sessions.delete(session);
          await session.deleteSession().catch(() => {});
        },
      };
    },
    async close() {
      await Promise.all([...sessions].map((s) => s.deleteSession().catch(() => {})));
    },
  };
}
