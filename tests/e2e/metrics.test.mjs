// GET /metrics: Prometheus text format checked by the real `promtool check metrics`
// (Debian package prometheus), and counters that move with the traffic sent.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startStack, curl, chatBody } from './lib.mjs';

let s;
before(async () => {
  s = await startStack();
});
after(async () => {
  await s?.stop();
});
const T = { timeout: 30000 };

async function metrics() {
  const r = await curl(`${s.gw.origin}/metrics`);
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  return r.text;
}

// value of one sample line, by exact name + labels text
function sample(text, series) {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  assert.ok(line, `no sample ${series}`);
  return Number(line.slice(series.length + 1));
}

test('promtool accepts the exposition, before and after traffic', T, async () => {
  for (const phase of ['empty', 'after traffic']) {
    if (phase === 'after traffic') {
      await curl(`${s.gw.origin}/v1/chat/completions`, { body: chatBody('echo', 'hi') });
      await curl(`${s.gw.origin}/v1/chat/completions`, { body: chatBody('err-429', 'hi') });
    }
    const text = await metrics();
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(r.error, undefined, `promtool could not run (package prometheus): ${r.error}`);
    assert.equal(r.status, 0, `promtool (${phase}):\n${r.stdout}${r.stderr}`);
  }
});

test('counters and histograms follow the requests', T, async () => {
  const before = await metrics();
  const ok = 'switchyard_requests_total{model="mock-e2e",ingress="openai",code="2xx"}';
  const okMsgs = 'switchyard_requests_total{model="mock-e2e",ingress="anthropic",code="2xx"}';
  const rl = 'switchyard_requests_total{model="err-429",ingress="openai",code="4xx"}';
  const rlErr = 'switchyard_errors_total{model="err-429",type="rate_limit"}';
  const up5 = 'switchyard_errors_total{model="err-500",type="upstream"}';
  const unr = 'switchyard_errors_total{model="unreachable",type="unreachable"}';
  const latCount = 'switchyard_request_duration_seconds_count{model="mock-e2e"}';
  const att = 'switchyard_upstream_attempts_total{deployment="err-500",result="failure"}';
  const v0 = Object.fromEntries([ok, okMsgs, rl, rlErr, up5, unr, latCount, att].map((k) => [k, sample(before, k)]));

  for (let i = 0; i < 3; i++) await curl(`${s.gw.origin}/v1/chat/completions`, { body: chatBody('mock-e2e', `n${i}`) });
  await curl(`${s.gw.origin}/v1/chat/completions`, { body: chatBody('mock-e2e', 'streamed', { stream: true }) });
  await curl(`${s.gw.origin}/v1/messages`, {
    body: JSON.stringify({ model: 'mock-e2e', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
  });
  await curl(`${s.gw.origin}/v1/chat/completions`, { body: chatBody('err-429', 'x') });
  await curl(`${s.gw.origin}/v1/chat/completions`, { body: chatBody('err-500', 'x') });
  await curl(`${s.gw.origin}/v1/chat/completions`, { body: chatBody('unreachable', 'x') });

  const after = await metrics();
  assert.equal(sample(after, ok) - v0[ok], 4);
  assert.equal(sample(after, okMsgs) - v0[okMsgs], 1);
  assert.equal(sample(after, rl) - v0[rl], 1);
  assert.equal(sample(after, rlErr) - v0[rlErr], 1);
  assert.equal(sample(after, up5) - v0[up5], 1);
  assert.equal(sample(after, unr) - v0[unr], 1);
  assert.equal(sample(after, latCount) - v0[latCount], 5);
  assert.equal(sample(after, att) - v0[att], 1);
  // histogram buckets are cumulative and end at the count
  const inf = sample(after, 'switchyard_request_duration_seconds_bucket{model="mock-e2e",le="+Inf"}');
  assert.equal(inf, sample(after, latCount));
  assert.ok(sample(after, 'switchyard_gateway_overhead_seconds_count') >= 9);
  assert.equal(sample(after, 'switchyard_deployment_inflight{deployment="mock-e2e"}'), 0);
  // label sets are bounded by the config: no series for an unknown model
  await curl(`${s.gw.origin}/v1/chat/completions`, { body: chatBody('no-such-model', 'x') });
  assert.ok(!(await metrics()).includes('no-such-model'));
});
