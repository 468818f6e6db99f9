// Every error in the API.md table, raw (curl) and through the SDK's APIError classes.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startStack, curl, assertGatewayHeaders, assertErrorBody, chatBody } from './lib.mjs';
import { UPSTREAM_ERRORS, ECHO_TEXT } from './mock_upstream.mjs';

let s;
before(async () => {
  s = await startStack();
});
after(async () => {
  await s?.stop();
});

const T = { timeout: 10000 };
const CHAT = () => `${s.gw.origin}/v1/chat/completions`;
const MSGS = [{ role: 'user', content: 'hi' }];
const postRaw = (body, opts = {}) => curl(CHAT(), { body, ...opts });

test('malformed JSON: 400 invalid_json naming the byte position', T, async () => {
  const body = '{"model":"mock-e2e","messages":[}';
  const at = body.indexOf('}'); // 0-based offset of the offending byte
  const r = await postRaw(body);
  const e = assertErrorBody(r, { status: 400, type: 'invalid_request_error', code: 'invalid_json' });
  assertGatewayHeaders(r.headers);
  const nums = (e.message.match(/\d+/g) ?? []).map(Number);
  assert.ok(nums.includes(at) || nums.includes(at + 1), `message names position ${at} (0-based) or ${at + 1} (1-based): ${e.message}`);

  for (const bad of ['', '{', 'nul', '{"model":"mock-e2e","messages":[]} trailing', '{"model":"mock-e2e",}']) {
    const r2 = await postRaw(bad);
    assertErrorBody(r2, { status: 400, type: 'invalid_request_error', code: 'invalid_json' });
  }
});

test('malformed UTF-8 in the body is invalid JSON', T, async () => {
  const body = Buffer.concat([Buffer.from('{"model":"mock-e2e","messages":[{"role":"user","content":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}]}')]);
  const r = await postRaw(body);
  assertErrorBody(r, { status: 400, type: 'invalid_request_error', code: 'invalid_json' });
});

test('missing or invalid fields: 400 with param', T, async () => {
  const cases = [
    [{ messages: MSGS }, 'missing_field', 'model'],
    [{ model: 5, messages: MSGS }, 'invalid_value', 'model'],
    [{ model: 'mock-e2e' }, 'missing_field', 'messages'],
    [{ model: 'mock-e2e', messages: 'hi' }, 'invalid_value', 'messages'],
    [{ model: 'mock-e2e', messages: [] }, 'invalid_value', 'messages'],
    [{ model: 'mock-e2e', messages: MSGS, stream: 'yes' }, 'invalid_value', 'stream'],
    [{ model: 'mock-e2e', messages: MSGS, stream: 1 }, 'invalid_value', 'stream'],
  ];
  // Run every case and report all mismatches together.
  const wrong = [];
  for (const [body, code, param] of cases) {
    const r = await postRaw(JSON.stringify(body));
    try {
      assertErrorBody(r, { status: 400, type: 'invalid_request_error', code, param });
    } catch (e) {
      wrong.push(`${JSON.stringify(body)}: want 400 ${code} param=${param}; got ${r.status} ${r.text}`);
    }
  }
  assert.deepEqual(wrong, [], wrong.join('\n'));
  // Bad message items: param names the messages field (exact path format is the gateway's).
  for (const messages of [[5], [{ content: 'x' }], [{ role: 7, content: 'x' }], [MSGS[0], 'x']]) {
    const r = await postRaw(JSON.stringify({ model: 'mock-e2e', messages }));
    const e = assertErrorBody(r, { status: 400, type: 'invalid_request_error' });
    assert.ok(['invalid_value', 'missing_field'].includes(e.code), `code ${e.code}`);
    assert.match(e.param ?? '', /^messages/, `param names messages: ${r.text}`);
  }
  // Not an object at all.
  for (const body of ['[]', '"str"', '42']) {
    const r = await postRaw(body);
    assertErrorBody(r, { status: 400, type: 'invalid_request_error' });
  }
});

