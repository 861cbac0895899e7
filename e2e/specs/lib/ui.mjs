// What a test does on a page, by role, label and name, the same in every browser: one function
// that runs inside the page (it is serialized, so it holds all its helpers), called through
// whichever driver runs the page (Playwright or WebdriverIO). Waits poll it with a deadline.

// Runs in the page. `op` names what to do; returns plain data.
export function inPage({ op, args }) {
  const norm = (text) => (text || '').replace(/\s+/g, ' ').trim();
  const nameOf = (el) => norm(el.getAttribute('aria-label') || el.textContent);
  const byLabel = (label) => {
    for (const l of document.querySelectorAll('label')) {
      const text = norm(Array.from(l.childNodes).filter((n) => n.nodeType === 3).map((n) => n.textContent).join(' ')) || norm(l.textContent);
      if (text === label) return l.control || (l.htmlFor && document.getElementById(l.htmlFor)) || l.querySelector('input,textarea,select');
    }
    return document.querySelector(`[aria-label="${CSS.escape(label)}"]`);
  };
  const button = (name) => Array.from(document.querySelectorAll('button')).find((b) => nameOf(b) === name);
  // The log named `name` (its aria-label), or the page's first log.
  const log = (name) => (name === undefined
    ? document.querySelector('[role=log]')
    : Array.from(document.querySelectorAll('[role=log]')).find((el) => el.getAttribute('aria-label') === name));
  const labelled = (label) => document.querySelector(`[aria-label="${CSS.escape(label)}"]`);
  // A canvas's pixels: any opaque pixel of the pad's stroke colour (not white, not blank), and
  // whether its top-left corner is the pad's opaque white background.
  const ink = (canvas) => {
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let stroke = false;
    for (let i = 0; i < data.length && !stroke; i += 4) stroke = data[i + 3] === 255 && data[i + 1] < 200;
    const background = data[0] === 255 && data[1] === 255 && data[2] === 255 && data[3] === 255;
    return { stroke, background };
  };
  // A decoded picture's pixels, through a canvas of its size (sketches come as PNG over HTTP).
  const pictureInk = (img) => {
    if (!img.complete || !img.naturalWidth) return {};
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    canvas.getContext('2d').drawImage(img, 0, 0);
    return ink(canvas);
  };
  switch (op) {
    case 'fill': {
      const control = byLabel(args.label);
      if (!control) return `no control labelled ${args.label}`;
      const proto = control instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
      Object.getOwnPropertyDescriptor(proto, 'value').set.call(control, args.value);
      control.dispatchEvent(new Event('input', { bubbles: true }));
      control.dispatchEvent(new Event('change', { bubbles: true }));
      return true;
    }
    case 'followLink': {
      // A link by its accessible name, followed as a user would (once the page shows it).
      const a = Array.from(document.querySelectorAll('a[href]')).find((el) => nameOf(el) === args.name);
      if (!a) return `no link ${args.name}`;
      a.click();
      return true;
    }
    case 'click': {
      const b = button(args.name);
      if (!b) return `no button ${args.name}`;
      if (b.disabled) return `button ${args.name} is disabled`;
      b.click();
      return true;
    }
    case 'clickIn': {
      // A button inside the list item whose accessible name contains `item`.
      const li = Array.from(document.querySelectorAll('[role=log] li')).find((el) => nameOf(el).includes(args.item));
      const b = li && Array.from(li.querySelectorAll('button')).find((x) => nameOf(x) === args.name);
      if (!b) return `no button ${args.name} in ${args.item}`;
      b.click();
      return true;
    }
    case 'countdown':
      return norm(document.querySelector('.countdown')?.textContent);
    case 'composerSize':
      return norm(document.querySelector('#composer-size')?.textContent);
    case 'logScroll': {
      // The log's scrolling list (the log region holds it).
      const list = log()?.querySelector('ol') ?? log();
      return { top: list.scrollTop, height: list.scrollHeight, client: list.clientHeight };
    }
    case 'scrollLog': {
      const list = log()?.querySelector('ol') ?? log();
      list.scrollTop = args.to === 'top' ? 0 : list.scrollHeight;
      return true;
    }
    case 'enabled':
      return Boolean(button(args.name) && !button(args.name).disabled);
    case 'status':
      return norm(document.querySelector('[role=status]')?.textContent);
    case 'lastClose':
      return norm(document.querySelector('.last-close')?.textContent);
    case 'delivered':
      return Array.from(log()?.querySelectorAll('li[data-seq]') || []).map((li) => {
        const text = li.querySelector('.text');
        if (text) return norm(text.textContent);
        if (li.querySelector('img')) return '[image]';
        return '[sketch]';
      });
    case 'seqs':
      return Array.from(log()?.querySelectorAll('li[data-seq]') || []).map((li) => Number(li.dataset.seq));
    case 'outbox':
      // My messages not yet confirmed: their accessible names, e.g. "ada: hi (pending)".
      return Array.from(log()?.querySelectorAll('li.pending, li.failed') || []).map(nameOf);
    case 'system':
      return Array.from(log()?.querySelectorAll('li.system') || []).map((li) => norm(li.textContent));
    case 'members':
      return Array.from(document.querySelectorAll('ul[aria-label=Members] li')).map((li) => norm(li.textContent));
    case 'marks':
      // What the page marks as its own: its messages, its member, and the connection's state.
      return {
        mine: Array.from(log()?.querySelectorAll('li.message.mine .text') || []).map((el) => norm(el.textContent)),
        me: Array.from(document.querySelectorAll('ul[aria-label=Members] li.me')).map((li) => norm(li.textContent)),
        state: document.querySelector('[role=status]')?.className,
      };
    case 'shown':
      // What a person would see, for a failure's message: the address and the page's text.
      return { url: location.href, text: norm(document.body?.innerText).slice(0, 400) };
    case 'alerts':
      return Array.from(document.querySelectorAll('[role=alert]')).map((el) => norm(el.textContent));
    case 'imagesDecoded':
      return Array.from(log()?.querySelectorAll('img') || []).filter((img) => img.complete && img.naturalWidth > 0).length;
    case 'setFile': {
      const input = byLabel(args.label);
      if (!input) return `no file input ${args.label}`;
      // `base64` content, or `size` bytes of `byte` made here (megabytes need not cross the driver).
      const bytes = args.base64 === undefined
        ? new Uint8Array(args.size).fill(args.byte)
        : Uint8Array.from(atob(args.base64), (c) => c.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([bytes], args.name, { type: args.mime }));
      input.files = transfer.files;
      input.dispatchEvent(new Event('change', { bubbles: true }));
      return true;
    }
    case 'watchStatus': {
      // Records every status text from now on (to prove the connection never dropped).
      window.__statuses = [norm(document.querySelector('[role=status]')?.textContent)];
      const target = document.querySelector('[role=status]');
      window.__statusObserver?.disconnect();
      window.__statusObserver = new MutationObserver(() => window.__statuses.push(norm(target.textContent)));
      window.__statusObserver.observe(target, { subtree: true, characterData: true, childList: true });
      return true;
    }
    case 'statuses':
      // null without watchStatus: an empty list would pass every `every`.
      return window.__statuses || null;
    case 'started':
      return Boolean(document.querySelector('main'));
    case 'setStorage':
      for (const [k, v] of Object.entries(args)) localStorage.setItem(k, v);
      return true;
    case 'storage':
      return localStorage.getItem(args.key);
    case 'removeStorage':
      for (const k of args.keys) localStorage.removeItem(k);
      return true;
    case 'fillStorage': {
      // Fills localStorage up to the browser's quota but for about `leave` characters: a
      // reserve is set first, then filler in ever smaller pieces until none fits, then the
      // reserve goes. Returns the filler's keys (to remove) or why it could not.
      const fits = (key, value) => {
        try {
          localStorage.setItem(key, value);
          return true;
        } catch {
          return false;
        }
      };
      if (!fits('e2e-reserve', 'r'.repeat(args.leave))) return 'no room for the reserve';
      // At most 64 pieces (64 MiB), so a browser with no quota does not fill for ever.
      const keys = [];
      for (let size = 1 << 20; size >= 256; size >>= 1) {
        const piece = 'f'.repeat(size);
        while (keys.length < 64 && fits(`e2e-fill-${keys.length}`, piece)) keys.push(`e2e-fill-${keys.length}`);
      }
      localStorage.removeItem('e2e-reserve');
      if (keys.length === 0 || keys.length === 64) {
        for (const key of keys) localStorage.removeItem(key);
        return `storage was full before, or has no quota (${keys.length} pieces)`;
      }
      return keys;
    }
    case 'value': {
      const control = byLabel(args.label);
      return control ? control.value : `no control labelled ${args.label}`;
    }
    case 'text':
      // The text of the element labelled `label` (aria-label), or null when there is none.
      return labelled(args.label) ? norm(labelled(args.label).textContent) : null;
    case 'watchText': {
      // Records every text of the element labelled `label` from now on (to see a state that
      // may pass before a poll could catch it).
      const target = labelled(args.label);
      if (!target) return `nothing labelled ${args.label}`;
      window.__watched ??= {};
      window.__watchers ??= {};
      window.__watched[args.label] = [norm(target.textContent)];
      window.__watchers[args.label]?.disconnect();
      window.__watchers[args.label] = new MutationObserver(() => window.__watched[args.label].push(norm(target.textContent)));
      window.__watchers[args.label].observe(target, { subtree: true, characterData: true, childList: true });
      return true;
    }
    case 'watched':
      return window.__watched?.[args.label] || [];
    case 'hasText':
      return norm(document.body.textContent).includes(args.text);
    case 'check': {
      // The checkbox labelled `label`, or the first one in the fieldset whose legend is `group`.
      const box = args.group === undefined
        ? byLabel(args.label)
        : Array.from(document.querySelectorAll('fieldset'))
          .find((f) => norm(f.querySelector('legend')?.textContent) === args.group)
          ?.querySelector('input[type=checkbox]');
      if (!box) return `no checkbox ${args.label ?? args.group}`;
      if (box.checked !== args.checked) box.click(); // a click fires input and change, as a user's does
      return box.checked === args.checked ? true : `checkbox ${args.label ?? args.group} did not change`;
    }
    case 'select': {
      const select = byLabel(args.label);
      if (!select) return `no select labelled ${args.label}`;
      if (!Array.from(select.options).some((o) => o.value === args.value)) return `no option ${args.value}`;
      select.value = args.value;
      select.dispatchEvent(new Event('input', { bubbles: true }));
      select.dispatchEvent(new Event('change', { bubbles: true }));
      return true;
    }
    case 'clickMany': {
      // `times` clicks in one task, faster than any round trip through a driver.
      const b = button(args.name);
      if (!b) return `no button ${args.name}`;
      for (let i = 0; i < args.times; i++) b.click();
      return true;
    }
    case 'logItems':
      // Every line of a log: its text, classes and accessible name (aria-label).
      return Array.from(log(args.name)?.querySelectorAll('li') || []).map((li) => ({
        text: norm(li.textContent), classes: Array.from(li.classList), label: li.getAttribute('aria-label'),
      }));
    case 'logPictures':
      // The images and sketches in a log, by accessible name, with what they show.
      return Array.from(log(args.name)?.querySelectorAll('img, [role=img]') || []).map((el) => (
        el instanceof HTMLImageElement
          ? { name: el.alt, complete: el.complete, width: el.naturalWidth, height: el.naturalHeight, ...pictureInk(el) }
          : { name: el.getAttribute('aria-label'), ...(el instanceof HTMLCanvasElement ? ink(el) : {}) }));
    case 'canvasInk': {
      // The pixels of the canvas inside the region labelled `region`.
      const canvas = labelled(args.region)?.querySelector('canvas');
      return canvas ? ink(canvas) : `no canvas in ${args.region}`;
    }
    case 'draw': {
      // A stroke with a pen's pointer events: down at the first point, moves through the rest,
      // up at the last; points are relative to the canvas inside the region labelled `region`.
      const canvas = labelled(args.region)?.querySelector('canvas');
      if (!canvas) return `no canvas in ${args.region}`;
      canvas.scrollIntoView({ block: 'center' });
      const box = canvas.getBoundingClientRect();
      const at = (type, [x, y], buttons) => canvas.dispatchEvent(new PointerEvent(type, {
        bubbles: true, cancelable: true, composed: true, pointerId: 1, pointerType: 'mouse', isPrimary: true,
        clientX: box.left + x, clientY: box.top + y, button: type === 'pointermove' ? -1 : 0, buttons,
      }));
      const points = args.points;
      at('pointerdown', points[0], 1);
      for (const point of points.slice(1)) at('pointermove', point, 1);
      at('pointerup', points[points.length - 1], 0);
      return true;
    }
    case 'holdFileReads': {
      // File reads (Blob.arrayBuffer) wait until 'releaseFileReads': what the app does when a
      // read ends is then tested against a state that changed during it.
      if (!window.__readGate) {
        const original = Blob.prototype.arrayBuffer;
        window.__readGate = { open: false, waiting: [] };
        Blob.prototype.arrayBuffer = function arrayBuffer() {
          const read = () => original.call(this);
          if (window.__readGate.open) return read();
          return new Promise((resolve) => window.__readGate.waiting.push(resolve)).then(read);
        };
      }
      window.__readGate.open = false;
      return true;
    }
    case 'heldFileReads':
      return window.__readGate ? window.__readGate.waiting.length : 0;
    case 'releaseFileReads': {
      const gate = window.__readGate;
      if (!gate) return 'no gate';
      gate.open = true;
      for (const resolve of gate.waiting.splice(0)) resolve();
      return true;
    }
    default:
      // Thrown, not returned: a string would satisfy a negated `until` at once.
      throw new Error(`unknown op ${op}`);
  }
}

