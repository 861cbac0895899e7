// The Node.js peer for the fan-out benchmark: an obvious `ws` broadcast server speaking the
// same join/say/message subset of the chat protocol as the Heartline server.
// Usage: node node-server.mjs PORT
import { WebSocketServer } from 'ws';

const port = Number(process.argv[2] || 8090);
const rooms = new Map(); // room -> { seq, members: Set<ws> }
const server = new WebSocketServer({ host: '127.0.0.1', port });

server.on('connection', (ws) => {
  let joined = null;
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    const text = data.toString();
    if (text === 'ping') return ws.send('pong');
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return ws.send(JSON.stringify({ type: 'error', code: 'bad_json', message: 'bad json' }));
    }
    if (frame.type === 'join' && !joined) {
      const room = rooms.get(frame.room) || { seq: 0, members: new Set() };
      rooms.set(frame.room, room);
      room.members.add(ws);
      joined = { room, name: frame.room, nick: frame.nick };
      ws.send(JSON.stringify({ type: 'welcome', v: 1, you: frame.nick, members: [], history: [], gap: false, last_seq: room.seq, epoch: 'node' }));
    } else if (frame.type === 'say' && joined) {
      const seq = ++joined.room.seq;
      const message = JSON.stringify({
        type: 'message', room: joined.name, seq, from: joined.nick, ts: Date.now(),
        client_msg_id: frame.client_msg_id, body: { kind: 'text', text: frame.text },
      });
      for (const member of joined.room.members) member.send(message);
      ws.send(JSON.stringify({ type: 'ack', client_msg_id: frame.client_msg_id, seq }));
    }
  });
  ws.on('close', () => joined?.room.members.delete(ws));
});
server.on('listening', () => console.log(`node ws server listening on ${port}`));
