// Attributes a wasm module's bytes to the Rust crates they come from: reads the code section's
// function bodies and the name section's function names (a build made with names kept), and
// sums body sizes by the crate that leads each (demangled) name. Data segments count as "data".
import { readFileSync } from 'node:fs';

function reader(bytes) {
  let at = 0;
  const r = {
    get at() { return at; },
    set at(v) { at = v; },
    u8: () => bytes[at++],
    u32() {
      let result = 0;
      let shift = 0;
      for (;;) {
        const byte = bytes[at++];
        result |= (byte & 0x7f) << shift;
        if ((byte & 0x80) === 0) return result >>> 0;
        shift += 7;
      }
    },
    name() {
      const length = r.u32();
      const text = new TextDecoder().decode(bytes.subarray(at, at + length));
      at += length;
      return text;
    },
  };
  return r;
}

/** Functions ({ name, size }), data bytes and total size of a wasm file. */
export function wasmFunctions(file) {
  const bytes = readFileSync(file);
  const r = reader(bytes);
  r.at = 8;
  let imported = 0;
  const bodies = [];
  const names = new Map();
  let data = 0;
  while (r.at < bytes.length) {
    const id = r.u8();
    const size = r.u32();
    const end = r.at + size;
    if (id === 2) {
      // Imports: functions among them shift the index space of the code section.
      const count = r.u32();
      for (let i = 0; i < count; i++) {
        r.name();
        r.name();
        const kind = r.u8();
        if (kind === 0) {
          r.u32();
          imported++;
        } else if (kind === 1) {
          r.u8();
          const flags = r.u8();
          r.u32();
          if (flags & 1) r.u32();
        } else if (kind === 2) {
          const flags = r.u8();
          r.u32();
          if (flags & 1) r.u32();
        } else if (kind === 3) {
          r.u8();
          r.u8();
        } else {
          r.u8();
          r.u32();
        }
      }
    } else if (id === 10) {
      const count = r.u32();
      for (let i = 0; i < count; i++) {
        const start = r.at;
        const length = r.u32();
        r.at += length;
        bodies.push(r.at - start);
      }
    } else if (id === 11) {
      data += size;
    } else if (id === 0) {
      const name = r.name();
      if (name === 'name') {
        while (r.at < end) {
          const sub = r.u8();
          const subSize = r.u32();
          const subEnd = r.at + subSize;
          if (sub === 1) {
            const count = r.u32();
            for (let i = 0; i < count; i++) {
              const index = r.u32();
              names.set(index, r.name());
            }
          }
          r.at = subEnd;
        }
      }
    }
    r.at = end;
  }
  const functions = bodies.map((size, i) => ({ name: names.get(i + imported) ?? `func[${i + imported}]`, size }));
  return { functions, data, total: bytes.length };
}

// Rust legacy mangling, e.g. _ZN4core3fmt5write17h…E, as it appears when a name was not demangled.
function demangle(name) {
  if (!name.startsWith('_ZN')) return name;
  const parts = [];
  let i = 3;
  while (i < name.length && name[i] !== 'E') {
    let digits = '';
    while (/[0-9]/.test(name[i])) digits += name[i++];
    if (!digits) break;
    parts.push(name.slice(i, i + Number(digits)));
    i += Number(digits);
  }
  return parts
    .filter((p) => !/^h[0-9a-f]{16}$/.test(p))
    .join('::')
    .replaceAll('$LT$', '<').replaceAll('$GT$', '>').replaceAll('$u20$', ' ').replaceAll('$RF$', '&')
    .replaceAll('..', '::').replaceAll('$C$', ',').replace(/^_</, '<');
}

// The crate a function belongs to: the first path of `<T as Trait>::f` is the type's crate, as the
// code is the type's (serde's derive output lives in the crate that derives). Closures, generics
// and trait impls all follow their first path.
const PRIMITIVES = new Set(['bool', 'char', 'str', 'f32', 'f64', 'i8', 'i16', 'i32', 'i64', 'i128', 'isize',
  'u8', 'u16', 'u32', 'u64', 'u128', 'usize']);

export function crateOf(rawName) {
  // Names carry the crate's disambiguator, e.g. core[c5930c85a12de822]::fmt::write.
  const name = demangle(rawName).replace(/\[[0-9a-f]{8,}\]/g, '');
  // Methods of primitive types and slices (`<f64 as Display>::fmt`, `<char>::escape_debug_ext`)
  // are the standard library's.
  const primitive = name.match(/^<\[?&?(?:mut )?([a-z0-9]+)[\]>; ]/);
  if (primitive && PRIMITIVES.has(primitive[1])) return 'core';
  // A blanket impl on a type parameter (`<&T as Debug>::fmt`, `<F as Pattern>`): the trait's.
  const blanket = name.match(/^<&?(?:mut )?[A-Z][A-Za-z]? as ([a-z_][a-z0-9_]*)::/);
  if (blanket) return blanket[1];
  const match = name.match(/^<*&?(?:mut )?(?:dyn )?\(?([A-Za-z_][A-Za-z0-9_]*)::/);
  if (match) return match[1];
  if (/^(memcpy|memset|memmove|memcmp|__rust|__rdl|__rg|rust_|__wbindgen|__wbg|__externref|__stack|dlmalloc)/.test(name)) return 'runtime (allocator, mem*, wasm-bindgen glue)';
  if (/^(wasm_bindgen|js_sys|web_sys)/.test(name)) return name.split('::')[0];
  return 'other (wasm-bindgen exports, unnamed)';
}

/**
 * Bytes per crate, largest first: [{ crate, bytes, functions }]. `owners` (most specific first)
 * claim the generic code instantiated for their types: with v0 symbol names,
 * `CompStateInner<heartline_chat::ChatRoom>::view` is the chat's render code, not yew's.
 */
export function bytesByCrate(file, owners = []) {
  const { functions, data } = wasmFunctions(file);
  const byCrate = new Map();
  for (const { name, size } of functions) {
    const owner = owners.find((crate) => new RegExp(`\\b${crate}(\\[[0-9a-f]+\\])?::`).test(name));
    const crate = owner ?? crateOf(name);
    const entry = byCrate.get(crate) ?? { crate, bytes: 0, functions: 0 };
    entry.bytes += size;
    entry.functions++;
    byCrate.set(crate, entry);
  }
  byCrate.set('data (strings, tables)', { crate: 'data (strings, tables)', bytes: data, functions: 0 });
  return [...byCrate.values()].sort((a, b) => b.bytes - a.bytes);
}

// Command line: node bench/lib/wasm-size.mjs file.wasm [top N functions] [owner,crates]
if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  const top = Number(process.argv[3] || 0);
  const owners = (process.argv[4] || '').split(',').filter(Boolean);
  for (const row of bytesByCrate(file, owners)) console.log(String(row.bytes).padStart(8), String(row.functions).padStart(6), row.crate);
  if (top) {
    const { functions } = wasmFunctions(file);
    for (const f of [...functions].sort((a, b) => b.size - a.size).slice(0, top)) console.log(String(f.size).padStart(8), demangle(f.name).slice(0, 160));
  }
}