// A page through a driver adapter: `eval(fn, arg)` runs fn(arg) in the page.
// Polls `read()` every `every` ms until `ok(value)` holds and returns that value; fails with the
// last value after `timeout` ms. For state that fires no event the test could await.
export async function pollUntil(read, ok, timeout, what, every = 100) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}; last: ${JSON.stringify(value)?.slice(0, 500)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, every));
  }
}

export class Ui {
  constructor(page) {
    this.page = page;
  }

  do(op, args = {}) {
    return this.page.eval(inPage, { op, args });
  }

  async must(op, args) {
    const result = await this.do(op, args);
    if (result !== true) throw new Error(`${op} ${JSON.stringify(args).slice(0, 200)}: ${result}`);
  }

  // Polls `op` until `ok(value)` holds; fails with the last value after `timeout` ms.
  until(op, args, ok, timeout = 10_000, what = op) {
    return pollUntil(() => this.do(op, args), ok, timeout, what);
  }

  // Sets localStorage entries once the chat has started. It reads them as it starts, and its
  // wasm may still be loading after the page's `load` (Firefox): entries set before would start
  // the chat in the page being left, as a reload unloads it (it would join, then go).
  async setStorage(entries) {
    await this.until('started', {}, (v) => v === true, 10_000, 'the chat started');
    await this.must('setStorage', entries);
  }

