// Generation in the chat web app, in headless Chromium against the real binary with the mock
// provider (reply "You said: <text>"): the answer grows over several frames before it completes
// and shows its badges; stop mid-stream keeps the cancelled partial answer (also after a
// reload); a reload mid-stream re-attaches and gets the full answer; JSON-schema mode with a
// reply that violates the schema shows the errors; edit-and-resend and regenerate make branches;
// a reply echoing <img onerror> renders as text. Screenshots go to build/artifacts/screens/.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchBrowser, screenshot, signedInPage, startChatGateway } from './browser.mjs';

const T = { timeout: 120000 };
let stack, browser, alice, page;

// Records, once per animation frame, the text length of the answer that is streaming.
function sampleFrames() {
  window.__lens = [];
  const tick = () => {
    const b = document.querySelector('.msg.assistant[data-status="streaming"] .body');
    if (b) window.__lens.push(b.textContent.length);
    window.__sampler = requestAnimationFrame(tick);
  };
  tick();
}

async function choose(p, model, mode = 'text') {
  if (!(await p.locator('#controls').evaluate((d) => d.open))) await p.locator('#controls summary').click();
  await p.locator('#model').selectOption(model);
  await p.locator('#p-mode').selectOption(mode);
}

async function newChat(p) {
  await p.evaluate(() => (location.hash = '#/'));
  await p.locator('section.chat[data-ready="1"][data-conv=""]').waitFor();
}

