// The inference log end to end: calls of every kind through the gateway become rows in the
// SQLite store (read with the sqlite3 CLI after a clean shutdown).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { BIN, startMock, startGateway, freePort, curl, tmpFile, sleep } from './lib.mjs';

const T = { timeout: 30000 };
let mock;
let gw;
let dataDir;
const rid = (s) => `e2e-log-${s}-${process.pid}`;

before(async () => {
  mock = await startMock();
  const port = await freePort();
  dataDir = tmpFile('logdata');
  const up = (name, upModel, extra = '') => `  - name: ${name}
    provider: openai
    model: ${upModel}
    base_url: http://127.0.0.1:${mock.port}/v1
    api_key: env:E2E_UPSTREAM_KEY
${extra}`;
  const config = `server:
  listen: 127.0.0.1:${port}
  workers: 2
data_dir: ${dataDir}
log:
  batch_ms: 100
models:
  - name: m
    provider: mock
    mock:
      latency_ms: 0
      chunks: 3
      chunk_delay_ms: 0
      prompt_tokens: 12
      completion_tokens: 34
  - name: slow
    provider: mock
    mock:
      latency_ms: 0
      chunks: 20
      chunk_delay_ms: 200
${up('e500', 'up-error-500')}
${up('stall', 'up-stall', '    timeouts:\n      idle_ms: 300\n')}
${up('fb', 'up-error-500', '    routing:\n      retries: 0\n      fallbacks: [m]\n')}
prices:
  - model: m
    input: 1.5
    output: 2
`;
  gw = await startGateway({ config, port });
});

after(async () => {
  gw?.kill();
  await mock?.stop?.();
});

const post = (body, id, headers = {}) =>
  curl(`${gw.origin}/v1/chat/completions`, {
    body: JSON.stringify(body),
    headers: { 'x-request-id': id, ...headers },
  });

