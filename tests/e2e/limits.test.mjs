// Limits end to end (issue 5, "Limits and budgets"), in-process backend: 429 + Retry-After +
// x-ratelimit-* headers (exact values) on /v1/chat/completions (streamed and not) and on
// /v1/messages (Anthropic's error format), tokens per minute reconciled with the real usage,
// budgets from mock usage x the price table (insufficient_quota), a request larger than a token
// limit, concurrency with a slow mock (exactly N in flight), per-key overrides through the
// admin API, and the /metrics counters. The three-replica Redis test is limits_redis.test.mjs.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { startGateway, freePort, tmpFile, sleep } from './lib.mjs';

const T = { timeout: 60000 };
const MSG = [{ role: 'user', content: 'hi' }];
const mock = (latency = 0) =>
  `    provider: mock\n    mock: {latency_ms: ${latency}, chunks: 2, chunk_delay_ms: 0, prompt_tokens: 100, completion_tokens: 100}\n`;

async function post(gw, p, body, headers = {}) {
  const res = await fetch(`${gw.origin}${p}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, headers: res.headers, text, json };
}

const RESET_RE = /^(1m0(\.\d+)?s|59(\.\d+)?s|1m1s)$/; // a minute window, bucket edge included

function assertReqHeaders(r, limit, remaining) {
  assert.equal(r.headers.get('x-ratelimit-limit-requests'), String(limit), r.text);
  assert.equal(r.headers.get('x-ratelimit-remaining-requests'), String(remaining), r.text);
  assert.match(r.headers.get('x-ratelimit-reset-requests'), RESET_RE);
  assert.equal(r.headers.get('x-ratelimit-limit-tokens'), null); // no token limit applied
}

function assertRetryAfter(r) {
  const ra = Number(r.headers.get('retry-after'));
  assert.ok(ra >= 59 && ra <= 61, `retry-after ${r.headers.get('retry-after')}`);
}

// The writer thread reconciles a finished request from its log row: give it a moment.
const settle = () => sleep(150);

describe('in-process limits, auth local', () => {
  let gw;
  before(async () => {
    const port = await freePort();
    gw = await startGateway({
      port,
      config: `server: {listen: 127.0.0.1:${port}, workers: 2}
log: {batch_ms: 50}
limits:
  default_max_tokens: 300
  per_model:
    key: {rl: ["3/minute"], rls: ["2/minute"], rla: ["2/minute"]}
  models:
    tpm: ["1000 tokens/minute"]
    budget: "$0.001/day"
    conc: ["2 concurrent"]
models:
  - name: rl
${mock()}  - name: rls
${mock()}  - name: rla
${mock()}  - name: tpm
${mock()}  - name: budget
${mock()}  - name: conc
${mock(600)}  - name: free
${mock()}prices:
  - model: budget
    input: 1
    output: 1
`,
    });
  });
  after(async () => {
    await gw?.stop();
  });

  test('requests per minute: exact headers, then 429 with Retry-After (non-streamed)', T, async () => {
    for (let i = 0; i < 3; i++) {
      const r = await post(gw, '/v1/chat/completions', { model: 'rl', messages: MSG });
      assert.equal(r.status, 200, r.text);
      assertReqHeaders(r, 3, 2 - i);
    }
    const r = await post(gw, '/v1/chat/completions', { model: 'rl', messages: MSG });
    assert.equal(r.status, 429, r.text);
    assertReqHeaders(r, 3, 0);
    assertRetryAfter(r);
    assert.equal(r.json.error.type, 'rate_limit_exceeded');
    assert.equal(r.json.error.code, 'rate_limit_exceeded');
    assert.match(r.json.error.message, /3 requests per minute for key:local\|model:rl/);
    // a model without limits carries no rate-limit headers
    const f = await post(gw, '/v1/chat/completions', { model: 'free', messages: MSG });
    assert.equal(f.status, 200);
    assert.equal(f.headers.get('x-ratelimit-limit-requests'), null);
  });

  test('streamed: the headers are in the response head; the 429 too', T, async () => {
    for (let i = 0; i < 2; i++) {
      const r = await post(gw, '/v1/chat/completions', { model: 'rls', messages: MSG, stream: true });
      assert.equal(r.status, 200, r.text);
      assert.match(r.headers.get('content-type'), /text\/event-stream/);
      assert.match(r.text, /data: \[DONE\]/);
      assertReqHeaders(r, 2, 1 - i);
    }
    const r = await post(gw, '/v1/chat/completions', { model: 'rls', messages: MSG, stream: true });
    assert.equal(r.status, 429);
    assertReqHeaders(r, 2, 0);
    assertRetryAfter(r);
    assert.equal(r.json.error.type, 'rate_limit_exceeded');
  });

  test('/v1/messages: Anthropic error format on 429', T, async () => {
    const body = { model: 'rla', max_tokens: 50, messages: MSG };
    for (let i = 0; i < 2; i++) {
      const r = await post(gw, '/v1/messages', body);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.type, 'message');
      assertReqHeaders(r, 2, 1 - i);
    }
    const r = await post(gw, '/v1/messages', body);
    assert.equal(r.status, 429);
    assertReqHeaders(r, 2, 0);
    assertRetryAfter(r);
    assert.equal(r.json.type, 'error');
    assert.equal(r.json.error.type, 'rate_limit_error');
    assert.match(r.json.error.message, /2 requests per minute/);
  });

  test('tokens per minute hold within one request estimate, reconciled with real usage', T, async () => {
    // each call uses 100 + 100 tokens (mock usage); the estimate is max_tokens 100 + body/4
    const body = { model: 'tpm', messages: MSG, max_tokens: 100 };
    const est = 100 + Math.floor(JSON.stringify(body).length / 4);
    let ok = 0;
    let first;
    for (let i = 0; i < 10; i++) {
      const r = await post(gw, '/v1/chat/completions', body);
      if (r.status === 200) {
        ok++;
        if (!first) first = r;
      } else {
        assert.equal(r.status, 429, r.text);
        assert.equal(r.json.error.type, 'rate_limit_exceeded');
        assert.equal(r.headers.get('x-ratelimit-limit-tokens'), '1000');
        // the real usage was charged: 5 x 200
        assert.equal(r.headers.get('x-ratelimit-remaining-tokens'), '0');
        break;
      }
      await settle();
    }
    assert.equal(ok, 5); // 200 * 4 + est <= 1000 < 200 * 5 + est
    assert.equal(first.headers.get('x-ratelimit-remaining-tokens'), String(1000 - est));
    // a request whose estimate alone exceeds the limit never passes
    const big = await post(gw, '/v1/chat/completions', { model: 'tpm', messages: MSG, max_tokens: 5000 });
    assert.equal(big.status, 429);
    assert.match(big.json.error.message, /request alone .* exceeds the token limit of 1000 tokens per minute/);
    assert.equal(big.headers.get('retry-after'), null);
  });

  test('budget: mock usage x price stops traffic at the cap (insufficient_quota)', T, async () => {
    // 200 tokens at $1 per million each way = $0.0002 per call; the cap is $0.001 a day
    let ok = 0;
    let last;
    for (let i = 0; i < 8; i++) {
      last = await post(gw, '/v1/chat/completions', { model: 'budget', messages: MSG });
      if (last.status !== 200) break;
      ok++;
      await settle();
    }
    assert.equal(ok, 5);
    assert.equal(last.status, 429, last.text);
    assert.equal(last.json.error.type, 'insufficient_quota');
    assert.equal(last.json.error.code, 'insufficient_quota');
    const ra = Number(last.headers.get('retry-after'));
    assert.ok(ra >= 1 && ra <= 86400, `retry-after ${ra}`); // the end of the UTC day
  });

  test('concurrency: exactly N in flight with a slow mock, released at the end', T, async () => {
    const rs = await Promise.all(
      Array.from({ length: 6 }, () => post(gw, '/v1/chat/completions', { model: 'conc', messages: MSG })),
    );
    const codes = rs.map((r) => r.status).sort();
    assert.deepEqual(codes, [200, 200, 429, 429, 429, 429]);
    const refused = rs.find((r) => r.status === 429);
    assert.equal(refused.headers.get('retry-after'), '1');
    assert.match(refused.json.error.message, /2 concurrent requests for model:conc/);
    // both slots are free again as soon as the responses ended (not after the log row)
    const again = await Promise.all([0, 1].map(() => post(gw, '/v1/chat/completions', { model: 'conc', messages: MSG })));
    assert.deepEqual(again.map((r) => r.status), [200, 200]);
    // streamed, aborted by the client: the slot comes back too
    const ac = new AbortController();
    const res = await fetch(`${gw.origin}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'conc', messages: MSG, stream: true }),
      signal: ac.signal,
    }).catch(() => null);
    ac.abort();
    await res?.body?.cancel().catch(() => {});
    await sleep(200);
    const after = await Promise.all([0, 1].map(() => post(gw, '/v1/chat/completions', { model: 'conc', messages: MSG })));
    assert.deepEqual(after.map((r) => r.status), [200, 200]);
  });

  test('/metrics counts admissions and denials by reason; promtool accepts it', T, async () => {
    const text = await (await fetch(`${gw.origin}/metrics`)).text();
    const val = (re) => Number((re.exec(text) ?? [])[1]);
    assert.ok(val(/^switchyard_limits_admitted_total (\d+)$/m) >= 20);
    assert.ok(val(/^switchyard_limits_denied_total\{reason="rate"\} (\d+)$/m) >= 7);
    assert.equal(val(/^switchyard_limits_denied_total\{reason="quota"\} (\d+)$/m), 1);
    assert.equal(val(/^switchyard_limits_denied_total\{reason="too_large"\} (\d+)$/m), 1);
    assert.equal(val(/^switchyard_limits_denied_total\{reason="unavailable"\} (\d+)$/m), 0);
    assert.equal(val(/^switchyard_limits_backend_failures_total\{mode="open"\} (\d+)$/m), 0);
    assert.ok(val(/^switchyard_limits_local_entries (\d+)$/m) >= 5);
    // every admitted request had its auth + limits time observed before its upstream call
    const pol = [...text.matchAll(/^switchyard_policy_duration_seconds_bucket\{le="([^"]+)"\} (\d+)$/gm)];
    const polCount = val(/^switchyard_policy_duration_seconds_count (\d+)$/m);
    assert.ok(pol.length > 10, 'the policy histogram has its buckets');
    assert.ok(polCount >= val(/^switchyard_limits_admitted_total (\d+)$/m), `policy count ${polCount}`);
    for (let i = 1; i < pol.length; i++) assert.ok(Number(pol[i][2]) >= Number(pol[i - 1][2]), 'cumulative');
    assert.equal(pol.at(-1)[1], '+Inf');
    assert.equal(Number(pol.at(-1)[2]), polCount);
    const polSum = Number((/^switchyard_policy_duration_seconds_sum (\S+)$/m.exec(text) ?? [])[1]);
    assert.ok(polSum > 0 && polSum / polCount < 0.05, `mean policy time ${polSum / polCount} s`);
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(r.error, undefined, `promtool could not run: ${r.error}`);
    assert.equal(r.status, 0, r.stderr + r.stdout);
  });

  test('a refused request still gets an inference-log row with its error type', T, async () => {
    await sleep(300);
    const res = await fetch(`${gw.origin}/api/v1/logs?model=budget&status=error&limit=5`);
    const j = await res.json();
    assert.equal(res.status, 200, JSON.stringify(j));
    const rows = j.data ?? j.rows ?? j;
    assert.ok(rows.length >= 1, JSON.stringify(j));
    assert.equal(rows[0].error_type, 'insufficient_quota');
    assert.equal(rows[0].http_status, 429);
  });
});

