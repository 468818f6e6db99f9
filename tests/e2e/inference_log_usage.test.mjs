// The inference log, issue 4 follow-ups, end to end:
//  - usage on streams: the gateway asks the upstream for usage the client did not ask for,
//    hides it from the client byte for byte, and the row gets the provider's exact numbers;
//  - rows for requests rejected before routing (invalid JSON, missing/unknown model, 413, ...);
//  - log.fsync always: after kill -9 under load, every completed request is in the store.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startMock, startProviderMock, startGateway, freePort, curl, tmpFile, sleep, now, sseData } from './lib.mjs';
import { echoFrames, ECHO_USAGE } from './mock_upstream.mjs';
import { ANTHROPIC_USAGE, GEMINI_USAGE } from './provider_mock.mjs';

const T = { timeout: 60000 };
const rid = (s) => `e2e-usage-${s}-${process.pid}`;
let mock;
let pm;
let gw;
let dataDir;

// $/M tokens; the row's cost is tokens x price x 1000 nano-USD
const PRICES = { 'up-echo': [2.5, 10], 'up-echo-nousage': [2.5, 10], 'claude-text': [3, 15], 'gemini-text': [0.3, 2.5] };
const cost = (model, inTok, outTok) => inTok * PRICES[model][0] * 1000 + outTok * PRICES[model][1] * 1000;

before(async () => {
  mock = await startMock();
  pm = await startProviderMock();
  const port = await freePort();
  dataDir = tmpFile('usage-data');
  const m = (name, provider, model, base, extra = '') =>
    `  - name: ${name}\n    provider: ${provider}\n    model: ${model}\n    base_url: ${base}\n    api_key: env:E2E_UPSTREAM_KEY\n${extra}`;
  const oa = `http://127.0.0.1:${mock.port}/v1`;
  const an = `http://127.0.0.1:${pm.port}/anthropic/v1`;
  const ge = `http://127.0.0.1:${pm.port}/gemini/v1beta`;
  const config = `server:
  listen: 127.0.0.1:${port}
  workers: 1
limits:
  max_body_bytes: 4096
data_dir: ${dataDir}
log:
  batch_ms: 100
models:
${m('echo', 'openai', 'up-echo', oa)}${m('echo-noso', 'openai', 'up-echo', oa, '    stream_options: false\n')}${m('echo-ignore', 'openai', 'up-echo-nousage', oa)}${m('an-text', 'anthropic', 'claude-text', an)}${m('ge-text', 'gemini', 'gemini-text', ge)}${m('an-reject', 'anthropic', 'claude-text', an, '    unsupported_params: reject\n')}prices:
${Object.entries(PRICES).map(([k, [i, o]]) => `  - model: ${k}\n    input: ${i}\n    output: ${o}\n`).join('')}`;
  gw = await startGateway({ config, port });
});

after(async () => {
  gw?.kill();
  await pm?.stop();
  await mock?.stop();
});

function query(dir, sql) {
  // maxBuffer: the crash tests read ~15,000 rows, past spawnSync's 1 MiB default (ENOBUFS)
  const r = spawnSync('sqlite3', ['-json', path.join(dir, 'switchyard.db'), sql], { encoding: 'utf8', maxBuffer: 256 << 20 });
  assert.equal(r.error, undefined, `sqlite3: ${r.error}`);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim() ? JSON.parse(r.stdout) : [];
}

const chat = (body, id) =>
  curl(`${gw.origin}/v1/chat/completions`, {
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'x-request-id': id },
  });
const messages = (body, id) =>
  curl(`${gw.origin}/v1/messages`, {
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'x-request-id': id, 'anthropic-version': '2023-06-01' },
  });
const user = [{ role: 'user', content: 'hi' }];

async function upstreamBody() {
  const reqs = (await mock.requests()).filter((r) => r.url === '/v1/chat/completions');
  assert.equal(reqs.length, 1, JSON.stringify(reqs.map((r) => r.body)));
  return JSON.parse(reqs[0].body);
}

// Run in order: the rows are read once, after the gateway stopped (sqlite3 CLI).
const rowsWanted = [];

