// Chat generation's bounds and its start window (issue 6 review): a user's live generations and
// an answer's SSE clients are capped (429 rate_limit_error, Retry-After: 1); a json_schema over
// 64 KiB is refused; a …/stream or …/cancel arriving after the rows are written but before the
// generation starts on its loop finds it (the gateway runs with
// SWITCHYARD_TEST_GENERATE_DELAY_MS, which holds the generate job in exactly that window); a
// cancel before the loopback call answered leaves no log_id naming a row that never comes.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import crypto from 'node:crypto';
import { authConfigHead, apiCall, sessionLogin, startGateway, freePort, tmpFile, sseRequest, sleep, textOf, doneOf, newConv, finalMsg } from './lib.mjs';

const T = { timeout: 60000 };
const ADMIN_KEY = `sy-${crypto.randomBytes(32).toString('base64url')}`;
const ADMIN_PW = `pw-${crypto.randomBytes(12).toString('hex')}`;
const PW = { alice: `p-${crypto.randomBytes(8).toString('hex')}`, bob: `p-${crypto.randomBytes(8).toString('hex')}` };
const DELAY_MS = 700;

const config = (port, dataDir) => `${authConfigHead({ port, dataDir })}limits:
  max_live_generations_per_user: 3
models:
  - name: m
    provider: mock
    mock: {latency_ms: 0, chunks: 4, chunk_delay_ms: 30}
  - name: slow
    provider: mock
    mock: {latency_ms: 0, chunks: 30, chunk_delay_ms: 100}
`;

let gw, port, alice, bob;
const call = (method, p, opts = {}) => apiCall(gw.origin, method, p, opts);
const sse = (...args) => sseRequest(port, ...args);
async function messages(who, conv) {
  const r = await who.call('GET', `/api/v1/conversations/${conv}`);
  assert.equal(r.status, 200, r.text);
  return r.json.messages;
}

// The assistant row of conv once the generate job wrote it (still streaming: the job then
// sleeps DELAY_MS before the generation starts).
async function streamingRow(who, conv) {
  for (let i = 0; i < 100; i++) {
    const m = (await messages(who, conv)).find((x) => x.role === 'assistant');
    if (m) return m;
    await sleep(10);
  }
  assert.fail('no assistant row');
}

// An SSE client that resolves `started` at its first event (or its end: a refusal), keeps the
// socket open until req.destroy(); `done`: the whole answer.
function attach(who, method, p, body) {
  let req, onStart;
  const started = new Promise((r) => (onStart = r));
  const done = sse(method, p, who, body, {
    onEvent: (ev, rq) => {
      req = rq;
      onStart({ event: ev });
    },
  });
  done.then((r) => onStart({ end: r }));
  return { started, done, close: () => req?.destroy() };
}

function assertTooMany(r, code) {
  assert.equal(r.status, 429, r.text);
  assert.equal(r.headers['retry-after'] ?? r.headers.get?.('retry-after'), '1');
  const j = JSON.parse(r.text);
  assert.equal(j.error.type, 'rate_limit_error');
  assert.equal(j.error.code, code);
  assert.ok(j.error.message.length > 10, j.error.message);
}

