// The embedded web app and OpenAPI document (issue 6 part 1): "/" and "/assets/*" come from the
// table built into the binary with the right Content-Type, a content ETag (304 on
// If-None-Match), Cache-Control, gzip when accepted, and a CSP that forbids inline script;
// /api/v1/openapi.json is the committed docs/openapi.json, and every operation it describes
// reaches a handler (the router's own "no route" 404 and 405 never answer one of them).

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import { REPO, assertGatewayHeaders, startGateway, freePort } from './lib.mjs';

const T = { timeout: 60000 };
const ADMIN_KEY = `sy-${'w'.repeat(43)}`;
let gw;

// A raw request (no automatic decompression or headers): {status, headers, body: Buffer}.
function raw(method, p, headers = {}, body) {
  return new Promise((resolve, reject) => {
    if (body !== undefined) headers = { ...headers, 'content-length': Buffer.byteLength(body) };
    // one connection per request: a reply must never be read from a reused socket's leftovers
    const req = http.request({ host: '127.0.0.1', port: gw.port, method, path: p, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const webFile = (rel) => fs.readFileSync(path.join(REPO, 'web', rel));
// The bundle's hashed names, as web/index.html (written by webapp/build.mjs) names them.
const INDEX = webFile('index.html').toString();
const JS = /src="(\/assets\/app-[0-9a-f]{16}\.js)"/.exec(INDEX)?.[1];
const CSS = /href="(\/assets\/app-[0-9a-f]{16}\.css)"/.exec(INDEX)?.[1];

describe('web app and OpenAPI', () => {
  before(async () => {
    const port = await freePort();
    gw = await startGateway({
      port,
      config: `server:\n  listen: 127.0.0.1:${port}\n  workers: 1\nlog:\n  batch_ms: 20\nauth:\n  mode: required\nmodels:\n  - name: m\n    provider: mock\n`,
      env: { SWITCHYARD_ADMIN_PASSWORD: 'web-app-test-password-123', SWITCHYARD_ADMIN_KEY: ADMIN_KEY },
    });
  });
  after(async () => {
    await gw?.stop();
  });

  test('GET / is index.html with CSP, nosniff, ETag, no-cache', T, async () => {
    const r = await raw('GET', '/');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'text/html; charset=utf-8');
    assert.deepEqual(r.body, webFile('index.html'));
    const csp = r.headers['content-security-policy'];
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assertGatewayHeaders(r.headers);
    assert.equal(r.headers['cache-control'], 'no-cache');
    assert.match(r.headers.etag, /^"[0-9a-f]{32}"$/);
    // no inline script in the page: every <script> loads a file
    const html = r.body.toString();
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    assert.ok(scripts.length > 0);
    for (const [, attrs, inner] of scripts) {
      assert.match(attrs, /\bsrc="\/assets\//);
      assert.equal(inner.trim(), '');
    }
    assert.doesNotMatch(html, /\son[a-z]+=/i, 'no inline event handlers');
    const again = await raw('GET', '/index.html');
    assert.equal(again.headers.etag, r.headers.etag);
  });

  test('ETag revalidation: 304 without a body, 200 for another tag; hashed bundles are immutable', T, async () => {
    assert.ok(JS && CSS, `web/index.html names the hashed bundle: ${INDEX}`);
    const first = await raw('GET', JS);
    assert.equal(first.status, 200);
    assert.equal(first.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.deepEqual(first.body, webFile(JS.slice(1)));
    assert.equal(first.headers['cache-control'], 'public, max-age=31536000, immutable');
    const tag = first.headers.etag;
    const r304 = await raw('GET', JS, { 'if-none-match': tag });
    assert.equal(r304.status, 304);
    assert.equal(r304.body.length, 0);
    assert.equal(r304.headers['content-length'], undefined, 'a 304 carries no content-length');
    assert.equal(r304.headers.etag, tag);
    const weak = await raw('GET', JS, { 'if-none-match': `"x", W/${tag}` });
    assert.equal(weak.status, 304);
    const other = await raw('GET', JS, { 'if-none-match': '"0000"' });
    assert.equal(other.status, 200);
    assert.deepEqual(other.body, first.body);
    const css = await raw('GET', CSS);
    assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
    assert.equal(css.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.deepEqual(css.body, webFile(CSS.slice(1)));
    assert.notEqual(css.headers.etag, tag);
  });

  test('gzip when accepted (and only then), Vary set; HEAD has no body', T, async () => {
    const plain = await raw('GET', '/api/v1/openapi.json');
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.headers.vary, 'Accept-Encoding');
    const gz = await raw('GET', '/api/v1/openapi.json', { 'accept-encoding': 'br, gzip;q=0.8' });
    assert.equal(gz.status, 200);
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.ok(gz.body.length < plain.body.length / 2, `${gz.body.length} vs ${plain.body.length}`);
    assert.deepEqual(zlib.gunzipSync(gz.body), plain.body);
    const refused = await raw('GET', '/api/v1/openapi.json', { 'accept-encoding': 'gzip;q=0' });
    assert.equal(refused.headers['content-encoding'], undefined);
    const head = await raw('HEAD', '/');
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.equal(Number(head.headers['content-length']), webFile('index.html').length);
  });

  test('unknown asset 404, wrong method 405, both as OpenAI-style JSON', T, async () => {
    const nf = await raw('GET', '/assets/nope.js');
    assert.equal(nf.status, 404);
    assert.equal(JSON.parse(nf.body).error.code, 'not_found');
    const post = await raw('POST', '/');
    assert.equal(post.status, 405);
    assert.match(JSON.parse(post.body).error.message, /use GET/);
    const dot = await raw('GET', '/assets/../index.html');
    assert.notEqual(dot.status, 200);
  });

  test('openapi.json is the committed document and every operation is routed', T, async () => {
    const r = await raw('GET', '/api/v1/openapi.json');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.deepEqual(r.body, fs.readFileSync(path.join(REPO, 'docs', 'openapi.json')));
    const doc = JSON.parse(r.body);
    assert.match(doc.openapi, /^3\.1\./);
    let n = 0;
    for (const [p, item] of Object.entries(doc.paths)) {
      for (const method of Object.keys(item)) {
        if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
        n++;
        const url = p.replace(/\{[^}]+\}/g, '0190a000-0000-7000-8000-000000000001');
        const res = await raw(method.toUpperCase(), url, method === 'get' ? {} : { 'content-type': 'application/json' }, method === 'get' ? undefined : '{}');
        const body = res.body.toString();
        assert.notEqual(res.status, 405, `${method} ${p}: ${body}`);
        assert.doesNotMatch(body, /no route for/, `${method} ${p}`);
        // without credentials: reads are 401; writes 401, or 400 from a handler that checks
        // the body before the caller (login, credentials)
        if (p === '/api/v1/openapi.json') assert.equal(res.status, 200);
        else if (method === 'get') assert.equal(res.status, 401, `${method} ${p}: ${body}`);
        else assert.ok([400, 401].includes(res.status), `${method} ${p}: ${res.status} ${body}`);
      }
    }
    assert.ok(n >= 35, `${n} operations`);
    // and the table answers 404 / 405 for what it does not know
    const unknown = await raw('GET', '/api/v1/nothing-here');
    assert.equal(unknown.status, 404);
    assert.match(unknown.body.toString(), /no route for GET \/api\/v1\/nothing-here/);
    const wrong = await raw('PUT', '/api/v1/keys');
    assert.equal(wrong.status, 405);
    assert.match(JSON.parse(wrong.body).error.message, /use GET, POST/);
  });

  test('answers have the documented members (conversation, message, list, user)', T, async () => {
    const doc = JSON.parse(fs.readFileSync(path.join(REPO, 'docs', 'openapi.json')));
    const props = (name) => Object.keys(doc.components.schemas[name].properties);
    const login = await fetch(`${gw.origin}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'admin@localhost', password: 'web-app-test-password-123' }),
    });
    assert.equal(login.status, 200);
    const session = login.headers.get('set-cookie').split(';')[0];
    const { csrf_token: csrf, user } = await login.json();
    const call = async (method, p, body) => {
      const r = await fetch(`${gw.origin}${p}`, {
        method,
        headers: { cookie: session, 'x-csrf-token': csrf, 'content-type': 'application/json' },
        body: body && JSON.stringify(body),
      });
      return { status: r.status, json: await r.json() };
    };
    const documented = (obj, schema) => {
      const open = doc.components.schemas[schema].additionalProperties === true;
      for (const k of Object.keys(obj)) assert.ok(open || props(schema).includes(k), `${schema}.${k} is not in docs/openapi.json`);
      for (const k of doc.components.schemas[schema].required ?? []) assert.ok(k in obj, `${schema} answer lacks ${k}`);
    };
    documented(user, 'User');
    const c = await call('POST', '/api/v1/conversations', { title: 'doc check' });
    assert.equal(c.status, 201);
    documented(c.json, 'Conversation');
    const m = await call('POST', `/api/v1/conversations/${c.json.id}/messages`, { role: 'user', content: 'hi', parent_id: null });
    assert.equal(m.status, 201);
    documented(m.json, 'Message');
    const full = await call('GET', `/api/v1/conversations/${c.json.id}`);
    documented(full.json, 'Conversation');
    for (const x of full.json.messages) documented(x, 'Message');
    // the admin surfaces too: me, users, keys (the first-start admin has one), audit, logs, stats
    const me = await call('GET', '/api/v1/auth/me');
    assert.equal(me.status, 200);
    documented(me.json, 'User');
    for (const [p, item] of [['/api/v1/users', 'User'], ['/api/v1/keys', 'ApiKey'], ['/api/v1/audit?limit=5', 'AuditEvent'], ['/api/v1/teams', 'Team'], ['/api/v1/credentials', 'Credential']]) {
      const r = await call('GET', p);
      assert.equal(r.status, 200, `${p}: ${JSON.stringify(r.json)}`);
      assert.equal(r.json.object, 'list');
      if (p !== '/api/v1/teams' && p !== '/api/v1/credentials') assert.ok(r.json.data.length > 0, p);
      for (const x of r.json.data) documented(x, item);
    }
    const team = await call('POST', '/api/v1/teams', { name: 'doc-team' });
    assert.equal(team.status, 201);
    documented(team.json, 'Team');
    // one inference-log row, read through the list and by id
    const chat = await fetch(`${gw.origin}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(chat.status, 200, await chat.text());
    let logs;
    for (let i = 0; i < 100; i++) {
      logs = await call('GET', '/api/v1/logs?limit=1');
      if (logs.json.data?.length) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(logs.status, 200);
    assert.equal(logs.json.data.length, 1, 'the chat call is logged');
    documented(logs.json, 'LogList');
    documented(logs.json.data[0], 'LogRow');
    const row = await call('GET', `/api/v1/logs/${logs.json.data[0].id}`);
    assert.equal(row.status, 200);
    assert.ok('response_body' in row.json);
    documented(row.json, 'LogRow');
    const stats = await call('GET', '/api/v1/stats?from=0&to=1');
    assert.equal(stats.status, 200);
    documented(stats.json, 'Stats');
    const list = await call('GET', '/api/v1/conversations?limit=1');
    documented(list.json, 'ConversationList');
    for (const x of list.json.data) documented(x, 'Conversation');
  });
});
