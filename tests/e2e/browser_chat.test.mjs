// The chat web app in headless Chromium (Debian chromium + playwright-core) against the real
// binary: sign in, resume an older conversation, Markdown + code highlighting, model output that
// tries to inject script or HTML renders as text, branches (switch and persist), feedback
// (checked through the API), a 2,000-message conversation opens fast. Screenshots of the main
// screens go to build/artifacts/screens/.
//
// These cases use the storage API only (messages posted by the test); the generation cases
// (streaming, stop, reload, JSON schema, edit and resend) are in browser_generate.test.mjs.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { launchBrowser, openConversation, postMessages, screenshot, signedInPage, startChatGateway, watchProblems } from './browser.mjs';
import { doneMessage, finalMsg } from './lib.mjs';

const T = { timeout: 120000 };
let stack, browser, alice, page;

const MARKDOWN = `# Heading one

Some **bold** text, a [link](https://example.com/docs) and \`inline code\`.

- first item
- second item

\`\`\`python
def greet(name):
    return f"hello {name}"  # a comment
\`\`\`

| a | b |
|---|---|
| 1 | 2 |
`;

describe('chat web app in Chromium', () => {
  before(async () => {
    stack = await startChatGateway();
    alice = await stack.session(stack.users.alice.email, stack.users.alice.password);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await stack?.gw.stop();
  });

  test('sign in through the form; a wrong password is refused with a message', T, async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const p = await context.newPage();
    await p.goto(stack.gw.origin + '/');
    await p.locator('#login').waitFor();
    await screenshot(p, 'login');
    await p.locator('#login input[name=email]').fill(stack.users.alice.email);
    await p.locator('#login input[name=password]').fill('wrong-password-123');
    await p.locator('#login button[type=submit]').click();
    await p.locator('#login-error:not(:empty)').waitFor();
    assert.match(await p.locator('#login-error').textContent(), /password|email/i);
    await context.close();

    page = await signedInPage(browser, stack.gw, stack.users.alice);
    assert.equal(await page.locator('#who').textContent(), 'alice@example.com (member)');
    await page.locator('section.chat[data-ready="1"]').waitFor();
    assert.equal(await page.locator('#prompt').isEditable(), true);
    // the session survives a reload (cookie + CSRF token in localStorage)
    await page.reload();
    await page.locator('#who').waitFor();
    await screenshot(page, 'new-chat');
    // a second tab can change things too (the CSRF token is shared with the cookie)
    const c = (await alice.call('POST', '/api/v1/conversations', { body: { title: 'Second tab' } })).json;
    const tab = await page.context().newPage();
    await tab.goto(stack.gw.origin + '/');
    await tab.locator(`#list li[data-id="${c.id}"]`).hover();
    await tab.locator(`#list li[data-id="${c.id}"] button.rename`).click();
    await tab.locator('#list .rename-input').fill('Renamed in a second tab');
    await tab.locator('#list .rename-input').press('Enter');
    await tab.locator(`#list li[data-id="${c.id}"] .title`, { hasText: 'Renamed in a second tab' }).waitFor();
    assert.equal(await tab.locator('#list-error').textContent(), '');
    assert.equal((await alice.call('GET', `/api/v1/conversations/${c.id}`)).json.title, 'Renamed in a second tab');
    // signing out in that tab: the first tab's next call finds the session gone → sign-in form
    await tab.locator('#logout').click();
    await tab.locator('#login').waitFor();
    await tab.close();
    await page.locator('#search input').fill('anything'); // a list call, now without a session
    await page.locator('#login').waitFor();
    assert.match(await page.locator('#login-error').textContent(), /session ended/);
    await page.locator('#login input[name=email]').fill(stack.users.alice.email);
    await page.locator('#login input[name=password]').fill(stack.users.alice.password);
    await page.locator('#login button[type=submit]').click();
    await page.locator('#who').waitFor();
    assert.deepEqual(page.problems, []);
  });

  test('resume an older conversation from the sidebar: its messages, in order', T, async () => {
    const older = (await alice.call('POST', '/api/v1/conversations', { body: { title: 'Older chat' } })).json;
    await postMessages(alice, older.id, [{ role: 'user', content: 'an old question' }]);
    const conv2 = (await alice.call('POST', '/api/v1/conversations', { body: { title: 'Chained chat' } })).json;
    let parent = null;
    const chain = [];
    for (const [role, content] of [['user', 'hello there'], ['assistant', 'hi, how can I help?'], ['user', 'tell me more'], ['assistant', 'here is more']]) {
      const [m] = await postMessages(alice, conv2.id, [{ role, content, parent_id: parent, model: role === 'assistant' ? 'fast' : undefined }]);
      chain.push(m);
      parent = m.id;
    }
    await alice.call('POST', '/api/v1/conversations', { body: { title: 'Newest chat' } });

    await page.reload();
    await page.locator('#list li').first().waitFor();
    const titles = await page.locator('#list li .title').allTextContents();
    assert.deepEqual(titles.slice(0, 3), ['Newest chat', 'Chained chat', 'Older chat'], 'most recent first');
    await page.locator(`#list li[data-id="${conv2.id}"] .title`).click();
    await page.locator(`section.chat[data-ready="1"][data-conv="${conv2.id}"]`).waitFor();
    assert.equal(await page.locator('.chat-head h2').textContent(), 'Chained chat');
    const texts = (await page.locator('#messages .msg .body').allTextContents()).map((t) => t.trim());
    assert.deepEqual(texts, ['hello there', 'hi, how can I help?', 'tell me more', 'here is more']);
    assert.deepEqual(await page.locator('#messages .msg').evaluateAll((els) => els.map((e) => e.dataset.id)), chain.map((m) => m.id));
    assert.equal(await page.locator(`#list li.active`).getAttribute('data-id'), conv2.id);
    // the export links point at this conversation
    assert.equal(await page.locator('#export-md').getAttribute('href'), `/api/v1/conversations/${conv2.id}/export?format=markdown`);
    // search narrows the sidebar by message text
    await page.locator('#search input').fill('tell me more');
    await page.waitForFunction(() => document.querySelectorAll('#list li').length === 1);
    assert.equal(await page.locator('#list li').getAttribute('data-id'), conv2.id);
    await page.locator('#search input').fill('');
    await page.waitForFunction(() => document.querySelectorAll('#list li').length >= 3);
    assert.deepEqual(page.problems, []);
  });

  test('Markdown renders with highlighted code, a copy button, tables and safe links', T, async () => {
    const c = (await alice.call('POST', '/api/v1/conversations', { body: { title: 'Markdown' } })).json;
    const [u] = await postMessages(alice, c.id, [{ role: 'user', content: 'show me markdown' }]);
    const [a] = await postMessages(alice, c.id, [{ role: 'assistant', content: MARKDOWN, parent_id: u.id, model: 'fast' }]);
    await openConversation(page, c.id);
    const body = page.locator(`.msg[data-id="${a.id}"] .body`);
    assert.equal(await body.locator('h1').textContent(), 'Heading one');
    assert.equal(await body.locator('strong').textContent(), 'bold');
    assert.deepEqual(await body.locator('li').allTextContents(), ['first item', 'second item']);
    assert.equal(await body.locator('table td').count(), 2);
    const code = body.locator('pre code.hljs.language-python');
    assert.equal(await code.count(), 1);
    assert.equal(await code.locator('.hljs-keyword').first().textContent(), 'def');
    assert.ok((await code.locator('.hljs-comment').textContent()).includes('# a comment'));
    assert.equal(await body.locator('pre button.copy-code').count(), 1);
    const link = body.locator('a[href="https://example.com/docs"]');
    assert.equal(await link.getAttribute('rel'), 'noopener noreferrer');
    assert.equal(await link.getAttribute('target'), '_blank');
    // a user message is shown as typed, not as Markdown
    assert.equal(await page.locator(`.msg[data-id="${u.id}"] .body`).textContent(), 'show me markdown');
    // copying: the code block's text reaches the clipboard
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: stack.gw.origin });
    await body.locator('pre button.copy-code').click();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), 'def greet(name):\n    return f"hello {name}"  # a comment\n');
    await page.locator(`.msg[data-id="${a.id}"] button.copy`).click();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), MARKDOWN);
    await screenshot(page, 'markdown');
    assert.deepEqual(page.problems, []);
  });

  test('model output with <script> and <img onerror> renders as text; nothing runs', T, async () => {
    const evil = [
      'Hello <script>window.__pwned = "script"</script> there',
      '<img src=x onerror="window.__pwned = \'img\'">',
      '[click me](javascript:window.__pwned=\'link\')',
      '<iframe src="javascript:parent.__pwned=1"></iframe><svg onload="window.__pwned=\'svg\'"></svg>',
    ].join('\n\n');
    const c = (await alice.call('POST', '/api/v1/conversations', { body: { title: 'Injection' } })).json;
    const [u] = await postMessages(alice, c.id, [{ role: 'user', content: evil }]);
    const [a] = await postMessages(alice, c.id, [{ role: 'assistant', content: evil, parent_id: u.id, model: 'fast' }]);
    await openConversation(page, c.id);
    await page.waitForTimeout(300); // an onerror would fire once the image failed to load
    assert.equal(await page.evaluate(() => window.__pwned), undefined, 'no injected code ran');
    for (const id of [u.id, a.id]) {
      const body = page.locator(`.msg[data-id="${id}"] .body`);
      assert.equal(await body.locator('img, script, iframe, svg').count(), 0, 'no element from the text');
      const text = await body.textContent();
      assert.ok(text.includes('<script>window.__pwned = "script"</script>'), text);
      assert.ok(text.includes('<img src=x onerror='), text);
    }
    // the javascript: link is not a link
    assert.equal(await page.locator(`.msg[data-id="${a.id}"] .body a[href^="javascript"]`).count(), 0);
    assert.equal(await page.locator('#messages img').count(), 0);
    await screenshot(page, 'injection');
    assert.deepEqual(page.problems, []);
  });

  test('branches: the switcher shows 1/2 and 2/2, switching shows the other branch and is stored', T, async () => {
    const c = (await alice.call('POST', '/api/v1/conversations', { body: { title: 'Branches' } })).json;
    const [u1] = await postMessages(alice, c.id, [{ role: 'user', content: 'version one' }]);
    const [a1] = await postMessages(alice, c.id, [{ role: 'assistant', content: 'answer one', parent_id: u1.id, model: 'fast' }]);
    // an edit of the first message: a sibling root, and its answer
    const [u2] = await postMessages(alice, c.id, [{ role: 'user', content: 'version two', parent_id: null }]);
    const [a2] = await postMessages(alice, c.id, [{ role: 'assistant', content: 'answer two', parent_id: u2.id, model: 'fast' }]);
    await openConversation(page, c.id);
    const bodies = async () => (await page.locator('#messages .msg .body').allTextContents()).map((t) => t.trim());
    assert.deepEqual(await bodies(), ['version two', 'answer two']);
    assert.equal(await page.locator(`.msg[data-id="${u2.id}"] .branches .pos`).textContent(), '2/2');
    assert.equal(await page.locator(`.msg[data-id="${u2.id}"] .branches .next`).isDisabled(), true);
    await screenshot(page, 'branches');
    await page.locator(`.msg[data-id="${u2.id}"] .branches .prev`).click();
    await page.locator(`.msg[data-id="${u1.id}"]`).waitFor();
    assert.deepEqual(await bodies(), ['version one', 'answer one']);
    assert.equal(await page.locator(`.msg[data-id="${u1.id}"] .branches .pos`).textContent(), '1/2');
    // stored: the conversation's current leaf is the first branch's answer
    await page.waitForResponse((r) => r.request().method() === 'PATCH').catch(() => {});
    let leaf;
    for (let i = 0; i < 50; i++) {
      leaf = (await alice.call('GET', `/api/v1/conversations/${c.id}`)).json.current_leaf;
      if (leaf === a1.id) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(leaf, a1.id);
    // and a reload shows the first branch
    await page.reload();
    await page.locator('section.chat[data-ready="1"]').waitFor();
    assert.deepEqual(await bodies(), ['version one', 'answer one']);
    await page.locator(`.msg[data-id="${u1.id}"] .branches .next`).click();
    await page.locator(`.msg[data-id="${a2.id}"]`).waitFor();
    assert.deepEqual(page.problems, []);
  });

  test('feedback: thumbs and a comment are stored (read back through the API) and shown after reload', T, async () => {
    const c = (await alice.call('POST', '/api/v1/conversations', { body: { title: 'Feedback' } })).json;
    // a rated answer carries its inference-log row, which only generation sets
    const gen = await alice.call('POST', `/api/v1/conversations/${c.id}/generate`, { body: { content: 'rate me', model: 'fast' } });
    assert.equal(gen.status, 200, gen.text);
    const a = doneMessage(gen.text);
    assert.equal(a.status, 'ok');
    const logId = a.log_id;
    assert.match(logId, /^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    await finalMsg(alice, c.id, a.id); // the final row is stored
    await openConversation(page, c.id);
    const fb = page.locator(`.msg[data-id="${a.id}"] .feedback`);
    await fb.locator('.fb-down').click();
    await fb.locator('.fb-comment').waitFor();
    let r = await alice.call('GET', `/api/v1/feedback/${logId}`);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.rating, -1);
    assert.equal(r.json.comment, null);
    await fb.locator('.fb-up').click();
    await fb.locator('.fb-comment').fill('clear and correct');
    await fb.locator('.fb-save').click();
    await fb.locator('.fb-text').waitFor();
    r = await alice.call('GET', `/api/v1/feedback/${logId}`);
    assert.equal(r.json.rating, 1);
    assert.equal(r.json.comment, 'clear and correct');
    await page.reload();
    await page.locator('section.chat[data-ready="1"]').waitFor();
    await page.locator(`.msg[data-id="${a.id}"] .feedback .fb-up[aria-pressed="true"]`).waitFor();
    assert.equal(await page.locator(`.msg[data-id="${a.id}"] .feedback .fb-text`).textContent(), 'clear and correct');
    // a member gets no log link (the inference log is for admins and viewers)
    assert.equal(await page.locator(`.msg[data-id="${a.id}"] .log-link`).count(), 0);
    await screenshot(page, 'feedback');
    assert.deepEqual(page.problems, []);
  });

  test('a 2,000-message conversation opens and is interactive fast', { timeout: 300000 }, async () => {
    const c = (await alice.call('POST', '/api/v1/conversations', { body: { title: 'Long conversation' } })).json;
    const para = 'Some **markdown** with `code` and a list:\n\n- one\n- two\n\n```js\nconst x = 1;\n```\n';
    let parent = null;
    let last;
    const t0 = performance.now();
    for (let i = 0; i < 2000; i++) {
      const role = i % 2 ? 'assistant' : 'user';
      const r = await alice.call('POST', `/api/v1/conversations/${c.id}/messages`, {
        body: { role, content: role === 'user' ? `question ${i}` : `answer ${i}. ${para}`, parent_id: parent, ...(role === 'assistant' ? { model: 'fast' } : {}) },
      });
      assert.equal(r.status, 201, r.text);
      parent = last = r.json.id;
    }
    const seedMs = performance.now() - t0;

    // (1) a fresh page load straight into the conversation: navigation → last message shown and
    //     the composer usable
    const ctx = page.context();
    const p2 = await ctx.newPage();
    watchProblems(p2);
    const t1 = performance.now();
    await p2.goto(`${stack.gw.origin}/#/c/${c.id}`);
    await p2.locator(`section.chat[data-ready="1"][data-conv="${c.id}"]`).waitFor();
    await p2.locator(`.msg[data-id="${last}"]`).waitFor();
    await p2.locator('#prompt').fill('typing works');
    const loadMs = performance.now() - t1;
    const inPage = await p2.evaluate(() => performance.now());

    // (2) opening it from another conversation in the same page (the app already loaded)
    await openConversation(p2, (await alice.call('GET', '/api/v1/conversations?limit=2')).json.data[1].id);
    const t2 = performance.now();
    await p2.evaluate((h) => (location.hash = h), `#/c/${c.id}`);
    await p2.locator(`section.chat[data-ready="1"][data-conv="${c.id}"]`).waitFor();
    await p2.locator(`.msg[data-id="${last}"]`).waitFor();
    const switchMs = performance.now() - t2;

    const rendered = await p2.locator('#messages .msg').count();
    assert.ok(rendered >= 20 && rendered <= 200, `only a window of the branch is rendered (${rendered})`);
    assert.equal(await p2.locator(`.msg[data-id="${last}"] pre code.hljs`).count(), 1);
    // scrolling to the top renders earlier messages
    await p2.locator('.scroller').evaluate((s) => (s.scrollTop = 0));
    await p2.waitForFunction((n) => document.querySelectorAll('#messages .msg').length > n, rendered);
    await screenshot(p2, 'long-conversation');
    const load = (await import('node:os')).loadavg()[0].toFixed(2);
    console.log(`# 2,000-message conversation: page load to interactive ${loadMs.toFixed(0)} ms (in-page ${inPage.toFixed(0)} ms), open from another conversation ${switchMs.toFixed(0)} ms; seeding 2,000 POSTs ${seedMs.toFixed(0)} ms; load average ${load}`);
    assert.ok(loadMs < 5000, `page load ${loadMs} ms`);
    assert.ok(switchMs < 5000, `switch ${switchMs} ms`);
    assert.deepEqual(p2.problems, []);
    await p2.close();
  });

  test('settings: models with provider and price, own API keys (shown once, revoke), credentials for admins only', T, async () => {
    await page.evaluate(() => (location.hash = '#/settings'));
    await page.locator('#settings[data-ready="1"]').waitFor();
    const rows = await page.locator('#models-table tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
    assert.deepEqual(rows.map((r) => r.slice(0, 6)), [
      ['fast', 'mock', '1', '$1', '$2', '—'],
      ['slow', 'mock', '1', '$0.5', '$1.5', '$0.25'],
      ['locked', 'mock', '1', '—', '—', '—'],
    ]);
    assert.equal(rows[2][6], 'hidden: seed; locked: temperature=1');
    // a member sees no credentials section
    assert.equal(await page.locator('#credentials-section').count(), 0);

    // create a key: shown once, listed by prefix, works on /v1
    await page.locator('#key-form input[name=name]').fill('my laptop');
    await page.locator('#key-form button[type=submit]').click();
    const key = await page.locator('#new-key-value').textContent();
    assert.match(key, /^sy-/);
    const row = page.locator('#keys-table tbody tr', { hasText: 'my laptop' });
    await row.waitFor();
    let r = await stack.call('GET', '/v1/models', { key });
    assert.equal(r.status, 200, r.text);
    await screenshot(page, 'settings');
    page.once('dialog', (d) => d.accept());
    await row.locator('button.revoke').click();
    await page.locator('#keys-table tbody tr', { hasText: 'revoked' }).waitFor();
    r = await stack.call('GET', '/v1/models', { key });
    assert.equal(r.status, 401, r.text);
    // after a reload the key is not shown again
    await page.reload();
    await page.locator('#settings[data-ready="1"]').waitFor();
    assert.equal(await page.locator('#new-key-value').count(), 0);
    assert.ok(!(await page.content()).includes(key));
    assert.deepEqual(page.problems, []);

    // the admin: credentials, write-only (last four shown, never the value)
    const admin = await signedInPage(browser, stack.gw, { email: stack.admin.email, password: stack.admin.password });
    await admin.evaluate(() => (location.hash = '#/settings'));
    await admin.locator('#settings[data-ready="1"]').waitFor();
    const secret = 'sk-browser-test-secret-9876';
    await admin.locator('#cred-form input[name=name]').fill('openai-test');
    await admin.locator('#cred-form input[name=provider]').fill('openai');
    await admin.locator('#cred-form input[name=value]').fill(secret);
    await admin.locator('#cred-form button[type=submit]').click();
    const cred = admin.locator('#credentials-table tbody tr[data-name="openai-test"]');
    await cred.waitFor();
    assert.deepEqual((await cred.locator('td').allTextContents()).slice(0, 3), ['openai-test', 'openai', '…9876']);
    assert.equal(await admin.locator('#cred-form input[name=value]').inputValue(), '', 'the form forgets the value');
    assert.ok(!(await admin.content()).includes(secret));
    r = await stack.call('GET', '/api/v1/credentials/openai-test', { key: stack.admin.key });
    assert.equal(r.json.last4, '9876');
    await screenshot(admin, 'settings-admin');
    assert.deepEqual(admin.problems, []);
    await admin.context().close();
  });

  test('the model picker lists the configured models; a model\'s ui hides and locks controls', T, async () => {
    await page.evaluate(() => (location.hash = '#/'));
    await page.locator('section.chat[data-ready="1"][data-conv=""]').waitFor();
    await page.locator('#controls summary').click();
    assert.deepEqual(await page.locator('#model option').allTextContents(), ['fast', 'slow', 'locked']);
    await page.locator('#model').selectOption('locked');
    assert.equal(await page.locator('#p-seed').isVisible(), false);
    assert.equal(await page.locator('#p-temperature').isDisabled(), true);
    assert.equal(await page.locator('#p-temperature').inputValue(), '1');
    await page.locator('#model').selectOption('fast');
    assert.equal(await page.locator('#p-seed').isVisible(), true);
    assert.equal(await page.locator('#p-temperature').isDisabled(), false);
    // JSON-schema mode: the schema is checked as JSON before anything is sent
    await page.locator('#p-mode').selectOption('json_schema');
    await page.locator('#p-schema').fill('{"type": "object",');
    assert.match(await page.locator('#schema-error').textContent(), /not valid JSON/);
    let posted = 0;
    page.on('request', (req) => req.method() === 'POST' && posted++);
    await page.locator('#prompt').fill('hello');
    await page.locator('#send').click();
    assert.match(await page.locator('#chat-error').textContent(), /not valid JSON/);
    assert.equal(posted, 0, 'nothing was sent');
    await page.locator('#p-template').selectOption('sentiment');
    assert.equal(await page.locator('#schema-error').textContent(), '');
    assert.equal(JSON.parse(await page.locator('#p-schema').inputValue()).required[0], 'sentiment');
    await screenshot(page, 'controls');
    await page.locator('#p-mode').selectOption('text');
    await page.locator('#prompt').fill('');
    assert.deepEqual(page.problems, []);
  });

  test('sidebar: "More" pages, rename and delete', T, async () => {
    const bob = await stack.session(stack.users.bob.email, stack.users.bob.password);
    const ids = [];
    for (let i = 0; i < 55; i++) ids.push((await bob.call('POST', '/api/v1/conversations', { body: { title: `Bob chat ${i}` } })).json.id);
    const p = await signedInPage(browser, stack.gw, stack.users.bob);
    await p.locator('#list li').first().waitFor();
    assert.equal(await p.locator('#list li').count(), 50);
    assert.equal(await p.locator('#list li .title').first().textContent(), 'Bob chat 54');
    await p.locator('#more').click();
    await p.waitForFunction(() => document.querySelectorAll('#list li').length === 55);
    assert.equal(await p.locator('#list li .title').last().textContent(), 'Bob chat 0');

    const li = p.locator(`#list li[data-id="${ids[54]}"]`);
    await li.hover();
    await li.locator('button.rename').click();
    await p.locator('#list .rename-input').fill('Renamed by Bob');
    await p.locator('#list .rename-input').press('Enter');
    await p.locator(`#list li[data-id="${ids[54]}"] .title`, { hasText: 'Renamed by Bob' }).waitFor();
    assert.equal((await bob.call('GET', `/api/v1/conversations/${ids[54]}`)).json.title, 'Renamed by Bob');

    await p.locator(`#list li[data-id="${ids[53]}"] .title`).click();
    await p.locator(`section.chat[data-ready="1"][data-conv="${ids[53]}"]`).waitFor();
    p.once('dialog', (d) => d.accept());
    await p.locator(`#list li[data-id="${ids[53]}"]`).hover();
    await p.locator(`#list li[data-id="${ids[53]}"] button.delete`).click();
    await p.locator(`#list li[data-id="${ids[53]}"]`).waitFor({ state: 'detached' });
    assert.equal((await bob.call('GET', `/api/v1/conversations/${ids[53]}`)).status, 404);
    // deleting the open conversation goes back to a new one
    await p.locator('section.chat[data-ready="1"][data-conv=""]').waitFor();
    // bob never sees alice's conversations
    assert.equal(await p.locator('#list li', { hasText: 'Markdown' }).count(), 0);
    await screenshot(p, 'sidebar');
    assert.deepEqual(p.problems, []);
    await p.context().close();
  });

  test('a viewer gets a read-only app: no composer, no key form', T, async () => {
    const password = `viewer-${Date.now()}-pw`;
    const r = await stack.call('POST', '/api/v1/users', { key: stack.admin.key, body: { email: 'vera@example.com', role: 'viewer', password } });
    assert.equal(r.status, 201, r.text);
    const p = await signedInPage(browser, stack.gw, { email: 'vera@example.com', password });
    await p.locator('section.chat[data-ready="1"]').waitFor();
    assert.equal(await p.locator('#who').textContent(), 'vera@example.com (viewer)');
    await p.locator('#read-only').waitFor();
    assert.equal(await p.locator('#prompt').count(), 0);
    await p.evaluate(() => (location.hash = '#/settings'));
    await p.locator('#settings[data-ready="1"]').waitFor();
    assert.equal(await p.locator('#key-form').count(), 0);
    assert.equal(await p.locator('#credentials-section').count(), 0);
    assert.equal(await p.locator('#models-table tbody tr').count(), 3);
    assert.deepEqual(p.problems, []);
    await p.context().close();
  });
});
