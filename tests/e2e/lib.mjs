// Helpers for the Switchyard end-to-end tests: start the mock upstream and the real gateway
// binary on loopback ports, write configs, and drive curl for raw bytes.
//
// Every process started here is tracked by PID and stopped by PID; nothing else is touched.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..', '..');
export const BIN = process.env.SWITCHYARD_BIN || path.join(REPO, 'build', 'switchyard');
export const UPSTREAM_KEY = 'sk-e2e-upstream-0123456789';

export const now = () => performance.timeOrigin + performance.now();
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export const UUIDV7_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let tmpRoot = null;
export function tmpDir() {
  if (!tmpRoot) {
    tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-e2e-'));
    process.on('exit', () => fs.rmSync(tmpRoot, { recursive: true, force: true }));
  }
  return tmpRoot;
}
// Every file below dir, recursively (the secrets checks read them all).
export function listFiles(dir) {
  const files = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) files.push(...listFiles(p));
    else files.push(p);
  }
  return files;
}
let tmpSeq = 0;
export function tmpFile(name, content) {
  const p = path.join(tmpDir(), `${++tmpSeq}-${name}`);
  if (content !== undefined) fs.writeFileSync(p, content);
  return p;
}

// A port that was free a moment ago (listen on 0, read it, close).
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Children still running when the test process exits are killed (by PID) so that a failed
// test does not leave a gateway or mock behind.
const live = new Set();
process.on('exit', () => {
  for (const c of live) {
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {}
  }
});
function track(child) {
  live.add(child);
  child.on('exit', () => live.delete(child));
  return child;
}

function waitExit(child, ms) {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(null), ms);
    child.once('exit', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal });
    });
  });
}

// ---------------------------------------------------------------------------------------
// Mock upstream

export async function startMock() {
  const child = track(spawn(process.execPath, [path.join(HERE, 'mock_upstream.mjs')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  }));
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const port = await new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`mock upstream did not start in 5 s; stderr:\n${stderr}`)), 5000);
    child.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(t);
        try {
          resolve(JSON.parse(out.slice(0, nl)).port);
        } catch (e) {
          reject(e);
        }
      }
    });
    child.once('exit', (code) => reject(new Error(`mock upstream exited (${code}); stderr:\n${stderr}`)));
  });
  const base = `http://127.0.0.1:${port}`;
  const get = async (p, init) => {
    const r = await fetch(base + p, init);
    assert.equal(r.status, 200, `mock ${p}`);
    return r.json();
  };
  return {
    port,
    child,
    baseURL: `${base}/v1`,
    requests: () => get('/__requests'),
    events: () => get('/__events'),
    reset: () => get('/__reset', { method: 'POST' }),
    async stop() {
      child.kill('SIGTERM');
      const r = await waitExit(child, 3000);
      if (!r) child.kill('SIGKILL');
    },
  };
}

// ---------------------------------------------------------------------------------------
// Config

// The usual head of a gateway config with auth on: listen, two workers, the upstream client the
// run selects (E2E_UPSTREAM_CLIENT), the data dir, a 50 ms log batch, `auth: required`. The
// caller appends the rest of the file (limits, secrets, models).
export const authConfigHead = ({ port, dataDir, workers = 2 }) => `server:
  listen: 127.0.0.1:${port}
  workers: ${workers}
  upstream_client: ${process.env.E2E_UPSTREAM_CLIENT || 'auto'}
data_dir: ${dataDir}
log:
  batch_ms: 50
auth:
  mode: required
`;

