// The peer for `scripts/bench stream`: a minimal Node.js `ws` server doing the same job as
// Kairan's stream for one stream: clients connect and subscribe; POST /post broadcasts the
// post to every subscriber as one event frame. No database, no authentication: what a town
// might otherwise deploy, at its leanest.
'use strict';
const WebSocket = require('ws');
const http = require('http');

const port = parseInt(process.argv[2] || '0', 10);
let offset = 0;
const subscribers = new Set();

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/post') { res.writeHead(404); res.end(); return; }
  let body = '';
  req.on('data', (chunk) => { body += chunk; });
  req.on('end', () => {
    offset += 1;
    const post = JSON.parse(body);
    // Encoded once, written to every socket (what a careful Node.js server does).
    const frame = JSON.stringify({ type: 'event', stream: 'thread:1', offset, kind: 'post.created',
      data: { id: offset, threadId: 1, groupId: 1, body: post.body, createdAt: new Date().toISOString() } });
    for (const ws of subscribers) ws.send(frame);
    res.writeHead(201, { 'Content-Type': 'application/json' });
    res.end('{}');
  });
});
const wss = new WebSocket.Server({ server, perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', (data) => {
    const message = JSON.parse(data.toString());
    if (message.type === 'subscribe') {
      subscribers.add(ws);
      ws.send(JSON.stringify({ type: 'subscribed', stream: message.stream, offset }));
    }
  });
  ws.on('close', () => subscribers.delete(ws));
});
server.listen(port, '127.0.0.1', () => console.log(server.address().port));
