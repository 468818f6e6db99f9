// Chat generation (issue 6): POST …/generate streams an answer produced through the gateway's
// own path (gate as the user, limits, routing, inference log), owned by the server: watchers
// may leave or re-attach from another connection (2 workers: another loop thread), the stop
// button cancels the upstream call, a restart turns a left-over streaming row into an error.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import crypto from 'node:crypto';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { authConfigHead, apiCall, sessionLogin, startGateway, freePort, tmpFile, sseRequest, textOf, doneOf, newConv, getConv, finalMsg } from './lib.mjs';

const T = { timeout: 60000 };
const ADMIN_KEY = `sy-${crypto.randomBytes(32).toString('base64url')}`;
const ADMIN_PW = `pw-${crypto.randomBytes(12).toString('hex')}`;
const pw = () => `p-${crypto.randomBytes(8).toString('hex')}`;
const PW = { alice: pw(), bob: pw(), vera: pw(), lim: pw() };

// (a limit in the file turns the limits phase on; sessions have no key, so it never applies)
// m: fast (4 chunks, 30 ms apart); slow: 20 chunks 100 ms apart (about 2 s)
const config = (port, dataDir, grace = 5000) => `${authConfigHead({ port, dataDir })}models:
  - name: m
    provider: mock
    mock: {latency_ms: 0, chunks: 4, chunk_delay_ms: 30}
  - name: slow
    provider: mock
    mock: {latency_ms: 0, chunks: 20, chunk_delay_ms: 100}
  - name: slower
    provider: mock
    mock: {latency_ms: 0, chunks: 40, chunk_delay_ms: 100}
  - name: lazy
    provider: mock
    mock: {latency_ms: 1000, chunks: 2, chunk_delay_ms: 0}
  - name: sleepy
    provider: mock
    mock: {latency_ms: 4500, chunks: 1, chunk_delay_ms: 0}
  - name: locked
    provider: mock
    mock: {latency_ms: 0, chunks: 2, chunk_delay_ms: 0}
    ui:
      hide: [seed, top_p, system]
      lock: {temperature: 1, max_tokens: 50, system: "be exact"}
limits:
  shutdown_grace_ms: ${grace}
  sse_keepalive_ms: 250
  defaults:
    key: "1000/minute"
prices:
  - model: m
    input: 1.5
    output: 2
`;

let gw, port, dataDir;
const call = (method, p, opts = {}) => apiCall(gw.origin, method, p, opts);

const login = (email, password) => sessionLogin(gw.origin, email, password);

const sse = (...args) => sseRequest(port, ...args);

