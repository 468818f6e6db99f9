// Settings: the configured models with provider and price, the caller's own API keys (create
// shows the key once; revoke), and provider credentials for admins (write-only values, last
// four characters shown).
import { api } from './api.js';
import { h, copyText, flash, fmtTime } from './dom.js';
import { loadModels } from './models.js';

const price = (p) => (p == null ? '—' : `$${p}`);

// body: a <tbody> (filled later) or the rows
function table(cols, body, id) {
  const tbody = body instanceof HTMLTableSectionElement ? body : h('tbody', null, body);
  return h('table', { id }, h('thead', null, h('tr', null, cols.map((c) => h('th', null, c)))), tbody);
}

async function modelsSection() {
  const sec = h('section', { id: 'models-section' }, h('h2', null, 'Models'));
  try {
    const models = await loadModels();
    const ui = (u) => [u?.hidden?.length ? `hidden: ${u.hidden.join(', ')}` : '', Object.keys(u?.locked ?? {}).length ? `locked: ${Object.entries(u.locked).map(([k, v]) => `${k}=${v}`).join(', ')}` : ''].filter(Boolean).join('; ');
    sec.append(
      table(
        ['Model', 'Provider', 'Deployments', 'Input / Mtok', 'Output / Mtok', 'Cached input / Mtok', 'Controls'],
        models.map((m) =>
          h('tr', { dataset: { model: m.id } }, h('td', null, m.id), h('td', null, m.provider), h('td', null, String(m.deployments ?? '')), h('td', null, price(m.price?.input_per_mtok)), h('td', null, price(m.price?.output_per_mtok)), h('td', null, price(m.price?.cached_input_per_mtok)), h('td', null, ui(m.ui))),
        ),
        'models-table',
      ),
    );
  } catch (e) {
    sec.append(h('p', { class: 'error' }, e.message));
  }
  return sec;
}

async function keysSection(me) {
  const sec = h('section', { id: 'keys-section' }, h('h2', null, 'My API keys'));
  const err = h('p', { class: 'error', role: 'alert' });
  const shown = h('div', { class: 'new-key', id: 'new-key', hidden: true });
  const body = h('tbody');
  const load = async () => {
    try {
      const r = await api('GET', '/api/v1/me/keys');
      body.replaceChildren(
        ...r.data.map((k) =>
          h(
            'tr',
            { dataset: { id: k.id } },
            h('td', null, k.name ?? ''),
            h('td', { class: 'mono' }, `${k.prefix}…`),
            h('td', null, fmtTime(k.created_at)),
            h('td', null, k.expires_at ? fmtTime(k.expires_at) : 'never'),
            h('td', null, k.revoked_at ? `revoked ${fmtTime(k.revoked_at)}` : k.last_used_at ? `used ${fmtTime(k.last_used_at)}` : 'active'),
            h('td', null, k.revoked_at || me.role === 'viewer' ? '' : h('button', { type: 'button', class: 'revoke', onclick: () => revoke(k) }, 'Revoke')),
          ),
        ),
      );
    } catch (e) {
      err.textContent = e.message;
    }
  };
  const revoke = async (k) => {
    if (!confirm(`Revoke key "${k.name ?? k.prefix}"? Programs using it stop working.`)) return;
    try {
      await api('POST', `/api/v1/me/keys/${encodeURIComponent(k.id)}/revoke`);
      await load();
    } catch (e) {
      err.textContent = e.message;
    }
  };
  const name = h('input', { name: 'name', placeholder: 'Key name', required: true, maxlength: '200', 'aria-label': 'Key name' });
  const days = h('input', { name: 'days', type: 'number', min: '1', step: '1', placeholder: 'Expires in days (optional)', 'aria-label': 'Expires in days' });
  const models = h('input', { name: 'models', placeholder: 'Models, comma separated (optional: all)', 'aria-label': 'Allowed models' });
  const form = h('form', { class: 'inline-form', id: 'key-form' }, name, days, models, h('button', { type: 'submit', class: 'primary' }, 'Create key'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const b = { name: name.value.trim() };
    if (days.value) b.expires_at = new Date(Date.now() + Number(days.value) * 86400e3).toISOString().replace(/\.\d+Z$/, 'Z');
    const ms = models.value.split(',').map((s) => s.trim()).filter(Boolean);
    if (ms.length) b.models = ms;
    try {
      const k = await api('POST', '/api/v1/me/keys', b);
      const copy = h('button', { type: 'button' }, 'Copy');
      copy.addEventListener('click', () => copyText(k.key).then(() => flash(copy)));
      shown.replaceChildren(h('p', null, 'Your new key — copy it now, it is not shown again:'), h('code', { class: 'mono', id: 'new-key-value' }, k.key), ' ', copy);
      shown.hidden = false;
      form.reset();
      err.textContent = '';
      await load();
    } catch (e) {
      err.textContent = e.message;
    }
  });
  sec.append(shown, table(['Name', 'Prefix', 'Created', 'Expires', 'State', ''], body, 'keys-table'));
  if (me.role !== 'viewer') sec.append(form);
  sec.append(err);
  await load();
  return sec;
}

