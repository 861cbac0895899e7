// The browser side of the benchmarks: the same jobs through four clients on one page —
// heartline (Rust/wasm), the raw browser WebSocket, reconnecting-websocket and VueUse.
import init, * as heartline from '/pkg/heartline_bench.js';
import ReconnectingWebSocket from 'reconnecting-websocket';
import { useWebSocket } from '@vueuse/core';
import { watch, effectScope } from 'vue';

// Each peer: open(url, binary) -> { send(data), onMessage(fn), close() } once open.
const peers = {
  async raw(url) {
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = reject;
    });
    return {
      send: (d) => ws.send(d),
      onMessage: (fn) => (ws.onmessage = fn),
      close: () => ws.close(),
      closed: () => new Promise((resolve) => {
        ws.onclose = resolve;
        ws.close();
      }),
    };
  },
  async rws(url) {
    const ws = new ReconnectingWebSocket(url, [], { maxEnqueuedMessages: Infinity });
    ws.binaryType = 'arraybuffer';
    await new Promise((resolve) => ws.addEventListener('open', resolve, { once: true }));
    let handler = () => {};
    ws.addEventListener('message', (e) => handler(e));
    return {
      send: (d) => ws.send(d),
      onMessage: (fn) => (handler = fn),
      close: () => ws.close(),
      closed: () => new Promise((resolve) => {
        ws.addEventListener('close', resolve, { once: true });
        ws.close();
      }),
    };
  },
  async vueuse(url) {
    const scope = effectScope();
    let handler = () => {};
    const socket = scope.run(() =>
      useWebSocket(url, {
        immediate: true,
        autoReconnect: false,
        onMessage: (_ws, event) => handler(event),
      }),
    );
    socket.ws.value && (socket.ws.value.binaryType = 'arraybuffer');
    await new Promise((resolve) => {
      const stop = watch(socket.status, (status) => {
        if (status === 'OPEN') {
          stop();
          resolve();
        }
      }, { immediate: true });
    });
    socket.ws.value.binaryType = 'arraybuffer';
    return {
      send: (d) => socket.send(d, false),
      onMessage: (fn) => (handler = fn),
      close: () => {
        socket.close();
        scope.stop();
      },
      closed: () => new Promise((resolve) => {
        socket.ws.value.addEventListener('close', resolve, { once: true });
        socket.close();
        scope.stop();
      }),
    };
  },
};

// Every handler reads what arrives (`event.data`), as an application does and as heartline must
// (to tell its heartbeat's reply from a message): a handler that never reads it spares the
// browser making it at all (Chromium makes the string only when asked), which no real client
// of a socket does.

// On a new connection: sends `count` copies of `payload` without waiting; resolves with the ms
// until the send loop ended (`sent`) and until the last echo (`echoed`), once the connection's
// close is over (as the Rust clients' send loops do).
async function pipelined(peer, url, count, payload) {
  const socket = await peers[peer](url);
  const times = await burst(socket, count, payload);
  await socket.closed();
  return times;
}

// Connections kept open through a round's bursts (bench/modules/echo.mjs and binary.mjs), by
// handle: opening and closing stay outside every timed burst.
const bursting = new Map();
let nextHandle = 0;
let burstBytes = 0;

// The Rust clients' handles that send their text as one JavaScript string made before the
// burst (`heartlineJs`, `webSys`), as the JS clients send theirs.
const jsText = new Set();

async function openBursts(peer, url) {
  const handle = ++nextHandle;
  const open = {
    heartline: heartline.open_burst_socket,
    heartlineJs: heartline.open_burst_socket,
    webSys: heartline.open_web_sys_socket,
  }[peer] ?? peers[peer];
  bursting.set(handle, await open(url));
  if (peer === 'heartlineJs' || peer === 'webSys') jsText.add(handle);
  return handle;
}

const rust = (socket) => socket instanceof heartline.BurstSocket || socket instanceof heartline.WebSysSocket;

