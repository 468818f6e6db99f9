// Identity end to end (issue 5 part 2): auth.mode required (the default), virtual keys on both
// ingresses, the admin API (keys, users, sessions + CSRF, login throttling, audit log), the
// first-start admin, and a secrets check: no plaintext key or password in the database files,
// the spool, stderr, or any API response other than the one that shows a key once.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import crypto from 'node:crypto';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { REPO, apiCall, listFiles, startGateway, freePort, tmpFile, sleep } from './lib.mjs';

const T = { timeout: 60000 };
const ADMIN_PW = `pw-${crypto.randomBytes(12).toString('hex')}`;
const ADMIN_KEY = `sy-${crypto.randomBytes(32).toString('base64url')}`;
const VICTIM_PW = `victim-${crypto.randomBytes(8).toString('hex')}`;
const MEMBER_PW = `member-${crypto.randomBytes(8).toString('hex')}`;
const VIEWER_PW = `viewer-${crypto.randomBytes(8).toString('hex')}`;
const PROVIDER_KEY = `sk-prov-${crypto.randomBytes(16).toString('hex')}`;

const config = (port, dataDir, extraAuth = '') => `server:
  listen: 127.0.0.1:${port}
  workers: 2
data_dir: ${dataDir}
log:
  batch_ms: 50
auth:
  mode: required
  key_cache_ttl_s: 60
  login_attempts_per_account: 3
  login_attempts_per_ip: 1000
${extraAuth}models:
  - name: m
    provider: mock
    mock: {latency_ms: 0, chunks: 2, chunk_delay_ms: 0}
  - name: m2
    provider: mock
    mock: {latency_ms: 0, chunks: 2, chunk_delay_ms: 0}
`;

let gw;
let dataDir;
const responses = []; // every API response body of the scripted run: [label, text]
const created = new Map(); // plaintext key -> number of responses that showed it

const call = (method, p, opts = {}) => apiCall(gw.origin, method, p, { ...opts, log: responses });

const chat = (key, model = 'm', extra = {}) =>
  call('POST', '/v1/chat/completions', { key, body: { model, messages: [{ role: 'user', content: 'hi' }] }, ...extra });

async function newKey(body = {}) {
  const r = await call('POST', '/api/v1/keys', { key: ADMIN_KEY, body: { name: 'k', ...body } });
  assert.equal(r.status, 201, r.text);
  assert.match(r.json.key, /^sy-[A-Za-z0-9_-]{43}$/);
  assert.equal(r.json.prefix, r.json.key.slice(0, 11));
  created.set(r.json.key, (created.get(r.json.key) ?? 0) + 1);
  return r.json;
}

function assertOpenAI401(r) {
  assert.equal(r.status, 401, r.text);
  assert.deepEqual(Object.keys(r.json), ['error']);
  assert.equal(r.json.error.type, 'invalid_request_error');
  assert.equal(r.json.error.code, 'invalid_api_key');
  assert.ok(r.json.error.message.length > 0);
}

