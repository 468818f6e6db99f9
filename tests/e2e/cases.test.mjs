// Data-driven provider adapter cases (tests/cases/README.md): every tests/cases/<folder>/*.json
// becomes one test, run against the real binary with a recording mock upstream.
//
// One in-process mock serves every case under /c/<case-id>: it records the request (method,
// path+query relative to the prefix, headers, raw body) and replies with the case's
// upstream_response. One gateway serves one model per case (name = case id = "<folder>-<file
// name without .json>", base_url = the case's prefix, api_key = env:SY_CASE_KEY). A malformed
// case file is a failing test of its own, never skipped.
//
// "request" may also be a string: it is sent byte for byte (every "$MODEL" in it replaced), for
// pass-through cases whose raw_body must keep the client's exact bytes. "$MODEL" as a whole
// string value is replaced by the case id in request, upstream_request and response.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { REPO, freePort, startGateway } from './lib.mjs';

const CASES_DIR = path.join(REPO, 'tests', 'cases');
const CASE_KEY = 'case-key-0123456789';
// The issue's minimum number of cases per folder (only checked for folders that exist).
const MIN_CASES = { anthropic: 15, gemini: 15, messages: 12, openai: 6 };
const FOLDERS = Object.keys(MIN_CASES);
const FOLDER_PROVIDER = { anthropic: 'anthropic', gemini: 'gemini', openai: 'openai' };
const PLACEHOLDERS = new Set(['$any', '$string', '$number', '$id']);

// ---------------------------------------------------------------------------------------
// Loading and validating case files

class CaseError extends Error {}

