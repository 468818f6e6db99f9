// Helpers for the browser tests (browser_*.test.mjs): Debian's chromium driven by
// playwright-core (pinned in package.json), a gateway with sign-in and mock-provider models,
// users, and screenshots into build/artifacts/screens (git-ignored; look at them).
//
// A browser that cannot start fails the test: there is no skip.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { REPO, apiCall, freePort, sessionLogin, startGateway, tmpFile } from './lib.mjs';

export const CHROMIUM = process.env.SY_CHROMIUM || '/usr/bin/chromium';
export const SCREENS = path.join(REPO, 'build', 'artifacts', 'screens');

// A fresh headless Chromium (playwright gives every launch its own temporary profile).
export async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`chromium not found at ${CHROMIUM}: install the Debian package (scripts/deps.sh test)`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
    ],
  });
}

// The models the browser tests chat with: mock providers (reply "You said: <last user text>"),
// one fast, one that streams in 40 pieces 60 ms apart (stop and reload land mid-stream).
export const chatConfig = (port, dataDir, extra = '') => `server:
  listen: 127.0.0.1:${port}
  workers: 1
data_dir: ${dataDir}
log:
  batch_ms: 20
auth:
  mode: required
models:
  - name: fast
    provider: mock
    mock: {latency_ms: 0, chunks: 4, chunk_delay_ms: 5}
  - name: slow
    provider: mock
    mock: {latency_ms: 50, chunks: 40, chunk_delay_ms: 60}
  - name: locked
    provider: mock
    mock: {latency_ms: 0, chunks: 2, chunk_delay_ms: 0}
    ui: {hide: [seed], lock: {temperature: 1}}
prices:
  - {model: fast, input: 1, output: 2}
  - {model: slow, input: 0.5, output: 1.5, cached_input: 0.25}
${extra}`;

// A gateway with sign-in, an admin (API key + password) and members alice and bob with
// passwords. Returns {gw, admin: {key, password, email}, users: {alice, bob}: {email, password},
// call(method, path, opts), session(email, password) → a signed-in API client}.
export async function startChatGateway({ extraModels = '' } = {}) {
  const dataDir = tmpFile('browser-data');
  fs.mkdirSync(dataDir);
  const port = await freePort();
  const adminKey = `sy-${crypto.randomBytes(32).toString('base64url')}`;
  const adminPw = `pw-${crypto.randomBytes(12).toString('hex')}`;
  const gw = await startGateway({
    port,
    config: chatConfig(port, dataDir, extraModels),
    env: { SWITCHYARD_ADMIN_PASSWORD: adminPw, SWITCHYARD_ADMIN_KEY: adminKey },
  });
  const call = (method, p, opts = {}) => apiCall(gw.origin, method, p, opts);
  const users = {};
  for (const name of ['alice', 'bob']) {
    const password = `${name}-${crypto.randomBytes(8).toString('hex')}`;
    const email = `${name}@example.com`;
    const r = await call('POST', '/api/v1/users', { key: adminKey, body: { email, role: 'member', password } });
    assert.equal(r.status, 201, r.text);
    users[name] = { email, password, id: r.json.id };
  }
  // a signed-in API client (lib.mjs sessionLogin: cookie in .session, CSRF on changes)
  const session = (email, password) => sessionLogin(gw.origin, email, password);
  return { gw, call, users, admin: { key: adminKey, password: adminPw, email: 'admin@localhost' }, session };
}

// A page signed in through the login form. Collects page errors and console errors (a CSP
// violation is a console error) into page.problems.
export async function signedInPage(browser, gw, { email, password }) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  watchProblems(page);
  await page.goto(gw.origin + '/');
  await page.locator('#login input[name=email]').fill(email);
  await page.locator('#login input[name=password]').fill(password);
  await page.locator('#login button[type=submit]').click();
  await page.locator('#who').waitFor();
  return page;
}

export function watchProblems(page) {
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 404|Failed to load resource/.test(m.text())) page.problems.push(`console: ${m.text()}`);
  });
}

export async function screenshot(page, name) {
  fs.mkdirSync(SCREENS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENS, `${name}.png`) });
}

// Opens #/c/{id} and waits until the conversation view says it is ready.
export async function openConversation(page, id) {
  await page.evaluate((h) => (location.hash = h), `#/c/${id}`);
  await page.locator(`section.chat[data-ready="1"][data-conv="${id}"]`).waitFor();
}

// Posts messages (a chain unless parent_id is given): [{role, content, ...}] → the messages.
export async function postMessages(s, convId, msgs) {
  const out = [];
  for (const m of msgs) {
    const r = await s.call('POST', `/api/v1/conversations/${convId}/messages`, { body: m });
    assert.equal(r.status, 201, r.text);
    out.push(r.json);
  }
  return out;
}
