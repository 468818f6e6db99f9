// Mock OpenAI-compatible upstream for the Switchyard end-to-end tests.
//
// Run as a separate process: `node mock_upstream.mjs`. It listens on 127.0.0.1 with an
// ephemeral port and prints `{"port":N}` as its first stdout line. The tests import this
// module too, for the exact bytes each scenario sends (the exports below); importing it does
// not start a server.
//
// POST /v1/chat/completions picks its behaviour from the request's `model` (the upstream model
// id the gateway sends):
//   up-echo            fixed text; JSON, or SSE honouring stream_options.include_usage
//   up-echo-nousage    up-echo's answers, but SSE never carries usage (include_usage ignored)
//   up-tools           two parallel tool calls; JSON, or SSE with split argument deltas
//   up-error-400/429/500  OpenAI error JSON with that status
//   up-error-502-html  502 with an HTML body
//   up-slow-first-byte waits SLOW_FIRST_BYTE_MS before sending anything
//   up-silent          role chunk, silence, half a frame, silence, rest (keep-alive tests)
//   up-stall           role chunk, then silence until the connection closes
//   up-medium          MEDIUM_CHUNKS content chunks every MEDIUM_INTERVAL_MS (shutdown tests)
//   up-long            a chunk every 50 ms for 30 s (client-abort test)
// Scriptable fault models (routing tests). The id is a family name, optionally followed by
// "-<tag>" (e.g. up-500-a, up-500-b), so that every deployment of a test has its own upstream
// model id, its own counters and its own script; /__counts tells how many requests each id saw.
//   up-ok[-tag]              up-echo's answer (JSON or SSE), at once
//   up-delay-<ms>[-tag]      up-echo's answer after <ms> ms
//   up-500[-tag]             always 500 with up-error-500's body
//   up-429-then-ok[-tag]     the first `fail` requests (default 1) get 429 with up-error-429's
//                            body and `Retry-After: <retry_after>` (default "1"; script
//                            retry_after: null leaves it out) plus `retry-after-ms:
//                            <retry_after_ms>` when scripted; later requests get up-echo's answer
//   up-context-length[-tag]  400 with code context_length_exceeded (CONTEXT_LENGTH_ERROR)
//   up-reset-mid-stream[-tag]  SSE: the role chunk and one content chunk (RESET_FRAMES), then
//                            RESET_AFTER_MS later the socket is reset; JSON: the head with the
//                            full Content-Length and the first half of the body, then the reset
//   up-flaky[-tag]           up-echo's answer, unless scripted to fail: `fail: n` fails the next
//                            n requests, `fail: -1` every request until scripted again; a failure
//                            has status `status` (default 500; 429 carries Retry-After only if
//                            retry_after is scripted)
// Every scriptable model also honours a scripted `delay_ms` (wait before the head).
// Control endpoints:
//   GET  /__requests   recorded requests: method, url, headers, body (utf-8), body_b64 (exact
//                      bytes), model, status and response_b64 (exact bytes sent back)
//   GET  /__events     timing events {type, model, rid, t} with t = timeOrigin + now() in ms;
//                      types: request, finish (response fully written), close (the request's
//                      socket closed, `finished` tells whether the response was complete)
//   POST /__reset      clears both lists, the counters and the scripts
//   POST /__script     {"<model id>": {fail, status, retry_after, retry_after_ms, delay_ms}}:
//                      replaces the script of each model id named (and restarts its counter)
//   GET  /__counts     {"<model id>": requests seen} since the last reset

import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

export const CREATED = 1700000000;
export const FINGERPRINT = 'fp_e2e';

export const ECHO_PIECES = ['Hello', ' from', ' the', ' upstream', ' —', ' ünïcödé', ' ✓', '!'];
export const ECHO_TEXT = ECHO_PIECES.join('');
export const ECHO_USAGE = {
  prompt_tokens: 17,
  completion_tokens: 8,
  total_tokens: 25,
  prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
  completion_tokens_details: {
    reasoning_tokens: 0,
    audio_tokens: 0,
    accepted_prediction_tokens: 0,
    rejected_prediction_tokens: 0,
  },
};

