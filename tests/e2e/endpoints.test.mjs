// /v1/models, /healthz, /readyz, and HTTP/1.1 keep-alive connection reuse.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startStack, curl, runCurl, assertGatewayHeaders, chatBody, STANDARD_MODELS, tmpFile } from './lib.mjs';
import { ECHO_TEXT } from './mock_upstream.mjs';

let s;
before(async () => {
  s = await startStack();
});
after(async () => {
  await s?.stop();
});

const T = { timeout: 10000 };

test('GET /v1/models lists the configured models in config order', T, async () => {
  const r = await curl(`${s.gw.origin}/v1/models`);
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers['content-type'] ?? '', /^application\/json/);
  assertGatewayHeaders(r.headers);
  assert.deepEqual(r.json(), {
    object: 'list',
    data: STANDARD_MODELS.map(([id, owned_by]) => ({ id, object: 'model', created: 0, owned_by })),
  });
});

test('SDK models.list() sees the same ids in order', T, async () => {
  const ids = [];
  for await (const m of s.client.models.list()) ids.push(m.id);
  assert.deepEqual(ids, STANDARD_MODELS.map(([id]) => id));
});

test('GET /healthz and /readyz', T, async () => {
  const h = await curl(`${s.gw.origin}/healthz`);
  assert.equal(h.status, 200);
  assert.deepEqual(h.json(), { status: 'ok' });
  assertGatewayHeaders(h.headers);
  const r = await curl(`${s.gw.origin}/readyz`);
  assert.equal(r.status, 200);
  assert.deepEqual(r.json(), { status: 'ready' });
  assertGatewayHeaders(r.headers);
});

test('keep-alive: two requests on one connection (curl, two URLs)', T, async () => {
  const r = await runCurl([
    '-sS', '-v', '-o', '/dev/null', '-o', '/dev/null',
    '-w', '%{http_code} %{num_connects}\\n',
    `${s.gw.origin}/healthz`, `${s.gw.origin}/v1/models`,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.toString(), '200 1\n200 0\n', `second transfer reused the connection; curl -v:\n${r.stderr}`);
  assert.match(r.stderr, /Re-using existing connection/);
});

test('keep-alive: two chat completions (POST, one streamed) on one connection', T, async () => {
  const f1 = tmpFile('b1.json', chatBody('echo', 'one'));
  const f2 = tmpFile('b2.json', chatBody('mock-e2e', 'two', { stream: true }));
  const o1 = tmpFile('o1.txt');
  const o2 = tmpFile('o2.txt');
  const url = `${s.gw.origin}/v1/chat/completions`;
  const r = await runCurl([
    '-sS', '-v', '-H', 'Content-Type: application/json', '-H', 'Expect:',
    '-w', '%{http_code} %{num_connects}\\n',
    '--data-binary', `@${f1}`, '-o', o1, url,
    '--next', '-H', 'Content-Type: application/json', '-H', 'Expect:',
    '-w', '%{http_code} %{num_connects}\\n',
    '--data-binary', `@${f2}`, '-o', o2, url,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.toString(), '200 1\n200 0\n', `second POST reused the connection; curl -v:\n${r.stderr}`);
  const fs = await import('node:fs');
  assert.equal(JSON.parse(fs.readFileSync(o1, 'utf8')).choices[0].message.content, ECHO_TEXT);
  assert.ok(fs.readFileSync(o2, 'utf8').endsWith('data: [DONE]\n\n'));
});

test('keep-alive: node agent reuses the socket after an error response too', T, async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const req = (path, method = 'GET', body) =>
    new Promise((resolve, reject) => {
      const rq = http.request(`${s.gw.origin}${path}`, { method, agent, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
        let t = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (t += d));
        res.on('end', () => resolve({ status: res.statusCode, text: t, reused: rq.reusedSocket }));
      });
      rq.on('error', reject);
      rq.end(body);
    });
  try {
    const a = await req('/v1/nope');
    const b = await req('/v1/chat/completions', 'POST', chatBody('no-such', 'x'));
    const c = await req('/v1/chat/completions', 'POST', chatBody('mock-e2e', 'x'));
    assert.deepEqual([a.status, b.status, c.status], [404, 404, 200]);
    assert.deepEqual([a.reused, b.reused, c.reused], [false, true, true], 'one connection for all three');
    assert.equal(JSON.parse(c.text).choices[0].message.content, 'You said: x');
  } finally {
    agent.destroy();
  }
});
