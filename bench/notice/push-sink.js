// A push service that takes every push at once (201), as a fast one in the same room would:
// counts them and remembers when the last arrived. GET /count answers
// {"count": N, "last_epoch_ms": T}. Usage: node push-sink.js PORTFILE
const http = require('http');
const fs = require('fs');
let count = 0;
let last = 0;
const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/count') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ count, last_epoch_ms: last }));
    return;
  }
  req.on('data', () => {});
  req.on('end', () => {
    if (req.headers['content-encoding'] === 'aes128gcm' && (req.headers.authorization || '').startsWith('vapid ')) {
      count++;
      last = Date.now();
    }
    res.writeHead(201, { Location: req.url + '/m/' + count, 'Content-Length': '0' });
    res.end();
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => fs.writeFileSync(process.argv[2], String(server.address().port)));
