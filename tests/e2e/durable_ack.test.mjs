// log.fsync always when the spool cannot be made durable: fdatasync fails (an LD_PRELOAD shim
// makes it fail with EIO while a flag file exists). A held response must not hang and must not
// be acknowledged: after log.ack_timeout_ms the connection closes without it; the gateway keeps
// serving, and once the disk recovers the rows become durable (and acknowledged) again without
// needing more traffic to retry the sync.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startGateway, freePort, curl, tmpFile, now, sleep } from './lib.mjs';

const T = { timeout: 60000 };
let gw;
let flag;
let dataDir;

const SHIM = `#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
int fdatasync(int fd)
{
    static int (*real)(int);
    const char *f = getenv("SY_TEST_FAIL_SYNC");
    if (f && access(f, F_OK) == 0) {
        errno = EIO;
        return -1;
    }
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    return real(fd);
}
`;

before(async () => {
  const dir = tmpFile('sync-shim');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'shim.c'), SHIM);
  const so = path.join(dir, 'shim.so');
  const cc = spawnSync('cc', ['-shared', '-fPIC', '-o', so, path.join(dir, 'shim.c'), '-ldl'], { encoding: 'utf8' });
  assert.equal(cc.status, 0, `cannot build the fdatasync shim: ${cc.stderr}`);
  flag = path.join(dir, 'fail-sync');
  dataDir = tmpFile('durable-data');
  const port = await freePort();
  const config = `server:\n  listen: 127.0.0.1:${port}\n  workers: 1\ndata_dir: ${dataDir}\nlog:\n  fsync: always\n  ack_timeout_ms: 1000\n  batch_ms: 100\nmodels:\n  - name: m\n    provider: mock\n    mock: {latency_ms: 0, chunks: 2, chunk_delay_ms: 0}\n`;
  const asan = [process.env.ASAN_OPTIONS, 'verify_asan_link_order=0'].filter(Boolean).join(':');
  gw = await startGateway({ config, port, env: { LD_PRELOAD: so, SY_TEST_FAIL_SYNC: flag, ASAN_OPTIONS: asan } });
});

after(async () => {
  if (gw) await gw.stop();
});

const chat = (stream, id) =>
  curl(`${gw.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'x-request-id': id },
    body: JSON.stringify({ model: 'm', stream, messages: [{ role: 'user', content: id }] }),
    timeoutMs: 15000,
  });

function rows(id) {
  const r = spawnSync('sqlite3', ['-json', path.join(dataDir, 'switchyard.db'), `SELECT id, parent_id, attempt, status, http_status, error_type, input_tokens, cost_nanousd, request_body FROM inference_log WHERE request_id = '${id}' ORDER BY seq`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim() ? JSON.parse(r.stdout) : [];
}

test('a response whose row cannot be made durable is given up after log.ack_timeout_ms, not acknowledged', T, async () => {
  const ok = await chat(false, `durable-ok-${process.pid}`);
  assert.equal(ok.status, 200, ok.stderr);
  fs.writeFileSync(flag, '');
  for (const stream of [false, true]) {
    const id = `durable-fail-${stream}-${process.pid}`;
    const t0 = now();
    const r = await chat(stream, id);
    const ms = now() - t0;
    // curl: 52 empty reply (nothing was flushed) or 18 partial transfer (a stream's head went out)
    assert.ok(r.code === 52 || r.code === 18, `curl exit ${r.code}, status ${r.status}: ${r.text}`);
    assert.ok(!r.text.includes('[DONE]') || r.code !== 0, 'the response must not complete');
    assert.ok(ms >= 900 && ms < 8000, `gave up after ${ms} ms`);
  }
  assert.match(gw.stderr(), /not durable after 1000 ms/);
  // the disk recovers: the writer retries the sync by itself; new requests are acknowledged
  fs.unlinkSync(flag);
  await sleep(200);
  const again = await chat(true, `durable-again-${process.pid}`);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.text, /\[DONE\]/);
  // the given-up requests' rows were submitted before the wait and reach the store, each
  // followed by the give-up row that says the client never got the end
  for (let i = 0; i < 100 && rows(`durable-fail-true-${process.pid}`).length < 2; i++) await sleep(50);
  for (const stream of [false, true]) {
    const got = rows(`durable-fail-${stream}-${process.pid}`);
    assert.equal(got.length, 2, JSON.stringify(got));
    const [call, gaveUp] = got;
    assert.equal(call.status, 'ok');
    assert.equal(call.parent_id, null);
    assert.ok(call.input_tokens > 0, 'the call row keeps its usage');
    assert.equal(gaveUp.status, 'error');
    assert.equal(gaveUp.error_type, 'log_not_durable');
    assert.equal(gaveUp.parent_id, call.id);
    assert.equal(gaveUp.attempt, call.attempt);
    assert.equal(gaveUp.http_status, 200); // the status line went out before the hold
    assert.equal(gaveUp.input_tokens, null); // usage and cost are not counted twice
    assert.equal(gaveUp.cost_nanousd, 0);
    assert.equal(gaveUp.request_body, null);
  }
  // a request acknowledged normally has one row
  for (let i = 0; i < 100 && rows(`durable-again-${process.pid}`).length === 0; i++) await sleep(50);
  assert.equal(rows(`durable-again-${process.pid}`).length, 1);
});
