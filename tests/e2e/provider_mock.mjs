// Mock upstream speaking Anthropic's Messages API and Gemini's generateContent API (plus a few
// OpenAI chat scenarios the plain mock_upstream.mjs does not have), for providers.test.mjs.
//
// Run as a separate process: `node provider_mock.mjs`. It listens on 127.0.0.1 with an ephemeral
// port and prints `{"port":N}` as its first stdout line. The tests import this module for the
// exact values each scenario sends; importing it does not start a server.
//
// Routes (behaviour chosen by the upstream model id):
//   POST /anthropic/v1/messages                          body "model"
//   POST /gemini/v1beta/models/{model}:generateContent
//   POST /gemini/v1beta/models/{model}:streamGenerateContent?alt=sse
//   POST /openai/v1/chat/completions                     body "model" (gpt-json, gpt-usage)
// Scenarios, same names in each family (claude-*, gemini-*):
//   *-text       fixed text (stream: Anthropic with a ping; Gemini with \r\n\r\n separators)
//   *-tools      two parallel tool calls (get_weather, get_time)
//   *-json       structured output: Anthropic answers the forced tool the request names
//                (tool_choice {type: tool}); Gemini answers JSON text
//   *-usage      text with cache read/write (Anthropic) or cachedContentTokenCount and
//                thoughtsTokenCount (Gemini)
//   *-error-400/429/500   the provider's error JSON with that status
//   claude-thinking       thinking block with a signature, then text (stream: pings,
//                         thinking_delta pieces, signature_delta)
// Control: GET /__requests (method, url, headers, rawHeaders, body, body_b64, model, status,
// response_b64), POST /__reset.

import http from 'node:http';
import { pathToFileURL } from 'node:url';

export const TEXT_PIECES = ['Hello', ' from', ' the', ' provider', ' — ', 'ünïcödé', ' ✓'];
export const TEXT = TEXT_PIECES.join('');

export const TOOL_CALLS = [
  { id: 'toolu_01A09q90qw90lq917835lq9', name: 'get_weather', input: { location: 'San Francisco, CA', unit: 'celsius' } },
  { id: 'toolu_01B8xjQ2mQyQkZp3v7p2Wc4T', name: 'get_time', input: { timezone: 'America/Los_Angeles' } },
];
// How each call's JSON arguments are split across stream deltas.
export const TOOL_ARG_PIECES = [
  ['{"loc', 'ation": "San Fra', 'ncisco, CA"', ', "unit": "cel', 'sius"}'],
  ['', '{"timezone', '": "America/Los_Angeles"}'],
];

export const STRUCTURED = { name: 'Tokyo', population: 13960000, country: 'Japan' };
export const STRUCTURED_PIECES = ['{"name": "Tok', 'yo", "population": 1396', '0000, "country": "Japan"}'];

export const THINKING = {
  pieces: ['Let me compute 27 * 453.', ' 27*400 = 10800, 27*53 = 1431.', ' Total 12231.'],
  signature:
    'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds4YePCX8QYj9ebBVa9Q5O5N2BXtwNlbIaNOaC0zdyKbnFEmHr9VfXdYyWr0vuQtVNpPKfY6VWzEKMANS0LaO3VNEgZ8j+/=',
  text: '27 × 453 = 12,231.',
};
THINKING.thinking = THINKING.pieces.join('');