test('config: token limits and budgets without the inference log are refused (exit 2)', T, async () => {
  const bin = process.env.SWITCHYARD_BIN || new URL('../../build/switchyard', import.meta.url).pathname;
  const cfg = tmpFile(
    'nolog.yaml',
    `log: {enabled: false}\nauth: {mode: local}\nlimits:\n  defaults:\n    key: ["10/minute", "1000 tokens/minute"]\nmodels:\n  - name: m\n    provider: mock\n`,
  );
  const r = spawnSync(bin, ['check-config', cfg], { encoding: 'utf8' });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /nolog\.yaml:5: limits: token limits and budgets .* log\.enabled: true/);
  const bad = tmpFile('badlimit.yaml', `limits:\n  defaults:\n    user: ["100/fortnight"]\nmodels:\n  - name: m\n    provider: mock\n`);
  const r2 = spawnSync(bin, ['check-config', bad], { encoding: 'utf8' });
  assert.equal(r2.status, 2);
  assert.match(r2.stderr, /badlimit\.yaml:3: limits\.defaults\.user: '100\/fortnight': /);
});

describe('per-entity limits through the admin API (auth required)', () => {
  let gw;
  const ADMIN_KEY = `sy-${crypto.randomBytes(32).toString('base64url')}`;
  const admin = (method, p, body) =>
    fetch(`${gw.origin}${p}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(async (r) => ({ status: r.status, json: await r.json() }));
  const chat = (key) => post(gw, '/v1/chat/completions', { model: 'm', messages: MSG }, { authorization: `Bearer ${key}` });
  async function statuses(key, n) {
    const out = [];
    for (let i = 0; i < n; i++) out.push((await chat(key)).status);
    return out;
  }

  before(async () => {
    const port = await freePort();
    gw = await startGateway({
      port,
      env: { SWITCHYARD_ADMIN_KEY: ADMIN_KEY, SWITCHYARD_ADMIN_PASSWORD: `pw-${crypto.randomBytes(8).toString('hex')}` },
      config: `server: {listen: 127.0.0.1:${port}, workers: 2}
log: {batch_ms: 50}
auth: {mode: required, key_cache_ttl_s: 60}
limits:
  defaults:
    key: "2/minute"
models:
  - name: m
${mock()}`,
    });
  });
  after(async () => {
    await gw?.stop();
  });

  test('default, own list, empty list, PATCH, bad entry -> 400', T, async () => {
    const a = await admin('POST', '/api/v1/keys', { name: 'a' });
    assert.equal(a.status, 201, JSON.stringify(a.json));
    assert.equal(a.json.limits, null); // inherits limits.defaults.key
    assert.deepEqual(await statuses(a.json.key, 3), [200, 200, 429]);

    const b = await admin('POST', '/api/v1/keys', { name: 'b', limits: ['4/minute'] });
    assert.equal(b.status, 201);
    assert.deepEqual(b.json.limits, ['4/minute']);
    const rb = await chat(b.json.key);
    assert.equal(rb.headers.get('x-ratelimit-limit-requests'), '4');
    assert.equal(rb.headers.get('x-ratelimit-remaining-requests'), '3');
    assert.deepEqual(await statuses(b.json.key, 4), [200, 200, 200, 429]);

    const c = await admin('POST', '/api/v1/keys', { name: 'c', limits: [] });
    assert.deepEqual(c.json.limits, []);
    const rc = await chat(c.json.key);
    assert.equal(rc.headers.get('x-ratelimit-limit-requests'), null); // no limit at all
    assert.deepEqual(await statuses(c.json.key, 4), [200, 200, 200, 200]);

    // PATCH takes effect at once on this replica (the key's cache entry is forgotten)
    const p = await admin('PATCH', `/api/v1/keys/${b.json.id}`, { limits: ['10/minute', '100000 tokens/minute'] });
    assert.equal(p.status, 200, JSON.stringify(p.json));
    assert.deepEqual(p.json.limits, ['10/minute', '100000 tokens/minute']);
    const rb2 = await chat(b.json.key);
    assert.equal(rb2.status, 200);
    assert.equal(rb2.headers.get('x-ratelimit-limit-requests'), '10');
    assert.equal(rb2.headers.get('x-ratelimit-remaining-requests'), '5'); // 4 earlier + this one
    assert.equal(rb2.headers.get('x-ratelimit-limit-tokens'), '100000');

    const bad = await admin('POST', '/api/v1/keys', { name: 'd', limits: ['5/minute', '5/fortnight'] });
    assert.equal(bad.status, 400);
    assert.match(bad.json.error.message, /^limits\[1\]: '5\/fortnight': /);
    const bad2 = await admin('PATCH', `/api/v1/keys/${b.json.id}`, { limits: 'lots' });
    assert.equal(bad2.status, 400);
  });

  test("a user's and a team's own limits apply to their keys", T, async () => {
    const u = await admin('POST', '/api/v1/users', { email: `u${Date.now()}@example.com`, limits: ['1/minute'] });
    assert.equal(u.status, 201, JSON.stringify(u.json));
    assert.deepEqual(u.json.limits, ['1/minute']);
    const k = await admin('POST', '/api/v1/keys', { name: 'uk', owner_user: u.json.id });
    const r = await statuses(k.json.key, 2);
    assert.deepEqual(r, [200, 429]);
    const refused = await chat(k.json.key);
    assert.match(refused.json.error.message, new RegExp(`1 requests per minute for user:${u.json.id}`));

    const t = await admin('POST', '/api/v1/teams', { name: `t${Date.now()}` });
    assert.equal(t.json.limits, null);
    const pt = await admin('PATCH', `/api/v1/teams/${t.json.id}`, { limits: ['$0/day'] });
    assert.equal(pt.status, 200, JSON.stringify(pt.json));
    assert.deepEqual(pt.json.limits, ['$0/day']);
    const tk = await admin('POST', '/api/v1/keys', { name: 'tk', owner_team: t.json.id });
    const tr = await chat(tk.json.key);
    assert.equal(tr.status, 429);
    assert.equal(tr.json.error.type, 'insufficient_quota');
    assert.match(tr.json.error.message, new RegExp(`team:${t.json.id}`));
    const list = await admin('GET', '/api/v1/teams');
    assert.deepEqual(list.json.data.find((x) => x.id === t.json.id).limits, ['$0/day']);
  });
});

// A request carries at most 16 limits (SY_LIMITS_MAX_PER_REQUEST). The config here: key defaults
// 3, model m adds 3 (limits.models) + 3 for a user's key (limits.per_model.user): a user's own
// list may hold 16 - 3 - 6 = 7; a key's, next to an owner with none, 16 - (0 + 6) = 10, capped
// at 8 by the admin API. The admin API counts the key's list with its owner's own list: a key
// with 8 for a user with 7 (8 + 7 + 6 = 21) is refused, on the key's create or PATCH and on the
// user's PATCH alike. What is left — lists changed behind the API's back (another replica's
// config, the database) — is refused at runtime with a 500 that is logged, never admitted with
// some of the limits left out.
describe('the per-request cap of 16 limits', () => {
  let gw;
  const dataDir = tmpFile('data-cap');
  const ADMIN_KEY = `sy-${crypto.randomBytes(32).toString('base64url')}`;
  const admin = (method, p, body) =>
    fetch(`${gw.origin}${p}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(async (r) => ({ status: r.status, json: await r.json() }));
  const BIG = ['1000000/minute', '1000000/hour', '1000000/day'];
  const EIGHT = [...BIG, '1000000000 tokens/minute', '1000000000 tokens/hour', '1000000000 tokens/day', '1000 concurrent', '$1000/day'];

  before(async () => {
    const port = await freePort();
    gw = await startGateway({
      port,
      env: { SWITCHYARD_ADMIN_KEY: ADMIN_KEY, SWITCHYARD_ADMIN_PASSWORD: `pw-${crypto.randomBytes(8).toString('hex')}` },
      config: `server: {listen: 127.0.0.1:${port}, workers: 1}
log: {batch_ms: 50}
auth: {mode: required, key_cache_ttl_s: 60}
data_dir: ${dataDir}
limits:
  defaults:
    key: ${JSON.stringify(BIG)}
  models:
    m: ${JSON.stringify(BIG)}
  per_model:
    user: {m: ${JSON.stringify(BIG)}}
models:
  - name: m
${mock()}`,
    });
  });
  after(async () => {
    await gw?.stop();
  });

  test('admin API: a list that could exceed it -> 400 naming limits; at runtime -> logged 500', T, async () => {
    const tooMany = await admin('POST', '/api/v1/users', { email: `c${Date.now()}@example.com`, limits: EIGHT.slice(0, 8) });
    assert.equal(tooMany.status, 400, JSON.stringify(tooMany.json));
    assert.match(tooMany.json.error.message, /^'limits': at most 7 limits for a user with this configuration/);
    const u = await admin('POST', '/api/v1/users', { email: `d${Date.now()}@example.com`, limits: EIGHT.slice(0, 7) });
    assert.equal(u.status, 201, JSON.stringify(u.json));
    const patched = await admin('PATCH', `/api/v1/users/${u.json.id}`, { limits: EIGHT });
    assert.equal(patched.status, 400, JSON.stringify(patched.json));
    assert.match(patched.json.error.message, /^'limits': at most 7 /);

    // a key with only the defaults: 3 + 7 + 6 = 16, admitted, every list applied
    const k = await admin('POST', '/api/v1/keys', { name: 'fits', owner_user: u.json.id });
    assert.equal(k.status, 201, JSON.stringify(k.json));
    const ok = await post(gw, '/v1/chat/completions', { model: 'm', messages: MSG }, { authorization: `Bearer ${k.json.key}` });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.headers.get('x-ratelimit-limit-requests'), '1000000');

    // a key with 8 of its own: 8 + 7 + 6 = 21 > 16, refused when it is created
    const k8 = await admin('POST', '/api/v1/keys', { name: 'over', owner_user: u.json.id, limits: EIGHT });
    assert.equal(k8.status, 400, JSON.stringify(k8.json));
    assert.equal(
      k8.json.error.message,
      "'limits': a request with this key would carry 21 limits (the key's 8 + its user's 7 + up to 6 from the model limits), more than the 16 a request can carry; shorten the key's or the user's list",
    );
    // ... and when a key that fits is given them by PATCH; 3 + 7 + 6 = 16 fits
    const kp = await admin('PATCH', `/api/v1/keys/${k.json.id}`, { limits: EIGHT });
    assert.equal(kp.status, 400, JSON.stringify(kp.json));
    assert.match(kp.json.error.message, /^'limits': a request with this key would carry 21 limits/);
    const kp3 = await admin('PATCH', `/api/v1/keys/${k.json.id}`, { limits: BIG });
    assert.equal(kp3.status, 200, JSON.stringify(kp3.json));

    // the owner's side: a user with none of their own has a key with 8 (8 + 0 + 6 = 14); giving
    // the user 7 would make 21 for that key: refused, naming the key; 2 (16) is fine
    const u2 = await admin('POST', '/api/v1/users', { email: `e${Date.now()}@example.com`, limits: [] });
    assert.equal(u2.status, 201, JSON.stringify(u2.json));
    const k2 = await admin('POST', '/api/v1/keys', { name: 'over2', owner_user: u2.json.id, limits: EIGHT });
    assert.equal(k2.status, 201, JSON.stringify(k2.json));
    const pu = await admin('PATCH', `/api/v1/users/${u2.json.id}`, { limits: EIGHT.slice(0, 7) });
    assert.equal(pu.status, 400, JSON.stringify(pu.json));
    assert.equal(
      pu.json.error.message,
      `'limits': a request with key 'over2' (${k2.json.id}) would carry 21 limits (the key's 8 + its user's 7 + up to 6 from the model limits), more than the 16 a request can carry; shorten the key's or the user's list`,
    );
    assert.equal((await admin('PATCH', `/api/v1/users/${u2.json.id}`, { limits: EIGHT.slice(0, 2) })).status, 200);
    // a revoked key no longer counts
    assert.equal((await admin('POST', `/api/v1/keys/${k2.json.id}/revoke`)).status, 200);
    assert.equal((await admin('PATCH', `/api/v1/users/${u2.json.id}`, { limits: EIGHT.slice(0, 7) })).status, 200);

    // a team's keys the same way: model m adds 3 for a team's key (no per_model.team), so a team
    // key with 8 next to a team list of 8 makes 19
    const t = await admin('POST', '/api/v1/teams', { name: `cap${Date.now()}`, limits: [] });
    assert.equal(t.status, 201, JSON.stringify(t.json));
    const tk = await admin('POST', '/api/v1/keys', { name: 'team-eight', owner_team: t.json.id, limits: EIGHT });
    assert.equal(tk.status, 201, JSON.stringify(tk.json));
    const pt = await admin('PATCH', `/api/v1/teams/${t.json.id}`, { limits: EIGHT });
    assert.equal(pt.status, 400, JSON.stringify(pt.json));
    assert.equal(
      pt.json.error.message,
      `'limits': a request with key 'team-eight' (${tk.json.id}) would carry 19 limits (the key's 8 + its team's 8 + up to 3 from the model limits), more than the 16 a request can carry; shorten the key's or the team's list`,
    );
    assert.equal((await admin('PATCH', `/api/v1/teams/${t.json.id}`, { limits: EIGHT.slice(0, 5) })).status, 200);

    // lists changed behind the API's back (here: the database): refused at runtime, logged
    const u3 = await admin('POST', '/api/v1/users', { email: `f${Date.now()}@example.com`, limits: [] });
    const k3 = await admin('POST', '/api/v1/keys', { name: 'over3', owner_user: u3.json.id, limits: EIGHT });
    assert.equal(k3.status, 201, JSON.stringify(k3.json));
    const sql = spawnSync(
      'sqlite3',
      ['-cmd', '.timeout 5000', `${dataDir}/switchyard.db`, `UPDATE users SET limits = '${JSON.stringify(EIGHT.slice(0, 7))}' WHERE id = '${u3.json.id}'`],
      { encoding: 'utf8' },
    );
    assert.equal(sql.status, 0, sql.stderr);
    const r = await post(gw, '/v1/chat/completions', { model: 'm', messages: MSG }, { authorization: `Bearer ${k3.json.key}` });
    assert.equal(r.status, 500, r.text);
    assert.equal(r.json.error.type, 'server_error');
    assert.match(r.json.error.message, /more than 16 rate limits apply to this request/);
    await sleep(100);
    assert.match(gw.stderr(), new RegExp(`key ${k3.json.id}: more than 16 limits apply`));
    // the gateway keeps serving
    const again = await post(gw, '/v1/chat/completions', { model: 'm', messages: MSG }, { authorization: `Bearer ${k.json.key}` });
    assert.equal(again.status, 200, again.text);
  });
});