async function credentialsSection() {
  const sec = h('section', { id: 'credentials-section' }, h('h2', null, 'Provider credentials'));
  const err = h('p', { class: 'error', role: 'alert' });
  const body = h('tbody');
  const load = async () => {
    try {
      const r = await api('GET', '/api/v1/credentials');
      body.replaceChildren(
        ...r.data.map((c) =>
          h(
            'tr',
            { dataset: { name: c.name } },
            h('td', null, c.name),
            h('td', null, c.provider ?? ''),
            h('td', { class: 'mono' }, c.last4 ? `…${c.last4}` : '(short)'),
            h('td', null, (c.deployments ?? []).join(', ')),
            h('td', null, fmtTime(c.updated_at)),
            h('td', null, h('button', { type: 'button', class: 'delete-cred', onclick: () => del(c) }, 'Delete')),
          ),
        ),
      );
    } catch (e) {
      err.textContent = e.message;
    }
  };
  const del = async (c) => {
    if (!confirm(`Delete credential "${c.name}"? Deployments using it stop working.`)) return;
    try {
      await api('DELETE', `/api/v1/credentials/${encodeURIComponent(c.name)}`);
      await load();
    } catch (e) {
      err.textContent = e.message;
    }
  };
  const name = h('input', { name: 'name', placeholder: 'Name (e.g. openai-prod)', required: true, pattern: '[A-Za-z0-9._\\-]{1,64}', 'aria-label': 'Credential name' });
  const provider = h('input', { name: 'provider', placeholder: 'Provider label (optional)', 'aria-label': 'Provider' });
  const value = h('input', { name: 'value', type: 'password', autocomplete: 'off', placeholder: 'Secret value (write-only)', required: true, 'aria-label': 'Secret value' });
  const form = h('form', { class: 'inline-form', id: 'cred-form' }, name, provider, value, h('button', { type: 'submit', class: 'primary' }, 'Save'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await api('PUT', `/api/v1/credentials/${encodeURIComponent(name.value.trim())}`, { value: value.value, provider: provider.value.trim() || null });
      form.reset();
      err.textContent = '';
      await load();
    } catch (e) {
      err.textContent = e.message;
    }
  });
  sec.append(table(['Name', 'Provider', 'Last four', 'Deployments', 'Updated', ''], body, 'credentials-table'), form, err);
  await load();
  return sec;
}

export async function renderSettings(view, me) {
  const page = h('div', { class: 'settings', id: 'settings' }, h('h1', null, 'Settings'));
  view.replaceChildren(page);
  const parts = [modelsSection(), keysSection(me)];
  if (me.role === 'admin') parts.push(credentialsSection());
  page.append(...(await Promise.all(parts)));
  page.dataset.ready = '1';
}
