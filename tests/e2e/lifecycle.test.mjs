// Process lifecycle: SIGTERM/SIGINT draining, and the command line.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { spawn } from 'node:child_process';
import {
  BIN, UPSTREAM_KEY, startMock, startGateway, standardConfig, freePort, curl, now, sleep, chatBody, tmpFile, sseData,
} from './lib.mjs';
import { MEDIUM_TEXT, simpleTextFrames, MEDIUM_CHUNKS } from './mock_upstream.mjs';

const T = { timeout: 10000 };

async function stack(limits) {
  const mock = await startMock();
  const port = await freePort();
  const unreachablePort = await freePort();
  try {
    const gw = await startGateway({ port, config: standardConfig({ port, mockPort: mock.port, unreachablePort, limits }) });
    return { mock, gw };
  } catch (e) {
    await mock.stop();
    throw e;
  }
}

// Try TCP connects until one is refused; resolves the time of the refusal, or null.
async function waitRefused(port, ms) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const refused = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.once('connect', () => {
        c.destroy();
        resolve(false);
      });
      c.once('error', (e) => resolve(e.code === 'ECONNREFUSED'));
    });
    if (refused) return now();
    await sleep(20);
  }
  return null;
}

// The gateway closed an idle keep-alive connection: the request on it failed, or the agent
// noticed the close and tried a new connection, which is refused.
const closedByGateway = (e) => ['ECONNRESET', 'ECONNREFUSED', 'EPIPE'].includes(e.code) || /socket hang up/.test(e.message);

function request(origin, path, { method = 'GET', body, agent, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const rq = http.request(`${origin}${path}`, { method, agent, headers }, (res) => {
      let t = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (t += d));
      res.on('end', () => resolve({ status: res.statusCode, text: t, reused: rq.reusedSocket }));
    });
    rq.on('error', reject);
    rq.end(body);
  });
}

