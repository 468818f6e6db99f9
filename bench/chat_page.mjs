// Time to interactive of the chat web app in headless Chromium (issue 6, docs/PERFORMANCE.md
// "Chat web app in headless Chromium"): the chat page, and a 2,000-message conversation opened
// by a page load and from inside the loaded app. Same browser, gateway and data as the browser
// test `a 2,000-message conversation opens and is interactive fast`, repeated and reported as
// medians. Needs chromium and tests/e2e/node_modules (scripts/deps.sh test; cd tests/e2e && npm ci).
//
//   node bench/chat_page.mjs [runs]          (default 9; SWITCHYARD_BIN picks the binary)
//
// "cold": a new browser context per run (empty HTTP cache: the bundle is fetched and compiled);
// "warm": a new tab in one context (the immutable bundle comes from the cache, as on a reload).

import os from 'node:os';
import { launchBrowser, startChatGateway, watchProblems } from '../tests/e2e/browser.mjs';

const RUNS = Number(process.argv[2] || 9);
const N_MESSAGES = 2000;

const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (a) => `${median(a).toFixed(0)} ms (${Math.min(...a).toFixed(0)}–${Math.max(...a).toFixed(0)})`;

const stack = await startChatGateway();
const browser = await launchBrowser();
try {
  const alice = await stack.session(stack.users.alice.email, stack.users.alice.password);
  const origin = stack.gw.origin;
  const other = (await alice.call('POST', '/api/v1/conversations', { body: { title: 'Short' } })).json;
  await alice.call('POST', `/api/v1/conversations/${other.id}/messages`, { body: { role: 'user', content: 'hello' } });
  const c = (await alice.call('POST', '/api/v1/conversations', { body: { title: 'Long conversation' } })).json;
  const para = 'Some **markdown** with `code` and a list:\n\n- one\n- two\n\n```js\nconst x = 1;\n```\n';
  let parent = null;
  for (let i = 0; i < N_MESSAGES; i++) {
    const role = i % 2 ? 'assistant' : 'user';
    const r = await alice.call('POST', `/api/v1/conversations/${c.id}/messages`, {
      body: { role, content: role === 'user' ? `question ${i}` : `answer ${i}. ${para}`, parent_id: parent, ...(role === 'assistant' ? { model: 'fast' } : {}) },
    });
    if (r.status !== 201) throw new Error(`seeding: ${r.status} ${r.text}`);
    parent = r.json.id;
  }
  const last = parent;
  const eq = alice.session.indexOf('=');
  const cookie = { name: alice.session.slice(0, eq), value: alice.session.slice(eq + 1), url: origin };

  // page load of `hash` in `page` until `ready` holds and the composer takes typing
  async function load(page, hash, ready) {
    const t = performance.now();
    await page.goto(`${origin}/${hash}`);
    await ready(page);
    await page.locator('#prompt').fill('typing works');
    return performance.now() - t;
  }
  const convReady = async (p) => {
    await p.locator(`section.chat[data-ready="1"][data-conv="${c.id}"]`).waitFor();
    await p.locator(`.msg[data-id="${last}"]`).waitFor();
  };
  const chatReady = async (p) => p.locator('section.chat[data-ready="1"]').waitFor();

  const res = { coldChat: [], coldConv: [], warmChat: [], warmConv: [], switchConv: [] };
  const warm = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  await warm.addCookies([cookie]);
  const problems = [];
  for (let i = 0; i < RUNS; i++) {
    for (const [key, hash, ready] of [
      ['Chat', '#/', chatReady],
      ['Conv', `#/c/${c.id}`, convReady],
    ]) {
      const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
      await ctx.addCookies([cookie]);
      const p = await ctx.newPage();
      watchProblems(p);
      res[`cold${key}`].push(await load(p, hash, ready));
      problems.push(...p.problems);
      await ctx.close();
      const w = await warm.newPage();
      watchProblems(w);
      res[`warm${key}`].push(await load(w, hash, ready));
      if (key === 'Conv') {
        await w.evaluate((h) => (location.hash = h), `#/c/${other.id}`);
        await w.locator(`section.chat[data-ready="1"][data-conv="${other.id}"]`).waitFor();
        const t = performance.now();
        await w.evaluate((h) => (location.hash = h), `#/c/${c.id}`);
        await convReady(w);
        res.switchConv.push(performance.now() - t);
      }
      problems.push(...w.problems);
      await w.close();
    }
  }
  const la = os.loadavg().map((x) => x.toFixed(2)).join(' / ');
  console.log(`chat web app, ${RUNS} runs each, ${new Date().toISOString()}, load average ${la}`);
  console.log(`chat page, cold (new context)            ${fmt(res.coldChat)}`);
  console.log(`chat page, warm (new tab, cached bundle) ${fmt(res.warmChat)}`);
  console.log(`${N_MESSAGES}-message conversation, cold      ${fmt(res.coldConv)}`);
  console.log(`${N_MESSAGES}-message conversation, warm      ${fmt(res.warmConv)}`);
  console.log(`${N_MESSAGES}-message conversation, in app    ${fmt(res.switchConv)}`);
  if (problems.length) {
    console.error('page problems:', problems);
    process.exitCode = 1;
  }
} finally {
  await browser.close();
  await stack.gw.stop();
}