export const TOOL_CALLS = [
  {
    id: 'call_e2e_weather',
    type: 'function',
    function: { name: 'get_weather', arguments: '{"location":"Paris, FR","unit":"celsius"}' },
  },
  {
    id: 'call_e2e_time',
    type: 'function',
    function: { name: 'get_time', arguments: '{"timezone":"Europe/Paris"}' },
  },
];
// How each call's arguments are split across deltas (as OpenAI does: a few characters each).
const TOOL_ARG_PIECES = [
  ['{"lo', 'cation', '":"Par', 'is, FR', '","unit', '":"cel', 'sius"}'],
  ['{"ti', 'mezone', '":"Eur', 'ope/Pa', 'ris"}'],
];
export const TOOLS_USAGE = { prompt_tokens: 80, completion_tokens: 45, total_tokens: 125 };

export const UPSTREAM_ERRORS = {
  'up-error-400': {
    status: 400,
    body: {
      error: {
        message: "Invalid value for 'temperature': expected a number between 0 and 2 (e2e).",
        type: 'invalid_request_error',
        param: 'temperature',
        code: 'invalid_value',
      },
    },
  },
  'up-error-429': {
    status: 429,
    body: {
      error: {
        message: 'Rate limit reached for up-error-429 in organization org-e2e on requests per min (RPM): Limit 3, Used 3, Requested 1.',
        type: 'requests',
        param: null,
        code: 'rate_limit_exceeded',
      },
    },
  },
  'up-error-500': {
    status: 500,
    body: {
      error: {
        message: 'The server had an error while processing your request. Sorry about that! (e2e)',
        type: 'server_error',
        param: null,
        code: null,
      },
    },
  },
};
export const CONTEXT_LENGTH_ERROR = {
  error: {
    message: "This model's maximum context length is 8192 tokens. However, your messages resulted in 9001 tokens. Please reduce the length of the messages. (e2e)",
    type: 'invalid_request_error',
    param: 'messages',
    code: 'context_length_exceeded',
  },
};
export const RESET_AFTER_MS = 100;
export const RESET_PIECE = 'partial';
// What up-reset-mid-stream sends before the reset (SSE).
export const resetFrames = (model) => simpleTextFrames('chatcmpl-e2e-reset', model, [RESET_PIECE]).slice(0, 2);
export const HTML_502_BODY = '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n';

export const SLOW_FIRST_BYTE_MS = 3000;
export const SILENT_GAP_MS = 1200;      // silence at an event boundary
export const SILENT_MID_GAP_MS = 600;   // silence in the middle of an event
export const SILENT_PIECES = ['after', ' the', ' silence'];
export const SILENT_TEXT = SILENT_PIECES.join('');
export const MEDIUM_CHUNKS = 12;
export const MEDIUM_INTERVAL_MS = 100;
export const MEDIUM_TEXT = Array.from({ length: MEDIUM_CHUNKS }, (_, i) => `part${i} `).join('');
export const LONG_INTERVAL_MS = 50;
export const LONG_DURATION_MS = 30000;
export const FLOOD_PAD = 65536;   // bytes of padding per flood frame
export const FLOOD_FRAMES = 1024; // ~64 MiB in all: more than the kernel buffers on both hops

const SSE_CONTENT_TYPE = 'text/event-stream; charset=utf-8';
const JSON_CONTENT_TYPE = 'application/json';

const now = () => performance.timeOrigin + performance.now();

function chunkObj(id, model, choices, usage) {
  const o = {
    id,
    object: 'chat.completion.chunk',
    created: CREATED,
    model,
    service_tier: 'default',
    system_fingerprint: FINGERPRINT,
    choices,
  };
  if (usage !== undefined) o.usage = usage;
  return o;
}

const frame = (obj) => `data: ${JSON.stringify(obj)}\n\n`;
const DONE = 'data: [DONE]\n\n';

