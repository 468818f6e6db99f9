// The chat web app: sign-in, the app shell (top bar, sidebar, main view) and the hash routes
//   #/            a new conversation
//   #/c/{id}      a conversation
//   #/settings    models, own API keys, provider credentials (admins)
//   #/logs/{id}   one inference-log row (admins and viewers)
import './style.css';
import 'highlight.js/styles/github.css';
import { api, setCsrf } from './api.js';
import { h, $ } from './dom.js';
import { Sidebar } from './sidebar.js';
import { ChatView } from './chat.js';
import { renderSettings } from './settings.js';
import { renderLog } from './logview.js';
import { loadModels } from './models.js';

performance.mark('sy:app-start'); // the bundle was evaluated (marks: docs/PERFORMANCE.md)
const app = $('#app');
let me = null;
let sidebar = null;
let chat = null;

function loginScreen(message) {
  const err = h('p', { class: 'error', role: 'alert', id: 'login-error' }, message || '');
  const form = h(
    'form',
    { id: 'login', class: 'login' },
    h('h1', null, 'Switchyard'),
    h('label', null, 'Email', h('input', { name: 'email', type: 'email', autocomplete: 'username', required: true })),
    h('label', null, 'Password', h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true })),
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
    err,
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    try {
      const r = await api('POST', '/api/v1/auth/login', { email: f.get('email'), password: f.get('password') });
      setCsrf(r.csrf_token);
      await start();
    } catch (e) {
      err.textContent = e.message;
    }
  });
  app.replaceChildren(form);
  form.querySelector('input').focus();
}

function shell() {
  const main = h('main', { id: 'view' });
  sidebar = new Sidebar((id) => (location.hash = `#/c/${id}`));
  const top = h(
    'header',
    { class: 'top' },
    h('a', { href: '#/', class: 'brand' }, 'Switchyard'),
    h('nav', null, h('a', { href: '#/', id: 'nav-chat' }, 'Chat'), h('a', { href: '#/settings', id: 'nav-settings' }, 'Settings')),
    h('span', { id: 'who' }, `${me.email} (${me.role})`),
    h('button', { id: 'logout', type: 'button', onclick: logout }, 'Sign out'),
  );
  app.replaceChildren(top, h('div', { class: 'layout' }, sidebar.el, main));
  chat = new ChatView(main, { me, sidebar });
}

async function logout() {
  await api('POST', '/api/v1/auth/logout').catch(() => {});
  setCsrf('');
  chat?.detach();
  me = null;
  loginScreen();
}

const ROUTE = /^#\/(c\/([A-Za-z0-9_-]{1,63})|settings|logs\/([A-Za-z0-9_-]{1,63}))?\/?$/;

async function route(prefetched) {
  if (!me) return;
  const m = ROUTE.exec(location.hash || '#/');
  const view = $('#view');
  document.body.dataset.route = m?.[1] === 'settings' ? 'settings' : m?.[3] ? 'logs' : 'chat';
  if (m?.[1] === 'settings') {
    chat.detach();
    sidebar.select(null);
    await renderSettings(view, me);
  } else if (m?.[3]) {
    chat.detach();
    await renderLog(view, m[3]);
  } else {
    const id = m?.[2] ?? null;
    sidebar.select(id);
    await chat.open(id, prefetched instanceof Promise ? prefetched : undefined);
  }
}

async function start() {
  // a page opened on a conversation fetches it alongside auth/me, not after
  const id = ROUTE.exec(location.hash || '#/')?.[2];
  const prefetched = id ? api('GET', `/api/v1/conversations/${id}`) : undefined;
  prefetched?.catch(() => {}); // not signed in: reported by auth/me below
  try {
    me = await api('GET', '/api/v1/auth/me');
  } catch (e) {
    if (e.status === 401 || e.status === 403) loginScreen();
    else if (e.status === 404) loginScreen('This gateway runs without sign-in (auth.mode: local); the chat app needs auth.mode: required.');
    else loginScreen(e.message);
    return;
  }
  loadModels(); // warm the picker
  shell();
  sidebar.load(true);
  await route(prefetched);
}

window.addEventListener('hashchange', () => route());
window.addEventListener('sy:signed-out', () => {
  if (!me) return;
  chat?.detach();
  me = null;
  loginScreen('Your session ended: sign in again.');
});
start();
