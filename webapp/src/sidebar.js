// The conversation list: most recent first, search (title and text), rename, delete, "More"
// (cursor pages).
import { api } from './api.js';
import { h, fmtTime } from './dom.js';

export class Sidebar {
  constructor(onOpen) {
    this.onOpen = onOpen;
    this.cursor = null;
    this.selected = null;
    this.titles = new Map();
    this.q = h('input', { name: 'q', type: 'search', placeholder: 'Search conversations', maxlength: '200', 'aria-label': 'Search conversations' });
    const search = h('form', { id: 'search', onsubmit: (ev) => (ev.preventDefault(), this.load(true)) }, this.q);
    let t = null;
    this.q.addEventListener('input', () => {
      clearTimeout(t);
      t = setTimeout(() => this.load(true), 250);
    });
    this.list = h('ul', { id: 'list' });
    this.more = h('button', { id: 'more', type: 'button', hidden: true, onclick: () => this.load(false) }, 'More');
    this.error = h('p', { class: 'error', role: 'alert', id: 'list-error' });
    this.el = h(
      'aside',
      { class: 'sidebar' },
      h('a', { id: 'new', class: 'button primary', href: '#/' }, 'New chat'),
      search,
      this.list,
      this.more,
      this.error,
    );
  }

  async load(reset) {
    const params = new URLSearchParams({ limit: '50' });
    const q = this.q.value.trim();
    if (q) params.set('q', q);
    if (!reset && this.cursor) params.set('cursor', this.cursor);
    try {
      const page = await api('GET', `/api/v1/conversations?${params}`);
      if (reset) this.list.replaceChildren();
      for (const c of page.data) this.titles.set(c.id, c.title);
      this.list.append(...page.data.map((c) => this.item(c)));
      this.cursor = page.next_cursor;
      this.more.hidden = !page.has_more;
      this.error.textContent = '';
      this.select(this.selected);
    } catch (e) {
      this.error.textContent = e.message;
    }
  }

  item(c) {
    const title = h('a', { class: 'title', href: `#/c/${c.id}` }, c.title || 'Untitled');
    const li = h(
      'li',
      { dataset: { id: c.id } },
      title,
      h('time', { datetime: c.updated_at }, fmtTime(c.updated_at)),
      h(
        'span',
        { class: 'item-actions' },
        h('button', { type: 'button', class: 'icon rename', title: 'Rename', onclick: () => this.rename(li, c) }, '✎'),
        h('button', { type: 'button', class: 'icon delete', title: 'Delete', onclick: () => this.remove(li, c) }, '×'),
      ),
    );
    return li;
  }

  rename(li, c) {
    const input = h('input', { class: 'rename-input', value: c.title || '', maxlength: '200', 'aria-label': 'New title' });
    const form = h('form', { class: 'rename-form' }, input);
    const done = async (save) => {
      if (save) {
        try {
          const r = await api('PATCH', `/api/v1/conversations/${c.id}`, { title: input.value.trim() || null });
          Object.assign(c, r);
          this.titles.set(c.id, c.title);
        } catch (e) {
          this.error.textContent = e.message;
        }
      }
      li.replaceWith(this.item(c));
      this.select(this.selected);
    };
    form.addEventListener('submit', (ev) => (ev.preventDefault(), done(true)));
    input.addEventListener('keydown', (ev) => ev.key === 'Escape' && done(false));
    li.replaceChildren(form);
    input.focus();
    input.select();
  }

  async remove(li, c) {
    if (!confirm(`Delete "${c.title || 'Untitled'}"?`)) return;
    try {
      await api('DELETE', `/api/v1/conversations/${c.id}`);
      li.remove();
      if (this.selected === c.id) location.hash = '#/';
    } catch (e) {
      this.error.textContent = e.message;
    }
  }

  // The title of a listed conversation (undefined: not listed).
  title(id) {
    return this.titles.get(id);
  }

  // Marks the open conversation.
  select(id) {
    this.selected = id;
    for (const li of this.list.children) li.classList.toggle('active', li.dataset.id === id);
  }
}
