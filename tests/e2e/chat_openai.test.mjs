// Chat completions through provider `openai` against the mock upstream: SDK and raw bytes.

import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  startStack, curl, assertGatewayHeaders, sseEvents, sseData, chatBody, UPSTREAM_KEY, UUIDV7_RE,
} from './lib.mjs';
import {
  ECHO_TEXT, ECHO_USAGE, TOOL_CALLS, TOOLS_USAGE, echoFrames, toolFrames, echoCompletion,
  toolsCompletion, jsonBody,
} from './mock_upstream.mjs';

let s;
before(async () => {
  s = await startStack();
});
after(async () => {
  await s?.stop();
});
beforeEach(async () => {
  await s.mock.reset();
});

const T = { timeout: 10000 };
const b64 = (x) => Buffer.from(x, 'base64');

async function onlyUpstreamRequest() {
  const reqs = await s.mock.requests();
  assert.equal(reqs.length, 1, `exactly one upstream request; got ${reqs.length}`);
  return reqs[0];
}

test('non-stream via SDK: content and usage from upstream, gateway headers', T, async () => {
  const { data, response } = await s.client.chat.completions
    .create({ model: 'echo', messages: [{ role: 'user', content: 'hi' }] })
    .withResponse();
  assert.equal(response.status, 200);
  assert.equal(data.choices[0].message.content, ECHO_TEXT);
  assert.equal(data.choices[0].finish_reason, 'stop');
  assert.deepEqual(data.usage, ECHO_USAGE);
  assert.deepEqual(data, echoCompletion('up-echo'), 'whole upstream JSON reaches the client');
  const { rid, overheadUs } = assertGatewayHeaders(response.headers);
  assert.ok(overheadUs < 1e6, `overhead ${overheadUs} us is plausible`);
  const up = await onlyUpstreamRequest();
  assert.equal(up.headers['x-request-id'], rid, 'upstream got the same x-request-id the client saw');
});

test('non-stream via SDK: client x-request-id is echoed and forwarded', T, async () => {
  const id = 'e2e-client-id_0123:ABC/xyz';
  const { response } = await s.client.chat.completions
    .create({ model: 'echo', messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'x-request-id': id } })
    .withResponse();
  assertGatewayHeaders(response.headers, { requestId: id });
  const up = await onlyUpstreamRequest();
  assert.equal(up.headers['x-request-id'], id);
});

test('x-request-id: invalid client values are replaced by a UUIDv7', T, async () => {
  for (const bad of ['has space inside', 'x'.repeat(129)]) {
    const r = await curl(`${s.gw.origin}/v1/chat/completions`, {
      body: chatBody('echo', 'hi'),
      headers: { 'x-request-id': bad },
    });
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers['x-request-id'] ?? '', UUIDV7_RE, `for client id ${JSON.stringify(bad.slice(0, 20))}`);
  }
  // 128 visible characters is still valid.
  const ok = 'y'.repeat(128);
  const r = await curl(`${s.gw.origin}/v1/chat/completions`, { body: chatBody('echo', 'hi'), headers: { 'x-request-id': ok } });
  assert.equal(r.headers['x-request-id'], ok);
});

test('generated request ids are unique UUIDv7s', T, async () => {
  const ids = new Set();
  for (let i = 0; i < 5; i++) {
    const r = await curl(`${s.gw.origin}/healthz`);
    assert.match(r.headers['x-request-id'] ?? '', UUIDV7_RE);
    ids.add(r.headers['x-request-id']);
  }
  assert.equal(ids.size, 5);
});

test('non-stream raw: body, status and content-type are the upstream bytes', T, async () => {
  const r = await curl(`${s.gw.origin}/v1/chat/completions`, { body: chatBody('echo', 'hi') });
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-type'], 'application/json');
  assert.equal(r.text, jsonBody(echoCompletion('up-echo')));
  const up = await onlyUpstreamRequest();
  assert.deepEqual(r.body, b64(up.response_b64), 'client bytes == bytes the upstream sent');
  assertGatewayHeaders(r.headers);
});

