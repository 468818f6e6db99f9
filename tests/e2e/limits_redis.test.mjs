// The test: three gateway processes share a real redis-server (limits.backend: redis)
// and a PostgreSQL app-data store (one key created through the admin API works on all three),
// both started here on free loopback ports. A 100 requests/minute key hit by 1,000 requests
// spread across the three admits exactly 100 (the rest are 429). Then Redis is stopped: the
// fail-closed gateways answer 503 (and count it), a fail-open one admits (and counts it).

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { REPO, startGateway, startRedis, freePort, tmpFile } from './lib.mjs';

const T = { timeout: 120000 };
const ADMIN_KEY = `sy-${crypto.randomBytes(32).toString('base64url')}`;
const PG = path.join(REPO, 'tests', 'pg_server.sh');
const BODY = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 16 });

const config = (port, redisPort, { failOpen = false, store = 'env:SY_E2E_PG_URL', auth = 'required' } = {}) => {
  const data = tmpFile('data');
  fs.mkdirSync(data);
  return `server: {listen: 127.0.0.1:${port}, workers: 2}
data_dir: ${data}
log:
  store: "${store}"
  batch_ms: 50
auth: {mode: ${auth}, key_cache_ttl_s: 60}
limits:
  backend: redis
  # generous: the test machine is shared and loaded; a slow reply must not look like an outage
  redis: {host: 127.0.0.1, port: ${redisPort}, fail_open: ${failOpen}, timeout_ms: 1500}
  defaults:
    key: ["1000/minute"]
models:
  - name: m
    provider: mock
    mock: {latency_ms: 0, chunks: 1, chunk_delay_ms: 0, prompt_tokens: 5, completion_tokens: 5}
`;
};

