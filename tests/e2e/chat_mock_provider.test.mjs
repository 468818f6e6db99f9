// Provider `mock`: deterministic replies with no upstream.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, curl, assertGatewayHeaders, sseData } from './lib.mjs';

let s;
before(async () => {
  s = await startStack();
});
after(async () => {
  await s?.stop();
});

const T = { timeout: 10000 };
const ceil4 = (str) => Math.ceil(Buffer.byteLength(str, 'utf8') / 4);
const post = (body) => curl(`${s.gw.origin}/v1/chat/completions`, { body: JSON.stringify(body) });
const strip = (o) => {
  const { id, created, ...rest } = o;
  return rest;
};

// Check a raw mock stream against API.md; returns the content pieces and the parsed chunks.
function checkMockStream(r, { reply, chunks, usage }) {
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers['content-type'] ?? '', /^text\/event-stream/);
  assertGatewayHeaders(r.headers);
  const { objs, done, events } = sseData(r.text);
  assert.ok(done, 'data: [DONE] is the last event');
  assert.equal(events.filter((e) => e === 'data: [DONE]').length, 1, 'one [DONE]');
  assert.equal(objs.length, 1 + chunks + 1 + (usage ? 1 : 0), `event count: ${r.text}`);
  const id = objs[0].id;
  assert.equal(typeof id, 'string');
  for (const o of objs) {
    assert.equal(o.object, 'chat.completion.chunk');
    assert.equal(o.id, id, 'same id on every chunk');
    assert.equal(typeof o.model, 'string');
    assert.ok(Number.isInteger(o.created));
  }
  const [role, ...rest] = objs;
  assert.equal(role.choices.length, 1);
  assert.equal(role.choices[0].delta.role, 'assistant', 'role chunk first');
  assert.equal(role.choices[0].finish_reason ?? null, null);
  const contents = rest.slice(0, chunks);
  const pieces = contents.map((o) => {
    assert.equal(o.choices.length, 1);
    assert.deepEqual(Object.keys(o.choices[0].delta), ['content'], `content delta: ${JSON.stringify(o)}`);
    assert.equal(o.choices[0].finish_reason ?? null, null);
    return o.choices[0].delta.content;
  });
  assert.equal(pieces.join(''), reply, 'content deltas join to the reply');
  const sizes = pieces.map((p) => Buffer.byteLength(p));
  assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 4, `nearly equal pieces: ${sizes}`);
  const fin = rest[chunks];
  assert.equal(fin.choices.length, 1);
  assert.deepEqual(fin.choices[0].delta, {}, 'finish chunk delta is {}');
  assert.equal(fin.choices[0].finish_reason, 'stop');
  if (usage) {
    const u = rest[chunks + 1];
    assert.deepEqual(u.choices, [], 'usage chunk has choices: []');
    assert.equal(u.usage.prompt_tokens, usage.prompt_tokens);
    assert.equal(u.usage.completion_tokens, usage.completion_tokens);
    assert.equal(u.usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
  } else {
    for (const o of objs) assert.ok(o.usage == null, 'no usage without include_usage');
  }
  // Exact role delta last, so that a mismatch here does not hide the checks above.
  assert.deepEqual(role.choices[0].delta, { role: 'assistant', content: '', refusal: null }, 'role chunk delta exactly as API.md');
  return { pieces, objs };
}

test('mock non-stream: "You said: <last user text>", estimated usage, deterministic', T, async () => {
  const body = { model: 'mock-e2e', messages: [{ role: 'user', content: 'Hello, world' }] };
  const r1 = await post(body);
  const r2 = await post(body);
  for (const r of [r1, r2]) {
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers['content-type'] ?? '', /^application\/json/);
    assertGatewayHeaders(r.headers);
    const j = r.json();
    assert.equal(j.object, 'chat.completion');
    assert.equal(j.choices.length, 1);
    assert.equal(j.choices[0].index, 0);
    assert.equal(j.choices[0].message.role, 'assistant');
    assert.equal(j.choices[0].message.content, 'You said: Hello, world');
    assert.equal(j.choices[0].finish_reason, 'stop');
    assert.equal(j.usage.prompt_tokens, ceil4('Hello, world'));
    assert.equal(j.usage.completion_tokens, ceil4('You said: Hello, world'));
    assert.equal(j.usage.total_tokens, j.usage.prompt_tokens + j.usage.completion_tokens);
  }
  assert.deepEqual(strip(r1.json()), strip(r2.json()), 'two calls give the same reply');
});

