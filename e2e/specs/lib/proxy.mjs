// A TCP proxy on loopback between a browser and the server, to make the failures a network
// makes: `cutClients()` drops the browser's side of every connection while the server's side stays
// open and silent, as when a laptop's network dies without a close (half-open TCP); `hold` makes
// new connections wait the same way; `blockNew()` refuses new ones until `unblock()`;
// `muteNew(true)` lets a new connection's handshake answer through and nothing the server sends
// after it (a welcome lost on the way), until `muteNew(false)`; `delayNew(ms)` makes what the
// server sends on new connections arrive that much later (a long way down). With
// `uplinkBytesPerSecond`, what the browser sends reaches the server no faster than that: a slow
// uplink (the server's answers are not slowed).
import { createServer, connect } from 'node:net';
import { Transform } from 'node:stream';

// Passes bytes on in pieces of a twentieth of the rate, 50 ms apart.
function throttle(bytesPerSecond) {
  const piece = Math.max(1, Math.floor(bytesPerSecond / 20));
  return new Transform({
    transform(chunk, _encoding, done) {
      const push = async () => {
        for (let at = 0; at < chunk.length; at += piece) {
          if (at > 0) await new Promise((resolve) => setTimeout(resolve, 50));
          this.push(chunk.subarray(at, at + piece));
        }
      };
      push().then(() => done(), done);
    },
  });
}

// Passes each piece on `ms` after it came, in order, without holding back the next: latency,
// not a lower rate.
function latency(ms) {
  return new Transform({
    transform(chunk, _encoding, done) {
      setTimeout(() => this.push(chunk), ms);
      done();
    },
    flush(done) {
      setTimeout(done, ms);
    },
  });
}

export async function startProxy(targetPort, { uplinkBytesPerSecond } = {}) {
  const pairs = new Set();
  // Every socket ever opened, cut ones included, so stop() can end them all.
  const sockets = new Set();
  let blocked = false;
  let muted = false;
  let downDelayMs = 0;
  const server = createServer((client) => {
    if (blocked) {
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    }
    const toServer = uplinkBytesPerSecond ? client.pipe(throttle(uplinkBytesPerSecond)) : client;
    const pair = { client, upstream, toServer };
    pairs.add(pair);
    toServer.pipe(upstream);
    if (muted) {
      // The server answers the upgrade in one piece, and says nothing more before the join.
      let handshake = true;
      upstream.on('data', (chunk) => {
        if (handshake) client.write(chunk);
        handshake = false;
      });
    } else if (downDelayMs > 0) {
      const delayed = upstream.pipe(latency(downDelayMs));
      delayed.pipe(client);
      // Cut or muted, the server's side stops at the delay (pieces already in it still land).
      pair.fromServer = delayed;
      pair.delayMs = downDelayMs;
    } else {
      upstream.pipe(client);
    }
    const forget = () => pairs.delete(pair);
    client.on('error', forget);
    upstream.on('error', () => client.destroy());
    client.on('close', () => {
      // A cut keeps the server's side open; a normal close passes on.
      if (!pair.cut) upstream.end();
      forget();
    });
    // After what the server sent last has landed (its close frame, say).
    upstream.on('close', () => setTimeout(() => client.destroy(), pair.delayMs ?? 0));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/`,
    // The browser sees its connections drop; the server sees nothing: they go silent, never
    // read again (so its pings go unanswered), and never close.
    cutClients() {
      const cut = [...pairs];
      for (const pair of cut) {
        pair.cut = true;
        pair.toServer.unpipe(pair.upstream);
        (pair.fromServer ?? pair.upstream).unpipe(pair.client);
        pair.upstream.pause();
        pair.client.destroy();
      }
      return cut.length;
    },
    // Bytes the proxy has read from the browsers on the connections still up.
    uplinkBytes() {
      let total = 0;
      for (const pair of pairs) total += pair.client.bytesRead;
      return total;
    },
    // Nothing from the server reaches the browsers any more (their frames still go out): acks
    // and broadcasts are lost in flight.
    muteServer() {
      for (const pair of pairs) (pair.fromServer ?? pair.upstream).unpipe(pair.client);
    },
    // What the server sends on connections made from now on arrives `ms` later (0: at once).
    delayNew(ms) {
      downDelayMs = ms;
    },
    // New connections get the server's answer to their upgrade and nothing after it (or, with
    // false, everything again).
    muteNew(on) {
      muted = on;
    },
    // New connections are dropped at once (the browser's network stays down).
    blockNew() {
      blocked = true;
    },
    // The network is back: new connections pass again.
    unblock() {
      blocked = false;
    },
    // Closes the proxy and every connection through it.
    async stop() {
      const closed = new Promise((resolve) => server.close(resolve));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
