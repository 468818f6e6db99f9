// Model output → safe HTML: markdown-it with raw HTML off (so "<script>" in a reply is text),
// highlight.js for fenced code (core + the common languages, not the 190-language build), and
// DOMPurify over the result anyway (defence in depth; it also drops javascript: links). The
// page's CSP forbids inline script, so even a sanitizer bug could not run code.
import MarkdownIt from 'markdown-it';
import DOMPurify from 'dompurify';
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import c from 'highlight.js/lib/languages/c';
import cpp from 'highlight.js/lib/languages/cpp';
import css from 'highlight.js/lib/languages/css';
import diff from 'highlight.js/lib/languages/diff';
import go from 'highlight.js/lib/languages/go';
import java from 'highlight.js/lib/languages/java';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import markdown from 'highlight.js/lib/languages/markdown';
import python from 'highlight.js/lib/languages/python';
import rust from 'highlight.js/lib/languages/rust';
import sql from 'highlight.js/lib/languages/sql';
import typescript from 'highlight.js/lib/languages/typescript';
import xml from 'highlight.js/lib/languages/xml';
import yaml from 'highlight.js/lib/languages/yaml';
import plaintext from 'highlight.js/lib/languages/plaintext';

const langs = { bash, c, cpp, css, diff, go, java, javascript, json, markdown, python, rust, sql, typescript, xml, yaml, plaintext };
for (const [name, def] of Object.entries(langs)) hljs.registerLanguage(name, def);

const md = new MarkdownIt({
  html: false,
  linkify: true,
  highlight(code, lang) {
    const l = (lang || '').trim().split(/\s+/)[0].toLowerCase();
    if (!l || !hljs.getLanguage(l)) return ''; // markdown-it escapes it
    const out = hljs.highlight(code, { language: l, ignoreIllegals: true }).value;
    return `<pre><code class="hljs language-${md.utils.escapeHtml(l)}">${out}</code></pre>`;
  },
});

DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer');
  }
});

const PURIFY = { USE_PROFILES: { html: true }, FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select'], FORBID_ATTR: ['style'] };

export function renderMarkdown(text) {
  return DOMPurify.sanitize(md.render(text || ''), PURIFY);
}

// Finished messages never change: their HTML is rendered once and kept by message id.
const cache = new Map();
export function renderCached(id, text) {
  let html = cache.get(id);
  if (html === undefined) {
    html = renderMarkdown(text);
    cache.set(id, html);
  }
  return html;
}

// Puts rendered HTML into el and gives every code block a copy button (our own element, added
// after sanitizing).
export function fill(el, html) {
  el.innerHTML = html;
  for (const pre of el.querySelectorAll('pre')) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'copy-code';
    b.textContent = 'Copy';
    pre.prepend(b);
  }
}