test('stream without include_usage: the upstream is asked, the client sees exactly the stream it asked for', T, async () => {
  // openai deployment: injected, hidden
  await mock.reset();
  let r = await chat({ model: 'echo', stream: true, messages: user }, rid('inject'));
  assert.equal(r.status, 200, r.text);
  assert.deepEqual((await upstreamBody()).stream_options, { include_usage: true }, 'the gateway asked for usage');
  assert.equal(r.text, echoFrames('up-echo', false).join(''), 'client bytes = the stream without include_usage');
  const injected = r.text;

  // the deployment says its upstream rejects stream_options: nothing injected, same client bytes
  await mock.reset();
  r = await chat({ model: 'echo-noso', stream: true, messages: user }, rid('noso'));
  assert.equal(r.status, 200, r.text);
  assert.equal((await upstreamBody()).stream_options, undefined);
  assert.equal(r.text, injected, 'identical to the stream the gateway asked usage for');

  // the client asked: nothing hidden
  await mock.reset();
  r = await chat({ model: 'echo', stream: true, stream_options: { include_usage: true }, messages: user }, rid('asked'));
  assert.equal(r.text, echoFrames('up-echo', true).join(''));

  // an upstream that ignores include_usage: the row is estimated
  await mock.reset();
  r = await chat({ model: 'echo-ignore', stream: true, messages: user }, rid('ignored'));
  assert.equal((await upstreamBody()).stream_options.include_usage, true);
  assert.equal(r.text, echoFrames('up-echo-nousage', false).join(''));
  rowsWanted.push('inject', 'noso', 'asked', 'ignored');
});

test('translated streams (anthropic, gemini): usage chunk only when the client asked', T, async () => {
  for (const [model, tag] of [['an-text', 'an'], ['ge-text', 'ge']]) {
    let r = await chat({ model, stream: true, messages: user }, rid(`${tag}-plain`));
    assert.equal(r.status, 200, r.text);
    const plain = sseData(r.text);
    assert.ok(plain.done, r.text);
    for (const o of plain.objs) {
      assert.ok(!('usage' in o), `no usage member without include_usage: ${JSON.stringify(o)}`);
      assert.ok(o.choices.length > 0, 'no usage-only chunk');
    }
    r = await chat({ model, stream: true, stream_options: { include_usage: true }, messages: user }, rid(`${tag}-asked`));
    const asked = sseData(r.text).objs;
    const last = asked.at(-1);
    assert.deepEqual(last.choices, []);
    assert.ok(last.usage.prompt_tokens > 0);
    // the same chunks apart from the usage
    const norm = ({ usage, ...o }) => ({ ...o, id: 0, created: 0 });
    assert.deepEqual(asked.slice(0, -1).map(norm), plain.objs.map(norm));
    rowsWanted.push(`${tag}-plain`, `${tag}-asked`);
  }
});

test('/v1/messages to an openai deployment: events unchanged, provider usage', T, async () => {
  await mock.reset();
  const r = await messages({ model: 'echo', max_tokens: 50, stream: true, messages: user }, rid('msg'));
  assert.equal(r.status, 200, r.text);
  const evs = r.text.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)));
  assert.deepEqual(evs.map((e) => e.type), [
    'message_start', 'content_block_start',
    ...Array(8).fill('content_block_delta'),
    'content_block_stop', 'message_delta', 'message_stop',
  ]);
  assert.deepEqual(evs.find((e) => e.type === 'message_delta').usage, {
    input_tokens: 17, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 8,
  });
  assert.deepEqual((await upstreamBody()).stream_options, { include_usage: true });
  rowsWanted.push('msg');
});