async function chat(gw, key) {
  const r = await fetch(`${gw.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
    body: BODY,
  });
  const text = await r.text();
  return { status: r.status, headers: r.headers, text };
}

const metric = async (gw, re) => Number((re.exec(await (await fetch(`${gw.origin}/metrics`)).text()) ?? [])[1]);

describe('three replicas, one Redis, one PostgreSQL', () => {
  let redis, pgDir, pgUrl;
  const gws = [];
  let local;

  before(async () => {
    redis = await startRedis();
    pgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-limits-pg-'));
    const r = spawnSync('bash', [PG, 'start', pgDir, String(process.pid)], { encoding: 'utf8' });
    assert.equal(r.status, 0, `PostgreSQL did not start (tests/pg_server.sh):\n${r.stderr}`);
    pgUrl = /^PG_URL=(.*)$/m.exec(r.stdout)?.[1];
    assert.ok(pgUrl, r.stdout);
    // one after the other: the first creates the admin (the others find it)
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      gws.push(
        await startGateway({
          port,
          config: config(port, redis.port),
          env: { SY_E2E_PG_URL: pgUrl, SWITCHYARD_ADMIN_KEY: ADMIN_KEY, SWITCHYARD_ADMIN_PASSWORD: `pw-${crypto.randomBytes(8).toString('hex')}` },
        }),
      );
    }
    // a fourth, single-user, fail-open gateway on the same Redis (its own SQLite log)
    const lport = await freePort();
    local = await startGateway({ port: lport, config: config(lport, redis.port, { failOpen: true, store: 'sqlite:', auth: 'local' }) });
  });

  after(async () => {
    try {
      for (const g of gws) await g.stop(); // a clean exit (code 0: no sanitizer report either)
      await local?.stop();
    } finally {
      for (const g of [...gws, local]) g?.kill();
      await redis?.stop();
      if (pgDir) spawnSync('bash', [PG, 'stop', pgDir]);
    }
  });

  test('a 100/minute key hit by 1,000 requests across three replicas admits exactly 100', T, async () => {
    const mk = await fetch(`${gws[0].origin}/api/v1/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'shared', limits: ['100/minute'] }),
    });
    assert.equal(mk.status, 201);
    const key = (await mk.json()).key;
    // the key works on every replica (each loads it from PostgreSQL)
    for (const g of gws) assert.equal((await chat(g, key)).status, 200);
    const counts = { 200: 3 };
    let next = 0;
    const worker = async () => {
      while (next < 997) {
        const i = next++;
        const r = await chat(gws[i % 3], key);
        counts[r.status] = (counts[r.status] ?? 0) + 1;
        if (r.status === 429) assert.match(r.headers.get('retry-after') ?? '', /^\d+$/);
        else assert.equal(r.status, 200, r.text);
      }
    };
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 30 }, worker));
    const secs = (Date.now() - t0) / 1000;
    assert.ok(secs < 55, `the burst must fit in the minute window (took ${secs} s)`);
    assert.deepEqual(counts, { 200: 100, 429: 900 }, `took ${secs} s`);
    // every replica refused some (the requests were spread), and the limit held across them
    for (const g of gws) assert.ok((await metric(g, /^switchyard_limits_denied_total\{reason="rate"\} (\d+)$/m)) > 100);
    const admitted = await Promise.all(gws.map((g) => metric(g, /^switchyard_limits_admitted_total (\d+)$/m)));
    assert.equal(admitted.reduce((a, b) => a + b), 100);
  });

  test('tokens are reconciled with the real usage through the owning loop (Redis backend)', T, async () => {
    const mk = await fetch(`${gws[2].origin}/api/v1/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'tokens', limits: ['1000 tokens/minute'] }),
    });
    const key = (await mk.json()).key;
    const est = 16 + Math.floor(BODY.length / 4); // max_tokens + body bytes / 4
    const a = await chat(gws[2], key);
    assert.equal(a.headers.get('x-ratelimit-remaining-tokens'), String(1000 - est));
    await new Promise((res) => setTimeout(res, 300)); // the writer settles, the loop finishes
    const b = await chat(gws[2], key);
    // the first request's estimate was replaced by its real usage: 5 + 5 tokens
    assert.equal(b.headers.get('x-ratelimit-remaining-tokens'), String(1000 - 10 - est));
  });

  test('Redis down: fail-closed answers 503 and counts it; fail-open admits and counts it', T, async () => {
    assert.equal((await chat(local)).status, 200); // connected
    await redis.stop();
    const r = await chat(gws[1], ADMIN_KEY);
    assert.equal(r.status, 503, r.text);
    assert.equal(r.headers.get('retry-after'), '1');
    assert.equal(JSON.parse(r.text).error.code, 'rate_limiter_unavailable');
    const r2 = await chat(gws[1], ADMIN_KEY); // reconnects at most once a second: fails at once
    assert.equal(r2.status, 503);
    assert.equal(await metric(gws[1], /^switchyard_limits_backend_failures_total\{mode="closed"\} (\d+)$/m), 2);
    assert.equal(await metric(gws[1], /^switchyard_limits_denied_total\{reason="unavailable"\} (\d+)$/m), 2);
    const o = await chat(local);
    assert.equal(o.status, 200, o.text);
    assert.equal(o.headers.get('x-ratelimit-limit-requests'), null); // unbacked: no headers
    assert.equal(await metric(local, /^switchyard_limits_backend_failures_total\{mode="open"\} (\d+)$/m), 1);
    assert.equal(await metric(local, /^switchyard_limits_backend_failures_total\{mode="closed"\} (\d+)$/m), 0);
    // Redis back on the same port: the replicas reconnect and limit again
    redis = await startRedis({ port: redis.port });
    let ok = null;
    for (let i = 0; i < 40 && ok === null; i++) {
      const x = await chat(gws[1], ADMIN_KEY);
      if (x.status === 200) ok = x;
      else await new Promise((res) => setTimeout(res, 100));
    }
    assert.ok(ok, 'a replica reconnects to Redis');
    assert.equal(ok.headers.get('x-ratelimit-limit-requests'), '1000');
  });
});
