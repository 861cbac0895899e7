// 4. Leaks over 1,000 connect/close cycles through heartline (Chromium, whose CDP gives the
// heap after a GC and the page's listener count).
export const title = 'Leaks: 1,000 connect/close cycles through heartline (Chromium)';

export async function run(ctx) {
  const browser = await ctx.browser('chromium');
  const metrics = async () => {
    await browser.cdp.send('HeapProfiler.collectGarbage');
    const { metrics } = await browser.cdp.send('Performance.getMetrics');
    const get = (name) => metrics.find((m) => m.name === name)?.value ?? NaN;
    return { heap: get('JSHeapUsedSize'), listeners: get('JSEventListeners'), wasm: await browser.eval(() => window.bench.wasmMemory()) };
  };
  const key = `bench-cycles-${Date.now()}`;
  const url = `${ctx.ws}/test/ws?key=${key}&mode=echo`;
  await browser.eval((u) => window.bench.cycles(u, 20), url); // warm-up
  const before = await metrics();
  await browser.eval((u) => window.bench.cycles(u, 1_000), url);
  const after = await metrics();
  const stats = await (await fetch(`${ctx.base}/test/stats?key=${key}`)).json();
  const kb = (x) => `${(x / 1024).toFixed(0)} KiB`;
  return {
    table: `| measure | before | after | growth |
|---|---|---|---|
| JS heap used (after GC) | ${kb(before.heap)} | ${kb(after.heap)} | ${kb(after.heap - before.heap)} |
| wasm memory | ${kb(before.wasm)} | ${kb(after.wasm)} | ${kb(after.wasm - before.wasm)} |
| JS event listeners | ${before.listeners} | ${after.listeners} | ${after.listeners - before.listeners} |
| sockets the server still holds | — | ${stats.open_now} of ${stats.opened} opened | — |`,
    targets: [{
      what: 'no growth over 1,000 cycles (wasm memory, listeners, server sockets)',
      target: '0',
      measured: `${kb(after.wasm - before.wasm)}, ${after.listeners - before.listeners} listeners, ${stats.open_now} sockets`,
      verdict: after.wasm === before.wasm && after.listeners === before.listeners && stats.open_now === 0 ? 'met' : 'not met',
    }],
  };
}
