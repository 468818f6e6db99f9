// Minimal chat shell: sign in, list / search / create conversations through /api/v1.
// Everything model-generated or user-typed is inserted with textContent, never innerHTML.
const $ = (id) => document.getElementById(id);
let csrf = sessionStorage.getItem('sy_csrf') || '';
let cursor = null;

async function api(method, path, body) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['x-csrf-token'] = csrf;
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  const json = await r.json().catch(() => null);
  if (!r.ok) throw Object.assign(new Error(json?.error?.message || `HTTP ${r.status}`), { status: r.status });
  return json;
}

function show(signedIn, me) {
  $('login').hidden = signedIn;
  $('chats').hidden = !signedIn;
  $('logout').hidden = !signedIn;
  $('who').textContent = signedIn ? `${me.email} (${me.role})` : '';
}

function item(c) {
  const li = document.createElement('li');
  const title = document.createElement('span');
  title.textContent = c.title ?? 'Untitled';
  const when = document.createElement('time');
  when.dateTime = c.updated_at;
  when.textContent = new Date(c.updated_at).toLocaleString();
  li.append(title, when);
  li.dataset.id = c.id;
  return li;
}

async function loadList(reset) {
  const q = new FormData($('search')).get('q');
  if (reset) { cursor = null; $('list').replaceChildren(); }
  const params = new URLSearchParams({ limit: '50' });
  if (q) params.set('q', q);
  if (cursor) params.set('cursor', cursor);
  try {
    const page = await api('GET', `/api/v1/conversations?${params}`);
    $('list').append(...page.data.map(item));
    cursor = page.next_cursor;
    $('more').hidden = !page.has_more;
    $('list-error').textContent = '';
  } catch (e) {
    $('list-error').textContent = e.message;
  }
}

async function start() {
  try {
    const me = await api('GET', '/api/v1/auth/me');
    show(true, me);
    await loadList(true);
  } catch {
    show(false);
  }
}

$('login').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  try {
    const r = await api('POST', '/api/v1/auth/login', { email: f.get('email'), password: f.get('password') });
    csrf = r.csrf_token;
    sessionStorage.setItem('sy_csrf', csrf);
    $('login-error').textContent = '';
    await start();
  } catch (e) {
    $('login-error').textContent = e.message;
  }
});
$('logout').addEventListener('click', async () => {
  await api('POST', '/api/v1/auth/logout').catch(() => {});
  sessionStorage.removeItem('sy_csrf');
  csrf = '';
  show(false);
});
$('search').addEventListener('submit', (ev) => { ev.preventDefault(); loadList(true); });
$('more').addEventListener('click', () => loadList(false));
$('new').addEventListener('click', async () => {
  try {
    await api('POST', '/api/v1/conversations', { title: null });
    await loadList(true);
  } catch (e) {
    $('list-error').textContent = e.message;
  }
});
start();
