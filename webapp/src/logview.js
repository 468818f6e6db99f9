// One inference-log row (GET /api/v1/logs/{id}; admins and viewers): the summary fields, then
// every column, then the stored request and response bodies as text (never as HTML).
import { api } from './api.js';
import { h } from './dom.js';

const SUMMARY = ['model', 'provider', 'deployment', 'status', 'http_status', 'latency_us', 'ttft_us', 'input_tokens', 'output_tokens', 'cost_usd', 'received_at'];

const show = (v) => (v === null || v === undefined ? '—' : typeof v === 'object' ? JSON.stringify(v) : String(v));

export async function renderLog(view, id) {
  const page = h('div', { class: 'settings logview', id: 'logview' }, h('h1', null, 'Inference log row'));
  view.replaceChildren(page);
  let row;
  try {
    row = await api('GET', `/api/v1/logs/${encodeURIComponent(id)}`);
  } catch (e) {
    page.append(h('p', { class: 'error' }, e.message));
    page.dataset.ready = '1';
    return;
  }
  const pairs = (keys) => h('table', { class: 'kv' }, h('tbody', null, keys.map((k) => h('tr', { dataset: { key: k } }, h('th', null, k), h('td', { class: 'mono' }, show(row[k]))))));
  const body = (name) => h('section', null, h('h2', null, name.replace('_', ' ')), h('pre', { class: 'body-text', id: name }, row[name] ?? '(not stored)'));
  page.append(
    h('p', null, h('a', { href: `/api/v1/logs/${encodeURIComponent(id)}`, target: '_blank', rel: 'noopener' }, 'Raw JSON'), ` · ${id}`),
    h('section', null, h('h2', null, 'Summary'), pairs(SUMMARY)),
    body('request_body'),
    body('response_body'),
    h('section', null, h('h2', null, 'All columns'), pairs(Object.keys(row).filter((k) => k !== 'request_body' && k !== 'response_body'))),
  );
  page.dataset.ready = '1';
}
