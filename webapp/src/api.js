// The JSON API under /api/v1 (docs/API.md) and its server-sent event streams. The session is
// the HttpOnly cookie; every state change carries the session's CSRF token from the login
// answer, kept in localStorage: the cookie is shared by every tab, so the token must be too (a
// tab opened later could not change anything otherwise), and a login in one tab replaces both
// for all of them.
import { createParser } from 'eventsource-parser';

const KEY = 'sy_csrf';
export function setCsrf(token) {
  if (token) localStorage.setItem(KEY, token);
  else localStorage.removeItem(KEY);
}

// A 401 on a call (the session expired or was signed out elsewhere): main.js shows the login.
const signedOut = () => window.dispatchEvent(new Event('sy:signed-out'));

export class ApiError extends Error {
  constructor(status, body, fallback) {
    super(body?.error?.message || fallback || `HTTP ${status}`);
    this.status = status;
    this.param = body?.error?.param ?? null;
    this.code = body?.error?.code ?? null;
  }
}

function headers(method, body) {
  const hd = { accept: 'application/json' };
  if (body !== undefined) hd['content-type'] = 'application/json';
  const csrf = localStorage.getItem(KEY);
  if (method !== 'GET' && csrf) hd['x-csrf-token'] = csrf;
  return hd;
}

export async function api(method, path, body) {
  const r = await fetch(path, {
    method,
    headers: headers(method, body),
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  const json = await r.json().catch(() => null);
  if (r.status === 401 && !path.startsWith('/api/v1/auth/')) signedOut();
  if (!r.ok) throw new ApiError(r.status, json);
  return json;
}

// A request answered with text/event-stream: onEvent(name, data) per event (data parsed as
// JSON). Resolves when the stream ends; an error answer (JSON) rejects with an ApiError before
// any event. `signal` aborts the read (the server goes on generating).
export async function stream(method, path, body, onEvent, signal) {
  const r = await fetch(path, {
    method,
    headers: { ...headers(method, body), accept: 'text/event-stream' },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
    signal,
  });
  if (!r.ok || !(r.headers.get('content-type') || '').startsWith('text/event-stream')) {
    const json = await r.json().catch(() => null);
    throw new ApiError(r.status, json, r.ok ? 'the server did not answer with an event stream' : undefined);
  }
  const parser = createParser({
    onEvent(ev) {
      let data = null;
      try {
        data = JSON.parse(ev.data);
      } catch {
        return;
      }
      onEvent(ev.event || 'message', data);
    },
  });
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    parser.feed(value);
  }
}
