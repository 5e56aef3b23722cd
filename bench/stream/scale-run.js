// `scripts/bench scale`: spreads N clients over load processes of at most 9,000 sockets
// each (a process's descriptors are limited), waits until all are subscribed, records each
// server's RSS, then sends one post and reports when the last of the N clients had it, and
// the servers' CPU for the broadcast.
'use strict';
const { spawn } = require('child_process');
const http = require('http');
const fs = require('fs');
const readline = require('readline');

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const clients = parseInt(args.clients, 10);
const pids = args.pids.split(',').map(Number);
const clkTck = parseInt(args.clktck || '100', 10);
const perProcess = 9000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rssKB = (pid) => parseInt(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1], 10);
const cpu = (pid) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8'); const x = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (parseInt(x[11], 10) + parseInt(x[12], 10)) / clkTck;
};

function post(n) {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ body: `ベンチマーク投稿 #${n}` });
    const url = new URL(args.trigger);
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST',
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), Authorization: `Bearer ${args.token}` } }, (res) => {
      res.resume(); res.on('end', () => (res.statusCode < 300 ? resolve() : reject(new Error(`post answered ${res.statusCode}`))));
    });
    req.on('error', reject); req.end(body);
  });
}

async function main() {
  const baseline = pids.map(rssKB);
  const children = [];
  const reports = [];
  const started = Date.now();
  for (let offset = 0; offset < clients; offset += perProcess) {
    const n = Math.min(perProcess, clients - offset);
    const child = spawn(process.execPath, [`${__dirname}/scale-client.js`, `--urls=${args.urls}`, `--clients=${n}`, `--offset=${offset}`,
      `--token=${args.token}`, `--stream=${args.stream}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = readline.createInterface({ input: child.stdout });
    const ready = new Promise((resolve) => lines.on('line', (line) => {
      if (line === 'ready') resolve(); else reports.push(JSON.parse(line));
    }));
    child.on('exit', (code) => { if (code) { console.error(`load process exited with ${code}`); process.exit(1); } });
    children.push({ child, ready });
    // One process at a time: a burst of 9,000 handshakes each is enough for the servers.
    await ready;
  }
  const connectSeconds = (Date.now() - started) / 1000;
  await sleep(3000);
  const idle = pids.map(rssKB);
  const results = [];
  for (let round = 0; round < parseInt(args.posts || '3', 10); round++) {
    reports.length = 0;
    const cpuBefore = pids.map(cpu);
    const start = process.hrtime.bigint();
    await post(round);
    const deadline = Date.now() + 60000;
    while (reports.filter((r) => r.post === String(round)).length < children.length) {
      if (Date.now() > deadline) throw new Error(`post ${round} did not reach every client within 60 s`);
      await sleep(2);
    }
    const last = reports.filter((r) => r.post === String(round)).map((r) => BigInt(r.last_ns)).reduce((a, b) => (a > b ? a : b));
    await sleep(200);
    results.push({ last_ms: Number(last - start) / 1e6, cpu_s: pids.map((p, i) => +(cpu(p) - cpuBefore[i]).toFixed(2)) });
    await sleep(1000);
  }
  console.log(JSON.stringify({
    clients, servers: pids.length, connect_s: +connectSeconds.toFixed(1),
    rss_mb: idle.map((kb) => +(kb / 1024).toFixed(1)),
    kb_per_socket: +((idle.reduce((a, b) => a + b, 0) - baseline.reduce((a, b) => a + b, 0)) / clients).toFixed(2),
    posts: results,
  }));
  for (const { child } of children) child.kill();
}

main().catch((error) => { console.error(error.message); process.exit(1); });