test('requests rejected before routing get a row each; other paths do not', T, async () => {
  const cases = [
    ['bad-json', () => chat('{"model":"echo","messages":[', rid('bad-json')), 400, 'invalid_request_error', /could not parse the JSON/, null],
    ['empty', () => chat('', rid('empty')), 400, 'invalid_request_error', /body is empty/, null],
    ['no-model', () => chat({ messages: user }, rid('no-model')), 400, 'invalid_request_error', /provide a model/, null],
    ['model-type', () => chat({ model: 7, messages: user }, rid('model-type')), 400, 'invalid_request_error', /'model' must be/, null],
    ['unknown', () => chat({ model: 'nope', messages: user }, rid('unknown')), 404, 'invalid_request_error', /model 'nope' does not exist/, 'nope'],
    ['no-messages', () => chat({ model: 'echo' }, rid('no-messages')), 400, 'invalid_request_error', /messages/, 'echo'],
    ['bad-stream', () => chat({ model: 'echo', messages: user, stream: 'yes' }, rid('bad-stream')), 400, 'invalid_request_error', /'stream' must be a boolean/, 'echo'],
    ['too-large', () => chat({ model: 'echo', messages: [{ role: 'user', content: 'x'.repeat(5000) }] }, rid('too-large')), 413, 'invalid_request_error', /larger than the configured limit/, null],
    ['msg-bad-json', () => messages('{', rid('msg-bad-json')), 400, 'invalid_request_error', /could not parse/, null],
    ['msg-unknown', () => messages({ model: 'nope2', max_tokens: 5, messages: user }, rid('msg-unknown')), 404, 'invalid_request_error', /nope2/, 'nope2'],
    ['msg-no-messages', () => messages({ model: 'echo', max_tokens: 5 }, rid('msg-no-messages')), 400, 'invalid_request_error', /messages/, 'echo'],
    ['unsupported', () => chat({ model: 'an-reject', messages: user, audio: { voice: 'alloy', format: 'wav' } }, rid('unsupported')), 400, 'invalid_request_error', /audio/, 'an-reject'],
  ];
  for (const [name, send, status] of cases) {
    const r = await send();
    assert.equal(r.status, status, `${name}: ${r.text}`);
  }
  // not inference endpoints: no rows
  assert.equal((await curl(`${gw.origin}/v1/nothing`, { body: '{}', headers: { 'x-request-id': rid('404') } })).status, 404);
  assert.equal((await curl(`${gw.origin}/metrics`, { headers: { 'x-request-id': rid('metrics') } })).status, 200);
  assert.equal((await curl(`${gw.origin}/v1/chat/completions`, { method: 'GET', headers: { 'x-request-id': rid('get') } })).status, 405);
  await gw.stop();

  const all = query(dataDir, 'SELECT * FROM inference_log ORDER BY seq');
  const by = (s) => {
    const found = all.filter((r) => r.request_id === rid(s));
    assert.equal(found.length, 1, `one row for ${s}: ${JSON.stringify(all.map((r) => r.request_id))}`);
    return found[0];
  };
  for (const s of ['404', 'metrics', 'get']) assert.equal(all.filter((r) => r.request_id === rid(s)).length, 0, s);

  for (const [name, , status, type, msg, model] of cases) {
    const row = by(name);
    assert.equal(row.status, 'error', name);
    assert.equal(row.http_status, status, name);
    assert.equal(row.error_type, type, name);
    assert.match(row.error_message, msg, name);
    assert.equal(row.model, model, `${name}: model as the client named it`);
    if (name !== 'unsupported') {
      assert.equal(row.provider, null, name);
      assert.equal(row.deployment, null, name);
    }
    assert.ok(row.latency_us >= 0 && row.overhead_us >= 0, name);
    assert.equal(row.input_tokens, null, name);
    assert.equal(row.cost_nanousd, null, name);
  }
  assert.equal(by('bad-json').request_body, '{"model":"echo","messages":[');
  assert.equal(by('too-large').request_body, '', 'refused on its content-length: no body read');
  assert.equal(by('too-large').request_size, 0);

  // ---- the usage rows of the tests above ----
  const usage = (s) => {
    const r = by(s);
    assert.equal(r.status, 'ok', s);
    return [r.input_tokens, r.output_tokens, r.usage_source, r.cost_nanousd];
  };
  const echo = [ECHO_USAGE.prompt_tokens, ECHO_USAGE.completion_tokens];
  assert.deepEqual(usage('inject'), [...echo, 'provider', cost('up-echo', ...echo)]);
  assert.deepEqual(usage('asked'), [...echo, 'provider', cost('up-echo', ...echo)]);
  assert.deepEqual(usage('msg'), [...echo, 'provider', cost('up-echo', ...echo)]);
  assert.equal(usage('noso')[2], 'estimated');
  assert.equal(usage('ignored')[2], 'estimated');
  const au = ANTHROPIC_USAGE.text;
  const anIn = au.input_tokens + au.cache_read_input_tokens + au.cache_creation_input_tokens;
  for (const s of ['an-plain', 'an-asked']) assert.deepEqual(usage(s), [anIn, au.output_tokens, 'provider', cost('claude-text', anIn, au.output_tokens)], s);
  const gu = GEMINI_USAGE.text;
  for (const s of ['ge-plain', 'ge-asked']) {
    assert.deepEqual(usage(s), [gu.promptTokenCount, gu.candidatesTokenCount, 'provider', cost('gemini-text', gu.promptTokenCount, gu.candidatesTokenCount)], s);
  }
  for (const s of rowsWanted) by(s);
});

