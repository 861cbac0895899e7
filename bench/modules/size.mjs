// 5. Size: each bundle's wasm and JS, raw and gzip -9, as trunk built them (release, wasm-opt -Oz).
import { readFileSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import path from 'node:path';

export const title = 'Size (release, wasm-opt -Oz; gzip -9)';
const TARGET = 2.0;

export function bundleSize(dir) {
  const files = readdirSync(dir);
  const one = (ext) => {
    const name = files.find((f) => f.endsWith(ext));
    const bytes = readFileSync(path.join(dir, name));
    return { raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  };
  const wasm = one('.wasm');
  const js = one('.js');
  return { wasm, js, gzip: wasm.gzip + js.gzip };
}

export async function run(ctx) {
  const kb = (x) => `${(x / 1024).toFixed(1)} KiB`;
  const builds = [
    ['chat page (`/`: heartline + the chat)', path.join(ctx.root, 'dist')],
    ['playground page (`/playground`, its own bundle)', path.join(ctx.root, 'dist', 'playground')],
    ['counter + use_heartline echo (the library alone, no `shared` feature)', path.join(ctx.root, 'bench', 'minimal', 'dist')],
    ['bare Yew counter', path.join(ctx.root, 'bench', 'counter', 'dist')],
  ].map(([label, dir]) => ({ label, ...bundleSize(dir) }));
  const [chat, playground, minimal, counter] = builds;
  const times = (b) => (b.gzip / counter.gzip).toFixed(2);
  return {
    table: `| build | wasm | wasm gzip | JS | JS gzip | total gzip | × bare counter |
|---|---|---|---|---|---|---|
${builds.map((b) => `| ${b.label} | ${kb(b.wasm.raw)} | ${kb(b.wasm.gzip)} | ${kb(b.js.raw)} | ${kb(b.js.gzip)} | ${kb(b.gzip)} | ${times(b)}× |`).join('\n')}`,
    notes: `The chat page loads only its own bundle; the playground's is fetched only at \`/playground\`.`,
    targets: [
      { what: 'chat page total gzip / bare Yew counter', target: `≤ ${TARGET.toFixed(1)}×`, measured: `${times(chat)}× (${kb(chat.gzip)} / ${kb(counter.gzip)})`, verdict: chat.gzip / counter.gzip <= TARGET ? 'met' : 'not met' },
      { what: 'library alone / bare Yew counter', target: '≤ 1.6×', measured: `${times(minimal)}×`, verdict: minimal.gzip / counter.gzip <= 1.6 ? 'met' : 'not met' },
    ],
    playground,
  };
}
