// The chat app's settings page and model picker (issue 6, helper P): GET /api/v1/models (provider,
// deployments, price from the config's price table, the per-model ui block) and the caller's own
// API keys under /api/v1/me/keys (list, create with the plaintext shown once, revoke; viewers read
// only; another user's key is 404; audited like the admin's key actions). Also: the models list
// in auth.mode local, and a config whose ui block is wrong exits 2 with FILE:LINE.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { apiCall, startGateway, freePort, tmpFile, BIN } from './lib.mjs';

const T = { timeout: 60000 };
const ADMIN_KEY = `sy-${crypto.randomBytes(32).toString('base64url')}`;
const ADMIN_PW = `pw-${crypto.randomBytes(12).toString('hex')}`;
const PW = { mia: `m-${crypto.randomBytes(8).toString('hex')}`, vic: `v-${crypto.randomBytes(8).toString('hex')}` };

const MODELS = `prices:
  - {provider: mock, model: m, input: 2.5, output: 10, cached_input: 1.25}
  - {model: r-up, input: 0.15, output: 0.6}
models:
  - name: m
    provider: mock
    mock: {latency_ms: 0, chunks: 2, chunk_delay_ms: 0}
    ui:
      hide: [seed, response_format]
      lock: {temperature: 1, response_format: {type: json_object}}
  - name: r
    deployments:
      - {provider: mock, model: r-up}
      - {provider: mock, model: r-up}
  - name: free
    provider: mock
`;

const config = (port, dataDir) => `server:
  listen: 127.0.0.1:${port}
  workers: 2
data_dir: ${dataDir}
log:
  batch_ms: 50
auth:
  mode: required
${MODELS}`;

const WANT_MODELS = {
  object: 'list',
  data: [
    {
      id: 'm',
      provider: 'mock',
      deployments: 1,
      price: { input_per_mtok: 2.5, output_per_mtok: 10, cached_input_per_mtok: 1.25 },
      ui: { hidden: ['seed', 'response_format'], locked: { temperature: 1, response_format: { type: 'json_object' } } },
    },
    {
      id: 'r',
      provider: 'mock',
      deployments: 2,
      price: { input_per_mtok: 0.15, output_per_mtok: 0.6, cached_input_per_mtok: null },
      ui: { hidden: [], locked: {} },
    },
    { id: 'free', provider: 'mock', deployments: 1, price: null, ui: { hidden: [], locked: {} } },
  ],
};

let gw;
const call = (method, p, opts = {}) => apiCall(gw.origin, method, p, opts);

async function login(email, password) {
  const r = await call('POST', '/api/v1/auth/login', { body: { email, password } });
  assert.equal(r.status, 200, r.text);
  const session = r.headers.get('set-cookie').split(';')[0];
  const s = { session, csrf: r.json.csrf_token, userId: r.json.user.id };
  s.call = (method, p, opts = {}) =>
    call(method, p, { ...opts, headers: { cookie: session, ...(method === 'GET' ? {} : { 'x-csrf-token': s.csrf }), ...(opts.headers ?? {}) } });
  return s;
}

function assertError(r, status, re) {
  assert.equal(r.status, status, r.text);
  assert.deepEqual(Object.keys(r.json), ['error']);
  if (re) assert.match(r.json.error.message, re);
}

let mia, vic;