test('mock non-stream via SDK: last user message, fixed usage from config', T, async () => {
  const res = await s.client.chat.completions.create({
    model: 'mock-fixed',
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'first question' },
      { role: 'assistant', content: 'first answer' },
      { role: 'user', content: 'second question' },
    ],
  });
  assert.equal(res.choices[0].message.content, 'You said: second question');
  assert.equal(res.usage.prompt_tokens, 12);
  assert.equal(res.usage.completion_tokens, 34);
  assert.equal(res.usage.total_tokens, 46);
});

test('mock: array content joins the text parts with a space', T, async () => {
  const r = await post({
    model: 'mock-e2e',
    messages: [{
      role: 'user',
      content: [
        { type: 'text', text: 'part one' },
        { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
        { type: 'text', text: 'part two' },
      ],
    }],
  });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json().choices[0].message.content, 'You said: part one part two');
});

test('mock: reply cut to 4096 bytes', T, async () => {
  const long = 'abcdefghij'.repeat(500);
  const r = await post({ model: 'mock-e2e', messages: [{ role: 'user', content: long }] });
  assert.equal(r.status, 200, r.text);
  const content = r.json().choices[0].message.content;
  assert.equal(Buffer.byteLength(content), 4096);
  assert.equal(content, ('You said: ' + long).slice(0, 4096));
});

test('mock: max_tokens cuts the reply like a model (finish_reason length), stream and not', T, async () => {
  const messages = [{ role: 'user', content: 'tell me a long story, please' }];
  const r = await post({ model: 'mock-e2e', max_tokens: 4, messages });
  assert.equal(r.status, 200, r.text);
  const j = r.json();
  assert.equal(j.choices[0].message.content, 'You said: tell m'); // 4 tokens of 4 bytes
  assert.equal(j.choices[0].finish_reason, 'length');
  assert.equal(j.usage.completion_tokens, 4);
  // max_completion_tokens wins, and the stream ends the same way
  const stream = await s.client.chat.completions.create({
    model: 'mock-e2e', stream: true, max_tokens: 100, max_completion_tokens: 3, messages,
  });
  let text = '';
  let finish = null;
  for await (const c of stream) {
    text += c.choices[0]?.delta?.content ?? '';
    finish = c.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(text, 'You said: te');
  assert.equal(finish, 'length');
  // a limit the reply fits in changes nothing
  const r2 = await post({ model: 'mock-e2e', max_tokens: 1000, messages });
  assert.equal(r2.json().choices[0].message.content, 'You said: tell me a long story, please');
  assert.equal(r2.json().choices[0].finish_reason, 'stop');
});

test('mock stream raw: role, content deltas, finish, usage only when asked, [DONE]', T, async () => {
  const text = 'héllo wörld ✓ 日本語 and some more words';
  const reply = `You said: ${text}`;
  const base = { model: 'mock-e2e', messages: [{ role: 'user', content: text }], stream: true };
  const usage = { prompt_tokens: ceil4(text), completion_tokens: ceil4(reply) };

  const withUsage = { ...base, stream_options: { include_usage: true } };
  const a1 = checkMockStream(await post(withUsage), { reply, chunks: 4, usage });
  const a2 = checkMockStream(await post(withUsage), { reply, chunks: 4, usage });
  assert.deepEqual(a1.objs.map(strip), a2.objs.map(strip), 'deterministic across two calls');

  checkMockStream(await post(base), { reply, chunks: 4, usage: null });
  checkMockStream(await post({ ...base, stream_options: { include_usage: false } }), { reply, chunks: 4, usage: null });

  const fixed = { ...withUsage, model: 'mock-fixed' };
  checkMockStream(await post(fixed), { reply, chunks: 3, usage: { prompt_tokens: 12, completion_tokens: 34 } });
});

test('mock stream via SDK: reassembled reply and usage', T, async () => {
  const stream = await s.client.chat.completions.create({
    model: 'mock-e2e',
    messages: [{ role: 'user', content: 'stream me' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let usage = null;
  let finish = null;
  for await (const c of stream) {
    if (c.usage) usage = c.usage;
    if (c.choices.length) {
      text += c.choices[0].delta.content ?? '';
      finish = c.choices[0].finish_reason ?? finish;
    }
  }
  assert.equal(text, 'You said: stream me');
  assert.equal(finish, 'stop');
  assert.equal(usage.prompt_tokens, ceil4('stream me'));
  assert.equal(usage.completion_tokens, ceil4('You said: stream me'));
});
