// Proxy environment variables and loopback calls (upstream_client: curl). libcurl follows
// http_proxy / ALL_PROXY; the chat generation's call to our own listener carries the internal
// token, and a local upstream on 127.0.0.1 is local: neither may go through a proxy. The
// "proxy" here records every connection it gets; it must get none.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import { apiCall, doneMessage, sessionLogin, startGateway, startMock, freePort, tmpFile } from './lib.mjs';

const T = { timeout: 60000 };
const ADMIN_KEY = `sy-${crypto.randomBytes(32).toString('base64url')}`;
const ADMIN_PW = `pw-${crypto.randomBytes(12).toString('hex')}`;
const PW = `p-${crypto.randomBytes(8).toString('hex')}`;

describe('proxy environment under upstream_client: curl', () => {
  let gw, mock, proxy, proxyPort;
  const seen = [];
  before(async () => {
    proxy = net.createServer((sock) => {
      seen.push(sock.remoteAddress);
      sock.on('data', () => {});
      sock.on('error', () => {});
      sock.end('HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    });
    await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
    proxyPort = proxy.address().port;
    mock = await startMock();
    const dataDir = tmpFile('proxy-data');
    fs.mkdirSync(dataDir);
    const port = await freePort();
    const config = `server:
  listen: 127.0.0.1:${port}
  workers: 1
  upstream_client: curl
data_dir: ${dataDir}
auth:
  mode: required
models:
  - name: m
    provider: mock
    mock: {latency_ms: 0, chunks: 3, chunk_delay_ms: 10}
  - name: up
    provider: openai
    model: up-echo
    base_url: http://127.0.0.1:${mock.port}/v1
  - name: up-localhost
    provider: openai
    model: up-echo
    base_url: http://localhost:${mock.port}/v1
`;
    const purl = `http://127.0.0.1:${proxyPort}`;
    gw = await startGateway({
      port,
      config,
      env: {
        SWITCHYARD_ADMIN_PASSWORD: ADMIN_PW,
        SWITCHYARD_ADMIN_KEY: ADMIN_KEY,
        http_proxy: purl,
        HTTP_PROXY: purl,
        https_proxy: purl,
        ALL_PROXY: purl,
        all_proxy: purl,
        no_proxy: '',
        NO_PROXY: '',
      },
    });
  });
  after(async () => {
    if (gw) await gw.stop();
    if (mock) await mock.stop();
    if (proxy) await new Promise((r) => proxy.close(r));
  });

  test('the chat generation loopback call does not go through the proxy', T, async () => {
    const r = await apiCall(gw.origin, 'POST', '/api/v1/users', { key: ADMIN_KEY, body: { email: 'pia@example.com', role: 'member', password: PW } });
    assert.equal(r.status, 201, r.text);
    const s = await sessionLogin(gw.origin, 'pia@example.com', PW);
    const c = await s.call('POST', '/api/v1/conversations', { body: {} });
    assert.equal(c.status, 201, c.text);
    const g = await s.call('POST', `/api/v1/conversations/${c.json.id}/generate`, { body: { parent_id: null, content: 'through no proxy', model: 'm' } });
    assert.equal(g.status, 200, g.text);
    const msg = doneMessage(g.text);
    assert.equal(msg.status, 'ok', JSON.stringify(msg));
    assert.equal(msg.content, 'You said: through no proxy');
    assert.deepEqual(seen, []);
  });

  test('an upstream on 127.0.0.1 or localhost is called directly', T, async () => {
    for (const model of ['up', 'up-localhost']) {
      const r = await apiCall(gw.origin, 'POST', '/v1/chat/completions', {
        key: ADMIN_KEY,
        body: { model, messages: [{ role: 'user', content: 'hi' }] },
      });
      assert.equal(r.status, 200, `${model}: ${r.text}`);
    }
    assert.deepEqual(seen, []);
  });
});
