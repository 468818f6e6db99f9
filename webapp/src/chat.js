// The conversation view: the current branch (walk parent_id up from current_leaf), branch
// switchers on messages with siblings, Markdown answers, live generation over SSE (start /
// delta / metrics / done), stop, regenerate, edit-and-resend, copy, feedback, badges.
//
// Long conversations: only the current branch is rendered, and only its last WINDOW messages at
// first (earlier ones WINDOW at a time when the top is scrolled into view); a finished answer's
// HTML is rendered once and cached by message id; a streaming answer re-renders at most once per
// animation frame.
import { api, stream } from './api.js';
import { h, copyText, flash } from './dom.js';
import { renderCached, renderMarkdown, fill } from './markdown.js';
import { Controls } from './controls.js';

const WINDOW = 20;

const fmtMs = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`);
const fmtCost = (c) => (c === 0 ? '$0' : c < 0.01 ? `$${c.toPrecision(2)}` : `$${c.toFixed(4)}`);

export class ChatView {
  constructor(root, { me, sidebar }) {
    this.root = root;
    this.me = me;
    this.sidebar = sidebar;
    this.controls = new Controls();
    this.live = null;
    this.frame = 0;
    this.seq = 0;
  }

  // Stops reading a live stream (the server goes on generating and stores the answer).
  detach() {
    if (this.live) this.live.ctl.abort();
    this.live = null;
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    clearInterval(this.ticker);
    this.fbObserver?.disconnect();
    this.topObserver?.disconnect();
  }

  // prefetched: the conversation's GET already in flight (started with the page, see main.js)
  async open(id, prefetched) {
    const seq = ++this.seq;
    this.detach();
    this.conv = null;
    this.byId = new Map();
    this.kids = new Map();
    this.els = new Map();
    this.leaf = null;
    this.path = [];
    this.start = 0;
    this.layout();
    this.section.dataset.conv = id ?? '';
    if (!id) {
      this.section.dataset.ready = '1';
      this.input.focus();
      return;
    }
    let conv;
    try {
      conv = await (prefetched ?? api('GET', `/api/v1/conversations/${id}`));
    } catch (e) {
      if (seq === this.seq) this.showError(e.message);
      return;
    }
    if (seq !== this.seq) return; // another conversation was opened meanwhile
    performance.mark('sy:conv-fetched');
    this.conv = conv;
    for (const m of conv.messages) this.index(m);
    delete conv.messages;
    this.leaf = conv.current_leaf;
    this.header();
    this.renderBranch();
    const last = this.path[this.path.length - 1];
    if (last?.model) this.controls.setModel(last.model);
    this.section.dataset.ready = '1';
    performance.mark('sy:conv-rendered');
    if (last?.role === 'assistant' && last.status === 'streaming') this.attach(last.id);
  }

  layout() {
    this.title = h('h2', { class: 'conv-title' }, 'New conversation');
    this.exports = h('span', { class: 'exports' });
    this.earlier = h('button', { type: 'button', class: 'earlier', hidden: true, onclick: () => this.loadEarlier() });
    this.list = h('div', { class: 'messages', id: 'messages' });
    this.scroller = h('div', { class: 'scroller' }, this.earlier, this.list);
    this.input = h('textarea', { id: 'prompt', rows: '3', placeholder: 'Message (Enter to send, Shift+Enter for a new line)', 'aria-label': 'Message' });
    this.sendBtn = h('button', { type: 'submit', id: 'send', class: 'primary' }, 'Send');
    this.stopBtn = h('button', { type: 'button', id: 'stop', hidden: true, onclick: () => this.stop() }, 'Stop');
    this.error = h('p', { class: 'error', id: 'chat-error', role: 'alert' });
    const form = h('form', { class: 'composer', id: 'composer' }, this.input, h('div', { class: 'composer-buttons' }, this.sendBtn, this.stopBtn));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.sendNew();
    });
    this.input.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        this.sendNew();
      }
    });
    const readOnly = this.me.role === 'viewer';
    this.section = h(
      'section',
      { class: 'chat' },
      h('div', { class: 'chat-head' }, this.title, this.exports),
      this.scroller,
      readOnly
        ? h('div', { class: 'bottom' }, this.error, h('p', { class: 'note', id: 'read-only' }, 'Viewers can read their conversations but not send messages.'))
        : h('div', { class: 'bottom' }, this.error, form, this.controls.el),
    );
    this.root.replaceChildren(this.section);
    this.list.addEventListener('click', (ev) => {
      const b = ev.target.closest('button.copy-code');
      if (!b) return;
      const code = b.parentElement.querySelector('code');
      copyText((code ?? b.parentElement).textContent).then(() => flash(b));
    });
    this.topObserver = new IntersectionObserver((es) => es.some((e) => e.isIntersecting) && this.loadEarlier(), {
      root: this.scroller,
      rootMargin: '200px 0px 0px 0px',
    });
    this.topObserver.observe(this.earlier);
    this.fbObserver = new IntersectionObserver((es) => {
      for (const e of es) {
        if (!e.isIntersecting) continue;
        this.fbObserver.unobserve(e.target);
        this.loadFeedback(e.target);
      }
    }, { root: this.scroller });
  }

  header() {
    this.title.textContent = this.conv?.title || 'Untitled';
    if (!this.conv) return;
    const base = `/api/v1/conversations/${this.conv.id}/export`;
    this.exports.replaceChildren(
      'Export: ',
      h('a', { href: `${base}?format=json`, download: '', id: 'export-json' }, 'JSON'),
      ' · ',
      h('a', { href: `${base}?format=markdown`, download: '', id: 'export-md' }, 'Markdown'),
    );
  }

  showError(msg) {
    this.error.textContent = msg;
  }

  // ---- the tree -----------------------------------------------------------------------------

  index(m) {
    const old = this.byId.get(m.id);
    this.byId.set(m.id, old ? Object.assign(old, m) : m);
    if (!old) {
      const k = m.parent_id ?? '';
      let list = this.kids.get(k);
      if (!list) this.kids.set(k, (list = []));
      list.push(m.id);
    }
    return this.byId.get(m.id);
  }

  branch() {
    const out = [];
    let m = this.leaf ? this.byId.get(this.leaf) : null;
    while (m && out.length <= this.byId.size) {
      out.push(m);
      m = m.parent_id ? this.byId.get(m.parent_id) : null;
    }
    return out.reverse();
  }

  // The newest leaf under m (following the newest child at each step).
  newestLeaf(m) {
    for (;;) {
      const k = this.kids.get(m.id);
      if (!k?.length) return m;
      m = this.byId.get(k[k.length - 1]);
    }
  }

  async switchTo(m, dir) {
    const sibs = this.kids.get(m.parent_id ?? '');
    const i = sibs.indexOf(m.id) + dir;
    if (i < 0 || i >= sibs.length) return;
    const leaf = this.newestLeaf(this.byId.get(sibs[i]));
    this.leaf = leaf.id;
    this.renderBranch({ keepScroll: true });
    try {
      await api('PATCH', `/api/v1/conversations/${this.conv.id}`, { current_leaf: leaf.id });
    } catch (e) {
      this.showError(e.message);
    }
  }

  // ---- rendering ----------------------------------------------------------------------------

  renderBranch({ keepScroll = false } = {}) {
    const top = this.scroller.scrollTop;
    this.path = this.branch();
    this.start = Math.max(0, this.path.length - WINDOW);
    this.els.clear();
    this.list.replaceChildren(...this.path.slice(this.start).map((m) => this.msgEl(m)));
    this.updateEarlier();
    if (keepScroll) this.scroller.scrollTop = top;
    else this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  updateEarlier() {
    this.earlier.hidden = this.start === 0;
    this.earlier.textContent = `Show ${this.start} earlier message${this.start === 1 ? '' : 's'}`;
  }

  loadEarlier() {
    if (this.start === 0) return;
    const from = Math.max(0, this.start - WINDOW);
    const before = this.scroller.scrollHeight;
    this.list.prepend(...this.path.slice(from, this.start).map((m) => this.msgEl(m)));
    this.start = from;
    this.updateEarlier();
    this.scroller.scrollTop += this.scroller.scrollHeight - before;
  }

  nearBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 120;
  }

  msgEl(m) {
    const live = this.live?.mid === m.id;
    const body = h('div', { class: m.role === 'assistant' ? 'body md' : 'body text' });
    if (m.role === 'assistant') fill(body, m.status === 'streaming' ? renderMarkdown(m.content) : renderCached(m.id, m.content));
    else body.textContent = m.content;
    const el = h('article', { class: `msg ${m.role} status-${m.status}`, dataset: { id: m.id, status: m.status } });
    const parts = { el, body, badges: h('div', { class: 'badges' }), extra: h('div', { class: 'extra' }), reasoning: h('pre', { class: 'reasoning-text' }) };
    this.els.set(m.id, parts);
    // reasoning text arrives with a live answer only (it is not stored)
    const reasoning = h('details', { class: 'reasoning', hidden: !m.reasoning }, h('summary', null, 'Reasoning'), parts.reasoning);
    parts.reasoning.textContent = m.reasoning || '';
    el.append(this.head(m), reasoning, body, parts.extra, parts.badges, this.actions(m, live));
    this.refresh(m);
    return el;
  }

  head(m) {
    const who = m.role === 'user' ? 'You' : m.role === 'assistant' ? m.model || 'Assistant' : m.role;
    const head = h('div', { class: 'head' }, h('span', { class: 'who' }, who));
    if (m.status !== 'ok') head.append(h('span', { class: `status ${m.status}` }, m.status));
    const sibs = this.kids.get(m.parent_id ?? '') ?? [];
    if (sibs.length > 1) {
      const i = sibs.indexOf(m.id);
      head.append(
        h(
          'span',
          { class: 'branches' },
          h('button', { type: 'button', class: 'icon prev', title: 'Previous version', disabled: i === 0, onclick: () => this.switchTo(m, -1) }, '‹'),
          h('span', { class: 'pos' }, `${i + 1}/${sibs.length}`),
          h('button', { type: 'button', class: 'icon next', title: 'Next version', disabled: i === sibs.length - 1, onclick: () => this.switchTo(m, 1) }, '›'),
        ),
      );
    }
    return head;
  }

  actions(m, live) {
    const bar = h('div', { class: 'actions' });
    const copy = h('button', { type: 'button', class: 'icon copy', title: 'Copy message' }, 'Copy');
    copy.addEventListener('click', () => copyText(this.byId.get(m.id).content).then(() => flash(copy)));
    bar.append(copy);
    if (this.me.role === 'viewer') return bar;
    if (m.role === 'user') bar.append(h('button', { type: 'button', class: 'icon edit', onclick: () => this.edit(m) }, 'Edit'));
    if (m.role === 'assistant' && !live && m.status !== 'streaming' && m.parent_id) {
      bar.append(h('button', { type: 'button', class: 'icon regenerate', onclick: () => this.regenerate(m) }, 'Regenerate'));
    }
    if (m.role === 'assistant' && m.log_id) {
      const fb = h('span', { class: 'feedback', dataset: { log: m.log_id } });
      this.feedbackBar(fb, m.log_id, null);
      bar.append(fb);
      this.fbObserver.observe(fb);
      if (this.me.role === 'admin' || this.me.role === 'viewer') {
        bar.append(h('a', { class: 'log-link', href: `#/logs/${encodeURIComponent(m.log_id)}` }, 'Log'));
      }
    }
    return bar;
  }

  // The parts of a message that change while it streams: body, error, schema errors, badges.
  refresh(m) {
    const p = this.els.get(m.id);
    if (!p) return;
    const extra = [];
    if (m.error) extra.push(h('p', { class: 'msg-error' }, m.error));
    if (m.schema_errors?.length) {
      extra.push(
        h(
          'div',
          { class: 'schema-errors', role: 'alert' },
          h('strong', null, 'The reply does not match the schema:'),
          h('ul', null, m.schema_errors.map((e) => h('li', null, h('code', null, e.path || '(root)'), ' ', e.message))),
        ),
      );
    }
    p.extra.replaceChildren(...extra);
    if (m.role === 'assistant') p.badges.replaceChildren(...this.badges(m));
  }

  badges(m) {
    const x = m.metrics || {};
    const live = this.live?.mid === m.id ? this.live : null;
    const ttft = x.ttft_ms ?? (live?.tFirst ? live.tFirst - live.t0 : null);
    const latency = x.latency_ms ?? (live ? performance.now() - live.t0 : null);
    const out = [];
    const b = (cls, label, title) => out.push(h('span', { class: `badge ${cls}`, title }, label));
    if (ttft != null) b('ttft', `TTFT ${fmtMs(ttft)}`, 'time to first token');
    if (x.tokens_per_s != null) b('tps', `${x.tokens_per_s.toFixed(1)} tok/s`, 'output tokens per second');
    if (x.input_tokens != null || x.output_tokens != null) b('tokens', `${x.input_tokens ?? '?'} in · ${x.output_tokens ?? '?'} out`, 'tokens');
    if (x.reasoning_tokens) b('reasoning', `${x.reasoning_tokens} reasoning`, 'reasoning tokens');
    if (x.cost_usd != null) b('cost', fmtCost(x.cost_usd), 'cost');
    if (latency != null) b('latency', fmtMs(latency), 'total latency');
    return out;
  }

  // ---- feedback ------------------------------------------------------------------------------

  async loadFeedback(fb) {
    try {
      const r = await api('GET', `/api/v1/feedback/${encodeURIComponent(fb.dataset.log)}`);
      if (!fb.dataset.touched) this.feedbackBar(fb, fb.dataset.log, r);
    } catch {
      /* 404: none yet */
    }
  }

  feedbackBar(fb, logId, cur) {
    const rate = async (rating, comment) => {
      fb.dataset.touched = '1'; // a GET still in flight must not overwrite what the user did
      try {
        const r = await api('PUT', `/api/v1/feedback/${encodeURIComponent(logId)}`, { rating, comment: comment ?? cur?.comment ?? null });
        this.feedbackBar(fb, logId, r);
        if (comment === undefined) openComment(r);
      } catch (e) {
        this.showError(e.message);
      }
    };
    const openComment = (r) => {
      const ta = h('input', { class: 'fb-comment', placeholder: 'Optional comment', maxlength: '4000', value: r.comment ?? '', 'aria-label': 'Feedback comment' });
      const form = h('form', { class: 'fb-form' }, ta, h('button', { type: 'submit', class: 'fb-save' }, 'Save'));
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        rate(r.rating, ta.value.trim() || null);
      });
      fb.append(form);
    };
    fb.dataset.rating = cur ? String(cur.rating) : '';
    fb.replaceChildren(
      h('button', { type: 'button', class: 'icon fb-up', title: 'Good answer', 'aria-pressed': String(cur?.rating === 1), onclick: () => rate(1) }, '▲ Good'),
      h('button', { type: 'button', class: 'icon fb-down', title: 'Bad answer', 'aria-pressed': String(cur?.rating === -1), onclick: () => rate(-1) }, '▼ Bad'),
    );
    if (cur?.comment) fb.append(h('span', { class: 'fb-text', title: 'your comment' }, cur.comment));
  }

  // ---- generation ----------------------------------------------------------------------------

  sendNew() {
    const text = this.input.value;
    if (!text.trim() || this.live) return;
    const last = this.path[this.path.length - 1];
    this.send({ parent_id: last ? last.id : null, content: text }).then((ok) => ok && (this.input.value = ''));
  }

  edit(m) {
    const p = this.els.get(m.id);
    if (!p || this.live) return;
    const ta = h('textarea', { class: 'edit-text', rows: '3', 'aria-label': 'Edit message' });
    ta.value = m.content;
    const form = h(
      'form',
      { class: 'edit-form' },
      ta,
      h('div', null, h('button', { type: 'submit', class: 'primary edit-send' }, 'Send'), h('button', { type: 'button', class: 'edit-cancel', onclick: () => form.replaceWith(p.body) }, 'Cancel')),
    );
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (ta.value.trim()) this.send({ parent_id: m.parent_id, content: ta.value });
    });
    p.body.replaceWith(form);
    ta.focus();
  }

  regenerate(m) {
    if (!this.live) this.send({ parent_id: m.parent_id });
  }

  async send({ parent_id, content }) {
    if (this.live) return false; // one generation at a time per view
    let req;
    try {
      req = this.controls.request();
    } catch (e) {
      this.showError(e.message);
      return false;
    }
    this.showError('');
    if (!this.conv) {
      try {
        this.conv = await api('POST', '/api/v1/conversations', {});
      } catch (e) {
        this.showError(e.message);
        return false;
      }
      history.replaceState(null, '', `#/c/${this.conv.id}`);
      this.sidebar.select(this.conv.id);
      this.header();
    }
    const body = { parent_id, ...(content !== undefined ? { content } : {}), ...req };
    return this.run('POST', `/api/v1/conversations/${this.conv.id}/generate`, body);
  }

  // Re-attaches to an answer still streaming (a reload, another tab).
  attach(mid) {
    return this.run('GET', `/api/v1/conversations/${this.conv.id}/messages/${mid}/stream`, undefined, mid);
  }

  async run(method, path, body, reattach) {
    const ctl = new AbortController();
    const live = { ctl, mid: null, t0: performance.now(), tFirst: null, reattach };
    this.live = live;
    this.busy(true);
    this.ticker = setInterval(() => this.schedule(), 250);
    let ok = true;
    try {
      await stream(method, path, body, (ev, d) => this.live === live && this.onEvent(ev, d), ctl.signal);
    } catch (e) {
      ok = false;
      if (e.name !== 'AbortError' && this.live === live) this.showError(e.message);
    } finally {
      if (this.live === live) {
        this.live = null;
        clearInterval(this.ticker);
        this.busy(false);
        if (live.mid) this.finish(this.byId.get(live.mid));
      }
    }
    return ok;
  }

  busy(on) {
    this.sendBtn.hidden = on;
    this.stopBtn.hidden = !on;
    this.stopBtn.disabled = !this.live?.mid;
    this.section.dataset.streaming = on ? '1' : '';
  }

  onEvent(ev, d) {
    const live = this.live;
    if (ev === 'start') {
      if (d.user_message) this.index(d.user_message);
      if (d.user_message && this.conv && !this.conv.title) {
        // what the server names an untitled conversation: the first line, ≤ 80 bytes
        this.title.textContent = d.user_message.content.split('\n')[0].slice(0, 80);
      }
      const m = this.index(d.assistant_message);
      if (live.reattach) m.content = ''; // the first delta carries all text so far
      live.mid = m.id;
      this.leaf = m.id;
      this.stopBtn.disabled = false;
      this.renderBranch();
    } else if (ev === 'delta') {
      const m = this.byId.get(live.mid);
      if (!m) return;
      if (d.text) {
        m.content += d.text;
        if (live.tFirst == null) live.tFirst = performance.now();
      }
      if (d.reasoning) m.reasoning = (m.reasoning || '') + d.reasoning;
      this.schedule();
    } else if (ev === 'metrics') {
      const m = this.byId.get(live.mid);
      if (m) m.metrics = d;
      this.schedule();
    } else if (ev === 'done') {
      const m = this.index(d.message);
      this.live = null;
      clearInterval(this.ticker);
      this.busy(false);
      this.finish(m);
    }
  }

  // At most one re-render of the streaming answer per animation frame.
  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      const m = this.live?.mid && this.byId.get(this.live.mid);
      const p = m && this.els.get(m.id);
      if (!p) return;
      const stick = this.nearBottom();
      fill(p.body, renderMarkdown(m.content));
      if (m.reasoning) {
        p.reasoning.textContent = m.reasoning;
        p.reasoning.parentElement.hidden = false;
      }
      this.refresh(m);
      if (stick) this.scroller.scrollTop = this.scroller.scrollHeight;
    });
  }

  // A message reached its final state: re-render it (cached from now on) and refresh the list.
  finish(m) {
    if (!m) return;
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    const p = this.els.get(m.id);
    if (p) {
      const stick = this.nearBottom();
      const el = this.msgEl(m);
      p.el.replaceWith(el);
      if (stick) this.scroller.scrollTop = this.scroller.scrollHeight;
    }
    this.sidebar.load(true).then(() => {
      const t = this.sidebar.title(this.conv?.id);
      if (t != null && this.conv) {
        this.conv.title = t;
        this.header();
      }
    });
  }

  async stop() {
    const mid = this.live?.mid;
    if (!mid) return;
    this.stopBtn.disabled = true;
    try {
      const r = await api('POST', `/api/v1/conversations/${this.conv.id}/messages/${mid}/cancel`);
      if (this.live?.mid === mid) {
        this.live.ctl.abort();
        this.live = null;
        clearInterval(this.ticker);
        this.busy(false);
      }
      this.finish(this.index(r.message));
    } catch (e) {
      this.showError(e.message);
    }
  }
}