test('stream via SDK: text reassembled, usage chunk when include_usage', T, async () => {
  const { data: stream, response } = await s.client.chat.completions
    .create({
      model: 'echo',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
    })
    .withResponse();
  assertGatewayHeaders(response.headers);
  let text = '';
  let usage = null;
  let finish = null;
  let n = 0;
  for await (const chunk of stream) {
    n++;
    if (chunk.choices.length) {
      text += chunk.choices[0].delta.content ?? '';
      finish = chunk.choices[0].finish_reason ?? finish;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, ECHO_TEXT);
  assert.equal(finish, 'stop');
  assert.deepEqual(usage, ECHO_USAGE);
  assert.equal(n, echoFrames('up-echo', true).length - 1, 'every upstream chunk arrived');
});

test('stream via SDK without include_usage: no usage chunk', T, async () => {
  const stream = await s.client.chat.completions.create({
    model: 'echo',
    messages: [{ role: 'user', content: 'hi' }],
    stream: true,
  });
  let text = '';
  for await (const chunk of stream) {
    assert.ok(chunk.choices.length === 1, 'no choices:[] usage chunk');
    assert.equal(chunk.usage, undefined);
    text += chunk.choices[0].delta.content ?? '';
  }
  assert.equal(text, ECHO_TEXT);
});

test('stream raw: frames byte for byte, status, content-type, chunked', T, async () => {
  for (const includeUsage of [true, false]) {
    await s.mock.reset();
    const extra = { stream: true };
    if (includeUsage) extra.stream_options = { include_usage: true };
    const r = await curl(`${s.gw.origin}/v1/chat/completions`, { body: chatBody('echo', 'hi', extra) });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers['content-type'], 'text/event-stream; charset=utf-8', 'upstream content-type');
    assert.equal(r.headers['transfer-encoding'], 'chunked');
    assertGatewayHeaders(r.headers);
    const expected = echoFrames('up-echo', includeUsage).join('');
    assert.equal(r.text, expected, `frames byte for byte (include_usage=${includeUsage})`);
    const up = await onlyUpstreamRequest();
    if (includeUsage) {
      assert.deepEqual(r.body, b64(up.response_b64), 'client bytes == bytes the upstream sent');
    } else {
      // the gateway asked the upstream for usage (for the log) and hid it from the client
      assert.deepEqual(JSON.parse(up.body).stream_options, { include_usage: true });
      assert.equal(b64(up.response_b64).toString(), echoFrames('up-echo', true).join(''));
    }
  }
});

test('tool calls, stream via SDK: deltas accumulate to the upstream calls', T, async () => {
  const stream = await s.client.chat.completions.create({
    model: 'tools',
    messages: [{ role: 'user', content: 'weather and time in Paris?' }],
    tools: [
      { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: {} } } },
      { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } },
    ],
    stream: true,
    stream_options: { include_usage: true },
  });
  const calls = [];
  let finish = null;
  let usage = null;
  let argDeltas = 0;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const ch of chunk.choices) {
      finish = ch.finish_reason ?? finish;
      for (const tc of ch.delta.tool_calls ?? []) {
        const c = (calls[tc.index] ??= { id: '', type: '', function: { name: '', arguments: '' } });
        if (tc.id) c.id = tc.id;
        if (tc.type) c.type = tc.type;
        if (tc.function?.name) c.function.name += tc.function.name;
        if (tc.function?.arguments) {
          c.function.arguments += tc.function.arguments;
          argDeltas++;
        }
      }
    }
  }
  assert.deepEqual(calls, TOOL_CALLS);
  assert.equal(argDeltas, 12, 'argument deltas arrive as sent (7 + 5)');
  assert.equal(finish, 'tool_calls');
  assert.deepEqual(usage, TOOLS_USAGE);
});

test('tool calls, SDK stream helper: finalChatCompletion has both calls', T, async () => {
  const runner = s.client.chat.completions.stream({
    model: 'tools',
    messages: [{ role: 'user', content: 'weather and time in Paris?' }],
  });
  const final = await runner.finalChatCompletion();
  const msg = final.choices[0].message;
  assert.deepEqual(
    msg.tool_calls.map((c) => ({ id: c.id, type: c.type, function: { name: c.function.name, arguments: c.function.arguments } })),
    TOOL_CALLS,
  );
  assert.equal(final.choices[0].finish_reason, 'tool_calls');
});

test('tool calls, raw: stream and non-stream bytes equal upstream bytes', T, async () => {
  const r = await curl(`${s.gw.origin}/v1/chat/completions`, { body: chatBody('tools', 'q', { stream: true }) });
  assert.equal(r.status, 200);
  assert.equal(r.text, toolFrames('up-tools', false).join(''));
  const r2 = await curl(`${s.gw.origin}/v1/chat/completions`, { body: chatBody('tools', 'q') });
  assert.equal(r2.status, 200);
  assert.equal(r2.text, jsonBody(toolsCompletion('up-tools')));
  const via = await s.client.chat.completions.create({ model: 'tools', messages: [{ role: 'user', content: 'q' }] });
  assert.deepEqual(via.choices[0].message.tool_calls, TOOL_CALLS);
});