// The standard config: every scenario model of the mock upstream plus mock-provider models.
// `unreachablePort` must be a port nothing listens on.
export function standardConfig({ port, mockPort, unreachablePort, limits = {} }) {
  const up = (name, upModel, extra = '') => `  - name: ${name}
    provider: openai
    model: ${upModel}
    base_url: http://127.0.0.1:${mockPort}/v1
${extra}`;
  const lim = {
    max_body_bytes: 65536,
    sse_keepalive_ms: 200,
    shutdown_grace_ms: 5000,
    ...limits,
  };
  return `# generated by tests/e2e/lib.mjs
server:
  listen: 127.0.0.1:${port}
  workers: 1
  # E2E_UPSTREAM_CLIENT=curl runs the suite through libcurl instead of the native HTTP/1.1 client
  upstream_client: ${process.env.E2E_UPSTREAM_CLIENT || 'auto'}

limits:
${Object.entries(lim).map(([k, v]) => `  ${k}: ${v}`).join('\n')}

models:
${up('echo', 'up-echo', '    api_key: env:E2E_UPSTREAM_KEY\n')}
${up('echo-defaults', 'up-echo', '    defaults:\n      temperature: 0.5\n')}
${up('tools', 'up-tools')}
${up('err-400', 'up-error-400')}
${up('err-429', 'up-error-429')}
${up('err-500', 'up-error-500')}
${up('err-502-html', 'up-error-502-html')}
${up('slow', 'up-slow-first-byte', '    timeouts:\n      first_byte_ms: 500\n')}
${up('silent', 'up-silent')}
${up('stall', 'up-stall', '    timeouts:\n      idle_ms: 600\n')}
${up('medium', 'up-medium')}
${up('long', 'up-long')}
${up('flood', 'up-flood')}
  - name: unreachable
    provider: openai
    model: up-echo
    base_url: http://127.0.0.1:${unreachablePort}/v1
    timeouts:
      connect_ms: 1000

  - name: mock-e2e
    provider: mock
    mock:
      latency_ms: 0
      chunks: 4
      chunk_delay_ms: 0

  - name: mock-fixed
    provider: mock
    mock:
      latency_ms: 0
      chunks: 3
      chunk_delay_ms: 5
      prompt_tokens: 12
      completion_tokens: 34
`;
}

// Names and providers of standardConfig's models, in config order.
export const STANDARD_MODELS = [
  ['echo', 'openai'],
  ['echo-defaults', 'openai'],
  ['tools', 'openai'],
  ['err-400', 'openai'],
  ['err-429', 'openai'],
  ['err-500', 'openai'],
  ['err-502-html', 'openai'],
  ['slow', 'openai'],
  ['silent', 'openai'],
  ['stall', 'openai'],
  ['medium', 'openai'],
  ['long', 'openai'],
  ['flood', 'openai'],
  ['unreachable', 'openai'],
  ['mock-e2e', 'mock'],
  ['mock-fixed', 'mock'],
];

// ---------------------------------------------------------------------------------------
// Gateway

const LISTENING_RE = /switchyard: listening on http:\/\/(\S+) \((\d+) workers?\)/;

// Start build/switchyard with `serve --config FILE` (plus `args`) and wait for its
// "listening" line on stderr. Fails with the process's stderr if it exits first or does not
// print the line within 10 s.
export async function startGateway({ config, args = [], env = {}, port }) {
  if (!fs.existsSync(BIN)) throw new Error(`gateway binary not found: ${BIN} (build it, or set SWITCHYARD_BIN)`);
  // The inference log writes into data_dir (default ./data): keep every test gateway's data in
  // its own temp dir, never in the repo.
  if (!/^data_dir:/m.test(config)) config = `${config.replace(/\n*$/, '\n')}data_dir: ${tmpFile('data')}\n`;
  // Auth is required by default; the suites that do not test it run in the explicit
  // single-user mode (auth.test.mjs writes its own auth: section).
  if (!/^auth:/m.test(config)) config = `${config.replace(/\n*$/, '\n')}auth:\n  mode: local\n`;
  const configPath = tmpFile('switchyard.yaml', config);
  const child = track(spawn(BIN, ['serve', '--config', configPath, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, E2E_UPSTREAM_KEY: UPSTREAM_KEY, ...env },
  }));
  let stderr = '';
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  const listening = await new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      reject(new Error(`gateway did not print its listening line within 10 s; stderr:\n${stderr}`));
    }, 10000);
    child.stderr.on('data', (d) => {
      stderr += d;
      const m = LISTENING_RE.exec(stderr);
      if (m) {
        clearTimeout(t);
        resolve({ line: m[0], hostport: m[1], workers: Number(m[2]) });
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(t);
      reject(new Error(`gateway exited (code ${code}, signal ${signal}) before listening; stderr:\n${stderr}`));
    });
  });
  const gw = {
    child,
    pid: child.pid,
    port,
    configPath,
    listening,
    origin: `http://127.0.0.1:${port}`,
    baseURL: `http://127.0.0.1:${port}/v1`,
    stderr: () => stderr,
    stdout: () => stdout,
    exited: () => waitExit(child, 1e9),
    signal(sig) {
      child.kill(sig);
    },
    // SIGTERM and assert a clean exit (code 0) within `ms`.
    async stop(ms = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) {
        assert.fail(`gateway already exited (code ${child.exitCode}, signal ${child.signalCode}); stderr:\n${stderr}`);
      }
      child.kill('SIGTERM');
      const r = await waitExit(child, ms);
      if (!r) {
        child.kill('SIGKILL');
        assert.fail(`gateway did not exit within ${ms} ms of SIGTERM; stderr:\n${stderr}`);
      }
      assert.deepEqual(r, { code: 0, signal: null }, `gateway exit after SIGTERM; stderr:\n${stderr}`);
    },
    kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
  return gw;
}

