// One load process of `scripts/bench scale`: opens N WebSocket clients (round-robin over the
// given URLs, spread over 127.0.0.2-9), subscribes them to one stream, says "ready", then
// for each post (told apart by its number in the body) reports when its last client had
// it, as CLOCK_MONOTONIC nanoseconds (process.hrtime), which every process on the machine
// shares.
'use strict';
const WebSocket = require('ws');
// Connections opened at once: kairan admits 40 requests running and 160 waiting (a socket's
// upgrade is one), and answers more than that with 503 at once, as it would a real storm.
const BATCH = 100;

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const urls = args.urls.split(',');
const clients = parseInt(args.clients, 10);
const offset = parseInt(args.offset || '0', 10);
const headers = { Authorization: `Bearer ${args.token}` };
const arrivals = new Map();

async function main() {
  for (let i = 0; i < clients; i += BATCH) {
    const batch = [];
    for (let j = i; j < Math.min(clients, i + BATCH); j++) {
      batch.push(new Promise((resolve, reject) => {
        const ws = new WebSocket(urls[(offset + j) % urls.length], { headers, localAddress: `127.0.0.${2 + ((offset + j) % 8)}`, perMessageDeflate: false });
        ws.on('open', () => ws.send(JSON.stringify({ type: 'subscribe', stream: args.stream })));
        ws.on('message', (data) => {
          const text = data.toString();
          if (text.startsWith('{"type":"subscribed"')) { resolve(); return; }
          const match = /ベンチマーク投稿 #(\d+)/.exec(text);
          if (!match) return;
          const entry = arrivals.get(match[1]) || { count: 0, last: 0n };
          entry.count++; entry.last = process.hrtime.bigint();
          arrivals.set(match[1], entry);
          if (entry.count === clients) console.log(JSON.stringify({ post: match[1], last_ns: entry.last.toString() }));
        });
        ws.on('error', reject);
      }));
    }
    await Promise.all(batch);
  }
  console.log('ready');
}

main().catch((error) => { console.error(error.message); process.exit(1); });