// ---- kill -9 under load -------------------------------------------------------------------

// 8 clients send requests back to back for `ms`, then the gateway is killed mid-load. Returns
// the completed requests (whole response received) with their completion times.
async function loadThenKill(g, ms) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const done = [];
  let n = 0;
  let stop = false;
  const one = (i) =>
    new Promise((resolve) => {
      const id = `crash-${process.pid}-${i}`;
      const body = JSON.stringify({ model: 'm', stream: i % 2 === 0, messages: [{ role: 'user', content: `n${i}` }] });
      const req = http.request(`${g.origin}/v1/chat/completions`, {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'x-request-id': id },
      });
      req.on('response', (res) => {
        res.on('data', () => {});
        res.on('end', () => {
          if (res.statusCode === 200 && res.complete) done.push({ id, t: now() });
          resolve();
        });
        res.on('error', () => resolve());
      });
      req.on('error', () => resolve());
      req.end(body);
    });
  const client = async () => {
    while (!stop) await one(n++);
  };
  const clients = Array.from({ length: 8 }, client);
  await sleep(ms);
  const tKill = now();
  g.signal('SIGKILL');
  stop = true;
  await g.exited();
  await Promise.all(clients);
  agent.destroy();
  return { done, tKill, sent: n };
}

for (const fsync of ['always', 'everysec']) {
  test(`kill -9 under load, fsync ${fsync}: completed requests are in the store exactly once`, T, async () => {
    const dir = tmpFile(`crash-${fsync}`);
    const config = (port) => `server:\n  listen: 127.0.0.1:${port}\n  workers: 2\ndata_dir: ${dir}\nlog:\n  fsync: ${fsync}\n  batch_ms: 5000\nmodels:\n  - name: m\n    provider: mock\n    mock: {latency_ms: 0, chunks: 2, chunk_delay_ms: 0}\n`;
    let port = await freePort();
    let g = await startGateway({ config: config(port), port });
    const { done, tKill, sent } = await loadThenKill(g, 3000);
    assert.ok(done.length > 100, `only ${done.length} of ${sent} requests completed`);
    port = await freePort();
    g = await startGateway({ config: config(port), port }); // replays the spool into the store
    await g.stop();
    const rows = query(dir, `SELECT request_id, count(*) AS n FROM inference_log GROUP BY request_id`);
    const count = new Map(rows.map((r) => [r.request_id, r.n]));
    const must = fsync === 'always' ? done : done.filter((d) => d.t < tKill - 1000);
    const missing = must.filter((d) => count.get(d.id) !== 1);
    assert.equal(missing.length, 0,
      `${missing.length} of ${must.length} completed requests not in the store exactly once (${done.length} completed, ${rows.length} rows): ${missing.slice(0, 5).map((d) => `${d.id}=${count.get(d.id)} at kill-${(tKill - d.t).toFixed(1)}ms`).join(', ')}`);
    for (const r of rows) assert.equal(r.n, 1, `duplicate rows for ${r.request_id}`);
    const dup = query(dir, 'SELECT id FROM inference_log GROUP BY id HAVING count(*) > 1');
    assert.deepEqual(dup, []);
    console.log(`# fsync ${fsync}: ${sent} sent, ${done.length} completed, ${rows.length} rows after restart`);
  });
}