// The SSE frames (as strings) of a scenario, in order. `includeUsage` mirrors
// stream_options.include_usage: OpenAI then puts "usage":null on every chunk and sends a
// final chunk with `choices: []` and the usage.
export function echoFrames(model, includeUsage) {
  const id = 'chatcmpl-e2e-echo';
  const u = includeUsage ? null : undefined;
  const choice = (delta, finish = null) => [{ index: 0, delta, logprobs: null, finish_reason: finish }];
  const frames = [frame(chunkObj(id, model, choice({ role: 'assistant', content: '', refusal: null }), u))];
  for (const p of ECHO_PIECES) frames.push(frame(chunkObj(id, model, choice({ content: p }), u)));
  frames.push(frame(chunkObj(id, model, choice({}, 'stop'), u)));
  if (includeUsage) frames.push(frame(chunkObj(id, model, [], ECHO_USAGE)));
  frames.push(DONE);
  return frames;
}

export function toolFrames(model, includeUsage) {
  const id = 'chatcmpl-e2e-tools';
  const u = includeUsage ? null : undefined;
  const choice = (delta, finish = null) => [{ index: 0, delta, logprobs: null, finish_reason: finish }];
  const frames = [];
  TOOL_CALLS.forEach((call, index) => {
    const head = { index, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } };
    const delta = index === 0
      ? { role: 'assistant', content: null, tool_calls: [head], refusal: null }
      : { tool_calls: [head] };
    frames.push(frame(chunkObj(id, model, choice(delta), u)));
    for (const piece of TOOL_ARG_PIECES[index]) {
      frames.push(frame(chunkObj(id, model, choice({ tool_calls: [{ index, function: { arguments: piece } }] }), u)));
    }
  });
  frames.push(frame(chunkObj(id, model, choice({}, 'tool_calls'), u)));
  if (includeUsage) frames.push(frame(chunkObj(id, model, [], TOOLS_USAGE)));
  frames.push(DONE);
  return frames;
}

export function simpleTextFrames(id, model, pieces) {
  const choice = (delta, finish = null) => [{ index: 0, delta, logprobs: null, finish_reason: finish }];
  const frames = [frame(chunkObj(id, model, choice({ role: 'assistant', content: '' })))];
  for (const p of pieces) frames.push(frame(chunkObj(id, model, choice({ content: p }))));
  frames.push(frame(chunkObj(id, model, choice({}, 'stop'))));
  frames.push(DONE);
  return frames;
}

export function echoCompletion(model) {
  return {
    id: 'chatcmpl-e2e-echo',
    object: 'chat.completion',
    created: CREATED,
    model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: ECHO_TEXT, refusal: null, annotations: [] },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage: ECHO_USAGE,
    service_tier: 'default',
    system_fingerprint: FINGERPRINT,
  };
}

export function toolsCompletion(model) {
  return {
    id: 'chatcmpl-e2e-tools',
    object: 'chat.completion',
    created: CREATED,
    model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: null, tool_calls: TOOL_CALLS, refusal: null, annotations: [] },
        logprobs: null,
        finish_reason: 'tool_calls',
      },
    ],
    usage: TOOLS_USAGE,
    service_tier: 'default',
    system_fingerprint: FINGERPRINT,
  };
}

// OpenAI pretty-prints its JSON responses; so do we, so that byte fidelity is visible.
export const jsonBody = (obj) => JSON.stringify(obj, null, 2) + '\n';

// The exact bytes the SSE writer of a scenario sends, in writes; a string element is one
// write, a number element is a pause in ms. Exported so the tests can rebuild the byte stream.
export function echoStreamWrites(model, includeUsage) {
  const frames = echoFrames(model, includeUsage);
  const writes = [];
  frames.forEach((f, i) => {
    if (i === 6) {
      // Split the ' ünïcödé' frame in the middle of a multi-byte character: TCP may do that
      // too, and the gateway must pass the bytes through unchanged.
      const b = Buffer.from(f);
      const cut = b.indexOf(Buffer.from('ü')) + 1;
      writes.push(b.subarray(0, cut), 10, b.subarray(cut));
    } else {
      writes.push(f);
    }
    writes.push(5);
  });
  return writes;
}

const FAULT_FAMILIES = ['up-ok', 'up-500', 'up-429-then-ok', 'up-context-length', 'up-reset-mid-stream', 'up-flaky'];