test('unknown model: 404 model_not_found (raw and SDK NotFoundError)', T, async () => {
  const r = await postRaw(chatBody('no-such-model', 'hi'));
  assertErrorBody(r, { status: 404, type: 'invalid_request_error', code: 'model_not_found' });
  assertGatewayHeaders(r.headers);
  await assert.rejects(
    s.client.chat.completions.create({ model: 'no-such-model', messages: MSGS }),
    (err) => {
      assert.ok(err instanceof OpenAI.NotFoundError, `NotFoundError, got ${err?.constructor?.name}: ${err}`);
      assert.equal(err.status, 404);
      assert.equal(err.code, 'model_not_found');
      assert.equal(err.type, 'invalid_request_error');
      return true;
    },
  );
});

test('unknown path: 404 not_found', T, async () => {
  for (const [method, p] of [['GET', '/v1/nope'], ['POST', '/nope'], ['GET', '/nope.html'], ['GET', '/assets/nope.js'], ['GET', '/api/v1/nope'], ['GET', '/v1/chat/completions/extra']]) {
    const r = await curl(`${s.gw.origin}${p}`, { method, body: method === 'POST' ? '{}' : undefined });
    assertErrorBody(r, { status: 404, type: 'invalid_request_error', code: 'not_found' });
    assertGatewayHeaders(r.headers);
  }
});

test('wrong method: 405 method_not_allowed', T, async () => {
  for (const [method, p] of [['GET', '/v1/chat/completions'], ['DELETE', '/v1/chat/completions'], ['POST', '/v1/models'], ['PUT', '/healthz']]) {
    const r = await curl(`${s.gw.origin}${p}`, { method });
    assertErrorBody(r, { status: 405, type: 'invalid_request_error', code: 'method_not_allowed' });
    assertGatewayHeaders(r.headers);
  }
});

test('body over max_body_bytes: 413 request_too_large (Content-Length and chunked)', T, async () => {
  const pad = 'x'.repeat(70000);
  const big = JSON.stringify({ model: 'mock-e2e', messages: [{ role: 'user', content: pad }] });
  assert.ok(Buffer.byteLength(big) > 65536);
  const r = await postRaw(big);
  assert.equal(r.code, 0, `curl exit ${r.code}: ${r.stderr}`);
  assertErrorBody(r, { status: 413, type: 'invalid_request_error', code: 'request_too_large' });

  const r2 = await postRaw(big, { headers: { 'Transfer-Encoding': 'chunked' } });
  assert.equal(r2.code, 0, `curl exit ${r2.code}: ${r2.stderr}`);
  assertErrorBody(r2, { status: 413, type: 'invalid_request_error', code: 'request_too_large' });

  // Just under the limit is accepted.
  const fit = JSON.stringify({ model: 'mock-e2e', messages: [{ role: 'user', content: 'y'.repeat(60000) }] });
  const r3 = await postRaw(fit);
  assert.equal(r3.status, 200, r3.text.slice(0, 300));

  assertGatewayHeaders(r.headers);
  assertGatewayHeaders(r2.headers);
});

test('headers over limits: 431 headers_too_large', T, async () => {
  const r = await curl(`${s.gw.origin}/healthz`, { headers: { 'x-big': 'b'.repeat(20000) } });
  assert.equal(r.code, 0, `curl exit ${r.code}: ${r.stderr}`);
  assertErrorBody(r, { status: 431, type: 'invalid_request_error', code: 'headers_too_large' });

  const many = {};
  for (let i = 0; i < 120; i++) many[`x-h-${i}`] = String(i);
  const r2 = await curl(`${s.gw.origin}/healthz`, { headers: many });
  assert.equal(r2.code, 0, `curl exit ${r2.code}: ${r2.stderr}`);
  assertErrorBody(r2, { status: 431, type: 'invalid_request_error', code: 'headers_too_large' });

  assertGatewayHeaders(r.headers);
  assertGatewayHeaders(r2.headers);
});

test('upstream unreachable: 502 upstream_unreachable (raw and SDK)', T, async () => {
  for (const stream of [false, true]) {
    const r = await postRaw(chatBody('unreachable', 'hi', { stream }));
    assertErrorBody(r, { status: 502, type: 'upstream_error', code: 'upstream_unreachable' });
    assertGatewayHeaders(r.headers);
  }
  await assert.rejects(s.client.chat.completions.create({ model: 'unreachable', messages: MSGS }), (err) => {
    assert.ok(err instanceof OpenAI.APIError && err.status === 502, `502 APIError, got ${err}`);
    assert.ok(err instanceof OpenAI.InternalServerError);
    assert.equal(err.code, 'upstream_unreachable');
    return true;
  });
});

