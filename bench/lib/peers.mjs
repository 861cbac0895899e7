// The clients the browser benchmarks compare (bench/site/bench.js implements each).
export const PEERS = ['heartline', 'raw', 'rws', 'vueuse'];
export const PEER_NAMES = {
  heartline: 'heartline (Rust/wasm)',
  raw: 'raw WebSocket (JS)',
  rws: 'reconnecting-websocket',
  vueuse: 'VueUse useWebSocket',
};