function typeOf(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

// Throws CaseError naming the file and the offending key.
function validateCase(file, c) {
  const bad = (key, msg) => {
    throw new CaseError(`${file}: ${key}: ${msg}`);
  };
  const isObj = (v) => typeOf(v) === 'object';
  const onlyKeys = (obj, key, allowed) => {
    for (const k of Object.keys(obj)) if (!allowed.includes(k)) bad(key ? `${key}.${k}` : k, `unknown key (allowed: ${allowed.join(', ')})`);
  };
  const exactlyOne = (obj, key, names) => {
    const n = names.filter((k) => k in obj);
    if (n.length !== 1) bad(key, `needs exactly one of ${names.join(' / ')} (has ${n.length ? n.join(', ') : 'none'})`);
    return n[0];
  };
  const stringMap = (obj, key) => {
    if (!isObj(obj)) bad(key, 'must be an object of strings');
    for (const [k, v] of Object.entries(obj)) if (typeof v !== 'string') bad(`${key}.${k}`, 'must be a string');
  };
  const status = (v, key) => {
    if (!Number.isInteger(v) || v < 100 || v > 599) bad(key, `must be an HTTP status, got ${JSON.stringify(v)}`);
  };
  const sseList = (list, key) => {
    if (typeOf(list) !== 'array' || list.length === 0) bad(key, 'must be a non-empty array of events');
    list.forEach((e, i) => {
      if (!isObj(e)) bad(`${key}[${i}]`, 'must be an object {event?, data}');
      onlyKeys(e, `${key}[${i}]`, ['event', 'data']);
      if ('event' in e && (typeof e.event !== 'string' || !e.event)) bad(`${key}[${i}].event`, 'must be a non-empty string');
      if (!('data' in e)) bad(`${key}[${i}].data`, 'required');
      if (!['object', 'string', 'array'].includes(typeOf(e.data))) bad(`${key}[${i}].data`, 'must be an object or a string');
    });
  };

  if (!isObj(c)) bad('(top)', 'a case is a JSON object');
  onlyKeys(c, '', ['description', 'ingress', 'model', 'request', 'request_headers', 'upstream_request', 'upstream_response', 'response']);
  if (typeof c.description !== 'string' || !c.description.trim()) bad('description', 'required: one line saying what the case proves');
  if (!['openai', 'anthropic'].includes(c.ingress)) bad('ingress', `must be "openai" or "anthropic", got ${JSON.stringify(c.ingress)}`);
  const folder = path.basename(path.dirname(file));
  const wantIngress = folder === 'messages' ? 'anthropic' : 'openai';
  if (c.ingress !== wantIngress) bad('ingress', `cases in ${folder}/ use ingress "${wantIngress}"`);

  if (!isObj(c.model)) bad('model', 'required: the model config entry');
  for (const k of ['name', 'base_url', 'api_key']) if (k in c.model) bad(`model.${k}`, 'filled by the runner; leave it out');
  if (c.model.deployments !== undefined) {
    if (typeOf(c.model.deployments) !== 'array' || !c.model.deployments.length) bad('model.deployments', 'must be a non-empty array');
    c.model.deployments.forEach((d, i) => {
      if (!isObj(d) || typeof d.provider !== 'string') bad(`model.deployments[${i}].provider`, 'required');
    });
  } else if (typeof c.model.provider !== 'string') bad('model.provider', 'required');
  const providers = c.model.deployments ? c.model.deployments.map((d) => d.provider) : [c.model.provider];
  if (FOLDER_PROVIDER[folder] && providers.some((p) => p !== FOLDER_PROVIDER[folder])) {
    bad('model.provider', `cases in ${folder}/ use provider "${FOLDER_PROVIDER[folder]}"`);
  }

  if (!isObj(c.request) && typeof c.request !== 'string') bad('request', 'required: the client body (object, or a string sent byte for byte)');
  if (c.request_headers !== undefined) stringMap(c.request_headers, 'request_headers');

  if (c.upstream_request !== undefined) {
    const u = c.upstream_request;
    if (!isObj(u)) bad('upstream_request', 'must be an object');
    onlyKeys(u, 'upstream_request', ['method', 'path', 'headers', 'absent_headers', 'body', 'raw_body']);
    if (typeof u.method !== 'string' || !/^[A-Z]+$/.test(u.method)) bad('upstream_request.method', 'required (e.g. "POST")');
    if (typeof u.path !== 'string' || !u.path.startsWith('/')) bad('upstream_request.path', 'required, starting with "/"');
    if (u.headers !== undefined) stringMap(u.headers, 'upstream_request.headers');
    if (u.absent_headers !== undefined) {
      if (typeOf(u.absent_headers) !== 'array' || u.absent_headers.some((h) => typeof h !== 'string' || !h)) {
        bad('upstream_request.absent_headers', 'must be an array of header names');
      }
    }
    const which = exactlyOne(u, 'upstream_request', ['body', 'raw_body']);
    if (which === 'raw_body' && typeof u.raw_body !== 'string') bad('upstream_request.raw_body', 'must be a string');
    if (!isObj(c.upstream_response)) bad('upstream_response', 'required when upstream_request is given');
  } else if (c.upstream_response !== undefined) {
    bad('upstream_response', 'given without upstream_request (no upstream call is expected)');
  }
  if (c.upstream_response !== undefined) {
    const r = c.upstream_response;
    onlyKeys(r, 'upstream_response', ['status', 'headers', 'body', 'sse', 'raw']);
    status(r.status, 'upstream_response.status');
    if (r.headers !== undefined) stringMap(r.headers, 'upstream_response.headers');
    const which = exactlyOne(r, 'upstream_response', ['body', 'sse', 'raw']);
    if (which === 'sse') sseList(r.sse, 'upstream_response.sse');
    if (which === 'raw' && typeof r.raw !== 'string') bad('upstream_response.raw', 'must be a string');
  }

  if (!isObj(c.response)) bad('response', 'required: what the client must receive');
  onlyKeys(c.response, 'response', ['status', 'headers', 'body', 'sse']);
  status(c.response.status, 'response.status');
  if (c.response.headers !== undefined) stringMap(c.response.headers, 'response.headers');
  const which = exactlyOne(c.response, 'response', ['body', 'sse']);
  if (which === 'sse') sseList(c.response.sse, 'response.sse');
}

// "$MODEL" (a whole string value) -> the case id, everywhere in a parsed value.
function replaceModel(v, id) {
  if (v === '$MODEL') return id;
  if (Array.isArray(v)) return v.map((x) => replaceModel(x, id));
  if (typeOf(v) === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, replaceModel(x, id)]));
  return v;
}

