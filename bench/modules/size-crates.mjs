// 6. What the chat page's wasm is made of: code bytes per crate, from a build with v0 symbol
// names kept through wasm-opt (scripts/bench.sh makes it), so generic code instantiated for the
// app's types (Yew's component lifecycle for each component, serde's visitors for each frame)
// counts as the app's.
import path from 'node:path';
import { bytesByCrate, wasmFunctions } from '../lib/wasm-size.mjs';

export const title = "The chat page's wasm by crate (top 10)";
const OWNERS = ['heartline_chat', 'heartline_protocol', 'heartline'];
const WHAT = {
  heartline_chat: 'the chat: components (with the Yew generics made for them), state, storage, i18n',
  heartline_protocol: 'wire types: serde (de)serialisers of the frames, base64',
  heartline: 'the socket library and its Yew hook',
  yew: 'Yew itself: virtual DOM, scheduler, hooks',
  core: 'Rust core: formatting, slices, strings',
  alloc: 'Rust alloc: String, Vec, BTreeMap, Rc',
  serde_json: 'JSON parser and writer',
  dlmalloc: 'the allocator',
  hashbrown: 'HashMap / HashSet',
  std: 'Rust std (panics, thread-locals)',
  wasm_bindgen: 'JS interop glue',
  js_sys: 'JS built-ins',
  web_sys: 'DOM bindings',
  serde: 'serde runtime',
  'data (strings, tables)': 'data segments: strings, tables, panic locations',
};

export async function run(ctx) {
  const file = path.join(ctx.root, 'target', 'size-names', 'chat', 'opt-g.wasm');
  const rows = bytesByCrate(file, OWNERS);
  const total = rows.reduce((sum, row) => sum + row.bytes, 0);
  const top = rows.slice(0, 10);
  const rest = rows.slice(10).reduce((sum, row) => sum + row.bytes, 0);
  const kb = (x) => `${(x / 1024).toFixed(1)} KiB`;
  const share = (x) => `${((100 * x) / total).toFixed(1)} %`;
  const { functions } = wasmFunctions(file);
  return {
    table: `| crate | bytes | share | what |
|---|---|---|---|
${top.map((r) => `| ${r.crate} | ${kb(r.bytes)} | ${share(r.bytes)} | ${WHAT[r.crate] ?? ''} |`).join('\n')}
| ${rows.length - 10} others | ${kb(rest)} | ${share(rest)} | |
| total (code + data, no names) | ${kb(total)} | 100 % | ${functions.length} functions |`,
    notes: 'Raw bytes after wasm-opt -Oz (function bodies and data segments; gzip does not split by crate). A function belongs to the crate that defines it, except that generic code instantiated for a workspace crate\'s types is that crate\'s (most specific first: the chat, the protocol, the library).',
  };
}