// The usual setup of a test file: one mock upstream, one gateway with standardConfig.
export async function startStack({ limits, env } = {}) {
  const mock = await startMock();
  const port = await freePort();
  const unreachablePort = await freePort();
  let gw;
  try {
    gw = await startGateway({
      port,
      env,
      config: standardConfig({ port, mockPort: mock.port, unreachablePort, limits }),
    });
  } catch (e) {
    await mock.stop();
    throw e;
  }
  return {
    mock,
    gw,
    client: sdk(gw),
    async stop() {
      try {
        await gw.stop();
      } finally {
        await mock.stop();
      }
    },
  };
}

export function sdk(gw, opts = {}) {
  return new OpenAI({ baseURL: gw.baseURL, apiKey: 'unused', maxRetries: 0, timeout: 8000, ...opts });
}

// ---------------------------------------------------------------------------------------
// The admin and /v1 APIs over fetch

// One call: {status, headers, text, json (null when not JSON)}. key → Authorization: Bearer;
// body is JSON-encoded unless raw; every response text is pushed to log as [label, text] (the
// secrets checks search them all).
// Signs in (POST /api/v1/auth/login) and returns a client of the session: {session (the cookie),
// csrf, userId, headers(method) (the cookie always, the CSRF token on state changes), call(method,
// path, opts) (apiCall with those headers)}.
export async function sessionLogin(origin, email, password) {
  const r = await apiCall(origin, 'POST', '/api/v1/auth/login', { body: { email, password } });
  assert.equal(r.status, 200, r.text);
  const session = r.headers.get('set-cookie').split(';')[0];
  const s = { session, csrf: r.json.csrf_token, userId: r.json.user.id };
  s.headers = (method) => ({ cookie: session, ...(method === 'GET' ? {} : { 'x-csrf-token': s.csrf }) });
  s.call = (method, p, opts = {}) => apiCall(origin, method, p, { ...opts, headers: { ...s.headers(method), ...(opts.headers ?? {}) } });
  return s;
}

// An SSE request to 127.0.0.1:port on its own connection (agent: false); who: a sessionLogin. Resolves {status, events, text} at the
// end; onEvent(ev, req) sees each event as it arrives; abortAfter(ev) true destroys the socket.
export function sseRequest(port, method, p, who, body, { onEvent, abortAfter } = {}) {
  return new Promise((resolve, reject) => {
    const headers = { ...who.headers(method) };
    const data = body === undefined ? undefined : JSON.stringify(body);
    if (data) headers['content-type'] = 'application/json';
    const req = http.request({ host: '127.0.0.1', port, method, path: p, headers, agent: false }, (res) => {
      let buf = '';
      let text = '';
      const events = [];
      res.setEncoding('utf8');
      res.on('data', (d) => {
        buf += d;
        text += d;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const raw = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev = { event: 'message', data: '', comment: raw.startsWith(':') ? raw : undefined };
          for (const line of raw.split('\n')) {
            if (line.startsWith('event: ')) ev.event = line.slice(7);
            else if (line.startsWith('data: ')) ev.data += line.slice(6);
          }
          try {
            ev.json = JSON.parse(ev.data);
          } catch {}
          ev.at = Date.now();
          events.push(ev);
          onEvent?.(ev, req);
          if (abortAfter?.(ev)) {
            req.destroy();
            resolve({ status: res.statusCode, events, text, aborted: true });
          }
        }
      });
      res.on('end', () => resolve({ status: res.statusCode, events, text, headers: res.headers }));
      res.on('error', () => resolve({ status: res.statusCode, events, text, aborted: true }));
    });
    req.on('error', (e) => (e.code === 'ECONNRESET' ? null : reject(e)));
    if (data) req.write(data);
    req.end();
  });
}

// Chat app helpers (who: a sessionLogin): the text of an answer's delta events, its one done
// event's message, a new conversation, a conversation, a message once it left 'streaming'.
export const textOf = (events) => events.filter((e) => e.event === 'delta' && e.json.text !== undefined).map((e) => e.json.text).join('');
export const doneOf = (events) => {
  const d = events.filter((e) => e.event === 'done');
  assert.equal(d.length, 1, JSON.stringify(events.map((e) => e.event)));
  return d[0].json.message;
};