  // Fills a control once it is on the page (the app renders after its wasm loads).
  async fill(label, value, timeout = 10_000) {
    await this.until('fill', { label, value }, (v) => v === true, timeout, `a control labelled ${label}`);
  }

  click(name) {
    return this.must('click', { name });
  }

  // Follows a link once the page shows it.
  followLink(name, timeout = 10_000) {
    return this.until('followLink', { name }, (v) => v === true, timeout, `link ${name}`);
  }

  // Clicks a button once it is there and enabled.
  async clickWhenReady(name, timeout = 10_000) {
    await this.until('enabled', { name }, (v) => v === true, timeout, `button ${name}`);
    await this.click(name);
  }

  // Waits for the connection's status; on a timeout, says what the page showed instead.
  async statusIs(text, timeout = 10_000) {
    try {
      return await this.until('status', {}, (s) => s.startsWith(text), timeout, `status "${text}"`);
    } catch (error) {
      const shown = await this.do('shown').catch((e) => `(unreadable: ${e.message})`);
      throw new Error(`${error.message}; the page showed: ${JSON.stringify(shown)}`);
    }
  }

  async say(text) {
    await this.fill('Message', text);
    await this.click('Send');
  }

  logHas(text, timeout = 10_000) {
    return this.until('delivered', {}, (texts) => texts.includes(text), timeout, `"${text.slice(0, 40)}" in the log`);
  }

  delivered() {
    return this.do('delivered');
  }

  async join(nick, room) {
    await this.fill('Nickname', nick);
    await this.fill('Room', room);
    await this.click('Join');
    await this.statusIs('Connected', 15_000);
  }
}