// Usage each family reports, in its own shape.
export const ANTHROPIC_USAGE = {
  text: { input_tokens: 25, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 12 },
  usage: { input_tokens: 21, cache_creation_input_tokens: 188, cache_read_input_tokens: 2970, output_tokens: 17 },
  tools: { input_tokens: 410, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 96 },
  json: { input_tokens: 402, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 48 },
  thinking: { input_tokens: 46, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 95 },
};
export const GEMINI_USAGE = {
  text: { promptTokenCount: 9, candidatesTokenCount: 7, totalTokenCount: 16 },
  usage: {
    promptTokenCount: 2100,
    candidatesTokenCount: 11,
    totalTokenCount: 2341,
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: 2100 }],
    cachedContentTokenCount: 2048,
    cacheTokensDetails: [{ modality: 'TEXT', tokenCount: 2048 }],
    thoughtsTokenCount: 230,
  },
  tools: { promptTokenCount: 77, candidatesTokenCount: 30, totalTokenCount: 107 },
  json: { promptTokenCount: 12, candidatesTokenCount: 10, totalTokenCount: 47, thoughtsTokenCount: 25 },
};
export const OPENAI_USAGE = {
  prompt_tokens: 2300,
  completion_tokens: 420,
  total_tokens: 2720,
  prompt_tokens_details: { cached_tokens: 1920, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 384, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
};

export const ANTHROPIC_ERRORS = {
  'claude-error-400': { status: 400, type: 'invalid_request_error', message: 'messages.0.content: Input should be a valid list (e2e)' },
  'claude-error-429': { status: 429, type: 'rate_limit_error', message: 'Number of request tokens has exceeded your per-minute rate limit (e2e)' },
  'claude-error-500': { status: 500, type: 'api_error', message: 'Internal server error (e2e)' },
};
export const anthropicErrorBody = (e) => ({ type: 'error', error: { type: e.type, message: e.message }, request_id: 'req_011CSHoEeqs5C35K2UUqR7Fy' });

export const GEMINI_ERRORS = {
  'gemini-error-400': { status: 400, code: 'INVALID_ARGUMENT', message: 'Invalid JSON payload received. Unknown name "foo" at \'generation_config\': Cannot find field. (e2e)' },
  'gemini-error-429': { status: 429, code: 'RESOURCE_EXHAUSTED', message: 'You exceeded your current quota, please check your plan and billing details. (e2e)' },
  'gemini-error-500': { status: 500, code: 'INTERNAL', message: 'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting (e2e)' },
};
export const geminiErrorBody = (e) => ({ error: { code: e.status, message: e.message, status: e.code } });

export const MSG_ID = 'msg_01XFDUDYJgAACzvnptvVoYEL';
export const ANTHROPIC_MODEL_VERSION = 'claude-sonnet-4-5-20250929';
export const GEMINI_RESPONSE_ID = 'mFdCaLDxJ7bV-8YP7oGB0QI';
export const GEMINI_MODEL_VERSION = 'gemini-2.5-flash';

// ---------------------------------------------------------------------------------------
// Anthropic

const scenarioOf = (model) => (model ?? '').replace(/^(claude|gemini|gpt)-/, '');

function anthropicContent(scenario, req) {
  switch (scenario) {
    case 'tools':
      return TOOL_CALLS.map((c) => ({ type: 'tool_use', id: c.id, name: c.name, input: c.input }));
    case 'json': {
      const forced = req?.tool_choice?.type === 'tool' ? req.tool_choice.name : null;
      if (forced) return [{ type: 'tool_use', id: 'toolu_01NRLabsLyVHZPKxbKvkfSMn', name: forced, input: STRUCTURED }];
      return [{ type: 'text', text: JSON.stringify(STRUCTURED) }];
    }
    case 'thinking':
      return [
        { type: 'thinking', thinking: THINKING.thinking, signature: THINKING.signature },
        { type: 'text', text: THINKING.text },
      ];
    default:
      return [{ type: 'text', text: TEXT }];
  }
}

function anthropicStop(content) {
  return content.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn';
}

export function anthropicMessage(model, req) {
  const scenario = scenarioOf(model);
  const content = anthropicContent(scenario, req);
  return {
    id: MSG_ID,
    type: 'message',
    role: 'assistant',
    model: ANTHROPIC_MODEL_VERSION,
    content,
    stop_reason: anthropicStop(content),
    stop_sequence: null,
    usage: { ...(ANTHROPIC_USAGE[scenario] ?? ANTHROPIC_USAGE.text), service_tier: 'standard' },
  };
}

const sse = (event, data) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

// The Anthropic SSE events of a scenario, as strings.
export function anthropicStream(model, req) {
  const scenario = scenarioOf(model);
  const msg = anthropicMessage(model, req);
  const usage = msg.usage;
  const out = [
    sse('message_start', {
      type: 'message_start',
      message: { ...msg, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } },
    }),
    sse('ping', { type: 'ping' }),
  ];
  msg.content.forEach((b, index) => {
    if (b.type === 'text') {
      out.push(sse('content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } }));
      const pieces = scenario === 'thinking' ? [b.text] : scenario === 'json' ? STRUCTURED_PIECES : TEXT_PIECES;
      for (const p of pieces) out.push(sse('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: p } }));
    } else if (b.type === 'thinking') {
      out.push(sse('content_block_start', { type: 'content_block_start', index, content_block: { type: 'thinking', thinking: '', signature: '' } }));
      THINKING.pieces.forEach((p, i) => {
        out.push(sse('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking: p } }));
        if (i === 0) out.push(sse('ping', { type: 'ping' }));
      });
      out.push(sse('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'signature_delta', signature: b.signature } }));
    } else {
      out.push(sse('content_block_start', { type: 'content_block_start', index, content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} } }));
      const pieces = scenario === 'json' ? STRUCTURED_PIECES : TOOL_ARG_PIECES[index];
      for (const p of pieces) out.push(sse('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: p } }));
    }
    out.push(sse('content_block_stop', { type: 'content_block_stop', index }));
  });
  out.push(sse('message_delta', { type: 'message_delta', delta: { stop_reason: msg.stop_reason, stop_sequence: null }, usage: { output_tokens: usage.output_tokens } }));
  out.push(sse('message_stop', { type: 'message_stop' }));
  return out;
}

// ---------------------------------------------------------------------------------------
// Gemini

function geminiParts(scenario) {
  switch (scenario) {
    case 'tools':
      return TOOL_CALLS.map((c) => ({ functionCall: { name: c.name, args: c.input } }));
    case 'json':
      return [{ text: JSON.stringify(STRUCTURED) }];
    default:
      return [{ text: TEXT }];
  }
}

export function geminiResponse(model) {
  const scenario = scenarioOf(model);
  return {
    candidates: [{ content: { parts: geminiParts(scenario), role: 'model' }, finishReason: 'STOP', index: 0 }],
    usageMetadata: GEMINI_USAGE[scenario] ?? GEMINI_USAGE.text,
    modelVersion: GEMINI_MODEL_VERSION,
    responseId: GEMINI_RESPONSE_ID,
  };
}

// Gemini's SSE: `data: {GenerateContentResponse}` events separated by \r\n\r\n; the last one
// carries finishReason and the usage.
export function geminiStream(model) {
  const scenario = scenarioOf(model);
  const chunk = (parts, last) => {
    const o = { candidates: [{ content: { parts, role: 'model' }, index: 0 }], modelVersion: GEMINI_MODEL_VERSION, responseId: GEMINI_RESPONSE_ID };
    if (last) {
      o.candidates[0].finishReason = 'STOP';
      o.usageMetadata = GEMINI_USAGE[scenario] ?? GEMINI_USAGE.text;
    } else {
      o.usageMetadata = { promptTokenCount: (GEMINI_USAGE[scenario] ?? GEMINI_USAGE.text).promptTokenCount, totalTokenCount: 0 };
    }
    return `data: ${JSON.stringify(o)}\r\n\r\n`;
  };
  let pieces;
  if (scenario === 'tools') pieces = [[{ functionCall: { name: TOOL_CALLS[0].name, args: TOOL_CALLS[0].input } }, { functionCall: { name: TOOL_CALLS[1].name, args: TOOL_CALLS[1].input } }]];
  else if (scenario === 'json') pieces = STRUCTURED_PIECES.map((t) => [{ text: t }]);
  else pieces = TEXT_PIECES.map((t) => [{ text: t }]);
  return pieces.map((p, i) => chunk(p, i === pieces.length - 1));
}

// ---------------------------------------------------------------------------------------
// OpenAI extras

export function openaiJsonCompletion(model) {
  return {
    id: 'chatcmpl-e2e-json',
    object: 'chat.completion',
    created: 1741569952,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: JSON.stringify(STRUCTURED), refusal: null, annotations: [] }, logprobs: null, finish_reason: 'stop' }],
    usage: OPENAI_USAGE,
    service_tier: 'default',
    system_fingerprint: 'fp_e2e',
  };
}

export function openaiStream(model) {
  const base = { id: 'chatcmpl-e2e-json', object: 'chat.completion.chunk', created: 1741569952, model, system_fingerprint: 'fp_e2e' };
  const frames = [{ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }], usage: null }];
  for (const p of STRUCTURED_PIECES) frames.push({ ...base, choices: [{ index: 0, delta: { content: p }, logprobs: null, finish_reason: null }], usage: null });
  frames.push({ ...base, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }], usage: null });
  frames.push({ ...base, choices: [], usage: OPENAI_USAGE });
  return frames.map((f) => `data: ${JSON.stringify(f)}\n\n`).concat('data: [DONE]\n\n');
}

// ---------------------------------------------------------------------------------------

function startServer() {
  const requests = [];
  let seq = 0;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks)));
  });
  server.keepAliveTimeout = 30000;

  function sendJson(res, status, obj) {
    const b = JSON.stringify(obj);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(b) });
    res.end(b);
  }

  function handle(req, res, body) {
    if (req.url === '/__requests' && req.method === 'GET') return sendJson(res, 200, requests);
    if (req.url === '/__reset' && req.method === 'POST') {
      requests.length = 0;
      return sendJson(res, 200, { ok: true });
    }
    let parsed = null;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {}
    const rec = {
      seq: ++seq,
      method: req.method,
      url: req.url,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      body: body.toString('utf8'),
      body_b64: body.toString('base64'),
      model: null,
      status: null,
      response_b64: '',
    };
    requests.push(rec);
    const sent = [];
    const head = (status, type, extra = {}) => {
      rec.status = status;
      res.writeHead(status, { 'Content-Type': type, ...extra });
    };
    const write = (s) => {
      sent.push(Buffer.from(s));
      rec.response_b64 = Buffer.concat(sent).toString('base64');
      res.write(s);
    };
    // One write per event, 2 ms apart, so the gateway sees events across reads.
    const play = (events) => {
      let i = 0;
      const step = () => {
        if (res.destroyed) return;
        if (i >= events.length) return void res.end();
        write(events[i++]);
        setTimeout(step, 2);
      };
      step();
    };
    const reply = (status, obj, extra) => {
      head(status, 'application/json', extra);
      write(JSON.stringify(obj));
      res.end();
    };
    const notFound = (msg) => reply(404, { error: { message: `provider mock: ${msg}` } });
    if (req.method !== 'POST') return notFound(`no route ${req.method} ${req.url}`);

    // Anthropic
    if (req.url === '/anthropic/v1/messages') {
      rec.model = parsed?.model ?? null;
      const model = rec.model;
      if (!parsed || typeof model !== 'string') {
        return reply(400, anthropicErrorBody({ type: 'invalid_request_error', message: 'model: Field required' }));
      }
      const err = ANTHROPIC_ERRORS[model];
      if (err) return reply(err.status, anthropicErrorBody(err), err.status === 429 ? { 'retry-after': '1', 'request-id': 'req_011CSHoEeqs5C35K2UUqR7Fy' } : { 'request-id': 'req_011CSHoEeqs5C35K2UUqR7Fy' });
      if (!['text', 'tools', 'json', 'usage', 'thinking'].includes(scenarioOf(model)) || !model.startsWith('claude-')) {
        return reply(404, anthropicErrorBody({ type: 'not_found_error', message: `model: ${model}` }));
      }
      if (parsed.stream === true) {
        head(200, 'text/event-stream; charset=utf-8', { 'cache-control': 'no-cache' });
        return play(anthropicStream(model, parsed));
      }
      return reply(200, anthropicMessage(model, parsed));
    }

    // Gemini
    const g = /^\/gemini\/v1beta\/models\/([^/:?]+):(generateContent|streamGenerateContent\?alt=sse)$/.exec(req.url);
    if (g) {
      const model = g[1];
      rec.model = model;
      const err = GEMINI_ERRORS[model];
      if (err) return reply(err.status, geminiErrorBody(err));
      if (!['text', 'tools', 'json', 'usage'].includes(scenarioOf(model)) || !model.startsWith('gemini-')) {
        return reply(404, geminiErrorBody({ status: 404, code: 'NOT_FOUND', message: `models/${model} is not found` }));
      }
      if (!parsed || !Array.isArray(parsed.contents)) {
        return reply(400, geminiErrorBody({ status: 400, code: 'INVALID_ARGUMENT', message: 'contents is not specified' }));
      }
      if (g[2].startsWith('stream')) {
        head(200, 'text/event-stream');
        return play(geminiStream(model));
      }
      return reply(200, geminiResponse(model));
    }

    // OpenAI extras
    if (req.url === '/openai/v1/chat/completions') {
      rec.model = parsed?.model ?? null;
      if (rec.model !== 'gpt-json' && rec.model !== 'gpt-usage') return notFound(`unknown model ${rec.model}`);
      if (parsed.stream === true) {
        head(200, 'text/event-stream; charset=utf-8');
        return play(openaiStream(rec.model));
      }
      return reply(200, openaiJsonCompletion(rec.model));
    }
    return notFound(`no route ${req.method} ${req.url}`);
  }

  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
  });
  const stop = () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) startServer();
