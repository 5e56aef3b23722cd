// `scripts/soak`: a minute of ordinary town traffic against one kairan process, then a
// reconnect storm. Prints one JSON line per phase.
//
//   node soak.js soak --base=http://127.0.0.1:PORT --token=T --thread=ID --pid=PID --seconds=60 --sockets=200 --alert-token=T
//   node soak.js storm --base=http://127.0.0.1:PORT --token=T --thread=ID --clients=5000 --ready-file=F --restarted-file=F --pid-file=F
'use strict';
const fs = require('fs');
const http = require('http');
const WebSocket = require('ws');

const args = Object.fromEntries(process.argv.slice(3).map((a) => a.replace(/^--/, '').split(/=(.*)/s).slice(0, 2)));
const base = new URL(args.base);
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function request(method, path, body, token) {
  return new Promise((resolve) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request({ host: base.hostname, port: base.port, method, path, agent, timeout: 30000,
      headers: { Authorization: `Bearer ${token}`, ...(data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {}) } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString(), headers: res.headers }));
    });
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.on('timeout', () => req.destroy());
    if (data) req.write(data);
    req.end();
  });
}

/** What the kernel says about the server process. */
function sample(pid) {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = parseInt(/VmRSS:\s+(\d+)/.exec(status)[1], 10) / 1024;
    const threads = parseInt(/Threads:\s+(\d+)/.exec(status)[1], 10);
    const fds = fs.readdirSync(`/proc/${pid}/fd`).length;
    return { rss_mb: Math.round(rss * 10) / 10, threads, fds };
  } catch { return null; }
}

function openSocket(token, thread, onFrame) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://${base.host}/v1/stream`, { headers: { Authorization: `Bearer ${token}` }, perMessageDeflate: false });
    ws.on('open', () => ws.send(JSON.stringify({ type: 'subscribe', stream: `thread:${thread}` })));
    ws.on('message', (data) => {
      const text = data.toString();
      if (text.startsWith('{"type":"subscribed"')) resolve(ws);
      else onFrame(text);
    });
    ws.on('error', () => resolve(null));
    ws.on('unexpected-response', () => resolve(null));
  });
}

async function soak() {
  const pid = args.pid, seconds = parseInt(args.seconds, 10), sockets = parseInt(args.sockets, 10);
  const baseline = sample(pid);
  let frames = 0;
  const clients = [];
  for (let i = 0; i < sockets; i++) clients.push(await openSocket(args.token, args.thread, (t) => { if (t.includes('soak post')) frames++; }));
  const connected = clients.filter(Boolean).length;
  const samples = [];
  const sampler = setInterval(() => { const s = sample(pid); if (s) samples.push(s); }, 1000);
  const statuses = {};
  const count = (s) => { statuses[s] = (statuses[s] || 0) + 1; };
  let acknowledged = 0, alert = null, alertAt = null;
  const alertSeries = [];
  let alertDoneAt = null;
  const start = Date.now();
  let n = 0;
  const inFlight = new Set();
  while (Date.now() - start < seconds * 1000) {
    const tick = Date.now();
    // 20 posts and 20 page reads a second, from a pool of at most 64 at once.
    if (inFlight.size < 64) {
      const p = request('POST', `/v1/threads/${args.thread}/posts`, { body: `soak post ${++n}` }, args.token).then((r) => {
        count(`post ${r.status}`); if (r.status === 201) acknowledged++; inFlight.delete(p);
      });
      inFlight.add(p);
      const q = request('GET', `/v1/threads/${args.thread}/posts?limit=50`, undefined, args.token).then((r) => { count(`read ${r.status}`); inFlight.delete(q); });
      inFlight.add(q);
    }
    if (!alert && Date.now() - start > 10000) {
      alertAt = Date.now();
      alert = request('POST', '/v1/alerts', { category: 'disaster', urgent: true, subject: '【防災】避難所開設（試験）', body: '避難所を開設しました。' }, args['alert-token']);
      // How far the alert got while the traffic went on, every second.
      alert.then(async (r) => {
        const id = JSON.parse(r.body || '{}').id;
        while (id && !alertDoneAt && Date.now() - start < seconds * 1000) {
          await sleep(1000);
          const p = JSON.parse((await request('GET', `/v1/alerts/${id}`, undefined, args['alert-token'])).body || '{}').progress;
          if (!p) continue;
          alertSeries.push(p.sent);
          if (p.queued === 0 && p.sending === 0 && p.retrying === 0) alertDoneAt = Date.now();
        }
      });
    }
    await sleep(Math.max(0, 50 - (Date.now() - tick)));
  }
  await Promise.all([...inFlight]);
  const alertResponse = alert ? await alert : { status: 0, body: '{}' };
  const alertID = JSON.parse(alertResponse.body || '{}').id;
  for (const ws of clients) if (ws) ws.close();
  // Settle: the alert finishes, the sockets are gone, the server idles.
  let progress = null;
  for (let i = 0; i < 60; i++) {
    await sleep(1000);
    const r = await request('GET', `/v1/alerts/${alertID}`, undefined, args['alert-token']);
    progress = JSON.parse(r.body || '{}').progress;
    if (progress && progress.queued === 0 && progress.sending === 0 && progress.retrying === 0) break;
  }
  await sleep(5000);
  clearInterval(sampler);
  const after = sample(pid);
  const rss = samples.map((s) => s.rss_mb);
  console.log(JSON.stringify({
    phase: 'soak', seconds, sockets_connected: connected, posts_offered: n, posts_acknowledged: acknowledged, frames_received: frames,
    frames_expected: acknowledged * connected, statuses, alert_status: alertResponse.status, alert_progress: progress,
    alert_sent_each_second: alertSeries, alert_done_within_s: alertDoneAt ? (alertDoneAt - alertAt) / 1000 : null,
    baseline, after, rss_min_mb: Math.min(...rss), rss_max_mb: Math.max(...rss), rss_first_10s: rss.slice(0, 10), rss_last_10s: rss.slice(-10),
    threads_max: Math.max(...samples.map((s) => s.threads)), fds_max: Math.max(...samples.map((s) => s.fds)),
  }));
  // Every post answered, every frame delivered, the alert done: otherwise the soak failed.
  if (acknowledged !== n || frames !== acknowledged * connected || !alertDoneAt) process.exitCode = 1;
}