describe('auth', () => {
  before(async () => {
    dataDir = tmpFile('auth-data');
    fs.mkdirSync(dataDir);
    const port = await freePort();
    gw = await startGateway({
      port,
      config: config(port, dataDir),
      env: { SWITCHYARD_ADMIN_PASSWORD: ADMIN_PW, SWITCHYARD_ADMIN_KEY: ADMIN_KEY },
    });
  });
  after(async () => {
    if (gw) await gw.stop();
  });

  test('first start with env secrets: admin created, secrets not printed', T, async () => {
    assert.match(gw.stderr(), /created the admin user admin@localhost/);
    assert.match(gw.stderr(), /password: from SWITCHYARD_ADMIN_PASSWORD/);
    const me = await call('GET', '/api/v1/auth/me', { key: ADMIN_KEY });
    assert.equal(me.status, 200, me.text);
    assert.equal(me.json.role, 'admin');
    assert.equal(me.json.email, 'admin@localhost');
    assert.equal(me.json.via, 'api_key');
  });

  test('missing and wrong keys: 401 in the ingress format', T, async () => {
    assertOpenAI401(await chat(undefined));
    assertOpenAI401(await chat('sy-' + 'A'.repeat(43)));
    assertOpenAI401(await chat('not-a-key'));
    assertOpenAI401(await call('GET', '/v1/models'));
    assertOpenAI401(await call('GET', '/v1/models/m'));
    const msg = { model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] };
    for (const headers of [{}, { 'x-api-key': 'sy-' + 'B'.repeat(43) }]) {
      const r = await call('POST', '/v1/messages', { body: msg, headers });
      assert.equal(r.status, 401, r.text);
      assert.equal(r.json.type, 'error');
      assert.equal(r.json.error.type, 'authentication_error');
    }
    // a revoked-key-shaped guess stays refused from the negative cache too
    assertOpenAI401(await chat('sy-' + 'A'.repeat(43)));
    // the admin API refuses anonymous calls
    const r = await call('GET', '/api/v1/keys');
    assert.equal(r.status, 401, r.text);
  });

  test('key lifecycle: shown once, works (SDK, x-api-key), allow-list 403, rows carry ids', T, async () => {
    const k = await newKey({ name: 'app', allowed_models: ['m'], default_tags: ['ci'] });
    assert.deepEqual(k.allowed_models, ['m']);
    const got = await call('GET', `/api/v1/keys/${k.id}`, { key: ADMIN_KEY });
    assert.equal(got.status, 200);
    assert.equal(got.json.key, undefined, 'GET never shows the key');
    assert.equal(got.json.prefix, k.prefix);
    const list = await call('GET', '/api/v1/keys', { key: ADMIN_KEY });
    assert.ok(list.json.data.some((x) => x.id === k.id));
    assert.ok(list.json.data.every((x) => x.key === undefined));

    // official SDK with the virtual key
    const client = new OpenAI({ baseURL: gw.baseURL, apiKey: k.key, maxRetries: 0, timeout: 8000 });
    const c = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'sdk' }] });
    assert.equal(c.object, 'chat.completion');
    const models = await client.models.list();
    assert.deepEqual(models.data.map((m) => m.id), ['m'], 'only allowed models listed');
    await assert.rejects(client.chat.completions.create({ model: 'm2', messages: [{ role: 'user', content: 'x' }] }), (e) => {
      assert.equal(e.status, 403);
      assert.equal(e.code, 'model_not_allowed');
      return true;
    });
    const bad = new OpenAI({ baseURL: gw.baseURL, apiKey: 'sy-' + 'C'.repeat(43), maxRetries: 0 });
    await assert.rejects(bad.models.list(), (e) => e.status === 401);

    // official Anthropic SDK (it sends x-api-key) with the virtual key
    const claude = new Anthropic({ baseURL: gw.origin, apiKey: k.key, maxRetries: 0, timeout: 8000 });
    const cm = await claude.messages.create({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(cm.type, 'message');
    await assert.rejects(claude.messages.create({ model: 'm2', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }), (e) => {
      assert.equal(e.status, 403);
      assert.equal(e.error?.error?.type, 'permission_error');
      return true;
    });
    const badClaude = new Anthropic({ baseURL: gw.origin, apiKey: 'sy-' + 'D'.repeat(43), maxRetries: 0 });
    await assert.rejects(badClaude.messages.create({ model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'x' }] }), (e) => {
      assert.equal(e.status, 401);
      assert.equal(e.error?.error?.type, 'authentication_error');
      return true;
    });

    // Anthropic ingress with a raw x-api-key
    const body = { model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] };
    const ok = await call('POST', '/v1/messages', { body, headers: { 'x-api-key': k.key, 'anthropic-version': '2023-06-01' } });
    assert.equal(ok.status, 200, ok.text);
    const no = await call('POST', '/v1/messages', { body: { ...body, model: 'm2' }, headers: { 'x-api-key': k.key } });
    assert.equal(no.status, 403, no.text);
    assert.equal(no.json.error.type, 'permission_error');

    // the inference rows carry key_id and user_id
    const me = await call('GET', '/api/v1/auth/me', { key: ADMIN_KEY });
    let rows = [];
    for (let i = 0; i < 50 && rows.length < 3; i++) {
      await sleep(100);
      rows = (await call('GET', `/api/v1/logs?key=${k.id}`, { key: ADMIN_KEY })).json.data;
    }
    assert.ok(rows.length >= 3, `rows for the key: ${rows.length}`);
    for (const row of rows) {
      assert.equal(row.key_id, k.id);
      assert.equal(row.user_id, me.json.id);
      assert.equal(row.team_id, null);
      assert.deepEqual(row.tags, ['ci'], 'the key\'s default tags');
    }
    const after = await call('GET', `/api/v1/keys/${k.id}`, { key: ADMIN_KEY });
    assert.ok(after.json.last_used_at, 'last_used_at set');
  });

  test('expiry, revocation, rotation grace', T, async () => {
    const exp = await newKey({ expires_in_s: 2 });
    assert.equal((await chat(exp.key)).status, 200);
    await sleep(2300);
    const r = await chat(exp.key);
    assertOpenAI401(r);
    assert.match(r.json.error.message, /expired/);

    const rev = await newKey();
    assert.equal((await chat(rev.key)).status, 200); // now cached
    const rv = await call('POST', `/api/v1/keys/${rev.id}/revoke`, { key: ADMIN_KEY });
    assert.equal(rv.status, 200, rv.text);
    assert.ok(rv.json.revoked_at);
    const after = await chat(rev.key);
    assertOpenAI401(after);
    assert.match(after.json.error.message, /revoked/);

    const old = await newKey({ allowed_models: ['m'] });
    assert.equal((await chat(old.key)).status, 200);
    const rot = await call('POST', `/api/v1/keys/${old.id}/rotate`, { key: ADMIN_KEY, body: { grace_s: 2 } });
    assert.equal(rot.status, 201, rot.text);
    created.set(rot.json.key, (created.get(rot.json.key) ?? 0) + 1);
    assert.equal(rot.json.rotated_from, old.id);
    assert.deepEqual(rot.json.allowed_models, ['m'], 'the new key inherits the allow-list');
    assert.notEqual(rot.json.key, old.key);
    assert.equal((await chat(old.key)).status, 200, 'old key valid during the grace period');
    assert.equal((await chat(rot.json.key)).status, 200);
    await sleep(2300);
    const gone = await chat(old.key);
    assertOpenAI401(gone);
    assert.match(gone.json.error.message, /rotated/);
    assert.equal((await chat(rot.json.key)).status, 200, 'new key still works');

    // update: allow-list widened, expiry set in the past -> refused at once
    const upd = await call('PATCH', `/api/v1/keys/${rot.json.id}`, { key: ADMIN_KEY, body: { allowed_models: null } });
    assert.equal(upd.status, 200, upd.text);
    assert.equal(upd.json.allowed_models, null);
    assert.equal((await chat(rot.json.key, 'm2')).status, 200, 'any model after the update');
    const past = await call('PATCH', `/api/v1/keys/${rot.json.id}`, { key: ADMIN_KEY, body: { expires_at: '2020-01-01T00:00:00Z' } });
    assert.equal(past.status, 200, past.text);
    assertOpenAI401(await chat(rot.json.key));
  });

  test('users, roles, sessions, CSRF', T, async () => {
    const mk = async (email, role, password) => {
      const r = await call('POST', '/api/v1/users', { key: ADMIN_KEY, body: { email, role, password } });
      assert.equal(r.status, 201, r.text);
      assert.equal(r.json.has_password, true);
      assert.equal(r.json.pw_hash, undefined);
      return r.json;
    };
    await mk('member@example.com', 'member', MEMBER_PW);
    await mk('viewer@example.com', 'viewer', VIEWER_PW);
    const dup = await call('POST', '/api/v1/users', { key: ADMIN_KEY, body: { email: 'member@example.com' } });
    assert.equal(dup.status, 400, dup.text);

    const login = async (email, password, headers = {}) => {
      const r = await call('POST', '/api/v1/auth/login', { body: { email, password }, headers });
      if (r.status !== 200) return { r };
      const cookie = r.headers.get('set-cookie');
      return { r, cookie, session: cookie.split(';')[0], csrf: r.json.csrf_token };
    };
    const a = await login('admin@localhost', ADMIN_PW);
    assert.equal(a.r.status, 200, a.r.text);
    assert.match(a.cookie, /^sy_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
    assert.doesNotMatch(a.cookie, /Secure/);
    const tls = await login('admin@localhost', ADMIN_PW, { 'x-forwarded-proto': 'https' });
    assert.match(tls.cookie, /; Secure$/);

    // reads need no CSRF token; writes do
    const me = await call('GET', '/api/v1/auth/me', { headers: { cookie: a.session } });
    assert.equal(me.status, 200, me.text);
    assert.equal(me.json.via, 'session');
    const noCsrf = await call('POST', '/api/v1/keys', { headers: { cookie: a.session }, body: { name: 'x' } });
    assert.equal(noCsrf.status, 403, noCsrf.text);
    assert.match(noCsrf.json.error.message, /CSRF/);
    const wrong = await call('POST', '/api/v1/keys', { headers: { cookie: a.session, 'x-csrf-token': tls.csrf }, body: { name: 'x' } });
    assert.equal(wrong.status, 403, 'another session\'s token is refused');
    const withCsrf = await call('POST', '/api/v1/keys', { headers: { cookie: a.session, 'x-csrf-token': a.csrf }, body: { name: 'from-session' } });
    assert.equal(withCsrf.status, 201, withCsrf.text);
    created.set(withCsrf.json.key, 1);

    // roles: member may not administer nor read the log; viewer may read the log
    const m = await login('member@example.com', MEMBER_PW);
    assert.equal(m.r.status, 200);
    assert.equal((await call('GET', '/api/v1/keys', { headers: { cookie: m.session } })).status, 403);
    assert.equal((await call('GET', '/api/v1/logs', { headers: { cookie: m.session } })).status, 403);
    const v = await login('viewer@example.com', VIEWER_PW);
    assert.equal((await call('GET', '/api/v1/logs', { headers: { cookie: v.session } })).status, 200);
    assert.equal((await call('GET', '/api/v1/users', { headers: { cookie: v.session } })).status, 403);

    // logout ends the session
    const out = await call('POST', '/api/v1/auth/logout', { headers: { cookie: a.session, 'x-csrf-token': a.csrf } });
    assert.equal(out.status, 200, out.text);
    assert.match(out.headers.get('set-cookie'), /Max-Age=0/);
    assert.equal((await call('GET', '/api/v1/auth/me', { headers: { cookie: a.session } })).status, 401);
  });

  test('teams: membership, a team key works on /v1 (team_id on rows) but not on the admin API', T, async () => {
    const t = await call('POST', '/api/v1/teams', { key: ADMIN_KEY, body: { name: 'research' } });
    assert.equal(t.status, 201, t.text);
    assert.equal((await call('POST', '/api/v1/teams', { key: ADMIN_KEY, body: { name: 'research' } })).status, 400);
    const users = (await call('GET', '/api/v1/users', { key: ADMIN_KEY })).json.data;
    const member = users.find((u) => u.email === 'member@example.com');
    const add = await call('POST', `/api/v1/teams/${t.json.id}/members`, { key: ADMIN_KEY, body: { user_id: member.id } });
    assert.equal(add.status, 200, add.text);
    assert.equal(add.json.role, 'member');
    const ghost = await call('POST', '/api/v1/teams/nope/members', { key: ADMIN_KEY, body: { user_id: member.id } });
    assert.equal(ghost.status, 404, ghost.text);
    const noTeam = await call('POST', '/api/v1/keys', { key: ADMIN_KEY, body: { owner_team: 'nope' } });
    assert.equal(noTeam.status, 404, noTeam.text);
    const tk = await newKey({ name: 'team', owner_team: t.json.id });
    assert.equal(tk.owner_team, t.json.id);
    assert.equal(tk.owner_user, null);
    assert.equal((await chat(tk.key)).status, 200);
    const adm = await call('GET', '/api/v1/keys', { key: tk.key });
    assert.equal(adm.status, 403, adm.text);
    let rows = [];
    for (let i = 0; i < 50 && rows.length < 1; i++) {
      await sleep(100);
      rows = (await call('GET', `/api/v1/logs?key=${tk.id}`, { key: ADMIN_KEY })).json.data;
    }
    assert.equal(rows.length, 1);
    assert.equal(rows[0].team_id, t.json.id);
    assert.equal(rows[0].user_id, null);
  });

  test('login throttling per account', T, async () => {
    const r = await call('POST', '/api/v1/users', { key: ADMIN_KEY, body: { email: 'victim@example.com', password: VICTIM_PW } });
    assert.equal(r.status, 201);
    for (let i = 0; i < 3; i++) {
      const bad = await call('POST', '/api/v1/auth/login', { body: { email: 'victim@example.com', password: `wrong-${i}-xxxxxxxx` } });
      assert.equal(bad.status, 401, bad.text);
    }
    const blocked = await call('POST', '/api/v1/auth/login', { body: { email: 'Victim@Example.com', password: VICTIM_PW } });
    assert.equal(blocked.status, 429, blocked.text);
    assert.equal(blocked.json.error.code, 'rate_limit_exceeded');
    assert.ok(Number(blocked.headers.get('retry-after')) >= 1);
    // another account is not affected
    const other = await call('POST', '/api/v1/auth/login', { body: { email: 'viewer@example.com', password: VIEWER_PW } });
    assert.equal(other.status, 200, other.text);
  });

  test('audit log: every admin action, with who and from where', T, async () => {
    const r = await call('GET', '/api/v1/audit?limit=1000', { key: ADMIN_KEY });
    assert.equal(r.status, 200, r.text);
    const actions = new Set(r.json.data.map((e) => e.action));
    for (const a of ['admin.bootstrap', 'team.create', 'team.member', 'key.create', 'key.revoke', 'key.rotate', 'key.update', 'user.create',
      'auth.login', 'auth.login_failed', 'auth.logout', 'keys.list', 'key.get']) {
      assert.ok(actions.has(a), `audit has ${a}: ${[...actions]}`);
    }
    const me = (await call('GET', '/api/v1/auth/me', { key: ADMIN_KEY })).json;
    const rev = r.json.data.find((e) => e.action === 'key.revoke');
    assert.equal(rev.actor, `key:${me.key_id}`);
    assert.equal(rev.remote, '127.0.0.1');
    assert.match(rev.time, /^\d{4}-\d\d-\d\dT/);
    const fail = r.json.data.find((e) => e.action === 'auth.login_failed');
    assert.equal(fail.target, 'victim@example.com');
    const bad = await call('GET', '/api/v1/audit?limit=0', { key: ADMIN_KEY });
    assert.equal(bad.status, 400);
  });

  test('a provider credential set and read through the API shows only its last4', T, async () => {
    const put = await call('PUT', '/api/v1/credentials/prov', { key: ADMIN_KEY, body: { value: PROVIDER_KEY } });
    assert.equal(put.status, 201, put.text);
    assert.equal(put.json.last4, PROVIDER_KEY.slice(-4));
    const list = await call('GET', '/api/v1/credentials', { key: ADMIN_KEY });
    assert.equal(list.json.data[0].last4, PROVIDER_KEY.slice(-4));
  });

  test('secrets: no plaintext key or password in the db, spool, stderr or other responses', T, async () => {
    const g = gw;
    gw = null;
    await g.stop();
    const stderrText = g.stderr();
    const secrets = [ADMIN_PW, ADMIN_KEY, VICTIM_PW, MEMBER_PW, VIEWER_PW, PROVIDER_KEY, ...created.keys()];
    assert.ok(created.size >= 6, `keys created: ${created.size}`);
    const files = listFiles(dataDir);
    assert.ok(files.some((f) => f.endsWith('.db')), `the SQLite file is there: ${files}`);
    for (const f of files) {
      const bytes = fs.readFileSync(f);
      for (const s of secrets) assert.equal(bytes.indexOf(s), -1, `${s.slice(0, 6)}… found in ${f}`);
    }
    for (const s of secrets) assert.ok(!stderrText.includes(s), `${s.slice(0, 6)}… in stderr`);
    for (const [k, n] of created) {
      const shown = responses.filter(([, t]) => t.includes(k));
      assert.equal(shown.length, n, `key ${k.slice(0, 11)} shown ${shown.length} times: ${shown.map((x) => x[0])}`);
      assert.match(shown[0][0], /^POST \/api\/v1\/keys/);
    }
    for (const s of [ADMIN_PW, ADMIN_KEY, VICTIM_PW, MEMBER_PW, VIEWER_PW, PROVIDER_KEY]) {
      assert.ok(!responses.some(([, t]) => t.includes(s)), `${s.slice(0, 6)}… in a response`);
    }
  });
});