function streamMedium(gw, onFirstContent) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${gw.origin}/v1/chat/completions`, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json' },
    });
    let text = '';
    let fired = false;
    req.on('response', (res) => {
      res.setEncoding('utf8');
      res.on('data', (d) => {
        text += d;
        if (!fired && text.includes('"content":"part0 "')) {
          fired = true;
          onFirstContent();
        }
      });
      res.on('end', () => resolve({ status: res.statusCode, text, complete: res.complete, tEnd: now() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(chatBody('medium', 'go', { stream: true }));
  });
}

test('SIGTERM with a stream in flight: stream completes, new connections refused, exit 0', T, async (t) => {
  const { mock, gw } = await stack({ shutdown_grace_ms: 5000 });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    // An idle keep-alive connection opened before the signal.
    const pre = await request(gw.origin, '/healthz', { agent });
    assert.equal(pre.status, 200);

    let tSig = null;
    let refusedP = null;
    // Settled into a value at once, so that a failed stream is reported below, not as an
    // unhandled rejection.
    const streamP = streamMedium(gw, () => {
      tSig = now();
      gw.signal('SIGTERM');
      refusedP = waitRefused(gw.port, 1000);
    }).then((v) => v, (e) => ({ error: e }));
    const deadline = Date.now() + 3000;
    while (!refusedP && Date.now() < deadline) await sleep(5);
    assert.ok(refusedP, `stream did not deliver its first content chunk in 3 s: ${JSON.stringify(await Promise.race([streamP, sleep(10)]))}`);
    const tRefused = await refusedP;
    assert.ok(tRefused !== null, 'a new connection was refused within 1 s of SIGTERM');

    // The idle keep-alive connection: readyz must not say ready any more (503), or the
    // gateway may have closed the connection.
    let drainNote;
    try {
      const rz = await request(gw.origin, '/readyz', { agent });
      assert.equal(rz.status, 503, `/readyz while draining: ${rz.status} ${rz.text}`);
      drainNote = `readyz on the old connection: 503 ${rz.text}`;
      try {
        const c = await request(gw.origin, '/v1/chat/completions', {
          agent, method: 'POST', body: chatBody('mock-e2e', 'x'), headers: { 'content-type': 'application/json' },
        });
        assert.equal(c.status, 503, `new request while draining: ${c.status} ${c.text}`);
        const e = JSON.parse(c.text).error;
        assert.equal(e.type, 'server_error');
        assert.equal(e.code, 'shutting_down');
        drainNote += `; chat on the old connection: 503 ${e.code}`;
      } catch (e) {
        if (!closedByGateway(e)) throw e;
        drainNote += '; chat on the old connection: connection closed';
      }
    } catch (e) {
      if (!closedByGateway(e)) throw e;
      drainNote = 'old keep-alive connection closed by the gateway on SIGTERM';
    }
    t.diagnostic(drainNote);

    const r = await streamP;
    assert.ok(!r.error, `stream in flight during SIGTERM failed: ${r.error}; gateway stderr:\n${gw.stderr()}`);
    assert.equal(r.status, 200);
    assert.ok(r.complete, 'response completed (terminating chunk received)');
    const expected = simpleTextFrames('chatcmpl-e2e-medium', 'up-medium',
      Array.from({ length: MEDIUM_CHUNKS }, (_, i) => `part${i} `)).join('');
    assert.equal(r.text, expected, 'the whole stream arrived after SIGTERM');
    const { objs } = sseData(r.text);
    assert.equal(objs.map((o) => o.choices[0]?.delta.content ?? '').join(''), MEDIUM_TEXT);
    assert.ok(tRefused < r.tEnd, 'refusal happened while the stream was still in flight');

    const ex = await Promise.race([gw.exited(), sleep(3000).then(() => null)]);
    assert.ok(ex, `gateway exited within 3 s of the last stream ending; stderr:\n${gw.stderr()}`);
    assert.deepEqual(ex, { code: 0, signal: null }, gw.stderr());
    assert.ok(now() - tSig < 5000, 'did not wait for the whole grace period');
  } finally {
    agent.destroy();
    gw.kill();
    await mock.stop();
  }
});

test('SIGTERM: streams still open after shutdown_grace_ms are closed, exit 0', T, async () => {
  const { mock, gw } = await stack({ shutdown_grace_ms: 800 });
  try {
    let tSig = null;
    let text = '';
    const done = new Promise((resolve) => {
      const req = http.request(`${gw.origin}/v1/chat/completions`, {
        method: 'POST', agent: false, headers: { 'content-type': 'application/json' },
      });
      req.on('response', (res) => {
        res.setEncoding('utf8');
        res.on('data', (d) => {
          text += d;
          if (tSig === null && text.includes('tick2 ')) {
            tSig = now();
            gw.signal('SIGTERM');
          }
        });
        res.on('error', () => {});
        res.on('close', () => resolve(now()));
      });
      req.on('error', () => resolve(now()));
      req.end(chatBody('long', 'go', { stream: true }));
    });
    const tClosed = await done;
    const dt = tClosed - tSig;
    assert.ok(dt >= 700 && dt < 2500, `stream cut ${dt.toFixed(0)} ms after SIGTERM (grace 800 ms)`);
    const ex = await Promise.race([gw.exited(), sleep(3000).then(() => null)]);
    assert.ok(ex, `gateway exited; stderr:\n${gw.stderr()}`);
    assert.deepEqual(ex, { code: 0, signal: null }, gw.stderr());
    const evs = await mock.events();
    const close = evs.find((e) => e.type === 'close' && e.model === 'up-long');
    assert.ok(close && close.finished === false, 'upstream connection closed too');
  } finally {
    gw.kill();
    await mock.stop();
  }
});

test('idle gateway: SIGTERM and SIGINT exit 0 promptly', T, async () => {
  for (const sig of ['SIGTERM', 'SIGINT']) {
    const { mock, gw } = await stack({});
    try {
      const t0 = Date.now();
      gw.signal(sig);
      const ex = await Promise.race([gw.exited(), sleep(3000).then(() => null)]);
      assert.ok(ex, `${sig}: exited; stderr:\n${gw.stderr()}`);
      assert.deepEqual(ex, { code: 0, signal: null }, `${sig}: ${gw.stderr()}`);
      assert.ok(Date.now() - t0 < 1000, `${sig}: exit took ${Date.now() - t0} ms with nothing in flight`);
    } finally {
      gw.kill();
      await mock.stop();
    }
  }
});

// --------------------------------------------------------------------------------------
// Command line

function run(args, ms = 5000) {
  return new Promise((resolve, reject) => {
    // The standard config's api_key is env:E2E_UPSTREAM_KEY, as for `serve`.
    const c = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, E2E_UPSTREAM_KEY: UPSTREAM_KEY } });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (err += d));
    const t = setTimeout(() => c.kill('SIGKILL'), ms);
    c.on('error', reject);
    c.on('close', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, out, err });
    });
  });
}

const oneLine = (s) => s.endsWith('\n') && s.indexOf('\n') === s.length - 1;

test('CLI: version and --help exit 0', T, async () => {
  const v = await run(['version']);
  assert.equal(v.code, 0, v.err);
  assert.ok((v.out + v.err).trim().length > 0, 'version prints something');
  const h = await run(['--help']);
  assert.equal(h.code, 0, h.err);
  const help = h.out + h.err;
  for (const w of ['serve', 'check-config', 'version']) assert.ok(help.includes(w), `--help mentions ${w}`);
});

test('CLI: unknown commands, flags and bad values: one stderr line, exit 2', T, async () => {
  for (const args of [['frobnicate'], ['serve', '--bogus'], ['serve', '--workers', 'abc'], ['serve', '--listen', 'no-port-here']]) {
    const r = await run(args);
    assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}; stderr ${JSON.stringify(r.err)}`);
    assert.ok(oneLine(r.err), `${args.join(' ')}: exactly one stderr line, got ${JSON.stringify(r.err)}`);
  }
});