function loadCases() {
  const cases = [];
  const problems = []; // folder-level problems (unknown folders, too few cases)
  const counts = {};
  if (!fs.existsSync(CASES_DIR)) {
    problems.push(`${CASES_DIR} does not exist`);
    return { cases, problems, counts };
  }
  for (const ent of fs.readdirSync(CASES_DIR, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (!ent.isDirectory()) continue;
    const folder = ent.name;
    if (!FOLDERS.includes(folder)) {
      problems.push(`tests/cases/${folder}/: unknown folder (expected one of ${FOLDERS.join(', ')})`);
      continue;
    }
    const dir = path.join(CASES_DIR, folder);
    const files = fs.readdirSync(dir).sort();
    counts[folder] = 0;
    for (const f of files) {
      const file = `tests/cases/${folder}/${f}`;
      if (!f.endsWith('.json')) {
        problems.push(`${file}: not a .json file (case files are tests/cases/<folder>/<name>.json)`);
        continue;
      }
      counts[folder]++;
      const id = `${folder}-${f.slice(0, -5)}`;
      const entry = { id, file, folder, c: null, error: null };
      try {
        if (!/^[A-Za-z0-9_.-]+$/.test(id)) throw new CaseError(`${file}: file name: use letters, digits, '_', '-', '.' only`);
        let parsed;
        try {
          parsed = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
        } catch (e) {
          throw new CaseError(`${file}: not valid JSON: ${e.message}`);
        }
        validateCase(file, parsed);
        entry.c = parsed;
      } catch (e) {
        entry.error = e;
      }
      cases.push(entry);
    }
  }
  for (const [folder, min] of Object.entries(MIN_CASES)) {
    if (folder in counts && counts[folder] < min) {
      problems.push(`tests/cases/${folder}/ has ${counts[folder]} cases; at least ${min} are required`);
    }
  }
  return { cases, problems, counts };
}

// ---------------------------------------------------------------------------------------
// Comparison with placeholders and readable diffs

const jsonPath = (p) => (p === '' ? '$' : `$${p}`);
const show = (v) => {
  const s = v === undefined ? 'undefined' : JSON.stringify(v);
  return s.length > 300 ? `${s.slice(0, 300)}…` : s;
};

// Returns null when `actual` matches `expected`, else {path, expected, actual, why}.
// `placeholders`: string values "$any", "$string", "$number", "$id" match by kind.
function firstDiff(expected, actual, p = '', placeholders = true) {
  if (placeholders && typeof expected === 'string' && PLACEHOLDERS.has(expected)) {
    const ok = {
      $any: actual !== undefined,
      $string: typeof actual === 'string',
      $number: typeof actual === 'number',
      $id: typeof actual === 'string' && actual.length > 0,
    }[expected];
    return ok ? null : { path: p, expected, actual, why: `does not match placeholder ${expected}` };
  }
  const te = typeOf(expected);
  const ta = typeOf(actual);
  if (te !== ta) return { path: p, expected, actual, why: `type ${ta}, expected ${te}` };
  if (te === 'array') {
    const n = Math.min(expected.length, actual.length);
    for (let i = 0; i < n; i++) {
      const d = firstDiff(expected[i], actual[i], `${p}[${i}]`, placeholders);
      if (d) return d;
    }
    if (expected.length !== actual.length) {
      return {
        path: p,
        expected: `${expected.length} items`,
        actual: `${actual.length} items`,
        why: expected.length > actual.length ? `missing item ${show(expected[n])}` : `extra item ${show(actual[n])}`,
      };
    }
    return null;
  }
  if (te === 'object') {
    for (const k of Object.keys(expected)) {
      const kp = /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? `${p}.${k}` : `${p}[${JSON.stringify(k)}]`;
      if (!(k in actual)) return { path: kp, expected: expected[k], actual: undefined, why: 'missing key' };
      const d = firstDiff(expected[k], actual[k], kp, placeholders);
      if (d) return d;
    }
    for (const k of Object.keys(actual)) {
      if (!(k in expected)) {
        const kp = /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? `${p}.${k}` : `${p}[${JSON.stringify(k)}]`;
        return { path: kp, expected: undefined, actual: actual[k], why: 'unexpected key' };
      }
    }
    return null;
  }
  if (expected !== actual) return { path: p, expected, actual, why: 'different value' };
  return null;
}

function assertMatch(file, what, expected, actual, { placeholders = true, whole } = {}) {
  const d = firstDiff(expected, actual, '', placeholders);
  if (!d) return;
  const lines = [
    `${file}: ${what} differs at ${jsonPath(d.path)}: ${d.why}`,
    `  expected: ${show(d.expected)}`,
    `  actual:   ${show(d.actual)}`,
  ];
  if (whole !== undefined) lines.push(`  whole ${what}: ${show(whole).slice(0, 2000)}`);
  assert.fail(lines.join('\n'));
}

// First differing byte of two strings, with a little context.
function assertSameBytes(file, what, expected, actual) {
  const e = Buffer.from(expected, 'utf8');
  const a = Buffer.isBuffer(actual) ? actual : Buffer.from(actual, 'utf8');
  if (e.equals(a)) return;
  let i = 0;
  while (i < e.length && i < a.length && e[i] === a[i]) i++;
  const ctx = (b) => JSON.stringify(b.subarray(Math.max(0, i - 40), i + 40).toString('utf8'));
  assert.fail(
    `${file}: ${what} differs at byte ${i} (expected ${e.length} bytes, got ${a.length})\n` +
      `  expected: …${ctx(e)}…\n  actual:   …${ctx(a)}…`,
  );
}

// SSE (https://html.spec.whatwg.org/multipage/server-sent-events.html) -> [{event, data}],
// comments and events without data dropped.
function parseSse(text) {
  const events = [];
  let ev = null;
  let data = [];
  const lines = text.split(/\r\n|\r|\n/);
  const complete = /(\r\n|\r|\n)(\r\n|\r|\n)$/.test(text) || text === '';
  if (!complete) lines.push(''); // flush a trailing unterminated event so a diff shows it
  for (const line of lines) {
    if (line === '') {
      if (data.length) events.push({ event: ev, data: data.join('\n') });
      ev = null;
      data = [];
      continue;
    }
    if (line.startsWith(':')) continue;
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? '' : line.slice(i + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') ev = value;
    else if (field === 'data') data.push(value);
  }
  return { events, complete };
}

function assertSse(file, expectedList, text) {
  const { events, complete } = parseSse(text);
  assert.ok(complete, `${file}: response SSE stream does not end at an event boundary: ${show(text.slice(-120))}`);
  const actual = events.map((e) => {
    let data = e.data;
    try {
      data = JSON.parse(e.data);
    } catch {}
    return { event: e.event, data };
  });
  // Compare as one list so the path names the event index; event names only where expected.
  const exp = expectedList.map((e) => ('event' in e ? { event: e.event, data: e.data } : { data: e.data }));
  const act = actual.map((e, i) => (expectedList[i] && 'event' in expectedList[i] ? { event: e.event, data: e.data } : { data: e.data }));
  assertMatch(file, 'response SSE events', exp, act, { whole: actual.map((e) => (e.event ? `${e.event}: ${JSON.stringify(e.data)}` : JSON.stringify(e.data))) });
}

// ---------------------------------------------------------------------------------------
// The recording mock upstream (in process)

function upstreamWrites(r) {
  if ('raw' in r) return [r.raw];
  if ('body' in r) return [JSON.stringify(r.body)];
  return r.sse.map((e) => {
    const data = typeof e.data === 'string' ? e.data : JSON.stringify(e.data);
    return `${e.event !== undefined ? `event: ${e.event}\n` : ''}data: ${data}\n\n`;
  });
}

function startCaseMock(byId) {
  const recorded = new Map(); // case id -> [request]
  const unrouted = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const m = /^\/c\/([^/?]+)(.*)$/s.exec(req.url);
      const entry = m && byId.get(m[1]);
      if (entry) {
        const list = recorded.get(entry.id) ?? [];
        recorded.set(entry.id, list);
        list.push({ method: req.method, path: m[2], headers: req.headers, rawHeaders: req.rawHeaders, body });
      } else {
        unrouted.push({ method: req.method, url: req.url, body: body.toString('utf8') });
      }
      if (!entry?.c?.upstream_response) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: `case mock: nothing serves ${req.method} ${req.url}` } }));
        return;
      }
      const r = entry.c.upstream_response;
      const headers = { ...(r.headers ?? {}) };
      const lower = Object.keys(headers).map((k) => k.toLowerCase());
      if (!lower.includes('content-type')) {
        headers['content-type'] = 'sse' in r ? 'text/event-stream' : 'application/json';
      }
      res.writeHead(r.status, headers);
      const writes = upstreamWrites(r);
      // One write per SSE event, a millisecond apart, so events cross read boundaries.
      let i = 0;
      const step = () => {
        if (res.destroyed) return;
        if (i >= writes.length) return void res.end();
        res.write(writes[i++]);
        if (writes.length > 1) setTimeout(step, 1);
        else step();
      };
      step();
    });
  });
  server.keepAliveTimeout = 30000;
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        port: server.address().port,
        recorded,
        unrouted,
        stop: () =>
          new Promise((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}

// ---------------------------------------------------------------------------------------
// Gateway config: one model per case, one per line (JSON flow style is YAML), so a config
// error's line number names the case.

function modelEntry(entry, mockPort) {
  const base = `http://127.0.0.1:${mockPort}/c/${entry.id}`;
  const m = replaceModel(entry.c.model, entry.id);
  if (m.deployments) {
    return {
      name: entry.id,
      ...m,
      deployments: m.deployments.map((d) => ({ base_url: base, api_key: 'env:SY_CASE_KEY', ...d })),
    };
  }
  return { name: entry.id, ...m, base_url: base, api_key: 'env:SY_CASE_KEY' };
}

function gatewayConfig(port, valid, mockPort) {
  const head = `# generated by tests/e2e/cases.test.mjs
server:
  listen: 127.0.0.1:${port}
  workers: 1
  upstream_client: ${process.env.E2E_UPSTREAM_CLIENT || 'auto'}
limits:
  max_body_bytes: 1048576
  shutdown_grace_ms: 2000
models:
`;
  const lineOf = new Map();
  const lines = valid.map((e, i) => {
    lineOf.set(head.split('\n').length + i, e.file);
    return `  - ${JSON.stringify(modelEntry(e, mockPort))}`;
  });
  return { text: head + lines.join('\n') + '\n', lineOf };
}

// ---------------------------------------------------------------------------------------
// Running one case

async function runCase(entry, gw, mock) {
  const { c, file, id } = entry;
  const url = `${gw.origin}${c.ingress === 'anthropic' ? '/v1/messages' : '/v1/chat/completions'}`;
  const body = typeof c.request === 'string' ? c.request.split('$MODEL').join(id) : JSON.stringify(replaceModel(c.request, id));
  const headers = { 'content-type': 'application/json', ...(c.request_headers ?? {}) };
  const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(15000) });
  const raw = Buffer.from(await res.arrayBuffer());
  const text = raw.toString('utf8');

  // Upstream side first: a wrong upstream request usually explains a wrong response.
  const reqs = mock.recorded.get(id) ?? [];
  const u = c.upstream_request && replaceModel(c.upstream_request, id);
  if (!u) {
    assert.equal(reqs.length, 0, `${file}: no upstream request expected; got ${reqs.length}: ${show(reqs.map((r) => r.body.toString('utf8')))}`);
  } else {
    assert.equal(reqs.length, 1, `${file}: exactly one upstream request expected; got ${reqs.length} (client got ${res.status}: ${show(text)})`);
    const got = reqs[0];
    assert.equal(got.method, u.method, `${file}: upstream_request.method`);
    assert.equal(got.path, u.path, `${file}: upstream_request.path (relative to base_url)`);
    for (const [k, v] of Object.entries(u.headers ?? {})) {
      const actual = got.headers[k.toLowerCase()];
      assert.ok(actual !== undefined, `${file}: upstream_request.headers: "${k}" was not sent; sent: ${show(got.headers)}`);
      assert.equal(actual, v, `${file}: upstream_request.headers["${k}"]`);
    }
    for (const k of u.absent_headers ?? []) {
      assert.equal(got.headers[k.toLowerCase()], undefined, `${file}: upstream_request.absent_headers: "${k}" was sent`);
    }
    if ('raw_body' in u) {
      assertSameBytes(file, 'upstream_request.raw_body', u.raw_body, got.body);
    } else {
      let parsed;
      try {
        parsed = JSON.parse(got.body.toString('utf8'));
      } catch (e) {
        assert.fail(`${file}: upstream request body is not JSON (${e.message}): ${show(got.body.toString('utf8'))}`);
      }
      // Exact: the placeholders are for what we receive, not for what we must send.
      assertMatch(file, 'upstream_request.body', u.body, parsed, { placeholders: false, whole: parsed });
    }
  }

  // Client side.
  const r = replaceModel(c.response, id);
  assert.equal(res.status, r.status, `${file}: response.status; body: ${show(text)}`);
  for (const [k, v] of Object.entries(r.headers ?? {})) {
    const actual = res.headers.get(k);
    assertMatch(file, `response.headers["${k}"]`, v, actual === null ? undefined : actual);
  }
  if ('body' in r) {
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      assert.fail(`${file}: response body is not JSON (${e.message}): ${show(text)}`);
    }
    assertMatch(file, 'response.body', r.body, parsed, { whole: parsed });
  } else {
    assertSse(file, r.sse, text);
  }
}