test('request body forwarded byte for byte except the model token', T, async () => {
  // Odd whitespace, key order, escapes, unknown fields, and a nested "model":"echo" that
  // must not be touched.
  const sent =
    '{ "messages" :[\n\t{"role":"user",  "content":"h\\u00e9llo \\"quoted\\" \u2713"} ],' +
    '"x_unknown" : {"nested":[1, 2.50, true,null, "model"], "model":"echo"},\r\n' +
    '  "model"  :  "echo" , "logit_bias":{"50256":-100},"stream":false,"metadata":{"temperature":"1"}   }';
  const expected = sent.replace('"model"  :  "echo"', '"model"  :  "up-echo"');
  assert.notEqual(expected, sent);
  const r = await curl(`${s.gw.origin}/v1/chat/completions`, { body: sent });
  assert.equal(r.status, 200, r.text);
  const up = await onlyUpstreamRequest();
  assert.equal(up.method, 'POST');
  assert.equal(up.url, '/v1/chat/completions');
  assert.equal(b64(up.body_b64).toString('utf8'), expected);
  assert.deepEqual(b64(up.body_b64), Buffer.from(expected, 'utf8'));
});

test('model defaults appended before the final } only when the client did not set them', T, async () => {
  // Top-level temperature absent (a nested one does not count); trailing whitespace kept.
  const sent = '{"model":"echo-defaults","messages":[{"role":"user","content":"hi"}],"metadata":{"temperature":"9"}\n}\n';
  const r = await curl(`${s.gw.origin}/v1/chat/completions`, { body: sent });
  assert.equal(r.status, 200, r.text);
  let up = await onlyUpstreamRequest();
  assert.equal(
    up.body,
    '{"model":"up-echo","messages":[{"role":"user","content":"hi"}],"metadata":{"temperature":"9"}\n,"temperature":0.5}\n',
  );

  await s.mock.reset();
  const sent2 = '{"temperature":1.25, "model":"echo-defaults","messages":[{"role":"user","content":"hi"}]}';
  const r2 = await curl(`${s.gw.origin}/v1/chat/completions`, { body: sent2 });
  assert.equal(r2.status, 200, r2.text);
  up = await onlyUpstreamRequest();
  assert.equal(up.body, sent2.replace('"echo-defaults"', '"up-echo"'), 'client temperature kept, no default added');

  // Also via the SDK (its JSON serialisation), stream.
  await s.mock.reset();
  const stream = await s.client.chat.completions.create({
    model: 'echo-defaults', messages: [{ role: 'user', content: 'hi' }], stream: true,
  });
  let text = '';
  for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
  assert.equal(text, ECHO_TEXT);
  up = await onlyUpstreamRequest();
  const body = JSON.parse(up.body);
  assert.equal(body.temperature, 0.5);
  assert.equal(body.model, 'up-echo');
  // the gateway asks for stream usage (for the log) after the defaults
  assert.ok(up.body.endsWith(',"temperature":0.5,"stream_options":{"include_usage":true}}'), up.body);
});

test('upstream request headers: gateway key, never the client Authorization', T, async () => {
  const r = await curl(`${s.gw.origin}/v1/chat/completions`, {
    body: chatBody('echo', 'hi'),
    headers: { Authorization: 'Bearer client-secret-must-not-leak', 'x-request-id': 'hdr-test-1' },
  });
  assert.equal(r.status, 200, r.text);
  let up = await onlyUpstreamRequest();
  assert.equal(up.headers.authorization, `Bearer ${UPSTREAM_KEY}`);
  assert.match(up.headers['content-type'] ?? '', /^application\/json\b/);
  assert.equal(up.headers['x-request-id'], 'hdr-test-1');
  assert.ok(!JSON.stringify(up.rawHeaders).includes('client-secret-must-not-leak'), 'client secret not in any upstream header');

  // A model without api_key sends no Authorization at all.
  await s.mock.reset();
  const r2 = await curl(`${s.gw.origin}/v1/chat/completions`, {
    body: chatBody('tools', 'hi'),
    headers: { Authorization: 'Bearer client-secret-must-not-leak' },
  });
  assert.equal(r2.status, 200, r2.text);
  up = await onlyUpstreamRequest();
  assert.equal(up.headers.authorization, undefined, 'no Authorization without api_key');
  assert.ok(!JSON.stringify(up.rawHeaders).includes('client-secret-must-not-leak'));
});
