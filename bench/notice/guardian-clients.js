// Guardians for `scripts/bench notice`: opens one WebSocket per guardian with that
// guardian's own session token, subscribes each to its own stream (user:<id>), then posts
// ONE urgent notice over HTTP as the school's staff and measures the time until every
// guardian has it. Prints JSON, including the post's start as epoch milliseconds so the
// caller can time the mail half from the same instant.
'use strict';
const WebSocket = require('ws');
const http = require('http');
const fs = require('fs');
// Connections opened at once: kairan admits 40 requests running and 160 waiting (a socket's
// upgrade is one), and answers more than that with 503 at once, as it would a real storm.
const BATCH = 100;

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split(/=(.*)/s).slice(0, 2)));
const guardians = fs.readFileSync(args.guardians, 'utf8').trim().split('\n').map((line) => {
  const [id, token] = line.split(' ');
  return { id, token };
});
const notice = fs.readFileSync(args.notice, 'utf8');

function post() {
  return new Promise((resolve, reject) => {
    const url = new URL(args.trigger);
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(notice), Authorization: `Bearer ${args.token}` } }, (res) => {
      let body = '';
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => (res.statusCode < 300 ? resolve(JSON.parse(body)) : reject(new Error(`notice answered ${res.statusCode}: ${body}`))));
    });
    req.on('error', reject);
    req.end(notice);
  });
}

async function main() {
  const sockets = [];
  const arrivals = [];
  let armed = false;
  for (let i = 0; i < guardians.length; i += BATCH) {
    await Promise.all(guardians.slice(i, i + BATCH).map((guardian, j) => new Promise((resolve, reject) => {
      const ws = new WebSocket(args.url, { headers: { Authorization: `Bearer ${guardian.token}` }, localAddress: `127.0.0.${2 + ((i + j) % 8)}`, perMessageDeflate: false });
      ws.on('open', () => ws.send(JSON.stringify({ type: 'subscribe', stream: `user:${guardian.id}` })));
      ws.on('message', (data) => {
        const text = data.toString();
        if (text.startsWith('{"type":"subscribed"')) { resolve(); return; }
        if (armed && text.includes('"kind":"notice.received"')) arrivals.push(process.hrtime.bigint());
        if (text.startsWith('{"type":"error"')) reject(new Error(text));
      });
      ws.on('error', reject);
      sockets.push(ws);
    })));
  }
  await new Promise((r) => setTimeout(r, 1000));
  armed = true;
  const startEpoch = Date.now();
  const start = process.hrtime.bigint();
  const response = await post();
  const answered = process.hrtime.bigint();
  const deadline = Date.now() + 60000;
  while (arrivals.length < guardians.length) {
    if (Date.now() > deadline) throw new Error(`only ${arrivals.length}/${guardians.length} guardians got the notice`);
    await new Promise((r) => setTimeout(r, 1));
  }
  const ms = (t) => Number(t - start) / 1e6;
  const sorted = arrivals.map(ms).sort((a, b) => a - b);
  console.log(JSON.stringify({
    guardians: guardians.length, state: response.state, start_epoch_ms: startEpoch,
    api_ms: +ms(answered).toFixed(1), p50_ms: +sorted[Math.floor(sorted.length / 2)].toFixed(1), last_ms: +sorted[sorted.length - 1].toFixed(1),
  }));
  for (const ws of sockets) ws.terminate();
}

main().catch((error) => { console.error(error.message); process.exit(1); });
