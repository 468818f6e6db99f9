// Large buffered replies: a translated non-streamed answer is written to the client in one
// piece, several MiB at once. It must arrive whole (the connection's output cap allows a whole
// buffered reply), and a reply over the cap must close the connection from the loop, never
// inside the provider's own callback (that was a double free).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { freePort, startGateway } from './lib.mjs';

const BIG = 5 * 1024 * 1024; // over the old 4 MiB output cap
const text = 'x'.repeat(BIG);

// One in-process upstream: /anthropic/v1/messages answers an Anthropic message with BIG bytes of
// text; /openai/v1/chat/completions an OpenAI completion with the same.
const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    res.setHeader('content-type', 'application/json');
    if (req.url.startsWith('/anthropic/')) {
      res.end(JSON.stringify({
        id: 'msg_01Big', type: 'message', role: 'assistant', model: 'claude-big',
        content: [{ type: 'text', text }], stop_reason: 'end_turn', stop_sequence: null,
        usage: { input_tokens: 5, output_tokens: 1310720 },
      }));
    } else {
      res.end(JSON.stringify({
        id: 'chatcmpl-big', object: 'chat.completion', created: 1700000000, model: 'gpt-big',
        choices: [{ index: 0, message: { role: 'assistant', content: text, refusal: null }, logprobs: null, finish_reason: 'stop' }],
        usage: { prompt_tokens: 5, completion_tokens: 1310720, total_tokens: 1310725 },
      }));
    }
  });
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const up = server.address().port;
const port = await freePort();
const gw = await startGateway({
  port,
  config: `server:
  listen: 127.0.0.1:${port}
  workers: 1
  upstream_client: ${process.env.E2E_UPSTREAM_CLIENT || 'auto'}
models:
  - {name: claude-big, provider: anthropic, model: claude-big, base_url: "http://127.0.0.1:${up}/anthropic/v1"}
  - {name: gpt-big, provider: openai, model: gpt-big, base_url: "http://127.0.0.1:${up}/openai/v1"}
`,
});
after(async () => {
  await gw.stop();
  server.close();
});

const post = (path, body) =>
  fetch(`${gw.origin}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

test('a 5 MiB Anthropic reply translated for an OpenAI client arrives whole', async () => {
  const r = await post('/v1/chat/completions', { model: 'claude-big', messages: [{ role: 'user', content: 'big' }] });
  assert.equal(r.status, 200);
  const j = await r.json();
  assert.equal(j.choices[0].message.content.length, BIG);
  assert.equal(j.usage.completion_tokens, 1310720);
});

test('a 5 MiB OpenAI reply converted for an Anthropic client arrives whole', async () => {
  const r = await post('/v1/messages', { model: 'gpt-big', max_tokens: 10, messages: [{ role: 'user', content: 'big' }] });
  assert.equal(r.status, 200);
  const j = await r.json();
  assert.equal(j.type, 'message');
  assert.equal(j.content[0].text.length, BIG);
});

test('the gateway still serves after large replies', async () => {
  for (let i = 0; i < 3; i++) {
    const r = await post('/v1/chat/completions', { model: 'claude-big', messages: [{ role: 'user', content: 'again' }] });
    assert.equal(r.status, 200);
    assert.equal((await r.json()).choices[0].message.content.length, BIG);
  }
});
