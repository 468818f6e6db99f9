// Provider credentials end to end (issue 5, "Provider credentials"): an openai-compatible
// deployment with `api_key: credential:openai-main` against the mock upstream, which records the
// Authorization header it receives. Not set → 503; set through the admin API → requests carry
// it; rotated → the next request carries the new key without a restart; a second replica on the
// same database picks a change up (secrets.refresh_s); last4 only in the API; bad input; CSRF;
// audit rows without the value; the master key file (0600, refused when group-readable, wrong
// key → clear error); `switchyard rekey` then restart → still works; and the plaintext keys
// are in no database file, spool, stderr or API response.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { authConfigHead, BIN, apiCall, listFiles, startGateway, startMock, freePort, tmpFile, sleep } from './lib.mjs';

const T = { timeout: 60000 };
const ADMIN_PW = `pw-${crypto.randomBytes(12).toString('hex')}`;
const ADMIN_KEY = `sy-${crypto.randomBytes(32).toString('base64url')}`;
const KEYS = [1, 2, 3, 4].map((i) => `sk-cred${i}-${crypto.randomBytes(16).toString('hex')}`);
const ENV = { SWITCHYARD_ADMIN_PASSWORD: ADMIN_PW, SWITCHYARD_ADMIN_KEY: ADMIN_KEY };

const config = (port, dataDir, mockPort) => `${authConfigHead({ port, dataDir })}secrets:
  refresh_s: 1
models:
  - name: cred-echo
    provider: openai
    model: up-echo
    base_url: http://127.0.0.1:${mockPort}/v1
    api_key: credential:openai-main
  - name: plain
    provider: mock
  - name: cred-fb
    provider: openai
    model: up-echo
    base_url: http://127.0.0.1:${mockPort}/v1
    api_key: credential:never-set
    routing: {fallbacks: [plain]}
`;

let mock;
let dataDir;
const gws = []; // every gateway started: their stderr is searched at the end
const responses = []; // [label, text] of every API response
let gw;

// admin key unless key is given (null: none)
const call = (g, method, p, { key = ADMIN_KEY, ...opts } = {}) =>
  apiCall(g.origin, method, p, { key, ...opts, log: responses });

const chat = (g, model = 'cred-echo') =>
  call(g, 'POST', '/v1/chat/completions', { body: { model, messages: [{ role: 'user', content: 'hi' }] } });

// The Authorization header of the mock's last recorded request.
async function lastAuth() {
  const reqs = await mock.requests();
  assert.ok(reqs.length > 0, 'the mock saw no request');
  return reqs[reqs.length - 1].headers.authorization;
}

async function start(port, env = {}) {
  const g = await startGateway({ port, config: config(port, dataDir, mock.port), env: { ...ENV, ...env } });
  gws.push(g);
  return g;
}

