// Chat generation: the server's CPU per streamed token (docs/PERFORMANCE.md, "Chat generation").
// One gateway (1 worker, SQLite, mock model with 0 ms between chunks); N sequential answers of
// T tokens (mock chunks) each, once as a plain streamed /v1/chat/completions call with the same
// user's key and once through POST /api/v1/conversations/{id}/generate (loopback + SSE parse +
// watcher + store writes). The process's CPU time (utime + stime from /proc, all threads) is read
// before and after each series; the difference per answer and its slope over T separate the
// fixed per-answer cost from the added cost per token.
// Usage: node bench/chat_gen_cpu.mjs [answers=100]  (after make build)
import fs from 'node:fs';
import crypto from 'node:crypto';
import { apiCall, startGateway, freePort, tmpFile } from '../tests/e2e/lib.mjs';

const KEY = `sy-${crypto.randomBytes(32).toString('base64url')}`;
const N = +process.argv[2] || 100;
const dataDir = tmpFile('gen-bench');
fs.mkdirSync(dataDir);
const port = await freePort();
const model = (name, chunks) => `  - name: ${name}\n    provider: mock\n    mock: {latency_ms: 0, chunks: ${chunks}, chunk_delay_ms: 0}\n`;
const gw = await startGateway({
  port,
  config: `server:\n  listen: 127.0.0.1:${port}\n  workers: 1\ndata_dir: ${dataDir}\nlog:\n  batch_ms: 50\nauth:\n  mode: required\nmodels:\n${model('t20', 20)}${model('t200', 200)}`,
  env: { SWITCHYARD_ADMIN_PASSWORD: 'x'.repeat(16), SWITCHYARD_ADMIN_KEY: KEY },
});
const HZ = 100; // USER_HZ on Linux
const cpuMs = () => {
  const f = fs.readFileSync(`/proc/${gw.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((+f[11] + +f[12]) * 1000) / HZ; // utime, stime (fields 14, 15)
};
const content = 'lorem ipsum dolor sit amet '.repeat(40); // ~1 KB: enough text for 200 chunks

async function direct(m) {
  const r = await fetch(`${gw.origin}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: m, stream: true, messages: [{ role: 'user', content }] }),
  });
  await r.text();
}
async function generate(m, conv) {
  const r = await fetch(`${gw.origin}/api/v1/conversations/${conv}/generate`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: m, content }),
  });
  const t = await r.text();
  if (!t.includes('"status":"ok"')) throw new Error(t.slice(-300));
}
async function series(label, fn) {
  await fn(); // warm
  const c0 = cpuMs(), t0 = performance.now();
  for (let i = 0; i < N; i++) await fn();
  const cpu = (cpuMs() - c0) / N, wall = (performance.now() - t0) / N;
  console.log(`${label}: ${cpu.toFixed(3)} ms CPU, ${wall.toFixed(2)} ms wall per answer`);
  return cpu;
}
const res = {};
for (const m of ['t20', 't200']) {
  res[`d${m}`] = await series(`/v1 stream, ${m}`, () => direct(m));
  // a new conversation per 50 answers keeps the branch short (each answer is a root)
  let conv, k = 0;
  res[`g${m}`] = await series(`generate, ${m}`, async () => {
    if (k++ % 50 === 0) conv = (await apiCall(gw.origin, 'POST', '/api/v1/conversations', { key: KEY, body: {} })).json.id;
    await generate(m, conv);
  });
}
const add20 = res.gt20 - res.dt20, add200 = res.gt200 - res.dt200;
console.log(`added per answer: ${add20.toFixed(3)} ms (20 tokens), ${add200.toFixed(3)} ms (200 tokens)`);
console.log(`added per token (slope): ${(((add200 - add20) / 180) * 1000).toFixed(1)} µs`);
console.log(`load average: ${fs.readFileSync('/proc/loadavg', 'utf8').trim()}`);
await gw.stop();