function rows() {
  const r = spawnSync('sqlite3', ['-json', path.join(dataDir, 'switchyard.db'), 'SELECT * FROM inference_log ORDER BY seq'], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim() ? JSON.parse(r.stdout) : [];
}

test('every kind of call becomes one row with usage, cost, timings and redacted bodies', T, async () => {
  const email = 'jane.doe@example.com';
  // non-streamed
  const r1 = await post({ model: 'm', messages: [{ role: 'user', content: `hi ${email}` }] }, rid('plain'), {
    'x-switchyard-tags': 'alpha, beta,,gamma',
    'x-switchyard-conversation-id': 'conv-42',
    'x-switchyard-message-id': 'msg-7',
    'x-switchyard-experiment': 'exp-tone',
    'x-switchyard-variant': 'B',
  });
  assert.equal(r1.status, 200, r1.text);
  // streamed, with usage asked for
  const r2 = await post(
    { model: 'm', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: `yo ${email}` }] },
    rid('stream'),
  );
  assert.equal(r2.status, 200, r2.text);
  // upstream error
  const r3 = await post({ model: 'e500', messages: [{ role: 'user', content: 'x' }] }, rid('e500'));
  assert.equal(r3.status, 500, r3.text);
  // upstream stalls mid-stream: idle timeout
  const r4 = await post({ model: 'stall', stream: true, messages: [{ role: 'user', content: 'x' }] }, rid('stall'));
  assert.equal(r4.status, 200, r4.text);
  // client goes away mid-stream
  await new Promise((resolve, reject) => {
    const req = http.request(`${gw.origin}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': rid('cancel') },
    });
    req.on('response', (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.on('error', () => {});
    req.setTimeout(5000, () => reject(new Error('no data')));
    req.end(JSON.stringify({ model: 'slow', stream: true, messages: [{ role: 'user', content: 'x' }] }));
  });
  // first attempt fails, the fallback answers: two rows, the second points at the first
  const r5 = await post({ model: 'fb', messages: [{ role: 'user', content: 'x' }] }, rid('fb'));
  assert.equal(r5.status, 200, r5.text);
  // Anthropic ingress, streamed: the capture is read as Anthropic events
  const r6 = await curl(`${gw.origin}/v1/messages`, {
    body: JSON.stringify({ model: 'm', max_tokens: 50, stream: true, messages: [{ role: 'user', content: `hey ${email}` }] }),
    headers: { 'x-request-id': rid('anthropic'), 'anthropic-version': '2023-06-01' },
  });
  assert.equal(r6.status, 200, r6.text);
  // a link header that is not a clean id is refused, not cut: 400, and the rejection is a row
  const r7 = await post({ model: 'm', messages: [{ role: 'user', content: 'x' }] }, rid('badlink'), {
    'x-switchyard-conversation-id': 'c'.repeat(129),
  });
  assert.equal(r7.status, 400, r7.text);
  assert.match(JSON.parse(r7.text).error.message, /x-switchyard-conversation-id must be 1 to 128 visible ASCII/);
  await sleep(300);
  const m = await curl(`${gw.origin}/metrics`);
  const submitted = Number(/^switchyard_log_rows_submitted_total (\d+)$/m.exec(m.text)?.[1]);
  assert.equal(submitted, 9, m.text); // 8 calls, the fallback one has two attempts
  assert.match(m.text, /^switchyard_log_rows_dropped_total\{reason="overflow"\} 0$/m);
  await gw.stop();

  const all = rows();
  const by = (s) => {
    const found = all.filter((r) => r.request_id === rid(s));
    assert.equal(found.length, 1, `one row for ${s}: ${JSON.stringify(all.map((r) => r.request_id))}`);
    return found[0];
  };
  for (const r of all) assert.match(r.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-/);

  const fb = all.filter((r) => r.request_id === rid('fb'));
  assert.equal(fb.length, 2, JSON.stringify(fb));
  assert.deepEqual(fb.map((r) => r.attempt), [1, 2]);
  assert.equal(fb[0].status, 'error');
  assert.equal(fb[0].http_status, 500);
  assert.equal(fb[0].deployment, 'fb');
  assert.ok(!fb[0].parent_id, 'the first attempt has no parent');
  assert.equal(fb[1].status, 'ok');
  assert.equal(fb[1].parent_id, fb[0].id);
  assert.equal(fb[1].provider, 'mock');
  assert.equal(fb[1].http_status, 200);
  assert.ok(fb[1].t_received_us === fb[0].t_received_us);

  const plain = by('plain');
  assert.equal(plain.attempt, 1);
  assert.equal(plain.status, 'ok');
  assert.equal(plain.http_status, 200);
  assert.equal(plain.model, 'm');
  assert.equal(plain.provider, 'mock');
  assert.equal(plain.input_tokens, 12);
  assert.equal(plain.output_tokens, 34);
  assert.equal(plain.usage_source, 'provider');
  assert.equal(plain.cost_nanousd, 12 * 1500 + 34 * 2000); // $1.5/M and $2/M in nano-USD
  assert.ok(plain.ttft_us > 0 && plain.ttft_us <= plain.latency_us, `ttft ${plain.ttft_us} latency ${plain.latency_us}`);
  assert.ok(plain.overhead_us >= 0 && plain.overhead_us <= plain.latency_us);
  assert.deepEqual(JSON.parse(plain.tags), ['alpha', 'beta', 'gamma']);
  assert.equal(plain.conversation_id, 'conv-42');
  assert.equal(plain.message_id, 'msg-7');
  assert.equal(plain.experiment, 'exp-tone');
  assert.equal(plain.variant, 'B');
  const bl = by('badlink');
  assert.equal(bl.status, 'error');
  assert.equal(bl.http_status, 400);
  assert.equal(bl.conversation_id, null);
  assert.equal(by('stream').conversation_id, null);
  assert.ok(!plain.request_body.includes(email) && plain.request_body.includes('[EMAIL]'), plain.request_body);
  assert.ok(!plain.response_body.includes(email) && plain.response_body.includes('[EMAIL]'), plain.response_body);
  assert.equal(plain.request_truncated, 0);
  assert.equal(plain.response_truncated, 0);

  const st = by('stream');
  assert.equal(st.status, 'ok');
  assert.equal(st.input_tokens, 12);
  assert.equal(st.output_tokens, 34);
  assert.equal(st.usage_source, 'provider');
  assert.equal(st.cost_nanousd, 86000);
  assert.ok(st.ttft_us > 0 && st.ttft_us <= st.latency_us);
  assert.match(st.response_body, /^You said: yo \[EMAIL\]/, 'the reassembled text, redacted');

  const e = by('e500');
  assert.equal(e.status, 'error');
  assert.equal(e.http_status, 500);
  assert.ok(e.error_type);
  assert.match(e.error_message, /server had an error/, 'the upstream error message');
  assert.ok(e.response_body && e.response_body.length > 0);
  assert.equal(e.cost_nanousd, null);

  const sl = by('stall');
  assert.equal(sl.status, 'timeout');
  assert.equal(sl.http_status, 200);

  const an = by('anthropic');
  assert.equal(an.status, 'ok');
  assert.equal(an.input_tokens, 12);
  assert.equal(an.output_tokens, 34);
  assert.equal(an.usage_source, 'provider');
  assert.equal(an.cost_nanousd, 86000);
  assert.match(an.response_body, /^You said: hey \[EMAIL\]/);
  assert.ok(an.ttft_us > 0 && an.ttft_us <= an.latency_us);

  const c = by('cancel');
  assert.equal(c.status, 'cancelled');
  assert.equal(c.model, 'slow');
  assert.ok(fs.existsSync(path.join(dataDir, 'spool')));
});

async function serveFails(config) {
  const f = tmpFile('bad-log.yaml', config);
  const r = spawnSync(BIN, ['serve', '--config', f], { encoding: 'utf8', timeout: 10000 });
  return { code: r.status, err: r.stderr, file: f };
}

test('bad log.redact config and a newer schema exit 2 with a clear message', T, async () => {
  const dir = tmpFile('logdata-bad');
  const base = `server:\n  listen: 127.0.0.1:1\ndata_dir: ${dir}\nmodels:\n  - {name: m, provider: mock}\nlog:\n  redact:\n`;
  let r = await serveFails(`${base}    emial: mask\n`);
  assert.equal(r.code, 2, r.err);
  assert.match(r.err, /bad-log\.yaml:8: log\.redact\.emial: unknown pattern \(.*email/);
  const cc = spawnSync(BIN, ['check-config', r.file], { encoding: 'utf8', timeout: 10000 });
  assert.equal(cc.status, 2, cc.stderr);
  assert.match(cc.stderr, /:8: log\.redact\.emial: unknown pattern/);
  r = await serveFails(`${base}    custom:\n      - name: broken\n        pattern: "a(b"\n`);
  assert.equal(r.code, 2, r.err);
  assert.match(r.err, /:9: log\.redact\.custom\[0\]: .*'broken'/);
  r = await serveFails(`${base}    email: hash\n`);
  assert.equal(r.code, 2, r.err);
  assert.match(r.err, /log\.redact.*hash key/);

  fs.mkdirSync(dir, { recursive: true });
  const db = path.join(dir, 'switchyard.db');
  const s = spawnSync('sqlite3', [db, 'CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL); INSERT INTO schema_migrations VALUES (999, 0);']);
  assert.equal(s.status, 0);
  r = await serveFails(`${base}    email: mask\n`);
  assert.equal(r.code, 2, r.err);
  assert.match(r.err, /schema version 999, newer than this binary knows/);
});

test('kill -9: rows of calls completed before the kill are in the store after a restart', T, async () => {
  const dir = tmpFile('logdata-crash');
  const config = (port) => `server:\n  listen: 127.0.0.1:${port}\n  workers: 2\ndata_dir: ${dir}\nlog:\n  batch_ms: 5000\nmodels:\n  - name: m\n    provider: mock\n    mock: {latency_ms: 0, chunks: 2, chunk_delay_ms: 0}\n`;
  let port = await freePort();
  let g = await startGateway({ config: config(port), port });
  const N = 40;
  for (let i = 0; i < N; i++) {
    const r = await curl(`${g.origin}/v1/chat/completions`, {
      body: JSON.stringify({ model: 'm', stream: i % 2 === 1, messages: [{ role: 'user', content: `n${i}` }] }),
      headers: { 'x-request-id': `crash-${process.pid}-${i}` },
    });
    assert.equal(r.status, 200);
  }
  await sleep(1200); // everysec: what completed more than 1 s ago has reached the spool
  g.signal('SIGKILL');
  await g.exited();
  port = await freePort();
  g = await startGateway({ config: config(port), port }); // replays the spool into the store
  await g.stop();
  const r = spawnSync('sqlite3', [path.join(dir, 'switchyard.db'), `SELECT count(*), count(DISTINCT request_id) FROM inference_log WHERE request_id LIKE 'crash-${process.pid}-%'`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), `${N}|${N}`);
});