// The inference-log row (written by the log pipeline shortly after the call).
async function logRow(id) {
  for (let i = 0; i < 100; i++) {
    const r = await call('GET', `/api/v1/logs/${id}`, { key: ADMIN_KEY });
    if (r.status === 200) return r.json;
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.fail(`log row ${id} never appeared`);
}

let alice, bob, vera, lim;

// SQL on the gateway's SQLite file while it runs (WAL; waits for its writer)
function sqlite(sql) {
  const r = spawnSync('sqlite3', ['-cmd', '.timeout 10000', path.join(dataDir, 'switchyard.db'), sql], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

function assertJsonError(r, status, param, code) {
  assert.equal(r.status, status, r.text);
  assert.match(r.headers.get('content-type'), /^application\/json/);
  assert.deepEqual(Object.keys(r.json), ['error']);
  if (param !== undefined) assert.equal(r.json.error.param, param, r.text);
  if (code !== undefined) assert.equal(r.json.error.code, code, r.text);
}

describe('chat generation', () => {
  before(async () => {
    dataDir = tmpFile('gen-data');
    fs.mkdirSync(dataDir);
    port = await freePort();
    gw = await startGateway({ port, config: config(port, dataDir), env: { SWITCHYARD_ADMIN_PASSWORD: ADMIN_PW, SWITCHYARD_ADMIN_KEY: ADMIN_KEY } });
    for (const [name, role, limits] of [['alice', 'member'], ['bob', 'member'], ['vera', 'viewer'], ['lim', 'member', ['1/minute']]]) {
      const r = await call('POST', '/api/v1/users', { key: ADMIN_KEY, body: { email: `${name}@example.com`, role, password: PW[name], ...(limits ? { limits } : {}) } });
      assert.equal(r.status, 201, r.text);
    }
    alice = await login('alice@example.com', PW.alice);
    bob = await login('bob@example.com', PW.bob);
    vera = await login('vera@example.com', PW.vera);
    lim = await login('lim@example.com', PW.lim);
  });
  after(async () => {
    if (gw) await gw.stop();
  });

  test('generate streams deltas, stores the answer with metrics, log_id, request_id; the log row matches', T, async () => {
    const conv = await newConv(alice);
    const r = await sse('POST', `/api/v1/conversations/${conv}/generate`, alice, {
      parent_id: null, content: 'hello there, generation', model: 'm', params: { temperature: 0.5, seed: 7 }, system: 'be brief',
    });
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers['content-type'], /^text\/event-stream/);
    assert.equal(r.events[0].event, 'start');
    const { user_message: um, assistant_message: am } = r.events[0].json;
    assert.equal(um.role, 'user');
    assert.equal(um.content, 'hello there, generation');
    assert.equal(um.parent_id, null);
    assert.equal(am.role, 'assistant');
    assert.equal(am.status, 'streaming');
    assert.equal(am.parent_id, um.id);
    assert.equal(am.content, '');
    const deltas = r.events.filter((e) => e.event === 'delta');
    assert.ok(deltas.length >= 2, `several delta events: ${deltas.length}`);
    const text = textOf(r.events);
    assert.equal(text, 'You said: hello there, generation');
    const done = doneOf(r.events);
    assert.equal(r.events[r.events.length - 1].event, 'done');
    assert.equal(done.id, am.id);
    assert.equal(done.status, 'ok');
    assert.equal(done.content, text);
    assert.equal(done.error, null);
    assert.equal(done.schema_errors, null);
    assert.match(done.log_id, /^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    assert.match(done.request_id, /^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    const mt = done.metrics;
    assert.ok(mt.ttft_ms > 0 && mt.latency_ms >= mt.ttft_ms, JSON.stringify(mt));
    assert.ok(mt.latency_ms >= 80, `4 chunks 30 ms apart: ${mt.latency_ms}`);
    assert.ok(mt.input_tokens > 0 && mt.output_tokens > 0, JSON.stringify(mt));
    assert.ok(mt.tokens_per_s > 0);
    assert.ok(Math.abs(mt.tokens_per_s - mt.output_tokens / ((mt.latency_ms - mt.ttft_ms) / 1000)) < 0.01);
    assert.equal(mt.cost_usd, (mt.input_tokens * 1.5 + mt.output_tokens * 2) / 1e6);
    // stored the same way
    const stored = await finalMsg(alice, conv, am.id);
    assert.deepEqual(stored, done);
    const c = await getConv(alice, conv);
    assert.equal(c.current_leaf, am.id);
    assert.equal(c.title, 'hello there, generation');
    // the inference-log row of the call: same ids, tokens and cost
    const row = await logRow(done.log_id);
    assert.equal(row.id, done.log_id);
    assert.equal(row.request_id, done.request_id);
    assert.equal(row.conversation_id, conv);
    assert.equal(row.message_id, am.id);
    assert.equal(row.user_id, alice.userId);
    assert.equal(row.status, 'ok');
    assert.equal(row.model, 'm');
    assert.equal(row.input_tokens, mt.input_tokens);
    assert.equal(row.output_tokens, mt.output_tokens);
    assert.equal(row.cost_usd, mt.cost_usd);
    // the request the gateway saw: system, then the user message; params passed
    const sent = typeof row.request_body === 'string' ? JSON.parse(row.request_body) : row.request_body;
    assert.deepEqual(sent.messages, [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hello there, generation' }]);
    assert.equal(sent.temperature, 0.5);
    assert.equal(sent.seed, 7);
    assert.equal(sent.stream, true);

    // a follow-up carries the branch; regenerate (no content) adds a sibling answer
    const r2 = await sse('POST', `/api/v1/conversations/${conv}/generate`, alice, { parent_id: done.id, content: 'second', model: 'm', context: 'the docs' });
    const d2 = doneOf(r2.events);
    assert.equal(d2.status, 'ok');
    const row2 = await logRow(d2.log_id);
    const sent2 = typeof row2.request_body === 'string' ? JSON.parse(row2.request_body) : row2.request_body;
    assert.deepEqual(sent2.messages, [
      { role: 'system', content: 'Context:\nthe docs' },
      { role: 'user', content: 'hello there, generation' },
      { role: 'assistant', content: 'You said: hello there, generation' },
      { role: 'user', content: 'second' },
    ]);
    const r3 = await sse('POST', `/api/v1/conversations/${conv}/generate`, alice, { parent_id: um.id, model: 'm' });
    assert.equal(r3.events[0].json.user_message, null);
    const d3 = doneOf(r3.events);
    assert.equal(d3.parent_id, um.id);
    assert.notEqual(d3.id, am.id);
    assert.equal(d3.content, 'You said: hello there, generation');
    const msgs = (await getConv(alice, conv)).messages;
    assert.deepEqual(msgs.filter((m) => m.parent_id === um.id).map((m) => m.id).sort(), [am.id, d3.id].sort());
  });

  test('cancel mid-stream: the upstream call stops, the prefix is stored cancelled, the log row is cancelled', T, async () => {
    const conv = await newConv(alice);
    const content = 'please write a long answer '.repeat(3).trim();
    const full = `You said: ${content}`;
    let mid, cancelled;
    const r = await sse('POST', `/api/v1/conversations/${conv}/generate`, alice, { content, model: 'slow' }, {
      onEvent: (ev) => {
        if (ev.event === 'start') mid = ev.json.assistant_message.id;
        if (ev.event === 'delta' && !cancelled && textOf([ev]).length) {
          cancelled = alice.call('POST', `/api/v1/conversations/${conv}/messages/${mid}/cancel`);
        }
      },
    });
    const c = await cancelled;
    assert.equal(c.status, 200, c.text);
    assert.equal(c.json.message.id, mid);
    assert.equal(c.json.message.status, 'cancelled');
    const part = c.json.message.content;
    assert.ok(part.length > 0 && part.length < full.length, `a proper prefix: ${part}`);
    assert.ok(full.startsWith(part), part);
    const done = doneOf(r.events);
    assert.equal(done.status, 'cancelled');
    assert.equal(done.content, part);
    assert.equal(textOf(r.events), part);
    assert.deepEqual(await finalMsg(alice, conv, mid), done);
    const row = await logRow(done.log_id);
    assert.equal(row.status, 'cancelled');
    assert.equal(row.message_id, mid);
    // cancelling a finished answer: 409; an unknown one: 404
    const again = await alice.call('POST', `/api/v1/conversations/${conv}/messages/${mid}/cancel`);
    assert.equal(again.status, 409, again.text);
    assert.ok(again.json.error.message);
    const unknown = await alice.call('POST', `/api/v1/conversations/${conv}/messages/nope-${crypto.randomUUID()}/cancel`);
    assert.equal(unknown.status, 404, unknown.text);
  });

  test('the client leaves mid-stream: the answer completes and is stored; re-attach gets all text', T, async () => {
    const conv = await newConv(alice);
    const content = 'keep going without me';
    const full = `You said: ${content}`;
    let mid;
    const r = await sse('POST', `/api/v1/conversations/${conv}/generate`, alice, { content, model: 'slow' }, {
      onEvent: (ev) => {
        if (ev.event === 'start') mid = ev.json.assistant_message.id;
      },
      abortAfter: (ev) => ev.event === 'delta' && textOf([ev]).length > 0,
    });
    assert.ok(r.aborted);
    // re-attach on other connections (one of them lands on the other worker) mid-stream
    const watchers = await Promise.all([1, 2, 3].map(() => sse('GET', `/api/v1/conversations/${conv}/messages/${mid}/stream`, alice)));
    let sawLive = false;
    for (const w of watchers) {
      assert.equal(w.status, 200);
      assert.equal(w.events[0].event, 'start');
      assert.equal(w.events[0].json.user_message, null);
      assert.equal(w.events[0].json.assistant_message.id, mid);
      assert.equal(textOf(w.events), full);
      const d = doneOf(w.events);
      assert.equal(d.status, 'ok');
      assert.equal(d.content, full);
      if (w.events.filter((e) => e.event === 'delta').length > 1) sawLive = true;
      // live metrics while it streams (at most ~4/s): ttft known, latency growing
      const ms = w.events.filter((e) => e.event === 'metrics').map((e) => e.json);
      for (const m of ms) assert.ok(m.ttft_ms > 0 && m.latency_ms >= m.ttft_ms, JSON.stringify(m));
      if (ms.length > 1) assert.ok(ms[ms.length - 1].latency_ms > ms[0].latency_ms);
      const times = w.events.filter((e) => e.event === 'metrics').map((e) => e.at);
      assert.ok(times.length <= 2 + (times[times.length - 1] - times[0]) / 200, `metrics at most ~4/s: ${times.length}`);
    }
    assert.ok(sawLive, 're-attached watchers got live deltas after the text so far');
    assert.ok(watchers.some((w) => w.events.some((e) => e.event === 'metrics')), 'metrics events while streaming');
    const stored = await finalMsg(alice, conv, mid);
    assert.equal(stored.status, 'ok');
    assert.equal(stored.content, full);
    const row = await logRow(stored.log_id);
    assert.equal(row.status, 'ok');
    // a finished answer: start then done at once
    const late = await sse('GET', `/api/v1/conversations/${conv}/messages/${mid}/stream`, alice);
    assert.deepEqual(late.events.map((e) => e.event), ['start', 'done']);
    assert.deepEqual(doneOf(late.events), stored);
  });

  test('a silent upstream: watchers get keep-alive comments until the text comes', T, async () => {
    const conv = await newConv(alice);
    const r = await sse('POST', `/api/v1/conversations/${conv}/generate`, alice, { content: 'take your time', model: 'lazy' });
    const first = r.events.findIndex((e) => e.event === 'delta');
    const kas = r.events.slice(0, first).filter((e) => e.comment === ': keep-alive');
    assert.ok(kas.length >= 2, `keep-alives during the 1 s wait: ${kas.length}`);
    assert.equal(textOf(r.events), 'You said: take your time');
    assert.equal(doneOf(r.events).status, 'ok');
    assert.ok(doneOf(r.events).metrics.ttft_ms >= 1000);
  });

  test('a 100 KiB message of control characters (600 KiB escaped) round-trips in the events', T, async () => {
    const conv = await newConv(alice);
    const content = '\u0001\u001f'.repeat(50 * 1024);
    const r = await sse('POST', `/api/v1/conversations/${conv}/generate`, alice, { content, model: 'm' });
    assert.equal(r.status, 200);
    assert.equal(r.events[0].event, 'start');
    assert.equal(r.events[0].json.user_message.content, content); // parsed: not cut
    const d = doneOf(r.events);
    assert.equal(d.status, 'ok', d.error);
    assert.ok(d.content.startsWith('You said: \u0001\u001f'));
  });

  test('ownership 404, viewer 403, CSRF, bad bodies 400', T, async () => {
    const conv = await newConv(alice);
    const r = await sse('POST', `/api/v1/conversations/${conv}/generate`, alice, { content: 'mine', model: 'm' });
    const mid = doneOf(r.events).id;
    const b1 = await bob.call('POST', `/api/v1/conversations/${conv}/generate`, { body: { content: 'x', model: 'm' } });
    assert.equal(b1.status, 404, b1.text);
    const b2 = await bob.call('GET', `/api/v1/conversations/${conv}/messages/${mid}/stream`);
    assert.equal(b2.status, 404, b2.text);
    const b3 = await bob.call('POST', `/api/v1/conversations/${conv}/messages/${mid}/cancel`);
    assert.equal(b3.status, 404, b3.text);
    const vc = await vera.call('POST', '/api/v1/conversations', { body: {} });
    assert.equal(vc.status, 403);
    const v1 = await vera.call('POST', `/api/v1/conversations/${conv}/generate`, { body: { content: 'x', model: 'm' } });
    assert.equal(v1.status, 403, v1.text); // viewers change nothing (checked before ownership)
    const v2 = await vera.call('POST', `/api/v1/conversations/${conv}/messages/${mid}/cancel`);
    assert.equal(v2.status, 403, v2.text);
    const noCsrf = await call('POST', `/api/v1/conversations/${conv}/generate`, { headers: { cookie: alice.session }, body: { content: 'x', model: 'm' } });
    assert.equal(noCsrf.status, 403, noCsrf.text);
    assert.match(noCsrf.json.error.message, /CSRF/);
    const bad = async (body, status, param) => {
      const x = await alice.call('POST', `/api/v1/conversations/${conv}/generate`, { body, raw: typeof body === 'string' });
      assert.equal(x.status, status, `${JSON.stringify(body)}: ${x.text}`);
      if (param !== undefined) assert.equal(x.json.error.param, param, x.text);
    };
    await bad('{not json', 400);
    await bad({ content: 'x' }, 400, 'model');
    await bad({ content: 'x', model: 'nope' }, 404, 'model');
    await bad({ content: 5, model: 'm' }, 400, 'content');
    await bad({ content: 'x', model: 'm', extra: 1 }, 400);
    await bad({ model: 'm' }, 400, 'parent_id');
    await bad({ content: 'x', model: 'm', params: { temperature: 'hot' } }, 400, 'params.temperature');
    await bad({ content: 'x', model: 'm', params: { logprobs: true } }, 400, 'params.logprobs');
    await bad({ content: 'x', model: 'm', response_format: { type: 'yaml' } }, 400, 'response_format.type');
    await bad({ content: 'x', model: 'm', response_format: { type: 'json_schema', json_schema: { name: 'a' } } }, 400, 'response_format.json_schema.schema');
    await bad({ content: 'x', model: 'm', parent_id: 'no-such-message' }, 400); // found out by the store job
    await bad({ model: 'm', parent_id: mid }, 400); // regenerate needs a user message as parent
    const st = await alice.call('GET', `/api/v1/conversations/${conv}/messages/bad id/stream`);
    assert.ok(st.status === 400 || st.status === 404, st.text);
    // a forged internal header is refused on /v1
    const forged = await call('POST', '/v1/chat/completions', { headers: { 'x-switchyard-internal': 'a'.repeat(64), 'x-switchyard-generation': mid }, body: { model: 'm', messages: [{ role: 'user', content: 'x' }] } });
    assert.equal(forged.status, 401, forged.text);
  });

  test('json_schema mode: the schema is compiled first (400), the reply validated (schema_errors)', T, async () => {
    const conv = await newConv(alice);
    const schema = { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'] };
    const rf = { type: 'json_schema', json_schema: { name: 'reply', schema, strict: true } };
    const badSchema = await alice.call('POST', `/api/v1/conversations/${conv}/generate`, {
      body: { content: 'x', model: 'm', response_format: { type: 'json_schema', json_schema: { name: 'r', schema: { type: 'objekt' } } } },
    });
    assert.equal(badSchema.status, 400, badSchema.text);
    assert.equal(badSchema.json.error.code, 'invalid_value');
    assert.equal(badSchema.json.error.param, 'response_format.json_schema.schema');
    // the mock answers "You said: …": not JSON, so one error at the document
    const r = await sse('POST', `/api/v1/conversations/${conv}/generate`, alice, { content: 'give me json', model: 'm', response_format: rf });
    const d = doneOf(r.events);
    assert.equal(d.status, 'ok');
    assert.equal(d.schema_errors.length, 1);
    assert.equal(d.schema_errors[0].path, '');
    assert.match(d.schema_errors[0].message, /^the reply is not JSON/);
    assert.deepEqual((await finalMsg(alice, conv, d.id)).schema_errors, d.schema_errors);
    const row = await logRow(d.log_id);
    const sent = typeof row.request_body === 'string' ? JSON.parse(row.request_body) : row.request_body;
    assert.deepEqual(sent.response_format, rf); // passed through, strict included
    // text mode: no validation
    const t = await sse('POST', `/api/v1/conversations/${conv}/generate`, alice, { parent_id: d.id, content: 'plain', model: 'm', response_format: { type: 'text' } });
    assert.equal(doneOf(t.events).schema_errors, null);
  });

  test('limits apply as the user: the second generate within the minute ends in done/error 429', T, async () => {
    const conv = await newConv(lim);
    const first = await sse('POST', `/api/v1/conversations/${conv}/generate`, lim, { content: 'one', model: 'm' });
    assert.equal(doneOf(first.events).status, 'ok');
    const second = await sse('POST', `/api/v1/conversations/${conv}/generate`, lim, { parent_id: doneOf(first.events).id, content: 'two', model: 'm' });
    assert.equal(second.status, 200);
    const d = doneOf(second.events);
    assert.equal(d.status, 'error');
    assert.match(d.error, /^HTTP 429: /);
    assert.match(d.error, /1 requests per minute for user:/);
    assert.equal(d.content, '');
    const row = await logRow(d.log_id);
    assert.equal(row.http_status, 429);
    assert.equal(row.user_id, lim.userId);
    assert.equal(row.message_id, d.id);
  });

  test("a model's ui block: locked values applied and enforced, hidden parameters refused", T, async () => {
    const conv = await newConv(alice);
    const gen = (body) => alice.call('POST', `/api/v1/conversations/${conv}/generate`, { body: { content: 'q', model: 'locked', ...body } });
    // another value for a locked parameter: 400 invalid_value naming it (numbers by value)
    let r = await gen({ params: { temperature: 0.5 } });
    assertJsonError(r, 400, 'params.temperature', 'invalid_value');
    assert.match(r.json.error.message, /locked to 1/);
    assertJsonError(await gen({ params: { max_tokens: 51 } }), 400, 'params.max_tokens', 'invalid_value');
    assertJsonError(await gen({ system: 'be vague' }), 400, 'system', 'invalid_value');
    // a hidden parameter: the model does not take it
    r = await gen({ params: { seed: 3 } });
    assertJsonError(r, 400, 'params.seed', 'unsupported_parameter');
    assert.match(r.json.error.message, /does not take 'params.seed'/);
    assertJsonError(await gen({ params: { top_p: 0.9 } }), 400, 'params.top_p', 'unsupported_parameter');
    // nothing was stored by the refusals
    assert.equal((await getConv(alice, conv)).messages.length, 0);
    // not sent: the locked values reach the upstream (the log row's request body) and the row
    const ok = await sse('POST', `/api/v1/conversations/${conv}/generate`, alice, { content: 'q', model: 'locked', context: 'ctx' });
    assert.equal(ok.status, 200, ok.text);
    const d = doneOf(ok.events);
    assert.equal(d.status, 'ok');
    assert.deepEqual(d.params, { max_tokens: 50, temperature: 1 });
    const row = await logRow(d.log_id);
    const sent = typeof row.request_body === 'string' ? JSON.parse(row.request_body) : row.request_body;
    assert.equal(sent.temperature, 1);
    assert.equal(sent.max_tokens, 50);
    assert.equal(sent.seed, undefined);
    assert.deepEqual(sent.messages, [{ role: 'system', content: 'be exact' }, { role: 'system', content: 'Context:\nctx' }, { role: 'user', content: 'q' }]);
    // the locked values themselves may be sent (1.0 for 1)
    const same = await sse('POST', `/api/v1/conversations/${conv}/generate`, alice, { parent_id: d.id, content: 'again', model: 'locked', params: { temperature: 1.0, max_tokens: 50 }, system: 'be exact' });
    assert.equal(doneOf(same.events).status, 'ok');
    // another model has no such rules
    const free = await sse('POST', `/api/v1/conversations/${conv}/generate`, alice, { content: 'q', model: 'm', params: { seed: 3, temperature: 0.2 } });
    assert.equal(doneOf(free.events).status, 'ok');
  });

  test("a user key's allowed models: 403 JSON before any row or SSE; unknown model 404; sessions take any model", T, async () => {
    const k = await alice.call('POST', '/api/v1/me/keys', { body: { name: 'only-m', models: ['m'] } });
    assert.equal(k.status, 201, k.text);
    const viaKey = { headers: () => ({ authorization: `Bearer ${k.json.key}` }) };
    const conv = await newConv(alice);
    const url = `/api/v1/conversations/${conv}/generate`;
    const no = await call('POST', url, { key: k.json.key, body: { content: 'q', model: 'slow' } });
    assertJsonError(no, 403, 'model', 'model_not_allowed');
    assert.match(no.json.error.message, /not allowed to use the model 'slow'/);
    assertJsonError(await call('POST', url, { key: k.json.key, body: { content: 'q', model: 'nope' } }), 404, 'model');
    // regenerate is checked the same way
    assert.equal((await getConv(alice, conv)).messages.length, 0);
    const ok = await sse('POST', url, viaKey, { content: 'q', model: 'm' });
    assert.equal(ok.status, 200, ok.text);
    const d = doneOf(ok.events);
    assert.equal(d.status, 'ok');
    assertJsonError(await call('POST', url, { key: k.json.key, body: { parent_id: d.parent_id, model: 'slow' } }), 403, 'model', 'model_not_allowed');
    assert.equal((await getConv(alice, conv)).messages.length, 2);
    // the same user's session is not bound by the key's list
    const s = await sse('POST', url, alice, { parent_id: d.parent_id, model: 'lazy' });
    assert.equal(s.status, 200, s.text);
    assert.equal(doneOf(s.events).status, 'ok');
    assertJsonError(await alice.call('POST', url, { body: { content: 'q', model: 'nope' } }), 404, 'model');
  });

  test('a silent model: the streaming row is still written every 2 s (other replicas see it alive)', T, async () => {
    const conv = await newConv(alice);
    let mid;
    const t0 = Date.now();
    let checked = false;
    const r = await sse('POST', `/api/v1/conversations/${conv}/generate`, alice, { content: 'think first', model: 'sleepy' }, {
      onEvent: (ev) => {
        if (ev.event === 'start') mid = ev.json.assistant_message.id;
        if (ev.comment && Date.now() - t0 > 3500 && !checked) {
          checked = true;
          const [created, updated, content] = sqlite(`SELECT created_us, updated_us, content FROM messages WHERE id = '${mid}'`).split('|');
          assert.equal(content, '');
          assert.ok(Number(updated) - Number(created) >= 1.5e6, `touched while silent: ${updated} - ${created}`);
        }
      },
    });
    assert.ok(checked, 'checked during the silence');
    assert.equal(doneOf(r.events).status, 'ok');
  });

  test('restart: an answer left streaming becomes error "interrupted"', T, async () => {
    const conv = await newConv(alice);
    const ins = await alice.call('POST', `/api/v1/conversations/${conv}/messages`, { body: { role: 'assistant', content: 'half an ans', status: 'streaming', model: 'm' } });
    assert.equal(ins.status, 201, ins.text);
    const mid = ins.json.id;
    // another replica's live answer: written just now (one process here, so it is a fake)
    const live = await alice.call('POST', `/api/v1/conversations/${conv}/messages`, { body: { role: 'assistant', content: 'elsewhere', status: 'streaming', model: 'm' } });
    const lid = live.json.id;
    // the first one has not been written for a minute: its process is gone
    sqlite(`UPDATE messages SET updated_us = updated_us - 60000000 WHERE id = '${mid}'`);
    // before the restart, a re-attach with no live generation shows the stale one as
    // interrupted, the fresh one as it is
    const w = await sse('GET', `/api/v1/conversations/${conv}/messages/${mid}/stream`, alice);
    assert.equal(doneOf(w.events).status, 'error');
    assert.equal(doneOf(w.events).error, 'interrupted: the server restarted');
    const wl = await sse('GET', `/api/v1/conversations/${conv}/messages/${lid}/stream`, alice);
    assert.equal(doneOf(wl.events).status, 'streaming');
    await gw.stop();
    gw = await startGateway({ port, config: config(port, dataDir), env: { SWITCHYARD_ADMIN_PASSWORD: ADMIN_PW, SWITCHYARD_ADMIN_KEY: ADMIN_KEY } });
    let msgs = (await getConv(alice, conv)).messages;
    const m = msgs.find((x) => x.id === mid);
    assert.equal(m.status, 'error');
    assert.equal(m.error, 'interrupted: the server restarted');
    assert.equal(m.content, 'half an ans');
    // the fresh one survives the restart (a live replica may still be writing it) ...
    assert.equal(msgs.find((x) => x.id === lid).status, 'streaming');
    // ... and once it stops being written, the periodic sweep (every 5 s) ends it
    sqlite(`UPDATE messages SET updated_us = updated_us - 60000000 WHERE id = '${lid}'`);
    const t0 = Date.now();
    let l;
    while (Date.now() - t0 < 12000) {
      l = (await getConv(alice, conv)).messages.find((x) => x.id === lid);
      if (l.status !== 'streaming') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(l.status, 'error');
    assert.equal(l.error, 'interrupted: the server restarted');
    assert.equal(l.content, 'elsewhere');
  });

  test('a crash mid-answer keeps the last checkpoint (every 2 s) as the interrupted text', T, async () => {
    const conv = await newConv(alice);
    const content = 'a long story that the crash interrupts';
    const full = `You said: ${content}`;
    let mid, t0, killed = false;
    const r = await sse('POST', `/api/v1/conversations/${conv}/generate`, alice, { content, model: 'slower' }, {
      onEvent: (ev) => {
        if (ev.event === 'start') (mid = ev.json.assistant_message.id), (t0 = Date.now());
        if (ev.event === 'delta' && !killed && Date.now() - t0 > 3000) {
          killed = true;
          gw.kill(); // SIGKILL: no drain, no final row
        }
      },
    });
    assert.ok(killed);
    const seen = textOf(r.events);
    await gw.exited();
    gw = await startGateway({ port, config: config(port, dataDir), env: { SWITCHYARD_ADMIN_PASSWORD: ADMIN_PW, SWITCHYARD_ADMIN_KEY: ADMIN_KEY } });
    alice = await login('alice@example.com', PW.alice);
    // written less than 15 s ago: not ended at start-up, but by the periodic sweep once stale
    let m = (await getConv(alice, conv)).messages.find((x) => x.id === mid);
    const tKill = Date.now();
    while (m.status === 'streaming' && Date.now() - tKill < 30000) {
      await new Promise((res) => setTimeout(res, 250));
      m = (await getConv(alice, conv)).messages.find((x) => x.id === mid);
    }
    assert.equal(m.status, 'error');
    assert.equal(m.error, 'interrupted: the server restarted');
    assert.ok(m.content.length > 0, 'a checkpoint was stored');
    assert.ok(full.startsWith(m.content) && seen.startsWith(m.content), `${m.content} / ${seen}`);
  });

  test('SIGTERM: a generation finishes within the grace period; past it, it is stored as an error', T, async () => {
    const restart = async (grace) => {
      gw = await startGateway({ port, config: config(port, dataDir, grace), env: { SWITCHYARD_ADMIN_PASSWORD: ADMIN_PW, SWITCHYARD_ADMIN_KEY: ADMIN_KEY } });
      alice = await login('alice@example.com', PW.alice);
    };
    // both the generation and the relay on the other end get the grace period
    const conv = await newConv(alice);
    // generates content on the slow model and sends SIGTERM once the first text arrived
    const generateThenTerm = async (content) => {
      let mid, signalled = false;
      const r = await sse('POST', `/api/v1/conversations/${conv}/generate`, alice, { content, model: 'slow' }, {
        onEvent: (ev) => {
          if (ev.event === 'start') mid = ev.json.assistant_message.id;
          if (ev.event === 'delta' && textOf([ev]).length && !signalled) {
            signalled = true;
            gw.signal('SIGTERM');
          }
        },
      });
      return { r, mid };
    };
    const { r, mid } = await generateThenTerm('finish before you go');
    assert.equal(doneOf(r.events).status, 'ok');
    assert.equal(doneOf(r.events).content, 'You said: finish before you go');
    const code = await gw.exited();
    assert.deepEqual(code, { code: 0, signal: null }, gw.stderr());
    await restart(300);
    assert.equal((await finalMsg(alice, conv, mid)).status, 'ok');
    // a 300 ms grace period cuts the 2 s answer: stored as an error with the text so far
    const { r: r2, mid: mid2 } = await generateThenTerm('too slow for the grace period');
    const d2 = r2.events.find((e) => e.event === 'done');
    if (d2) assert.equal(d2.json.message.status, 'error'); // the watcher may be cut first
    assert.deepEqual(await gw.exited(), { code: 0, signal: null }, gw.stderr());
    await restart(5000);
    const m2 = await finalMsg(alice, conv, mid2);
    assert.equal(m2.status, 'error');
    assert.equal(m2.error, 'interrupted: the server shut down');
    assert.ok(m2.content.length > 0 && 'You said: too slow for the grace period'.startsWith(m2.content), m2.content);
    assert.ok(m2.content.length < 'You said: too slow for the grace period'.length);
  });
});