// ---------------------------------------------------------------------------------------

const { cases, problems, counts } = loadCases();
const valid = cases.filter((e) => e.c);
const byId = new Map(cases.map((e) => [e.id, e]));

let mock;
let gw;
let startError = null;
let lineOf = new Map();

before(async () => {
  mock = await startCaseMock(byId);
  if (!valid.length) return;
  const port = await freePort();
  const cfg = gatewayConfig(port, valid, mock.port);
  lineOf = cfg.lineOf;
  try {
    gw = await startGateway({ port, config: cfg.text, env: { SY_CASE_KEY: CASE_KEY } });
  } catch (e) {
    // Name the case whose model entry the config error points at.
    const m = /\.yaml:(\d+):/.exec(e.message);
    const who = m && lineOf.get(Number(m[1]));
    startError = new Error(`${who ? `${who}: its "model" entry is rejected by the gateway: ` : ''}${e.message}`);
  }
});

after(async () => {
  if (gw) await gw.stop();
  await mock?.stop();
});

test('case folders: known names, minimum case counts', () => {
  assert.ok(Object.keys(counts).length > 0, `no case folders under ${CASES_DIR}`);
  assert.deepEqual(problems, [], problems.join('\n'));
});

for (const entry of cases) {
  test(`${entry.file}${entry.c ? `: ${entry.c.description}` : ''}`, { timeout: 20000 }, async () => {
    if (entry.error) throw entry.error;
    if (startError) throw startError;
    const before = mock.unrouted.length;
    await runCase(entry, gw, mock);
    assert.deepEqual(mock.unrouted.slice(before), [], `${entry.file}: upstream requests to paths no case serves`);
  });
}