// The message of the one done event of a whole SSE answer (the text of a finished generate).
export function doneMessage(text) {
  const d = sseEvents(text).filter((e) => e.startsWith('event: done\n'));
  assert.equal(d.length, 1, text.slice(-400));
  return JSON.parse(d[0].split('\n').find((l) => l.startsWith('data: ')).slice(6)).message;
}

export async function newConv(who) {
  const c = await who.call('POST', '/api/v1/conversations', { body: {} });
  assert.equal(c.status, 201, c.text);
  return c.json.id;
}

export async function getConv(who, id) {
  const r = await who.call('GET', `/api/v1/conversations/${id}`);
  assert.equal(r.status, 200, r.text);
  return r.json;
}

// The stored message, once it has left 'streaming' (the final write is asynchronous).
export async function finalMsg(who, conv, mid) {
  for (let i = 0; i < 100; i++) {
    const m = (await getConv(who, conv)).messages.find((x) => x.id === mid);
    if (m && m.status !== 'streaming') return m;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`message ${mid} still streaming`);
}

export async function apiCall(origin, method, p, { key, body, headers = {}, raw, log } = {}) {
  const h = { ...headers };
  if (key) h.authorization = `Bearer ${key}`;
  if (body !== undefined) h['content-type'] = 'application/json';
  const res = await fetch(`${origin}${p}`, {
    method,
    headers: h,
    body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
  });
  const text = await res.text();
  if (log) log.push([`${method} ${p}`, text]);
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, headers: res.headers, text, json };
}

// ---------------------------------------------------------------------------------------
// curl

// Run curl with `args`; resolve {code, stdout (Buffer), stderr}.
export function runCurl(args, { input, timeoutMs = 9000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = track(spawn('curl', args, { stdio: ['pipe', 'pipe', 'pipe'] }));
    const out = [];
    let err = '';
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: err });
    });
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

function parseHeaderBlocks(text) {
  // curl -D writes every response head (100 Continue included); keep the last one.
  const blocks = text.split(/\r?\n\r?\n/).filter((b) => b.trim() !== '');
  const last = blocks[blocks.length - 1] ?? '';
  const lines = last.split(/\r?\n/);
  const statusLine = lines.shift() ?? '';
  const headers = {};
  const rawHeaders = [];
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i <= 0) continue;
    const k = l.slice(0, i).trim().toLowerCase();
    const v = l.slice(i + 1).trim();
    rawHeaders.push([k, v]);
    headers[k] = k in headers ? `${headers[k]}, ${v}` : v;
  }
  return { statusLine, headers, rawHeaders };
}

// One HTTP request through curl. `body` (string|Buffer) is sent as-is with --data-binary.
// Resolves {status, statusLine, headers, rawHeaders, body: Buffer, text, json(), code, stderr}.
export async function curl(url, { method, headers = {}, body, args = [], timeoutMs } = {}) {
  const hfile = tmpFile('headers.txt');
  const a = ['-sS', '--no-buffer', '-D', hfile, '-H', 'Expect:'];
  if (method) a.push('-X', method);
  for (const [k, v] of Object.entries(headers)) a.push('-H', `${k}: ${v}`);
  let input;
  if (body !== undefined) {
    a.push('--data-binary', '@-');
    if (!('Content-Type' in headers) && !('content-type' in headers)) a.push('-H', 'Content-Type: application/json');
    input = body;
  }
  a.push(...args, url);
  const r = await runCurl(a, { input, timeoutMs });
  const htext = fs.existsSync(hfile) ? fs.readFileSync(hfile, 'latin1') : '';
  const h = parseHeaderBlocks(htext);
  const m = /^HTTP\/[\d.]+ (\d{3})/.exec(h.statusLine);
  return {
    status: m ? Number(m[1]) : null,
    statusLine: h.statusLine,
    headers: h.headers,
    rawHeaders: h.rawHeaders,
    body: r.stdout,
    text: r.stdout.toString('utf8'),
    json() {
      return JSON.parse(r.stdout.toString('utf8'));
    },
    code: r.code,
    stderr: r.stderr,
  };
}

// ---------------------------------------------------------------------------------------
// Assertions shared by the test files

// x-request-id and x-switchyard-overhead-us as API.md requires on every response.
export function assertGatewayHeaders(headers, { requestId } = {}) {
  const get = (k) => (typeof headers.get === 'function' ? headers.get(k) : headers[k]);
  const rid = get('x-request-id');
  assert.ok(rid, 'x-request-id header present');
  if (requestId !== undefined) assert.equal(rid, requestId, 'x-request-id echoed');
  else assert.match(rid, UUIDV7_RE, 'generated x-request-id is a UUIDv7');
  const ov = get('x-switchyard-overhead-us');
  assert.ok(ov != null, 'x-switchyard-overhead-us header present');
  assert.match(ov, /^\d+$/, 'x-switchyard-overhead-us is a non-negative integer');
  return { rid, overheadUs: Number(ov) };
}