describe('first start without env secrets', () => {
  test('prints a one-time password and key once; restart does not', T, async () => {
    const dir = tmpFile('auth-first-start');
    fs.mkdirSync(dir);
    const port = await freePort();
    let g = await startGateway({ port, config: config(port, dir) });
    try {
      const pw = /password: (\S+) {3}\(shown once/.exec(g.stderr());
      const key = /API key: {2}(sy-[A-Za-z0-9_-]{43}) {3}\(shown once/.exec(g.stderr());
      assert.ok(pw && key, g.stderr());
      const me = await fetch(`${g.origin}/api/v1/auth/me`, { headers: { authorization: `Bearer ${key[1]}` } });
      assert.equal(me.status, 200);
      const login = await fetch(`${g.origin}/api/v1/auth/login`, {
        method: 'POST',
        body: JSON.stringify({ email: 'admin@localhost', password: pw[1] }),
      });
      assert.equal(login.status, 200);
      await g.stop();
      g = await startGateway({ port, config: config(port, dir) });
      assert.doesNotMatch(g.stderr(), /first start/);
      assert.ok(!g.stderr().includes(key[1]));
      const again = await fetch(`${g.origin}/v1/models`, { headers: { authorization: `Bearer ${key[1]}` } });
      assert.equal(again.status, 200);
    } finally {
      await g.stop();
    }
  });
});

// The same identity data on PostgreSQL (log.store postgres://…, a throwaway server started by
// tests/pg_server.sh; if it cannot start, the test fails).
describe('auth on PostgreSQL', () => {
  test('first start, key create/use/revoke, login, audit; no plaintext in the tables', T, async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-auth-pg-'));
    const r = spawnSync('bash', [path.join(REPO, 'tests', 'pg_server.sh'), 'start', dir, String(process.pid)], { encoding: 'utf8' });
    assert.equal(r.status, 0, `PostgreSQL did not start (tests/pg_server.sh):\n${r.stderr}`);
    const url = /^PG_URL=(.*)$/m.exec(r.stdout)?.[1];
    const data = tmpFile('auth-pg-data');
    fs.mkdirSync(data);
    const port = await freePort();
    const cfg = config(port, data).replace('log:\n', 'log:\n  store: env:SY_E2E_PG_URL\n');
    const g = await startGateway({
      port,
      config: cfg,
      env: { SY_E2E_PG_URL: url, SWITCHYARD_ADMIN_PASSWORD: ADMIN_PW, SWITCHYARD_ADMIN_KEY: ADMIN_KEY },
    });
    try {
      const H = (k) => ({ authorization: `Bearer ${k}`, 'content-type': 'application/json' });
      const mk = await fetch(`${g.origin}/api/v1/keys`, { method: 'POST', headers: H(ADMIN_KEY), body: JSON.stringify({ name: 'pg' }) });
      assert.equal(mk.status, 201);
      const k = await mk.json();
      const body = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] });
      const ok = await fetch(`${g.baseURL}/chat/completions`, { method: 'POST', headers: H(k.key), body });
      assert.equal(ok.status, 200);
      const rv = await fetch(`${g.origin}/api/v1/keys/${k.id}/revoke`, { method: 'POST', headers: H(ADMIN_KEY) });
      assert.equal(rv.status, 200);
      const no = await fetch(`${g.baseURL}/chat/completions`, { method: 'POST', headers: H(k.key), body });
      assert.equal(no.status, 401);
      const login = await fetch(`${g.origin}/api/v1/auth/login`, {
        method: 'POST',
        body: JSON.stringify({ email: 'admin@localhost', password: ADMIN_PW }),
      });
      assert.equal(login.status, 200);
      const audit = await (await fetch(`${g.origin}/api/v1/audit`, { headers: H(ADMIN_KEY) })).json();
      const actions = audit.data.map((e) => e.action);
      for (const a of ['admin.bootstrap', 'key.create', 'key.revoke', 'auth.login']) assert.ok(actions.includes(a), a);
      const psql = fs.readdirSync('/usr/lib/postgresql').sort((a, b) => b - a)[0];
      const dump = spawnSync(path.join('/usr/lib/postgresql', psql, 'bin', 'psql'), [url, '-At', '-c',
        'SELECT u::text FROM users u UNION ALL SELECT k::text FROM api_keys k UNION ALL ' +
        'SELECT s::text FROM sessions s UNION ALL SELECT a::text FROM audit_log a'], { encoding: 'utf8' });
      assert.equal(dump.status, 0, dump.stderr);
      assert.ok(dump.stdout.includes(k.prefix), 'the dump has the key rows');
      for (const s of [ADMIN_PW, ADMIN_KEY, k.key]) assert.ok(!dump.stdout.includes(s), `${s.slice(0, 6)}… in PostgreSQL`);
    } finally {
      await g.stop();
      spawnSync('bash', [path.join(REPO, 'tests', 'pg_server.sh'), 'stop', dir]);
    }
  });
});