describe('chat generation bounds and start window', () => {
  before(async () => {
    const dataDir = tmpFile('gencap-data');
    fs.mkdirSync(dataDir);
    port = await freePort();
    gw = await startGateway({
      port,
      config: config(port, dataDir),
      env: { SWITCHYARD_ADMIN_PASSWORD: ADMIN_PW, SWITCHYARD_ADMIN_KEY: ADMIN_KEY, SWITCHYARD_TEST_GENERATE_DELAY_MS: String(DELAY_MS) },
    });
    for (const name of ['alice', 'bob']) {
      const r = await call('POST', '/api/v1/users', { key: ADMIN_KEY, body: { email: `${name}@example.com`, role: 'member', password: PW[name] } });
      assert.equal(r.status, 201, r.text);
    }
    alice = await sessionLogin(gw.origin, 'alice@example.com', PW.alice);
    bob = await sessionLogin(gw.origin, 'bob@example.com', PW.bob);
  });
  after(async () => {
    if (gw) await gw.stop();
  });

  test('re-attach before the generation started: the client attaches and gets the whole answer', T, async () => {
    const conv = await newConv(alice);
    const post = sse('POST', `/api/v1/conversations/${conv}/generate`, alice, { content: 'window re-attach', model: 'm' });
    const row = await streamingRow(alice, conv);
    assert.equal(row.status, 'streaming');
    const t0 = Date.now();
    const r = await sse('GET', `/api/v1/conversations/${conv}/messages/${row.id}/stream`, alice);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.events[0].event, 'start');
    assert.equal(r.events[0].json.assistant_message.id, row.id);
    const done = doneOf(r.events);
    assert.equal(done.status, 'ok');
    assert.equal(textOf(r.events), 'You said: window re-attach');
    assert.equal(done.content, 'You said: window re-attach');
    assert.ok(Date.now() - t0 >= 100, 'it waited for the generation, not the stored streaming row');
    const p = await post;
    assert.deepEqual(doneOf(p.events), done);
  });

  test('cancel before the generation started: stored cancelled, no call, no log_id', T, async () => {
    const conv = await newConv(alice);
    const post = sse('POST', `/api/v1/conversations/${conv}/generate`, alice, { content: 'window cancel', model: 'slow' });
    const row = await streamingRow(alice, conv);
    const c = await alice.call('POST', `/api/v1/conversations/${conv}/messages/${row.id}/cancel`);
    assert.equal(c.status, 200, c.text);
    assert.equal(c.json.message.id, row.id);
    assert.equal(c.json.message.status, 'cancelled');
    assert.equal(c.json.message.content, '');
    assert.equal(c.json.message.log_id, null);
    const p = await post;
    assert.equal(p.status, 200);
    assert.equal(p.events[0].event, 'start');
    const done = doneOf(p.events);
    assert.equal(done.status, 'cancelled');
    assert.equal(done.log_id, null);
    assert.equal(textOf(p.events), '');
    assert.deepEqual(await finalMsg(alice, conv, row.id), done);
    // no inference-log row names this message
    await sleep(300);
    const logs = await call('GET', `/api/v1/logs?limit=200`, { key: ADMIN_KEY });
    assert.equal(logs.status, 200, logs.text);
    const rows = logs.json.data;
    assert.ok(Array.isArray(rows), logs.text.slice(0, 200));
    assert.equal(rows.filter((x) => x.message_id === row.id).length, 0);
  });

  test('cancel right after start: log_id is null or names a row that exists', T, async () => {
    for (let i = 0; i < 3; i++) {
      const conv = await newConv(alice);
      let cancelled;
      const p = await sse('POST', `/api/v1/conversations/${conv}/generate`, alice, { content: `quick cancel ${i}`, model: 'slow' }, {
        onEvent: (ev) => {
          if (ev.event === 'start' && !cancelled) cancelled = alice.call('POST', `/api/v1/conversations/${conv}/messages/${ev.json.assistant_message.id}/cancel`);
        },
      });
      const c = await cancelled;
      assert.equal(c.status, 200, c.text);
      const done = doneOf(p.events);
      assert.equal(done.status, 'cancelled');
      if (done.log_id !== null) {
        let found;
        for (let k = 0; k < 60 && !found; k++) {
          const r = await call('GET', `/api/v1/logs/${done.log_id}`, { key: ADMIN_KEY });
          if (r.status === 200) found = r.json;
          else await sleep(50);
        }
        assert.ok(found, `log row ${done.log_id} never appeared`);
        assert.equal(found.message_id, done.id);
      }
    }
  });

  test('a user has at most limits.max_live_generations_per_user (3) live generations: the 4th is a 429 and writes nothing', T, async () => {
    const convs = await Promise.all([1, 2, 3, 4].map(() => newConv(alice)));
    const live = convs.slice(0, 3).map((conv) => attach(alice, 'POST', `/api/v1/conversations/${conv}/generate`, { content: 'long', model: 'slow' }));
    const starts = await Promise.all(live.map((g) => g.started));
    for (const s of starts) assert.equal(s.event?.event, 'start', JSON.stringify(s));
    // even with every client gone, the generations are live (server-owned)
    for (const g of live) g.close();
    const fourth = await sse('POST', `/api/v1/conversations/${convs[3]}/generate`, alice, { content: 'one more', model: 'm' });
    assertTooMany(fourth, 'too_many_generations');
    assert.match(JSON.parse(fourth.text).error.message, /you have 3 answers being generated/);
    assert.deepEqual(await messages(alice, convs[3]), []);
    // another user is not affected
    const other = await sse('POST', `/api/v1/conversations/${await newConv(bob)}/generate`, bob, { content: 'bob', model: 'm' });
    assert.equal(doneOf(other.events).status, 'ok');
    // stopping one frees a place
    const mid = starts[0].event.json.assistant_message.id;
    const c = await alice.call('POST', `/api/v1/conversations/${convs[0]}/messages/${mid}/cancel`);
    assert.equal(c.status, 200, c.text);
    const again = await sse('POST', `/api/v1/conversations/${convs[3]}/generate`, alice, { content: 'one more', model: 'm' });
    assert.equal(doneOf(again.events).status, 'ok');
    for (const [i, s] of starts.slice(1).entries()) { // the rest: stopped, or finished by now
      const id = s.event.json.assistant_message.id;
      const r = await alice.call('POST', `/api/v1/conversations/${convs[i + 1]}/messages/${id}/cancel`);
      assert.ok([200, 409].includes(r.status), r.text);
    }
  });

  test('an answer has at most 16 SSE clients: the 17th re-attach is a 429; a place frees when one leaves', T, async () => {
    const conv = await newConv(alice);
    const post = attach(alice, 'POST', `/api/v1/conversations/${conv}/generate`, { content: 'watched', model: 'slow' });
    const s = await post.started;
    const mid = s.event.json.assistant_message.id;
    const path = `/api/v1/conversations/${conv}/messages/${mid}/stream`;
    const watchers = [];
    for (let i = 0; i < 15; i++) watchers.push(attach(alice, 'GET', path));
    for (const w of watchers) assert.equal((await w.started).event?.event, 'start');
    const refused = await sse('GET', path, alice);
    assertTooMany(refused, 'too_many_watchers');
    watchers[0].close();
    let ok;
    for (let i = 0; i < 50 && !ok; i++) {
      const w = attach(alice, 'GET', path);
      const st = await w.started;
      if (st.event) ok = w;
      else {
        assertTooMany(st.end, 'too_many_watchers');
        await sleep(20);
      }
    }
    assert.ok(ok, 'a place freed once a client left');
    const c = await alice.call('POST', `/api/v1/conversations/${conv}/messages/${mid}/cancel`);
    assert.equal(c.status, 200, c.text);
    const d = await ok.done;
    assert.equal(doneOf(d.events).status, 'cancelled');
    for (const w of watchers.slice(1)) assert.equal(doneOf((await w.done).events).status, 'cancelled');
  });

  test('a json_schema over 64 KiB is refused before any row', T, async () => {
    const conv = await newConv(alice);
    const properties = {};
    for (let i = 0; i < 3000; i++) properties[`field_${i}`] = { type: 'string', maxLength: 10 };
    const schema = { type: 'object', properties };
    assert.ok(JSON.stringify(schema).length > 65536);
    const r = await alice.call('POST', `/api/v1/conversations/${conv}/generate`, {
      body: { content: 'x', model: 'm', response_format: { type: 'json_schema', json_schema: { name: 'big', schema } } },
    });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error.code, 'invalid_value');
    assert.equal(r.json.error.param, 'response_format.json_schema.schema');
    assert.match(r.json.error.message, /too large/);
    // a bad schema below the cap: compiled in the job, still a 400 before any row or SSE
    const bad = await alice.call('POST', `/api/v1/conversations/${conv}/generate`, {
      body: { content: 'x', model: 'm', response_format: { type: 'json_schema', json_schema: { name: 'r', schema: { type: 'object', patternProperties: { '(': {} } } } } },
    });
    assert.equal(bad.status, 400, bad.text);
    assert.match(bad.headers.get('content-type'), /^application\/json/);
    assert.equal(bad.json.error.code, 'invalid_value');
    assert.equal(bad.json.error.param, 'response_format.json_schema.schema');
    assert.deepEqual(await messages(alice, conv), []);
  });
});