const convId = (p) => p.evaluate(() => /#\/c\/([\w-]+)/.exec(location.hash)?.[1]);

async function storedAnswer(convIdValue) {
  const c = (await alice.call('GET', `/api/v1/conversations/${convIdValue}`)).json;
  return { conv: c, answer: c.messages.find((m) => m.id === c.current_leaf) };
}

describe('chat generation in Chromium', () => {
  before(async () => {
    stack = await startChatGateway();
    alice = await stack.session(stack.users.alice.email, stack.users.alice.password);
    browser = await launchBrowser();
    page = await signedInPage(browser, stack.gw, stack.users.alice);
  });
  after(async () => {
    await browser?.close();
    await stack?.gw.stop();
  });

  test('an answer streams: the text grows over several frames, then completes with badges', T, async () => {
    await newChat(page);
    await choose(page, 'slow');
    await page.locator('#p-temperature').fill('0.3');
    await page.locator('#p-max_tokens').fill('500');
    const text = 'Please **stream** this answer slowly so that it arrives in many small pieces';
    await page.evaluate(sampleFrames);
    await page.locator('#prompt').fill(text);
    await page.locator('#send').click();
    await page.locator('#stop:not([disabled])').waitFor();
    await page.locator('.msg.assistant[data-status="streaming"] .body:not(:empty)').waitFor();
    await screenshot(page, 'streaming');
    await page.locator('.msg.assistant[data-status="ok"]').waitFor({ timeout: 30000 });
    const lens = await page.evaluate(() => (cancelAnimationFrame(window.__sampler), window.__lens));
    const distinct = [...new Set(lens)];
    assert.ok(distinct.length >= 4, `the text grew over several frames: ${distinct.join(',')}`);
    for (let i = 1; i < distinct.length; i++) assert.ok(distinct[i] > distinct[i - 1], `only grows: ${distinct.join(',')}`);
    const answer = page.locator('.msg.assistant[data-status="ok"]');
    assert.equal((await answer.locator('.body').textContent()).trim(), 'You said: Please stream this answer slowly so that it arrives in many small pieces');
    assert.equal(await answer.locator('.body strong').textContent(), 'stream');
    // badges: time to first token, tokens, cost (the model has a price), latency
    await answer.locator('.badge.ttft').waitFor();
    for (const b of ['ttft', 'tokens', 'latency', 'cost']) assert.equal(await answer.locator(`.badge.${b}`).count(), 1, `badge ${b}`);
    assert.equal(await page.locator('#send').isVisible(), true);
    // stored, with the inference-log link and metrics
    const id = await convId(page);
    const { conv, answer: a } = await storedAnswer(id);
    assert.equal(a.role, 'assistant');
    assert.equal(a.status, 'ok');
    assert.equal(a.content, `You said: ${text}`);
    assert.ok(a.log_id, 'the answer carries its log row id');
    assert.ok(a.metrics && a.metrics.output_tokens > 0, JSON.stringify(a.metrics));
    assert.deepEqual(a.params, { max_tokens: 500, temperature: 0.3 }, 'the per-turn parameters were sent');
    await page.locator('#p-temperature').fill('');
    await page.locator('#p-max_tokens').fill('');
    assert.equal(conv.messages.length, 2);
    // feedback on a generated answer is keyed by its log row
    await answer.locator('.feedback .fb-up').click();
    await answer.locator('.feedback .fb-up[aria-pressed="true"]').waitFor();
    const fb = await alice.call('GET', `/api/v1/feedback/${a.log_id}`);
    assert.equal(fb.status, 200, fb.text);
    assert.equal(fb.json.rating, 1);
    assert.equal(await answer.locator('.log-link').count(), 0, 'members get no log link');
    // the sidebar shows the new conversation with its automatic title
    await page.locator(`#list li[data-id="${id}"]`).waitFor();
    await screenshot(page, 'answer');
    assert.deepEqual(page.problems, []);
  });

  test('stop mid-stream: the partial answer is kept as cancelled, also after a reload', T, async () => {
    await newChat(page);
    await choose(page, 'slow');
    await page.locator('#prompt').fill('A long message to be cut off in the middle of its answer, well before the end of it all');
    await page.locator('#send').click();
    await page.waitForFunction(() => (document.querySelector('.msg.assistant[data-status="streaming"] .body')?.textContent.length ?? 0) > 20);
    await page.locator('#stop').click();
    const cancelled = page.locator('.msg.assistant[data-status="cancelled"]');
    await cancelled.waitFor();
    const shown = (await cancelled.locator('.body').textContent()).trim();
    assert.ok(shown.length >= 20, shown);
    assert.ok(shown.length < 'You said: '.length + 80, `partial: ${shown}`);
    assert.equal(await cancelled.locator('.head .status').textContent(), 'cancelled');
    const id = await convId(page);
    const { answer } = await storedAnswer(id);
    assert.equal(answer.status, 'cancelled');
    assert.ok(shown.startsWith(answer.content.trim().slice(0, 15)), `${shown} vs ${answer.content}`);
    await page.reload();
    await page.locator(`section.chat[data-ready="1"][data-conv="${id}"]`).waitFor();
    const after = page.locator('.msg.assistant[data-status="cancelled"]');
    assert.equal((await after.locator('.body').textContent()).trim(), answer.content.trim());
    await screenshot(page, 'cancelled');
    assert.deepEqual(page.problems, []);
  });

  test('reload mid-stream: the page re-attaches and shows the full answer', T, async () => {
    await newChat(page);
    await choose(page, 'slow');
    const text = 'Reload the page while this answer is still streaming and get all of it back';
    await page.locator('#prompt').fill(text);
    await page.locator('#send').click();
    await page.waitForFunction(() => (document.querySelector('.msg.assistant[data-status="streaming"] .body')?.textContent.length ?? 0) > 10);
    const id = await convId(page);
    const attached = [];
    const onReq = (req) => /\/messages\/[\w-]+\/stream$/.test(req.url()) && attached.push(req.method());
    page.on('request', onReq);
    await page.reload();
    await page.locator(`section.chat[data-ready="1"][data-conv="${id}"]`).waitFor();
    // still streaming after the reload: the page re-attached to the live answer
    await page.locator('section.chat[data-streaming="1"]').waitFor();
    assert.deepEqual(attached, ['GET'], 're-attached through GET …/stream');
    page.off('request', onReq);
    const done = page.locator('.msg.assistant[data-status="ok"]');
    await done.waitFor({ timeout: 30000 });
    assert.equal((await done.locator('.body').textContent()).trim(), `You said: ${text}`);
    const { answer } = await storedAnswer(id);
    assert.equal(answer.status, 'ok');
    assert.equal(answer.content, `You said: ${text}`);
    assert.deepEqual(page.problems, []);
  });

  test('JSON-schema mode: a reply that violates the schema shows the errors next to the answer', T, async () => {
    await newChat(page);
    await choose(page, 'fast', 'json_schema');
    await page.locator('#p-template').selectOption('person');
    await page.locator('#prompt').fill('give me a person');
    await page.locator('#send').click();
    const answer = page.locator('.msg.assistant[data-status="ok"], .msg.assistant[data-status="error"]');
    await answer.waitFor({ timeout: 30000 });
    const errs = answer.locator('.schema-errors');
    await errs.waitFor();
    assert.match(await errs.textContent(), /does not match the schema/);
    assert.ok((await errs.locator('li').count()) >= 1);
    const { answer: a } = await storedAnswer(await convId(page));
    assert.ok(Array.isArray(a.schema_errors) && a.schema_errors.length >= 1, JSON.stringify(a));
    assert.equal(a.schema_errors[0].path, '', 'the mock reply is not JSON at all');
    await screenshot(page, 'schema-errors');
    await choose(page, 'fast', 'text');
    assert.deepEqual(page.problems, []);
  });

  test('edit a message and resend: a new branch, the old one still reachable; regenerate adds a sibling answer', T, async () => {
    await newChat(page);
    await choose(page, 'fast');
    await page.locator('#prompt').fill('original question');
    await page.locator('#send').click();
    await page.locator('.msg.assistant[data-status="ok"]').waitFor();
    const id = await convId(page);
    const bodies = async () => (await page.locator('#messages .msg .body').allTextContents()).map((t) => t.trim());
    await page.locator('.msg.user button.edit').click();
    await page.locator('.msg.user .edit-text').fill('edited question');
    await page.locator('.msg.user .edit-send').click();
    await page.waitForFunction(() => [...document.querySelectorAll('#messages .msg .body')].some((b) => b.textContent.includes('You said: edited question')));
    await page.locator('.msg.assistant[data-status="ok"]').waitFor();
    assert.deepEqual(await bodies(), ['edited question', 'You said: edited question']);
    assert.equal(await page.locator('.msg.user .branches .pos').textContent(), '2/2');
    await page.locator('.msg.user .branches .prev').click();
    await page.waitForFunction(() => document.querySelector('.msg.user .body')?.textContent === 'original question');
    assert.deepEqual(await bodies(), ['original question', 'You said: original question']);
    // regenerate the answer of the original branch: a second answer to the same question
    await page.locator('.msg.assistant button.regenerate').click();
    await page.waitForFunction(() => document.querySelector('.msg.assistant .branches .pos')?.textContent === '2/2');
    await page.locator('.msg.assistant[data-status="ok"]').waitFor();
    assert.deepEqual(await bodies(), ['original question', 'You said: original question']);
    const c = (await alice.call('GET', `/api/v1/conversations/${id}`)).json;
    const roots = c.messages.filter((m) => m.parent_id === null);
    assert.deepEqual(roots.map((m) => m.content), ['original question', 'edited question']);
    const answersToFirst = c.messages.filter((m) => m.parent_id === roots[0].id);
    assert.equal(answersToFirst.length, 2);
    assert.equal(c.current_leaf, answersToFirst[1].id);
    await screenshot(page, 'edit-branch');
    assert.deepEqual(page.problems, []);
  });

  test('a reply echoing <script> and <img onerror> renders as text while streaming and after', T, async () => {
    await newChat(page);
    await choose(page, 'slow');
    await page.locator('#prompt').fill('<img src=x onerror="window.__pwned=1"> and <script>window.__pwned=2</script>');
    await page.locator('#send').click();
    await page.locator('.msg.assistant[data-status="ok"]').waitFor({ timeout: 30000 });
    await page.waitForTimeout(200);
    assert.equal(await page.evaluate(() => window.__pwned), undefined);
    assert.equal(await page.locator('#messages img, #messages script').count(), 0);
    assert.equal((await page.locator('.msg.assistant .body').textContent()).trim(), 'You said: <img src=x onerror="window.__pwned=1"> and <script>window.__pwned=2</script>');
    assert.deepEqual(page.problems, []);
  });

  test('an admin sees the answer\'s link to its inference-log row, and it opens that row', T, async () => {
    const admin = await signedInPage(browser, stack.gw, { email: stack.admin.email, password: stack.admin.password });
    await choose(admin, 'fast');
    await admin.locator('#prompt').fill('which log row am I?');
    await admin.locator('#send').click();
    const answer = admin.locator('.msg.assistant[data-status="ok"]');
    await answer.waitFor();
    const href = await answer.locator('.log-link').getAttribute('href');
    assert.match(href, /^#\/logs\/[\w-]+$/);
    const logId = href.split('/').pop();
    // the log writer batches rows: wait until the API has it, then open the view
    let row = null;
    for (let i = 0; i < 50 && !row; i++) {
      const r = await stack.call('GET', `/api/v1/logs/${logId}`, { key: stack.admin.key });
      if (r.status === 200) row = r.json;
      else await new Promise((res) => setTimeout(res, 100));
    }
    assert.ok(row, 'the log row exists');
    await answer.locator('.log-link').click();
    await admin.locator('#logview[data-ready="1"]').waitFor();
    assert.equal(await admin.locator('#logview tr[data-key="model"] td').first().textContent(), 'fast');
    assert.equal(await admin.locator('#logview tr[data-key="status"] td').first().textContent(), 'ok');
    assert.equal(await admin.locator('#logview tr[data-key="id"] td').textContent(), logId);
    assert.match(await admin.locator('#logview #response_body').textContent(), /You said: which log row am I\?/);
    await screenshot(admin, 'log-row');
    assert.deepEqual(admin.problems, []);
    await admin.context().close();
  });

  test('a request the server refuses shows its error and keeps the typed message', T, async () => {
    await newChat(page);
    await choose(page, 'fast');
    await page.locator('#p-max_tokens').fill('0');
    await page.locator('#prompt').fill('this will be refused');
    await page.locator('#send').click();
    await page.locator('#chat-error:not(:empty)').waitFor();
    assert.match(await page.locator('#chat-error').textContent(), /max_tokens/);
    assert.equal(await page.locator('#prompt').inputValue(), 'this will be refused', 'nothing typed is lost');
    assert.equal(await page.locator('#send').isVisible(), true);
    await page.locator('#p-max_tokens').fill('');
    await page.locator('#send').click();
    await page.locator('.msg.assistant[data-status="ok"]').waitFor();
    assert.equal(await page.locator('#chat-error').textContent(), '');
    assert.equal(await page.locator('#prompt').inputValue(), '');
    // the refused call left an empty conversation behind; the retry went into it
    const c = (await alice.call('GET', `/api/v1/conversations/${await convId(page)}`)).json;
    assert.deepEqual(c.messages.map((m) => m.role), ['user', 'assistant']);
    page.problems = page.problems.filter((p) => !/status of 400/.test(p));
    assert.deepEqual(page.problems, []);
  });

  test('a narrow screen puts the sidebar above the conversation', T, async () => {
    await page.setViewportSize({ width: 420, height: 800 });
    const side = await page.locator('.sidebar').boundingBox();
    const chat = await page.locator('section.chat').boundingBox();
    assert.ok(side.y + side.height <= chat.y + 1, `sidebar ${JSON.stringify(side)} above chat ${JSON.stringify(chat)}`);
    assert.ok(chat.width >= 400, `the conversation uses the width: ${chat.width}`);
    await screenshot(page, 'narrow');
    await page.setViewportSize({ width: 1280, height: 860 });
  });
});