test('upstream first-byte timeout: 504 upstream_timeout after ~first_byte_ms', T, async () => {
  for (const stream of [false, true]) {
    const t0 = Date.now();
    const r = await postRaw(chatBody('slow', 'hi', { stream }));
    const dt = Date.now() - t0;
    assertErrorBody(r, { status: 504, type: 'timeout_error', code: 'upstream_timeout' });
    assertGatewayHeaders(r.headers);
    assert.ok(dt >= 450 && dt < 2000, `504 after ${dt} ms; first_byte_ms is 500, upstream waits 3000`);
  }
});

test('upstream 4xx/5xx: status and error object passed through', T, async () => {
  for (const [name, upModel] of [['err-400', 'up-error-400'], ['err-429', 'up-error-429'], ['err-500', 'up-error-500']]) {
    const want = UPSTREAM_ERRORS[upModel];
    for (const stream of [false, true]) {
      const r = await postRaw(chatBody(name, 'hi', { stream }));
      assert.equal(r.status, want.status, `${name} stream=${stream}: ${r.text}`);
      assert.match(r.headers['content-type'] ?? '', /^application\/json/);
      assert.deepEqual(r.json(), want.body, `${name} stream=${stream}: upstream error passed through`);
      assertGatewayHeaders(r.headers);
    }
  }
});

test('upstream errors via SDK: APIError subclasses with upstream status and message', T, async () => {
  const cases = [
    ['err-400', 'up-error-400', OpenAI.BadRequestError],
    ['err-429', 'up-error-429', OpenAI.RateLimitError],
    ['err-500', 'up-error-500', OpenAI.InternalServerError],
  ];
  for (const [name, upModel, cls] of cases) {
    const want = UPSTREAM_ERRORS[upModel];
    for (const stream of [false, true]) {
      await assert.rejects(
        (async () => {
          const res = await s.client.chat.completions.create({ model: name, messages: MSGS, stream });
          if (stream) for await (const _ of res);
        })(),
        (err) => {
          assert.ok(err instanceof cls, `${name}: ${cls.name}, got ${err?.constructor?.name}: ${err}`);
          assert.equal(err.status, want.status);
          assert.equal(err.error?.message, want.body.error.message);
          assert.equal(err.code, want.body.error.code);
          assert.equal(err.type, want.body.error.type);
          assert.equal(err.param, want.body.error.param);
          return true;
        },
      );
    }
  }
});

test('non-JSON upstream error body is wrapped as upstream_error', T, async () => {
  const r = await postRaw(chatBody('err-502-html', 'hi'));
  assertErrorBody(r, { status: 502, type: 'upstream_error' });
  assertGatewayHeaders(r.headers);
  await assert.rejects(s.client.chat.completions.create({ model: 'err-502-html', messages: MSGS }), (err) => {
    assert.ok(err instanceof OpenAI.InternalServerError, `got ${err?.constructor?.name}`);
    assert.equal(err.status, 502);
    assert.equal(err.type, 'upstream_error');
    return true;
  });
});

test('gateway-made 400 via SDK: BadRequestError with param', T, async () => {
  await assert.rejects(
    s.client.chat.completions.create({ model: 'mock-e2e', messages: [] }),
    (err) => {
      assert.ok(err instanceof OpenAI.BadRequestError, `got ${err?.constructor?.name}: ${err}`);
      assert.equal(err.status, 400);
      assert.equal(err.param, 'messages');
      assert.equal(err.code, 'invalid_value');
      return true;
    },
  );
});

test('the server keeps serving after all of the above', T, async () => {
  const res = await s.client.chat.completions.create({ model: 'echo', messages: MSGS });
  assert.equal(res.choices[0].message.content, ECHO_TEXT);
  const m = await s.client.chat.completions.create({ model: 'mock-e2e', messages: MSGS });
  assert.equal(m.choices[0].message.content, 'You said: hi');
  const h = await curl(`${s.gw.origin}/healthz`);
  assert.equal(h.status, 200);
  assert.equal(s.gw.child.exitCode, null, 'gateway still running');
});
