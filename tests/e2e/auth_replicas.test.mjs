// The key cache across replicas: two gateway processes share a PostgreSQL app-data store
// (started here on a free loopback port) with auth.key_cache_ttl_s 1. A key revoked through one
// replica stops working on the other within the TTL plus the stale grace (min(TTL, 2 s)); past the
// TTL a cached key is served, for that grace, while one background reload runs (requests never wait for the store when an
// entry ages out), and that reload is what picks up the revocation.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { REPO, startGateway, freePort, tmpFile, sleep } from './lib.mjs';

const T = { timeout: 60000 };
const ADMIN_KEY = `sy-${crypto.randomBytes(32).toString('base64url')}`;
const PG = path.join(REPO, 'tests', 'pg_server.sh');
const BODY = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });

const config = (port) => {
  const data = tmpFile('data');
  fs.mkdirSync(data);
  return `server: {listen: 127.0.0.1:${port}, workers: 1}
data_dir: ${data}
log: {store: "env:SY_E2E_PG_URL", batch_ms: 50}
auth: {mode: required, key_cache_ttl_s: 1}
models:
  - name: m
    provider: mock
    mock: {latency_ms: 0, chunks: 1, chunk_delay_ms: 0, prompt_tokens: 5, completion_tokens: 5}
`;
};

const chat = async (gw, key) =>
  (
    await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: BODY,
    })
  ).status;

const admin = (gw, p, body) =>
  fetch(`${gw.origin}${p}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body ?? {}),
  });

const reloads = async (gw) =>
  Number(/^switchyard_auth_cache_reloads_total (\d+)$/m.exec(await (await fetch(`${gw.origin}/metrics`)).text())?.[1]);

describe('key cache across two replicas (PostgreSQL, key_cache_ttl_s 1)', () => {
  let pgDir;
  const gws = [];

  before(async () => {
    pgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-auth-pg-'));
    const r = spawnSync('bash', [PG, 'start', pgDir, String(process.pid)], { encoding: 'utf8' });
    assert.equal(r.status, 0, `PostgreSQL did not start (tests/pg_server.sh):\n${r.stderr}`);
    const pgUrl = /^PG_URL=(.*)$/m.exec(r.stdout)?.[1];
    assert.ok(pgUrl, r.stdout);
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      gws.push(
        await startGateway({
          port,
          config: config(port),
          env: { SY_E2E_PG_URL: pgUrl, SWITCHYARD_ADMIN_KEY: ADMIN_KEY, SWITCHYARD_ADMIN_PASSWORD: `pw-${crypto.randomBytes(8).toString('hex')}` },
        }),
      );
    }
  });

  after(async () => {
    try {
      for (const g of gws) await g.stop();
    } finally {
      for (const g of gws) g?.kill();
      if (pgDir) spawnSync('bash', [PG, 'stop', pgDir]);
    }
  });

  test('a busy key keeps working across many TTLs (stale entries reloaded in the background)', T, async () => {
    const mk = await admin(gws[0], '/api/v1/keys', { name: 'busy' });
    assert.equal(mk.status, 201);
    const { key, id } = await mk.json();
    const statuses = {};
    const t0 = Date.now();
    while (Date.now() - t0 < 3500) {
      const s = await chat(gws[1], key);
      statuses[s] = (statuses[s] ?? 0) + 1;
    }
    assert.deepEqual(Object.keys(statuses), ['200'], JSON.stringify(statuses));
    // the background reloads reached the store: each records the key's last use
    const info = await (await fetch(`${gws[0].origin}/api/v1/keys/${id}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })).json();
    const lastUsed = Date.parse(info.last_used_at);
    assert.ok(lastUsed - t0 >= 1500, `last use ${info.last_used_at} (started ${new Date(t0).toISOString()})`);
    // one request waited for the store (the first); every later lookup was a hit, those past
    // the TTL served stale while one reload per TTL ran
    const m = await (await fetch(`${gws[1].origin}/metrics`)).text();
    const val = (re) => Number((re.exec(m) ?? [])[1]);
    const total = Object.values(statuses).reduce((a, b) => a + b);
    assert.equal(val(/^switchyard_auth_cache_lookups_total\{result="miss"\} (\d+)$/m), 1, m);
    assert.equal(val(/^switchyard_auth_cache_lookups_total\{result="hit"\} (\d+)$/m), total - 1);
    const reloads = val(/^switchyard_auth_cache_reloads_total (\d+)$/m);
    assert.ok(reloads >= 2 && reloads <= 4, `reloads ${reloads}`);
    assert.ok(val(/^switchyard_auth_cache_stale_hits_total (\d+)$/m) >= reloads);
  });

  test('revoked on one replica: the other stops it within the TTL and one reload', T, async () => {
    const mk = await admin(gws[0], '/api/v1/keys', { name: 'revoked-elsewhere' });
    assert.equal(mk.status, 201);
    const k = await mk.json();
    assert.equal(await chat(gws[1], k.key), 200); // cached on replica 1
    const reloadsBefore = await reloads(gws[1]);
    assert.equal((await admin(gws[0], `/api/v1/keys/${k.id}/revoke`)).status, 200);
    assert.equal(await chat(gws[0], k.key), 401); // the revoking replica forgets at once
    const t0 = Date.now();
    let status = 200;
    let served = 0;
    while (status === 200 && Date.now() - t0 < 10000) {
      status = await chat(gws[1], k.key);
      if (status === 200) served++;
      await sleep(20);
    }
    const took = Date.now() - t0;
    assert.equal(status, 401, `still served after ${took} ms`);
    assert.ok(served >= 1, 'the fresh cache entry served the key until its TTL');
    // 1 s TTL, then the stale entry serves while the reload runs: well under 2 TTLs on a loaded machine
    assert.ok(took < 2500, `took ${took} ms`);
    // the revocation came in with a background reload (the stale entry was not a miss)
    assert.ok((await reloads(gws[1])) > reloadsBefore);
  });
});