async function storm() {
  const clients = parseInt(args.clients, 10);
  let live = 0, refused = 0, failedAttempts = 0, retryAfters = [];
  let restartedAt = null, allLiveAt = null;
  const sockets = new Array(clients);
  function connect(i, attempt) {
    const ws = new WebSocket(`ws://${base.host}/v1/stream`, { headers: { Authorization: `Bearer ${args.token}` }, perMessageDeflate: false, handshakeTimeout: 30000 });
    sockets[i] = ws;
    let subscribed = false;
    ws.on('open', () => ws.send(JSON.stringify({ type: 'subscribe', stream: `thread:${args.thread}` })));
    ws.on('message', (data) => {
      if (!subscribed && data.toString().startsWith('{"type":"subscribed"')) {
        subscribed = true; live++;
        if (restartedAt && live === clients && !allLiveAt) allLiveAt = Date.now();
      }
    });
    // What a phone does: a refusal with Retry-After waits that long (plus jitter); any other
    // failure backs off exponentially with full jitter, from 1 s up to 30 s.
    // One retry per socket, whichever of its events comes first ('error' and 'close' both
    // follow a reset).
    let retried = false;
    const retry = (delayMs) => { if (retried) return; retried = true; setTimeout(() => connect(i, attempt + 1), delayMs); };
    ws.on('unexpected-response', (req, res) => {
      const after = parseInt(res.headers['retry-after'] || '0', 10);
      if (res.statusCode === 503) { refused++; retryAfters.push(after); }
      failedAttempts++;
      res.resume();
      req.destroy();
      retry((after > 0 ? after * 1000 : Math.min(30000, 1000 * 2 ** attempt)) * (0.5 + Math.random()));
    });
    ws.on('error', () => { if (!retried) failedAttempts++; retry(Math.random() * Math.min(30000, 1000 * 2 ** attempt)); });
    ws.on('close', () => {
      if (subscribed) {
        subscribed = false; live--;
        // The server went away (a restart): come back within a second, as apps do.
        retry(Math.random() * 1000);
      }
    });
  }
  const connectStart = Date.now();
  for (let i = 0; i < clients; i += 250) {
    for (let j = i; j < Math.min(clients, i + 250); j++) connect(j, 0);
    while (live < Math.min(clients, i + 250) && Date.now() - connectStart < 300000) await sleep(20);
  }
  const connectedIn = (Date.now() - connectStart) / 1000;
  fs.writeFileSync(args['ready-file'], 'ready');
  // The harness restarts the server and writes the moment it listens again.
  while (!fs.existsSync(args['restarted-file'])) await sleep(10);
  restartedAt = Date.now();
  refused = 0; failedAttempts = 0; retryAfters = [];
  const pid = fs.readFileSync(args['pid-file'], 'utf8').trim();
  let peak = sample(pid);
  while (!allLiveAt && Date.now() - restartedAt < 300000) {
    const s = sample(pid); if (s && (!peak || s.rss_mb > peak.rss_mb)) peak = s;
    await sleep(200);
  }
  const after = sample(pid);
  console.log(JSON.stringify({
    phase: 'storm', clients, first_connect_s: connectedIn, all_live_again_s: allLiveAt ? (allLiveAt - restartedAt) / 1000 : null,
    live, refused_503: refused, failed_attempts: failedAttempts,
    retry_after_s: retryAfters.length ? [Math.min(...retryAfters), Math.max(...retryAfters)] : null, peak, after,
  }));
  for (const ws of sockets) if (ws) ws.terminate();
  process.exit(allLiveAt ? 0 : 1);
}

(process.argv[2] === 'storm' ? storm() : soak()).catch((e) => { console.error(e); process.exit(1); });