// Sends `count` copies of `payload` without waiting; resolves with the ms until the send loop
// ended (`sent`) and until the last echo (`echoed`).
async function burst(socket, count, payload) {
  let seen = 0;
  const done = new Promise((resolve) =>
    socket.onMessage((event) => {
      burstBytes += event.data.length ?? event.data.byteLength;
      if (++seen === count) resolve(performance.now());
    }),
  );
  const start = performance.now();
  for (let i = 0; i < count; i++) socket.send(payload);
  const sent = performance.now();
  const echoed = await done;
  return { sent: sent - start, echoed: echoed - start };
}

async function roundTrips(peer, url, count) {
  const socket = await peers[peer](url);
  const times = [];
  let resolveNext;
  let size = 0;
  socket.onMessage((event) => {
    size += event.data.length;
    resolveNext(performance.now());
  });
  for (let i = 0; i < count; i++) {
    const arrived = new Promise((resolve) => (resolveNext = resolve));
    const start = performance.now();
    socket.send(`rt${i}`);
    times.push((await arrived) - start);
  }
  socket.close();
  return times;
}

// Every measured run starts from a collected heap where the browser allows it (Chromium, with
// --expose-gc), so no client's run pays for the garbage of the one before it.
const collect = () => globalThis.gc?.();

window.bench = {
  openBursts,
  async textBurst(handle, frames, size) {
    const socket = bursting.get(handle);
    collect();
    if (rust(socket)) return jsText.has(handle) ? socket.text_burst_js(frames, size) : socket.text_burst(frames, size);
    return (await burst(socket, frames, 'x'.repeat(size))).echoed;
  },
  async binaryBurst(handle, count, bytes) {
    const socket = bursting.get(handle);
    collect();
    if (socket instanceof heartline.BurstSocket) return socket.binary_burst(count, bytes);
    return (await burst(socket, count, new ArrayBuffer(bytes))).echoed;
  },
  // Resolves once the connection's close handshake is over.
  async closeBursts(handle) {
    const socket = bursting.get(handle);
    bursting.delete(handle);
    jsText.delete(handle);
    if (rust(socket)) {
      await socket.close();
      socket.free();
    } else {
      await socket.closed();
    }
  },
  // The synchronous loop of sends alone (bench/modules/sendcost.mjs); then the echoes are awaited.
  async sendLoop(peer, url, frames, size) {
    collect();
    if (peer === 'heartline' || peer === 'heartlineJs') return heartline.heartline_send_loop(url, frames, size, peer === 'heartlineJs');
    if (peer === 'webSysStr') return heartline.web_sys_send_loop(url, frames, size, true);
    if (peer === 'webSysJs') return heartline.web_sys_send_loop(url, frames, size, false);
    return (await pipelined(peer, url, frames, 'x'.repeat(size))).sent;
  },
  async roundTrips(peer, url, count) {
    collect();
    if (peer === 'heartline') return Array.from(await heartline.heartline_round_trips(url, count));
    return roundTrips(peer, url, count);
  },
  detection: (url, interval, timeout) => heartline.heartline_detection(url, interval, timeout),
  reconnect: async (url) => Array.from(await heartline.heartline_reconnect(url)),
  cycles: (url, n) => heartline.heartline_cycles(url, n),
  wasmMemory: () => heartline.wasm_memory_bytes(),
  // The shared-socket benchmark (bench/modules/tabs.mjs): this page is one tab with one
  // connection. Times are absolute (timeOrigin + now), so the tabs' clocks compare.
  tab: {
    now: () => performance.timeOrigin + performance.now(),
    async open(url, key) {
      tab = new heartline.BenchTab(url, key ?? undefined);
      return performance.timeOrigin + (await tab.opened_after(0));
    },
    role: () => tab.role(),
    send: (frames, size) => performance.timeOrigin + tab.send_texts(frames, size),
    received: async (frames) => performance.timeOrigin + (await tab.messages_reach(frames)),
    openedAfter: async (at) => performance.timeOrigin + (await tab.opened_after(at - performance.timeOrigin)),
  },
};
let tab;

await init();
document.getElementById('ready').textContent = 'ready';