test('CLI: check-config FILE prints "FILE: ok" and exits 0', T, async () => {
  const good = tmpFile('good.yaml', standardConfig({ port: 18080, mockPort: 18081, unreachablePort: 18082 }));
  const g = await run(['check-config', good]);
  assert.equal(g.code, 0, g.err);
  assert.match((g.out + g.err).trim(), new RegExp(`^${good.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: ok \\(\\d+ models?\\)$`));
});

test('CLI: config errors print FILE:LINE: KEY: message and exit 2', T, async () => {
  const esc = (x) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // [file content, line of the offending value, key it must name]
  const cases = [
    ['server:\n  listen: 127.0.0.1:8080\n  workers: lots\nmodels:\n  - name: m\n    provider: mock\n', 3, 'workers'],
    ['server:\n  listen: 127.0.0.1:8080\nmodels:\n  - name: m\n    provider: mock\n  - name: x\n    provider: no-such-provider\n', 7, 'provider'],
    ['limits:\n  max_body_bytes: -5\nmodels:\n  - name: m\n    provider: mock\n', 2, 'max_body_bytes'],
  ];
  // Every case runs; all mismatches are reported together.
  const wrong = [];
  const files = [];
  for (const [content, line, key] of cases) {
    const f = tmpFile('bad.yaml', content);
    files.push(f);
    const r = await run(['check-config', f]);
    const first = r.err.split('\n')[0];
    const re = new RegExp(`^${esc(f)}:${line}: \\S*${key}: .+`);
    if (r.code !== 2 || !re.test(first)) {
      wrong.push(`want exit 2 and "${f}:${line}: …${key}: message"; got exit ${r.code}, stderr ${JSON.stringify(r.err)}`);
    }
  }
  assert.deepEqual(wrong, [], wrong.join('\n'));

  const missing = await run(['check-config', '/nonexistent/switchyard-e2e.yaml']);
  assert.equal(missing.code, 2);

  // serve refuses the same bad file the same way.
  const s1 = await run(['serve', '--config', files[0]]);
  assert.equal(s1.code, 2, s1.out + s1.err);
  assert.match(s1.err, /:3: /);
});

test('CLI: --listen and --workers override the file', T, async () => {
  const mock = await startMock();
  const filePort = await freePort();
  const port = await freePort();
  const unreachablePort = await freePort();
  let gw;
  try {
    gw = await startGateway({
      port,
      args: ['--listen', `127.0.0.1:${port}`, '--workers', '2'],
      config: standardConfig({ port: filePort, mockPort: mock.port, unreachablePort }),
    });
    assert.equal(gw.listening.line, `switchyard: listening on http://127.0.0.1:${port} (2 workers)`);
    const h = await curl(`${gw.origin}/healthz`);
    assert.equal(h.status, 200);
    const other = await curl(`http://127.0.0.1:${filePort}/healthz`);
    assert.equal(other.status, null, 'nothing listens on the port from the file');
    await gw.stop();
  } finally {
    gw?.kill();
    await mock.stop();
  }
});