describe('settings: models and own keys (auth required)', () => {
  before(async () => {
    const dataDir = tmpFile('settings-data');
    fs.mkdirSync(dataDir);
    const port = await freePort();
    gw = await startGateway({ port, config: config(port, dataDir), env: { SWITCHYARD_ADMIN_PASSWORD: ADMIN_PW, SWITCHYARD_ADMIN_KEY: ADMIN_KEY } });
    for (const [name, role] of [['mia', 'member'], ['vic', 'viewer']]) {
      const r = await call('POST', '/api/v1/users', { key: ADMIN_KEY, body: { email: `${name}@example.com`, role, password: PW[name] } });
      assert.equal(r.status, 201, r.text);
    }
    mia = await login('mia@example.com', PW.mia);
    vic = await login('vic@example.com', PW.vic);
  });
  after(async () => {
    if (gw) await gw.stop();
  });

  test('GET /api/v1/models: every model, provider, deployments, price, ui; any role; not anonymous', T, async () => {
    for (const who of [mia, vic]) {
      const r = await who.call('GET', '/api/v1/models');
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get('cache-control'), 'no-store');
      assert.deepEqual(r.json, WANT_MODELS);
    }
    const byKey = await call('GET', '/api/v1/models', { key: ADMIN_KEY });
    assert.deepEqual(byKey.json, WANT_MODELS);
    assertError(await call('GET', '/api/v1/models'), 401);
    assertError(await call('GET', '/api/v1/models', { key: `sy-${crypto.randomBytes(32).toString('base64url')}` }), 401);
    assertError(await mia.call('POST', '/api/v1/models', { body: {} }), 405);
  });

  test('own keys: create (plaintext once), list only mine, use it, revoke; audited', T, async () => {
    const mine0 = await mia.call('GET', '/api/v1/me/keys');
    assert.equal(mine0.status, 200, mine0.text);
    assert.deepEqual(mine0.json, { object: 'list', data: [] });

    const c = await mia.call('POST', '/api/v1/me/keys', { body: { name: 'laptop', models: ['m'], expires_at: '2099-01-01T00:00:00Z' } });
    assert.equal(c.status, 201, c.text);
    assert.equal(c.json.object, 'api_key');
    assert.equal(c.json.name, 'laptop');
    assert.equal(c.json.owner_user, mia.userId);
    assert.equal(c.json.owner_team, null);
    assert.deepEqual(c.json.allowed_models, ['m']);
    assert.equal(c.json.limits, null); // the config's defaults: a user cannot choose a key's limits
    assert.equal(c.json.expires_at, '2099-01-01T00:00:00.000000Z');
    assert.match(c.json.key, /^sy-[A-Za-z0-9_-]{43}$/);
    assert.equal(c.json.key.slice(0, 11), c.json.prefix);

    // an admin's keys and the other user's are not in my list; the plaintext never again
    const other = await vic.call('GET', '/api/v1/me/keys');
    assert.deepEqual(other.json.data, []);
    const list = await mia.call('GET', '/api/v1/me/keys');
    assert.equal(list.json.data.length, 1);
    assert.equal(list.json.data[0].id, c.json.id);
    assert.equal(list.json.data[0].key, undefined);
    assert.ok(!list.text.includes(c.json.key));
    // the admin's list shows it with the same fields
    const adminView = await call('GET', `/api/v1/keys/${c.json.id}`, { key: ADMIN_KEY });
    assert.deepEqual(adminView.json, list.json.data[0]);

    // the key works, for its allowed model only
    const ok = await call('POST', '/v1/chat/completions', { key: c.json.key, body: { model: 'm', messages: [{ role: 'user', content: 'hi' }] } });
    assert.equal(ok.status, 200, ok.text);
    const no = await call('POST', '/v1/chat/completions', { key: c.json.key, body: { model: 'free', messages: [{ role: 'user', content: 'hi' }] } });
    assert.equal(no.status, 403, no.text);
    // the picker's list through that key: only the models it may use
    const listed = await call('GET', '/api/v1/models', { key: c.json.key });
    assert.equal(listed.status, 200, listed.text);
    assert.deepEqual(listed.json, { object: 'list', data: WANT_MODELS.data.filter((x) => x.id === 'm') });
    // a user key authenticates the settings API too (no CSRF needed)
    const viaKey = await call('GET', '/api/v1/me/keys', { key: c.json.key });
    assert.equal(viaKey.status, 200, viaKey.text);
    assert.equal(viaKey.json.data.length, 1);
    // but it cannot mint a broader key of its owner's, nor revoke one: that needs a session
    const mint = await call('POST', '/api/v1/me/keys', { key: c.json.key, body: { name: 'wider' } });
    assertError(mint, 403, /needs a signed-in session/);
    assertError(await call('POST', `/api/v1/me/keys/${c.json.id}/revoke`, { key: c.json.key }), 403, /needs a signed-in session/);
    assert.equal((await call('GET', '/api/v1/me/keys', { key: c.json.key })).json.data.length, 1);

    // revoke: 200 with revoked_at; the key stops working at once on this replica
    const rv = await mia.call('POST', `/api/v1/me/keys/${c.json.id}/revoke`);
    assert.equal(rv.status, 200, rv.text);
    assert.equal(rv.json.id, c.json.id);
    assert.match(rv.json.revoked_at, /^\d{4}-\d\d-\d\dT/);
    const after = await call('POST', '/v1/chat/completions', { key: c.json.key, body: { model: 'm', messages: [{ role: 'user', content: 'hi' }] } });
    assert.equal(after.status, 401, after.text);

    // audited like the admin's key actions, with the user as the actor
    const audit = await call('GET', '/api/v1/audit?limit=50', { key: ADMIN_KEY });
    const mine = audit.json.data.filter((e) => e.actor === `user:${mia.userId}`);
    const actions = mine.map((e) => `${e.action}:${e.target}`);
    assert.ok(actions.includes(`key.create:${c.json.id}`), actions.join(' '));
    assert.ok(actions.includes(`key.revoke:${c.json.id}`), actions.join(' '));
    assert.ok(actions.includes(`keys.list:${mia.userId}`), actions.join(' '));
    assert.ok(!audit.text.includes(c.json.key), 'the plaintext is never in the audit log');
  });

  test("another user's key is 404; viewers read only; CSRF; bad bodies 400", T, async () => {
    const c = await mia.call('POST', '/api/v1/me/keys', { body: { name: 'ci' } });
    assert.equal(c.status, 201, c.text);
    assert.equal(c.json.allowed_models, null);
    assert.equal(c.json.expires_at, null);
    // vic (a viewer) cannot revoke it (403 before anything else), nor create
    assertError(await vic.call('POST', `/api/v1/me/keys/${c.json.id}/revoke`), 403, /viewer/);
    assertError(await vic.call('POST', '/api/v1/me/keys', { body: { name: 'x' } }), 403, /viewer/);
    assert.equal((await vic.call('GET', '/api/v1/me/keys')).status, 200);
    // an admin's own-keys revoke of mia's key: not theirs, 404 like a missing one
    const adminSession = await login('admin@localhost', ADMIN_PW);
    const notMine = await adminSession.call('POST', `/api/v1/me/keys/${c.json.id}/revoke`);
    assertError(notMine, 404, /no such key/);
    const missing = await adminSession.call('POST', `/api/v1/me/keys/${crypto.randomUUID()}/revoke`);
    assertError(missing, 404, /no such key/);
    assert.equal(notMine.json.error.message, missing.json.error.message);
    // the key is intact
    const still = await mia.call('GET', '/api/v1/me/keys');
    assert.equal(still.json.data.find((k) => k.id === c.json.id).revoked_at, null);
    // a session without the CSRF token cannot change anything
    const noCsrf = await call('POST', '/api/v1/me/keys', { headers: { cookie: mia.session }, body: { name: 'x' } });
    assertError(noCsrf, 403, /CSRF/);
    // bodies: only name, expires_at / expires_in_s, models; models must be configured
    assertError(await mia.call('POST', '/api/v1/me/keys', { body: { name: 'x', limits: [] } }), 400, /unknown field 'limits'/);
    assertError(await mia.call('POST', '/api/v1/me/keys', { body: { name: 'x', owner_user: vic.userId } }), 400, /unknown field 'owner_user'/);
    assertError(await mia.call('POST', '/api/v1/me/keys', { body: { name: 'x', models: ['nope'] } }), 400, /models\[0\]: no model named 'nope'/);
    assertError(await mia.call('POST', '/api/v1/me/keys', { body: { name: 'x', models: 'm' } }), 400, /'models' must be null or an array/);
    assertError(await mia.call('POST', '/api/v1/me/keys', { body: { name: 'x', expires_at: 'soon' } }), 400, /expires_at/);
    assertError(await mia.call('POST', '/api/v1/me/keys', { body: '[1]', raw: true }), 400);
    const ttl = await mia.call('POST', '/api/v1/me/keys', { body: { name: 'short', expires_in_s: 3600 } });
    assert.equal(ttl.status, 201, ttl.text);
    assert.ok(Date.parse(ttl.json.expires_at) - Date.now() > 3590e3);
    // routes: wrong methods and paths
    assertError(await mia.call('DELETE', '/api/v1/me/keys'), 405);
    assertError(await mia.call('GET', `/api/v1/me/keys/${c.json.id}/revoke`), 405);
    assertError(await mia.call('POST', `/api/v1/me/keys/${c.json.id}/rotate`), 404);
    assertError(await mia.call('POST', '/api/v1/me/keys/bad$id/revoke'), 400);
    // a team key cannot use the settings API (it has no user)
    const team = await call('POST', '/api/v1/teams', { key: ADMIN_KEY, body: { name: `t${Date.now()}` } });
    const tk = await call('POST', '/api/v1/keys', { key: ADMIN_KEY, body: { name: 'tk', owner_team: team.json.id } });
    // a team key on the chat app's API (it has no user): 403 saying so
    for (const [method, p] of [['GET', '/api/v1/me/keys'], ['GET', '/api/v1/models'], ['GET', '/api/v1/conversations'], ['POST', '/api/v1/conversations']]) {
      const r = await call(method, p, { key: tk.json.key, body: method === 'POST' ? {} : undefined });
      assertError(r, 403, /the chat API needs a user/);
      assert.match(r.json.error.message, /team key has no conversations/);
    }
    // the admin API keeps its own message
    assertError(await call('GET', '/api/v1/users', { key: tk.json.key }), 403, /a team key cannot call the admin API/);
  });

  test('a user has at most 50 usable keys of their own (400 beyond; a revoke makes room)', T, async () => {
    const pw = `p-${crypto.randomBytes(8).toString('hex')}`;
    const r = await call('POST', '/api/v1/users', { key: ADMIN_KEY, body: { email: 'kim@example.com', role: 'member', password: pw } });
    assert.equal(r.status, 201, r.text);
    const kim = await login('kim@example.com', pw);
    // one that has expired already does not count
    const gone = await kim.call('POST', '/api/v1/me/keys', { body: { name: 'gone', expires_in_s: 1 } });
    assert.equal(gone.status, 201, gone.text);
    await new Promise((res) => setTimeout(res, 1100));
    const ids = [];
    for (let i = 0; i < 50; i++) {
      const c = await kim.call('POST', '/api/v1/me/keys', { body: { name: `k${i}` } });
      assert.equal(c.status, 201, `key ${i}: ${c.text}`);
      ids.push(c.json.id);
    }
    assertError(await kim.call('POST', '/api/v1/me/keys', { body: { name: 'k50' } }), 400, /50 usable keys of your own/);
    const rv = await kim.call('POST', `/api/v1/me/keys/${ids[0]}/revoke`);
    assert.equal(rv.status, 200, rv.text);
    const again = await kim.call('POST', '/api/v1/me/keys', { body: { name: 'k50' } });
    assert.equal(again.status, 201, again.text);
    assertError(await kim.call('POST', '/api/v1/me/keys', { body: { name: 'k51' } }), 400, /50 usable keys/);
    const list = await kim.call('GET', '/api/v1/me/keys');
    assert.equal(list.json.data.length, 52);
    const usable = (k) => k.revoked_at === null && (k.expires_at === null || Date.parse(k.expires_at) > Date.now());
    assert.equal(list.json.data.filter(usable).length, 50);
  });
});

test('auth.mode local: GET /api/v1/models answers without identity; /api/v1/me/keys is 404', T, async () => {
  const port = await freePort();
  const g = await startGateway({ port, config: `server: {listen: 127.0.0.1:${port}, workers: 1}\nauth: {mode: local}\n${MODELS}` });
  try {
    const r = await apiCall(g.origin, 'GET', '/api/v1/models');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, WANT_MODELS);
    const k = await apiCall(g.origin, 'GET', '/api/v1/me/keys');
    assert.equal(k.status, 404, k.text);
  } finally {
    await g.stop();
  }
});

test('config: a bad ui block exits 2 naming FILE:LINE and the key', T, () => {
  const cfg = tmpFile('bad-ui.yaml', 'models:\n  - name: m\n    provider: mock\n    ui:\n      lock: {temperature: 5}\n');
  const r = spawnSync(BIN, ['check-config', cfg], { encoding: 'utf8' });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, new RegExp(`${cfg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:5: models\\[0\\]\\.ui\\.lock\\.temperature: must be a number from 0 to 2`));
});
