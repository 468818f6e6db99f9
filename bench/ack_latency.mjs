// Latency cost of log.fsync: always (the response's end waits until its log row is fdatasync'ed
// into the spool) against everysec and logging off. One client, sequential requests to the mock
// provider (no upstream latency), non-streamed and streamed; prints median and p99 per lane.
//
//   node bench/ack_latency.mjs [requests per lane, default 300]
//
// Uses the e2e helpers (tests/e2e/lib.mjs: needs `cd tests/e2e && npm ci` once and a build in
// build/). The data_dir is a temp dir on the disk /tmp lives on.

import http from 'node:http';
import { startGateway, freePort, tmpFile } from '../tests/e2e/lib.mjs';

const N = Number(process.argv[2] || 300);

function once(agent, origin, body) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = http.request(`${origin}/v1/chat/completions`, {
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json' },
    });
    req.on('response', (res) => {
      res.on('data', () => {});
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`status ${res.statusCode}`));
        resolve(Number(process.hrtime.bigint() - t0) / 1000);
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))];

async function lane(name, log) {
  const port = await freePort();
  const config = `server:\n  listen: 127.0.0.1:${port}\n  workers: 1\ndata_dir: ${tmpFile('ack-bench')}\n${log}models:\n  - name: m\n    provider: mock\n    mock: {latency_ms: 0, chunks: 4, chunk_delay_ms: 0}\n`;
  const g = await startGateway({ config, port });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const out = [];
  for (const stream of [false, true]) {
    const body = JSON.stringify({ model: 'm', stream, messages: [{ role: 'user', content: 'hello there' }] });
    for (let i = 0; i < 30; i++) await once(agent, g.origin, body); // warm up
    const xs = [];
    for (let i = 0; i < N; i++) xs.push(await once(agent, g.origin, body));
    xs.sort((a, b) => a - b);
    out.push(`${stream ? 'stream' : 'non-stream'}: median ${pct(xs, 50).toFixed(0)} µs, p99 ${pct(xs, 99).toFixed(0)} µs`);
  }
  agent.destroy();
  await g.stop();
  console.log(`${name.padEnd(16)} ${out.join('; ')}`);
}

await lane('log off', 'log:\n  enabled: false\n');
await lane('fsync never', 'log:\n  fsync: never\n');
await lane('fsync everysec', 'log:\n  fsync: everysec\n');
await lane('fsync always', 'log:\n  fsync: always\n');