// {family, delay} of a scriptable fault model id, or null.
export function faultFamily(model) {
  for (const f of FAULT_FAMILIES) if (model === f || model.startsWith(f + '-')) return { family: f, delay: 0 };
  const m = /^up-delay-(\d+)(?:-|$)/.exec(model);
  return m ? { family: 'up-delay', delay: Number(m[1]) } : null;
}

function startServer() {
  const requests = [];
  const events = [];
  const flood = { written: 0, done: false };
  let seq = 0;
  const counts = new Map();  // model id -> requests seen
  const scripts = new Map(); // model id -> {fail, status, retry_after, retry_after_ms, delay_ms}
  const failed = new Map();  // model id -> failures served since its script was set

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks)));
  });
  server.keepAliveTimeout = 30000;
  server.headersTimeout = 35000;
  server.requestTimeout = 0;
  server.setMaxListeners(0);

  function handle(req, res, body) {
    if (req.url === '/__requests' && req.method === 'GET') return sendJson(res, 200, requests);
    if (req.url === '/__events' && req.method === 'GET') return sendJson(res, 200, events);
    if (req.url === '/__flood' && req.method === 'GET') return sendJson(res, 200, flood);
    if (req.url === '/__reset' && req.method === 'POST') {
      requests.length = 0;
      events.length = 0;
      counts.clear();
      scripts.clear();
      failed.clear();
      return sendJson(res, 200, { ok: true });
    }
    if (req.url === '/__counts' && req.method === 'GET') return sendJson(res, 200, Object.fromEntries(counts));
    if (req.url === '/__script' && req.method === 'POST') {
      let sc;
      try {
        sc = JSON.parse(body.toString('utf8'));
      } catch {}
      if (!sc || typeof sc !== 'object' || Array.isArray(sc)) return sendJson(res, 400, { error: 'expected {"model": {...}}' });
      for (const [m, v] of Object.entries(sc)) {
        scripts.set(m, { ...v });
        failed.delete(m);
      }
      return sendJson(res, 200, { ok: true });
    }

    let parsed = null;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {}
    const model = parsed && typeof parsed.model === 'string' ? parsed.model : null;
    const rid = req.headers['x-request-id'] ?? null;
    const rec = {
      seq: ++seq,
      method: req.method,
      url: req.url,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      httpVersion: req.httpVersion,
      body: body.toString('utf8'),
      body_b64: body.toString('base64'),
      model,
      status: null,
      response_b64: '',
    };
    requests.push(rec);
    events.push({ type: 'request', model, rid, seq: rec.seq, t: now() });

    // Record every byte we send, and when the connection goes away.
    const sent = [];
    const origWrite = res.write.bind(res);
    const origEnd = res.end.bind(res);
    res.write = (c, ...a) => {
      if (c != null && typeof c !== 'function') sent.push(Buffer.from(c));
      rec.response_b64 = Buffer.concat(sent).toString('base64');
      return origWrite(c, ...a);
    };
    res.end = (c, ...a) => {
      if (c != null && typeof c !== 'function') sent.push(Buffer.from(c));
      rec.response_b64 = Buffer.concat(sent).toString('base64');
      return origEnd(c, ...a);
    };
    const timers = new Set();
    let closed = false;
    res.on('finish', () => events.push({ type: 'finish', model, rid, seq: rec.seq, t: now() }));
    const onSocketClose = () => {
      closed = true;
      for (const t of timers) clearTimeout(t);
      events.push({ type: 'close', model, rid, seq: rec.seq, finished: res.writableFinished, t: now() });
    };
    req.socket.once('close', onSocketClose);
    res.on('finish', () => req.socket.removeListener('close', onSocketClose));
    // An aborted response never emits 'finish'; res 'close' fires when the socket closes.
    res.on('close', () => {
      if (!res.writableFinished && !closed) onSocketClose();
    });
    const later = (ms, fn) => {
      const t = setTimeout(() => {
        timers.delete(t);
        if (!closed) fn();
      }, ms);
      timers.add(t);
    };
    // Play a list of writes (strings/buffers) and pauses (numbers), then end.
    const play = (writes, done = () => res.end()) => {
      let i = 0;
      const step = () => {
        while (i < writes.length) {
          const w = writes[i++];
          if (typeof w === 'number') return later(w, step);
          res.write(w);
        }
        done();
      };
      step();
    };
    const head = (status, type, extra = {}) => {
      rec.status = status;
      res.writeHead(status, { 'Content-Type': type, 'x-mock-upstream': '1', ...extra });
      if (typeof res.flushHeaders === 'function') res.flushHeaders();
    };

    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
      head(404, JSON_CONTENT_TYPE);
      return res.end(jsonBody({ error: { message: `mock: no route ${req.method} ${req.url}`, type: 'invalid_request_error', param: null, code: null } }));
    }
    if (!parsed || model === null) {
      head(400, JSON_CONTENT_TYPE);
      return res.end(jsonBody({ error: { message: 'mock: body is not JSON with a string model', type: 'invalid_request_error', param: null, code: null } }));
    }
    const stream = parsed.stream === true;
    const includeUsage = stream && parsed.stream_options?.include_usage === true;
    counts.set(model, (counts.get(model) ?? 0) + 1);

    const echo = () => {
      if (!stream) {
        head(200, JSON_CONTENT_TYPE);
        return res.end(jsonBody(echoCompletion(model)));
      }
      head(200, SSE_CONTENT_TYPE);
      return play(echoStreamWrites(model, includeUsage));
    };
    const fault = faultFamily(model);
    if (fault) {
      const sc = scripts.get(model) ?? {};
      const delay = (fault.delay ?? 0) + (sc.delay_ms ?? 0);
      const run = () => serveFault(fault.family, sc);
      return delay > 0 ? later(delay, run) : run();
    }

    function serveFault(family, sc) {
      const sendError = (status, extra = {}) => {
        const body = status === 429 ? UPSTREAM_ERRORS['up-error-429'].body
          : status === 400 ? CONTEXT_LENGTH_ERROR
          : status >= 500 ? UPSTREAM_ERRORS['up-error-500'].body
          : { error: { message: `mock: scripted ${status} (e2e)`, type: 'invalid_request_error', param: null, code: null } };
        head(status, JSON_CONTENT_TYPE, extra);
        return res.end(jsonBody(body));
      };
      const retryHeaders = (dflt) => {
        const h = {};
        const ra = 'retry_after' in sc ? sc.retry_after : dflt;
        if (ra != null) h['Retry-After'] = String(ra);
        if (sc.retry_after_ms != null) h['retry-after-ms'] = String(sc.retry_after_ms);
        return h;
      };
      // Counts this request as one of the `fail` first ones (n < 0: every one).
      const takeFailure = (dflt) => {
        const n = sc.fail ?? dflt;
        const k = failed.get(model) ?? 0;
        if (n >= 0 && k >= n) return false;
        failed.set(model, k + 1);
        return true;
      };
      switch (family) {
        case 'up-ok':
        case 'up-delay':
          return echo();
        case 'up-500':
          return sendError(500);
        case 'up-context-length':
          return sendError(400);
        case 'up-429-then-ok':
          return takeFailure(1) ? sendError(429, retryHeaders('1')) : echo();
        case 'up-flaky': {
          if (!takeFailure(0)) return echo();
          const status = sc.status ?? 500;
          return sendError(status, status === 429 ? retryHeaders(null) : {});
        }
        case 'up-reset-mid-stream': {
          const reset = () => later(RESET_AFTER_MS, () => {
            const sock = req.socket;
            if (typeof sock.resetAndDestroy === 'function') sock.resetAndDestroy();
            else sock.destroy();
          });
          if (stream) {
            head(200, SSE_CONTENT_TYPE);
            for (const f of resetFrames(model)) res.write(f);
            return reset();
          }
          const full = Buffer.from(jsonBody(echoCompletion(model)));
          head(200, JSON_CONTENT_TYPE, { 'Content-Length': String(full.length) });
          res.write(full.subarray(0, full.length >> 1));
          return reset();
        }
      }
    }

    switch (model) {
      case 'up-echo':
        if (!stream) {
          head(200, JSON_CONTENT_TYPE);
          return res.end(jsonBody(echoCompletion(model)));
        }
        head(200, SSE_CONTENT_TYPE);
        return play(echoStreamWrites(model, includeUsage));

      case 'up-echo-nousage': // an upstream that ignores stream_options.include_usage
        if (!stream) {
          head(200, JSON_CONTENT_TYPE);
          return res.end(jsonBody(echoCompletion(model)));
        }
        head(200, SSE_CONTENT_TYPE);
        return play(echoStreamWrites(model, false));

      case 'up-tools':
        if (!stream) {
          head(200, JSON_CONTENT_TYPE);
          return res.end(jsonBody(toolsCompletion(model)));
        }
        head(200, SSE_CONTENT_TYPE);
        return play(toolFrames(model, includeUsage).flatMap((f) => [f, 3]));

      case 'up-error-400':
      case 'up-error-429':
      case 'up-error-500': {
        const e = UPSTREAM_ERRORS[model];
        head(e.status, JSON_CONTENT_TYPE);
        return res.end(jsonBody(e.body));
      }

      case 'up-error-502-html':
        head(502, 'text/html');
        return res.end(HTML_502_BODY);

      case 'up-slow-first-byte':
        return later(SLOW_FIRST_BYTE_MS, () => {
          head(200, JSON_CONTENT_TYPE);
          res.end(jsonBody(echoCompletion(model)));
        });

      case 'up-silent': {
        const frames = simpleTextFrames('chatcmpl-e2e-silent', model, SILENT_PIECES);
        const second = Buffer.from(frames[1]);
        const half = Math.floor(second.length / 2);
        head(200, SSE_CONTENT_TYPE);
        return play([
          frames[0],
          SILENT_GAP_MS,
          second.subarray(0, half),
          SILENT_MID_GAP_MS,
          second.subarray(half),
          ...frames.slice(2),
        ]);
      }

      case 'up-stall': {
        const frames = simpleTextFrames('chatcmpl-e2e-stall', model, []);
        head(200, SSE_CONTENT_TYPE);
        res.write(frames[0]);
        return; // never ends on its own; the socket close clears everything
      }

      case 'up-medium': {
        const pieces = Array.from({ length: MEDIUM_CHUNKS }, (_, i) => `part${i} `);
        const frames = simpleTextFrames('chatcmpl-e2e-medium', model, pieces);
        head(200, SSE_CONTENT_TYPE);
        return play(frames.flatMap((f) => [f, MEDIUM_INTERVAL_MS]));
      }

      case 'up-long': {
        const n = Math.floor(LONG_DURATION_MS / LONG_INTERVAL_MS);
        const pieces = Array.from({ length: n }, (_, i) => `tick${i} `);
        const frames = simpleTextFrames('chatcmpl-e2e-long', model, pieces);
        head(200, SSE_CONTENT_TYPE);
        return play(frames.flatMap((f) => [f, LONG_INTERVAL_MS]));
      }

      case 'up-flood': {
        // FLOOD_FRAMES frames of FLOOD_PAD bytes as fast as the socket takes them, honouring
        // 'drain' (so what was written is what the gateway read). Bypasses the recorder.
        head(200, SSE_CONTENT_TYPE);
        flood.written = 0;
        flood.done = false;
        let seq = 0;
        const pad = 'x'.repeat(FLOOD_PAD);
        const pump = () => {
          while (seq < FLOOD_FRAMES && !closed) {
            const frame = `data: {"seq":${seq++},"pad":"${pad}"}\n\n`;
            flood.written += frame.length;
            if (!origWrite(frame)) return res.once('drain', pump);
          }
          if (closed) return;
          flood.written += 14;
          flood.done = true;
          origEnd('data: [DONE]\n\n');
        };
        return pump();
      }

      default:
        head(404, JSON_CONTENT_TYPE);
        return res.end(jsonBody({ error: { message: `mock: unknown model ${model}`, type: 'invalid_request_error', param: 'model', code: 'model_not_found' } }));
    }
  }

  function sendJson(res, status, obj) {
    const b = JSON.stringify(obj);
    res.writeHead(status, { 'Content-Type': JSON_CONTENT_TYPE, 'Content-Length': Buffer.byteLength(b) });
    res.end(b);
  }

  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
  });
  const stop = () => server.close(() => process.exit(0)) && server.closeAllConnections();
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) startServer();