// An OpenAI-format error body with exactly the four keys; returns the error object.
export function assertErrorBody(res, { status, type, code, param }) {
  assert.equal(res.status, status, `status; body: ${res.text}`);
  assert.match(res.headers['content-type'] ?? '', /^application\/json/, 'error content-type');
  let body;
  assert.doesNotThrow(() => (body = res.json()), `error body is JSON: ${res.text}`);
  assert.equal(typeof body, 'object');
  assert.deepEqual(Object.keys(body), ['error'], `error body has only "error": ${res.text}`);
  const e = body.error;
  assert.deepEqual(Object.keys(e).sort(), ['code', 'message', 'param', 'type'], `error keys: ${res.text}`);
  assert.equal(typeof e.message, 'string');
  assert.ok(e.message.length > 0, 'error.message is not empty');
  assert.ok(e.param === null || typeof e.param === 'string', 'param is null or a string');
  assert.ok(e.code === null || typeof e.code === 'string', 'code is null or a string');
  if (type !== undefined) assert.equal(e.type, type, `error.type: ${res.text}`);
  if (code !== undefined) assert.equal(e.code, code, `error.code: ${res.text}`);
  if (param !== undefined) assert.equal(e.param, param, `error.param: ${res.text}`);
  return e;
}

// Split an SSE byte stream into events (text between blank lines, without the terminator).
export function sseEvents(text) {
  const parts = text.split('\n\n');
  assert.equal(parts.pop(), '', `SSE stream ends at an event boundary: ${JSON.stringify(text.slice(-80))}`);
  return parts;
}

// The JSON objects of an SSE stream's data events, and whether [DONE] came last.
export function sseData(text) {
  const evs = sseEvents(text).filter((e) => !e.startsWith(':'));
  const done = evs.length > 0 && evs[evs.length - 1] === 'data: [DONE]';
  const objs = evs.filter((e) => e !== 'data: [DONE]').map((e) => {
    assert.ok(e.startsWith('data: '), `data event: ${e}`);
    return JSON.parse(e.slice(6));
  });
  return { objs, done, events: evs };
}

export const chatBody = (model, content, extra = {}) =>
  JSON.stringify({ model, messages: [{ role: 'user', content }], ...extra });

// provider_mock.mjs (anthropic, gemini and extra openai scenarios) as a child process, stopped
// by PID.
export async function startProviderMock() {
  const child = spawn(process.execPath, [path.join(HERE, 'provider_mock.mjs')], { stdio: ['ignore', 'pipe', 'pipe'] });
  const kill = () => {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {}
  };
  process.on('exit', kill);
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const port = await new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`provider mock did not start in 5 s; stderr:\n${stderr}`)), 5000);
    child.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(t);
        resolve(JSON.parse(out.slice(0, nl)).port);
      }
    });
    child.once('exit', (code) => reject(new Error(`provider mock exited (${code}); stderr:\n${stderr}`)));
  });
  const base = `http://127.0.0.1:${port}`;
  const get = async (p, init) => {
    const r = await fetch(base + p, init);
    assert.equal(r.status, 200, `provider mock ${p}`);
    return r.json();
  };
  return {
    port,
    requests: () => get('/__requests'),
    reset: () => get('/__reset', { method: 'POST' }),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(kill, 3000);
      await exited;
      clearTimeout(t);
    },
  };
}

// A throwaway redis-server on a free loopback port (package redis-server; scripts/deps.sh), no
// persistence; stopped by PID (and killed with the test process, as gateways are). Fails loudly
// when it does not start.
export async function startRedis({ port } = {}) {
  port = port ?? (await freePort());
  const child = track(
    spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`redis-server did not start within 10 s:\n${out}`)), 10000);
    child.once('error', (e) => {
      clearTimeout(t);
      reject(new Error(`redis-server could not run (package redis-server): ${e.message}`));
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`redis-server exited (code ${code}) before it was ready:\n${out}`));
    });
    const poll = () => {
      if (/Ready to accept connections/.test(out)) {
        clearTimeout(t);
        child.removeAllListeners('exit');
        resolve();
      } else setTimeout(poll, 20);
    };
    poll();
  });
  return {
    port,
    pid: child.pid,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      process.kill(child.pid, 'SIGTERM');
      if (!(await waitExit(child, 5000))) process.kill(child.pid, 'SIGKILL');
    },
  };
}