// Runs the binary to completion (not a server): {status, stdout, stderr}.
function run(args, env = {}) {
  const r = spawnSync(BIN, args, { env: { ...process.env, ...ENV, ...env }, encoding: 'utf8', timeout: 20000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function assertError(r, status, { param, type } = {}) {
  assert.equal(r.status, status, r.text);
  assert.deepEqual(Object.keys(r.json), ['error']);
  assert.ok(r.json.error.message.length > 0);
  if (param !== undefined) assert.equal(r.json.error.param, param);
  if (type !== undefined) assert.equal(r.json.error.type, type);
}

describe('credentials', () => {
  let port;
  before(async () => {
    mock = await startMock();
    dataDir = tmpFile('cred-data');
    fs.mkdirSync(dataDir);
    port = await freePort();
    gw = await start(port);
  });
  after(async () => {
    for (const g of gws) g.kill();
    if (mock) await mock.stop();
  });

  test('first start: key file created 0600; credential not set → warning with file:line, 503', T, async () => {
    const kf = path.join(dataDir, 'master.key');
    assert.equal(fs.statSync(kf).mode & 0o777, 0o600);
    assert.match(fs.readFileSync(kf, 'utf8'), /^[A-Za-z0-9+/]{43}=\n$/);
    assert.match(gw.stderr(), /created the master key file .*master\.key \(mode 0600\)/);
    assert.match(gw.stderr(), /switchyard\.yaml:(\d+): api_key: warning: credential 'openai-main' is not set: deployment 'cred-echo' answers 503/);
    const line = Number(/switchyard\.yaml:(\d+): api_key: warning: credential 'openai-main'/.exec(gw.stderr())[1]);
    assert.equal(fs.readFileSync(gw.configPath, 'utf8').split('\n')[line - 1], '  - name: cred-echo');
    const r = await chat(gw);
    assertError(r, 503);
    assert.match(r.json.error.message, /credential 'openai-main', which is not set/);
    assert.match(r.json.error.message, /PUT \/api\/v1\/credentials\/openai-main/);
    assert.equal((await chat(gw, 'plain')).status, 200, 'other models are not affected');
    // a model whose deployment has no credential falls back like for an unreachable upstream
    const n = (await mock.requests()).length;
    const fb = await chat(gw, 'cred-fb');
    assert.equal(fb.status, 200, fb.text);
    assert.match(fb.headers.get('x-switchyard-attempts'), /^cred-fb unreachable \d+ms, plain 200 \d+ms$/);
    assert.equal((await mock.requests()).length, n, 'nothing was sent upstream without a key');
  });

  test('set via the API → requests carry it; GET shows last4 only', T, async () => {
    const put = await call(gw, 'PUT', '/api/v1/credentials/openai-main', { body: { value: KEYS[0], provider: 'openai' } });
    assert.equal(put.status, 201, put.text);
    assert.equal(put.json.object, 'credential');
    assert.equal(put.json.name, 'openai-main');
    assert.equal(put.json.provider, 'openai');
    assert.equal(put.json.last4, KEYS[0].slice(-4));
    assert.deepEqual(put.json.deployments, ['cred-echo']);
    assert.match(put.json.master_key_id, /^[0-9a-f]{16}$/);
    assert.equal(put.json.master_key_current, true);
    assert.match(put.json.updated_by, /^key:/);
    assert.equal(put.json.value, undefined);
    assert.equal(put.headers.get('cache-control'), 'no-store');
    const r = await chat(gw);
    assert.equal(r.status, 200, r.text);
    assert.equal(await lastAuth(), `Bearer ${KEYS[0]}`);
    const one = await call(gw, 'GET', '/api/v1/credentials/openai-main');
    assert.equal(one.status, 200, one.text);
    assert.equal(one.json.last4, KEYS[0].slice(-4));
    assert.equal(one.json.created_at, one.json.updated_at);
    const list = await call(gw, 'GET', '/api/v1/credentials');
    assert.equal(list.status, 200);
    assert.equal(list.json.object, 'list');
    assert.deepEqual(list.json.data.map((c) => c.name), ['openai-main']);
    assert.equal((await call(gw, 'GET', '/api/v1/credentials/nope')).status, 404);
  });

  test('rotate via the API → the next request carries the new key, no restart', T, async () => {
    const pid = gw.pid;
    const put = await call(gw, 'PUT', '/api/v1/credentials/openai-main', { body: { value: KEYS[1] } });
    assert.equal(put.status, 200, put.text); // replaced
    assert.equal(put.json.last4, KEYS[1].slice(-4));
    assert.equal(put.json.provider, null);
    assert.notEqual(put.json.created_at, put.json.updated_at);
    for (let i = 0; i < 4; i++) {
      // both worker threads (2 workers): every request carries the new key
      const r = await chat(gw);
      assert.equal(r.status, 200, r.text);
      assert.equal(await lastAuth(), `Bearer ${KEYS[1]}`);
    }
    assert.equal(gw.pid, pid);
  });

  test('bad input: OpenAI error JSON, the server keeps serving', T, async () => {
    const put = (p, body, raw) => call(gw, 'PUT', p, { body, raw });
    assertError(await put('/api/v1/credentials/bad%20name', { value: 'x'.repeat(20) }), 400, { param: 'name' });
    assertError(await put(`/api/v1/credentials/${'n'.repeat(65)}`, { value: 'x'.repeat(20) }), 400, { param: 'name' });
    assertError(await put('/api/v1/credentials/ok', { value: 'x'.repeat(4097) }), 400, { param: 'value' });
    assertError(await put('/api/v1/credentials/ok', { value: 'has space here' }), 400, { param: 'value' });
    assertError(await put('/api/v1/credentials/ok', { value: 'line\nbreak' }), 400, { param: 'value' });
    assertError(await put('/api/v1/credentials/ok', { value: '' }), 400, { param: 'value' });
    assertError(await put('/api/v1/credentials/ok', { provider: 'openai' }), 400, { param: 'value' });
    assertError(await put('/api/v1/credentials/ok', { value: 'abcdefghijkl', provider: 7 }), 400, { param: 'provider' });
    assertError(await put('/api/v1/credentials/ok', { value: 'abcdefghijkl', extra: 1 }), 400);
    assertError(await put('/api/v1/credentials/ok', '{"value":', true), 400);
    assertError(await put('/api/v1/credentials/ok', '[]', true), 400);
    assertError(await call(gw, 'POST', '/api/v1/credentials/ok', { body: {} }), 405);
    assertError(await call(gw, 'PUT', '/api/v1/credentials', { body: {} }), 405);
    assertError(await call(gw, 'DELETE', '/api/v1/credentials/nope'), 404);
    // a maximal value is accepted (and then deleted)
    const big = await put('/api/v1/credentials/big.one_2', { value: 'Z'.repeat(4096) });
    assert.equal(big.status, 201, big.text);
    assert.deepEqual(big.json.deployments, []);
    assert.equal((await call(gw, 'DELETE', '/api/v1/credentials/big.one_2')).status, 200);
    // no key / wrong key
    assertError(await call(gw, 'GET', '/api/v1/credentials', { key: null }), 401);
    assertError(await call(gw, 'PUT', '/api/v1/credentials/x1', { key: `sy-${'A'.repeat(43)}`, body: { value: 'abcdefghijklm' } }), 401);
    assert.equal((await chat(gw)).status, 200, 'still serving');
  });

  test('member is refused (403); a session needs the CSRF token', T, async () => {
    const email = `member-${crypto.randomBytes(4).toString('hex')}@example.com`;
    const pw = `member-${crypto.randomBytes(8).toString('hex')}`;
    const u = await call(gw, 'POST', '/api/v1/users', { body: { email, role: 'member', password: pw } });
    assert.equal(u.status, 201, u.text);
    const k = await call(gw, 'POST', '/api/v1/keys', { body: { name: 'mk', owner_user: u.json.id } });
    assert.equal(k.status, 201, k.text);
    assertError(await call(gw, 'GET', '/api/v1/credentials', { key: k.json.key }), 403);
    assertError(await call(gw, 'PUT', '/api/v1/credentials/x2', { key: k.json.key, body: { value: 'abcdefghijklm' } }), 403);
    const login = await call(gw, 'POST', '/api/v1/auth/login', { key: null, body: { email: 'admin@localhost', password: ADMIN_PW } });
    assert.equal(login.status, 200, login.text);
    const cookie = login.headers.get('set-cookie').split(';')[0];
    const noCsrf = await call(gw, 'PUT', '/api/v1/credentials/openai-main', { key: null, headers: { cookie }, body: { value: KEYS[2] } });
    assertError(noCsrf, 403);
    assert.match(noCsrf.json.error.message, /CSRF/);
    // refused: the key in use did not change
    assert.equal((await chat(gw)).status, 200);
    assert.equal(await lastAuth(), `Bearer ${KEYS[1]}`);
    const ok = await call(gw, 'GET', '/api/v1/credentials', { key: null, headers: { cookie } });
    assert.equal(ok.status, 200, 'a GET with a session needs no CSRF token');
  });

  test('a second replica on the same database: its change reaches this one (refresh_s)', T, async () => {
    const port2 = await freePort();
    const gw2 = await start(port2);
    const put = await call(gw2, 'PUT', '/api/v1/credentials/openai-main', { body: { value: KEYS[2] } });
    assert.equal(put.status, 200, put.text);
    let seen = null;
    for (let i = 0; i < 40 && seen !== `Bearer ${KEYS[2]}`; i++) {
      await sleep(100);
      assert.equal((await chat(gw)).status, 200);
      seen = await lastAuth();
    }
    assert.equal(seen, `Bearer ${KEYS[2]}`, 'replica 1 did not pick up the change within 4 s');
    // delete on replica 2: replica 1 answers 503 again after a refresh
    assert.equal((await call(gw2, 'DELETE', '/api/v1/credentials/openai-main')).status, 200);
    assertError(await chat(gw2), 503); // at once on the replica that deleted it
    let status = 200;
    for (let i = 0; i < 40 && status === 200; i++) {
      await sleep(100);
      status = (await chat(gw)).status;
    }
    assert.equal(status, 503);
    await gw2.stop();
    const put3 = await call(gw, 'PUT', '/api/v1/credentials/openai-main', { body: { value: KEYS[2], provider: 'openai' } });
    assert.equal(put3.status, 201, put3.text);
    assert.equal((await chat(gw)).status, 200);
  });

  test('audit rows for every change, never the value', T, async () => {
    const r = await call(gw, 'GET', '/api/v1/audit?limit=1000');
    assert.equal(r.status, 200);
    const acts = r.json.data.filter((e) => e.action.startsWith('credential'));
    const sets = acts.filter((e) => e.action === 'credential.set' && e.target === 'openai-main');
    assert.equal(sets.length, 4, JSON.stringify(sets)); // KEYS[0], KEYS[1], KEYS[2] (replica 2), KEYS[2] again
    assert.deepEqual(sets[0].detail, { provider: 'openai', created: true, deployments: ['cred-echo'] });
    assert.ok(acts.some((e) => e.action === 'credential.delete' && e.target === 'openai-main'));
    assert.ok(acts.some((e) => e.action === 'credentials.list'));
    assert.ok(acts.some((e) => e.action === 'credential.get' && e.target === 'openai-main'));
    for (const k of KEYS) assert.ok(!r.text.includes(k) && !r.text.includes(k.slice(-4) + '"'));
  });

  test('rekey, restart → still works; wrong master key and a readable key file are refused', T, async () => {
    await gw.stop();
    const kf = path.join(dataDir, 'master.key');
    const before = fs.readFileSync(kf, 'utf8');
    const r = run(['rekey', '--config', gw.configPath]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /rekey: 1 credential re-encrypted under master key [0-9a-f]{16} \(was [0-9a-f]{16}\)/);
    assert.match(r.stdout, /now holds the new key \(generated\)/);
    const after = fs.readFileSync(kf, 'utf8');
    assert.notEqual(after, before);
    assert.equal(fs.statSync(kf).mode & 0o777, 0o600);
    assert.deepEqual(fs.readdirSync(dataDir).filter((f) => f.startsWith('master.key')), ['master.key']);
    // the old key can no longer open the credential: a clear start error
    const oldKey = before.trim();
    const port3 = await freePort();
    await assert.rejects(start(port3, { SWITCHYARD_MASTER_KEY: oldKey }), (e) => {
      assert.match(e.message, /code 2/);
      assert.match(e.message, /switchyard\.yaml:\d+: api_key: credential 'openai-main' was sealed under another master key/);
      return true;
    });
    // rekey again with the new key given in the environment (hex form), then restart
    const hex = crypto.randomBytes(32).toString('hex');
    const r2 = run(['rekey', '--config', gw.configPath], { SWITCHYARD_NEW_MASTER_KEY: hex });
    assert.equal(r2.status, 0, r2.stderr);
    assert.equal(fs.readFileSync(kf, 'utf8').trim(), Buffer.from(hex, 'hex').toString('base64'));
    gw = await start(port);
    assert.doesNotMatch(gw.stderr(), /'openai-main' is not set|created the master key/);
    const c = await chat(gw);
    assert.equal(c.status, 200, c.text);
    assert.equal(await lastAuth(), `Bearer ${KEYS[2]}`);
    // the same key given in the environment works too
    await gw.stop();
    gw = await start(port, { SWITCHYARD_MASTER_KEY: hex });
    assert.equal((await chat(gw)).status, 200);
    await gw.stop();
    gw = null;
    // group-readable key file: refused with the chmod to run
    fs.chmodSync(kf, 0o640);
    await assert.rejects(start(port), (e) => {
      assert.match(e.message, /code 2/);
      assert.match(e.message, /readable or writable by group or others.*chmod 600/);
      return true;
    });
    fs.chmodSync(kf, 0o600);
    // rekey refuses without the current key, and from an env key without a new one
    const bad = run(['rekey', '--config', gw2ConfigPath()], { SWITCHYARD_MASTER_KEY: crypto.randomBytes(32).toString('hex') });
    assert.equal(bad.status, 2, bad.stdout + bad.stderr);
    assert.match(bad.stderr, /give the new one in SWITCHYARD_NEW_MASTER_KEY/);
    const wrong = run(['rekey', '--config', gw2ConfigPath()], {
      SWITCHYARD_MASTER_KEY: crypto.randomBytes(32).toString('hex'),
      SWITCHYARD_NEW_MASTER_KEY: crypto.randomBytes(32).toString('hex'),
    });
    assert.equal(wrong.status, 2, wrong.stdout + wrong.stderr);
    assert.match(wrong.stderr, /sealed under another master key.*nothing was changed/);
    // a row written under an old key (a gateway still running the old key during a rolling
    // rekey): flagged by master_key_current, repaired by a rekey given both keys
    const oldHex = crypto.randomBytes(32).toString('hex');
    const noCredCfg = config(port, dataDir, mock.port).replace(/models:[\s\S]*$/, 'models:\n  - {name: plain, provider: mock}\n');
    const stale = await startGateway({ port, config: noCredCfg, env: { ...ENV, SWITCHYARD_MASTER_KEY: oldHex } });
    gws.push(stale);
    const sp = await call(stale, 'PUT', '/api/v1/credentials/stray', { body: { value: KEYS[3] } });
    assert.equal(sp.status, 201, sp.text);
    await stale.stop();
    gw = await start(port);
    assert.equal((await chat(gw)).status, 200);
    let list = await call(gw, 'GET', '/api/v1/credentials');
    assert.deepEqual(list.json.data.map((c) => [c.name, c.master_key_current]), [['openai-main', true], ['stray', false]]);
    await gw.stop();
    const repair = run(['rekey', '--config', gw.configPath], { SWITCHYARD_MASTER_KEY: oldHex, SWITCHYARD_NEW_MASTER_KEY: hex });
    assert.equal(repair.status, 0, repair.stderr);
    assert.match(repair.stdout, /rekey: 1 credential re-encrypted .*; some were already under the new key/);
    assert.match(repair.stdout, /set SWITCHYARD_MASTER_KEY to the new key/);
    assert.equal(fs.readFileSync(kf, 'utf8').trim(), Buffer.from(hex, 'hex').toString('base64'), 'key file untouched');
    gw = await start(port);
    list = await call(gw, 'GET', '/api/v1/credentials');
    assert.deepEqual(list.json.data.map((c) => [c.name, c.master_key_current]), [['openai-main', true], ['stray', true]]);
    assert.equal((await chat(gw)).status, 200);
    await gw.stop();
    gw = null;
  });

  test('a refused key file stops the start before the first-start admin is made', T, async () => {
    const d2 = tmpFile('cred-data2');
    fs.mkdirSync(d2);
    const kf = path.join(d2, 'master.key');
    fs.writeFileSync(kf, `${crypto.randomBytes(32).toString('base64')}\n`, { mode: 0o644 });
    fs.chmodSync(kf, 0o644);
    const p2 = await freePort();
    const cfg = config(p2, d2, mock.port);
    await assert.rejects(startGateway({ port: p2, config: cfg, env: ENV }), (e) => {
      assert.match(e.message, /code 2/);
      assert.match(e.message, /master key: .*master\.key: the master key file is readable or writable by group or others/);
      assert.doesNotMatch(e.message, /created the admin user/);
      return true;
    });
    fs.chmodSync(kf, 0o600);
    const g2 = await startGateway({ port: p2, config: cfg, env: ENV });
    gws.push(g2);
    assert.match(g2.stderr(), /first start: created the admin user/);
    assert.doesNotMatch(g2.stderr(), /created the master key file/);
    await g2.stop();
  });

  test('secrets: no provider key in the db files, spool, stderr or any API response', T, async () => {
    const files = listFiles(dataDir);
    assert.ok(files.some((f) => f.endsWith('.db')), `the SQLite file is there: ${files}`);
    assert.ok(files.some((f) => f.includes('spool')), `the spool is there: ${files}`);
    for (const f of files) {
      const bytes = fs.readFileSync(f);
      for (const k of KEYS) assert.equal(bytes.indexOf(k), -1, `${k.slice(0, 9)}… found in ${f}`);
    }
    assert.ok(gws.length >= 5);
    for (const g of gws) for (const k of KEYS) assert.ok(!g.stderr().includes(k) && !g.stdout().includes(k), `${k.slice(0, 9)}… in a gateway's output`);
    assert.ok(responses.length > 40);
    for (const [label, text] of responses) for (const k of KEYS) assert.ok(!text.includes(k), `${k.slice(0, 9)}… in the response to ${label}`);
  });
});

// the config of the last gateway started (same data dir as every other)
function gw2ConfigPath() {
  return gws[gws.length - 1].configPath;
}

// The same on PostgreSQL (a throwaway server from tests/pg_server.sh; it failing to start fails
// the test): set, use, rekey with the gateway stopped, restart, use; the table holds no
// plaintext.
describe('credentials on PostgreSQL', () => {
  test('set, use, rekey, restart, use; no plaintext in the table', T, async () => {
    const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-cred-pg-'));
    const r = spawnSync('bash', [path.join(REPO, 'tests', 'pg_server.sh'), 'start', dir, String(process.pid)], { encoding: 'utf8' });
    assert.equal(r.status, 0, `PostgreSQL did not start (tests/pg_server.sh):\n${r.stderr}`);
    const url = /^PG_URL=(.*)$/m.exec(r.stdout)?.[1];
    const pgMock = await startMock();
    const data = tmpFile('cred-pg-data');
    fs.mkdirSync(data);
    const port = await freePort();
    const cfg = config(port, data, pgMock.port).replace('log:\n', 'log:\n  store: env:SY_E2E_PG_URL\n');
    const env = { ...ENV, SY_E2E_PG_URL: url };
    const key = `sk-pg-${crypto.randomBytes(16).toString('hex')}`;
    let g = await startGateway({ port, config: cfg, env });
    try {
      const put = await apiCall(g.origin, 'PUT', '/api/v1/credentials/openai-main', { key: ADMIN_KEY, body: { value: key } });
      assert.equal(put.status, 201, put.text);
      const body = { model: 'cred-echo', messages: [{ role: 'user', content: 'hi' }] };
      assert.equal((await apiCall(g.origin, 'POST', '/v1/chat/completions', { key: ADMIN_KEY, body })).status, 200);
      let reqs = await pgMock.requests();
      assert.equal(reqs[reqs.length - 1].headers.authorization, `Bearer ${key}`);
      await g.stop();
      const rk = spawnSync(BIN, ['rekey', '--config', g.configPath], { env: { ...process.env, ...env }, encoding: 'utf8' });
      assert.equal(rk.status, 0, rk.stderr);
      assert.match(rk.stdout, /rekey: 1 credential re-encrypted/);
      g = await startGateway({ port, config: cfg, env });
      assert.equal((await apiCall(g.origin, 'POST', '/v1/chat/completions', { key: ADMIN_KEY, body })).status, 200);
      reqs = await pgMock.requests();
      assert.equal(reqs[reqs.length - 1].headers.authorization, `Bearer ${key}`);
      const psql = fs.readdirSync('/usr/lib/postgresql').sort((a, b) => b - a)[0];
      const dump = spawnSync(path.join('/usr/lib/postgresql', psql, 'bin', 'psql'), [url, '-At', '-c',
        'SELECT c::text FROM credentials c UNION ALL SELECT a::text FROM audit_log a UNION ALL ' +
        'SELECT coalesce(error_message, \'\') || coalesce(request_body, \'\') FROM inference_log'], { encoding: 'utf8' });
      assert.equal(dump.status, 0, dump.stderr);
      assert.ok(dump.stdout.includes('openai-main'), 'the dump has the credential row');
      assert.ok(!dump.stdout.includes(key), 'the plaintext is in PostgreSQL');
      assert.ok(!g.stderr().includes(key));
    } finally {
      await g.stop();
      await pgMock.stop();
      spawnSync('bash', [path.join(REPO, 'tests', 'pg_server.sh'), 'stop', dir]);
    }
  });
});
