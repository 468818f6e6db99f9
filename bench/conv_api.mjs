// Chat storage API, first look (docs/PERFORMANCE.md): fills one user's conversations through the
// API, then times list, search (hit, rare, miss) and one conversation read.
// Usage: node bench/conv_api.mjs [conversations=200] [messages each=25]  (after make build)
import fs from 'node:fs';
import crypto from 'node:crypto';
import { apiCall, startGateway, freePort, tmpFile } from '../tests/e2e/lib.mjs';
const KEY = `sy-${crypto.randomBytes(32).toString('base64url')}`;
const dataDir = tmpFile('conv-bench'); fs.mkdirSync(dataDir);
const port = await freePort();
const gw = await startGateway({ port, config: `server:\n  listen: 127.0.0.1:${port}\n  workers: 2\ndata_dir: ${dataDir}\nauth:\n  mode: required\nmodels:\n  - name: m\n    provider: mock\n`, env: { SWITCHYARD_ADMIN_PASSWORD: 'x'.repeat(16), SWITCHYARD_ADMIN_KEY: KEY } });
const call = (m, p, body) => apiCall(gw.origin, m, p, { key: KEY, body });
const words = 'alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau'.split(' ');
const text = (i) => Array.from({ length: 30 }, (_, k) => words[(i * 7 + k * 3) % words.length]).join(' ');
const NC = +process.argv[2] || 200, NM = +process.argv[3] || 25;
let t0 = performance.now();
for (let c = 0; c < NC; c++) {
  const id = (await call('POST', '/api/v1/conversations', { title: `conv ${c}` })).json.id;
  await Promise.all(Array.from({ length: NM }, (_, m) => call('POST', `/api/v1/conversations/${id}/messages`, { role: m % 2 ? 'assistant' : 'user', content: text(c * NM + m) + (c === 3 && m === 20 ? ' needle' : '') })));
}
console.log(`filled ${NC} x ${NM} in ${(performance.now() - t0).toFixed(0)} ms`);
const time = async (label, p, n = 30) => {
  const v = [];
  let r;
  for (let i = 0; i < n; i++) { const t = performance.now(); r = await call('GET', p); v.push(performance.now() - t); }
  v.sort((a, b) => a - b);
  console.log(`${label}: p50 ${v[n >> 1].toFixed(2)} ms, p90 ${v[Math.floor(n * 0.9)].toFixed(2)} ms, rows ${r.json.data?.length ?? r.json.messages?.length}`);
  return r;
};
await time('list limit=50', '/api/v1/conversations');
await time('search hit in a title', '/api/v1/conversations?q=conv%2019');
await time('search rare word in one message', '/api/v1/conversations?q=needle');
await time(`search miss (reads all ${NC * NM} messages)`, '/api/v1/conversations?q=zzzz');
const one = (await call('GET', '/api/v1/conversations?limit=1')).json.data[0].id;
await time(`GET one conversation (${NM} messages)`, `/api/v1/conversations/${one}`);
await gw.stop();
