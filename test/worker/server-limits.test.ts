// The worker's server against hostile clients: a client that dribbles its headers or its
// body is cut (408) while it is still sending; a run request over its size is refused; unknown tokens cost the fileserver at most
// one lookup per token (refusals are remembered, concurrent ones share a lookup) and a
// small burst per client address, after which they are refused with 429 unasked.
// Timeouts are shortened through the server's options; nothing here measures time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:tls';
import { readFileSync } from 'node:fs';
import { HAVE_RUNTIME, startTestWorker, type TestWorker } from './fixtures.js';
import { startFixture } from '../fileserver/fixture.js';
import { FileserverAuthenticator } from '../../ts/worker/auth.js';
import { WorkerClient } from '../../ts/worker/client.js';
import { MAX_RUN_REQUEST_BYTES } from '../../ts/worker/handlers/runs.js';

const skip = HAVE_RUNTIME ? false : 'needs root and busybox';
const SHORT = { headersMs: 1000, requestMs: 2000 };

/**
 * Send `head` at once, then `dribble` one byte per 100 ms. Resolves when the server
 * closes the connection, with what it answered and whether the client was still sending.
 */
function slowClient(w: TestWorker, head: string, dribble: string): Promise<{ answer: string; stillSending: boolean }> {
  return new Promise((resolve, reject) => {
    const url = new URL(w.server.url);
    const s = connect({ host: url.hostname, port: Number(url.port), ca: readFileSync(`${w.dir}/tls/ca.pem`), servername: 'localhost' });
    let answer = '';
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    s.on('secureConnect', () => {
      s.write(head);
      timer = setInterval(() => {
        if (sent >= dribble.length) { clearInterval(timer); return; }
        s.write(dribble[sent++]!);
      }, 100);
    });
    s.on('data', (c: Buffer) => { answer += c.toString(); });
    s.on('error', () => { /* a reset after the answer: the close below reports */ });
    s.on('close', () => { clearInterval(timer); resolve({ answer, stillSending: sent < dribble.length }); });
    setTimeout(() => { s.destroy(); reject(new Error('the server kept the dribbling connection open to the end')); }, dribble.length * 100 + 10_000).unref();
  });
}

test('a client dribbling its headers is answered 408 and cut while still sending', { skip }, async (t) => {
  const w = await startTestWorker(t, { timeouts: SHORT });
  const r = await slowClient(w, 'POST /v1/runs HTTP/1.1\r\nHost: localhost\r\nX-Slow: ', 'a'.repeat(200) + '\r\n\r\n');
  assert.equal(r.stillSending, true, `the server waited for the whole header (answered ${JSON.stringify(r.answer)})`);
  assert.match(r.answer, /^HTTP\/1\.1 408/);
});

test('a client dribbling its body is cut while still sending; a run\'s response is not a request', { skip }, async (t) => {
  const w = await startTestWorker(t, { timeouts: SHORT });
  const body = JSON.stringify({ image: 'busybox', command: ['echo', 'x'.repeat(150)] });
  const head = `POST /v1/runs HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${w.token}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
  const r = await slowClient(w, head, body);
  assert.equal(r.stillSending, true, `the server waited for the whole body (answered ${JSON.stringify(r.answer.slice(0, 200))})`);
  assert.doesNotMatch(r.answer, /^HTTP\/1\.1 200/);
  // A run outliving the request timeout streams to its end.
  let stdout = '';
  const client = w.client();
  const outcome = await client.run({ image: 'busybox', command: ['sh', '-c', 'echo start; sleep 4; echo end'] }, { onStdout: (b) => { stdout += b.toString(); } });
  assert.equal(outcome.exit, 0);
  assert.equal(stdout, 'start\nend\n');
});

test('a run request declaring a body over the limit is refused at once, unread', { skip }, async (t) => {
  const w = await startTestWorker(t, { timeouts: SHORT });
  const declared = MAX_RUN_REQUEST_BYTES + 1;
  const head = `POST /v1/runs HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${w.token}\r\nContent-Type: application/json\r\nContent-Length: ${declared}\r\n\r\n`;
  const r = await slowClient(w, head, '{"image":"busybox","command":["true"],"pad":"' + 'x'.repeat(100));
  assert.match(r.answer, /^HTTP\/1\.1 413/);
  assert.match(r.answer, /SWAY_LIMIT/);
});

test('50 requests with one unknown token cost the fileserver one lookup; unknown tokens from one address are limited with 429', { skip }, async (t) => {
  const fs = await startFixture(t);
  const whoamis = () => fs.logs.filter((l) => l.includes('/v1/whoami')).length;
  const authenticator = new FileserverAuthenticator({ url: fs.server.url, caFile: fs.server.caCertPath }, { refusalTtlMs: 600_000, burst: 5, perSecond: 0.001 });
  const w = await startTestWorker(t, { authenticator });
  const statusOf = async (token: string, body: object = { image: 'busybox', command: ['true'] }) => {
    const c = new WorkerClient({ url: w.server.url, token, caFile: `${w.dir}/tls/ca.pem` });
    try { await c.run(body as never); return { status: 200, code: '', message: '' }; } catch (err) {
      const e = err as { status: number; remoteCode: string; message: string };
      return { status: e.status, code: e.remoteCode, message: e.message };
    } finally { await c.close(); }
  };
  // A valid token, known before the flood.
  assert.equal((await statusOf(fs.tokens.alice, {})).status, 400);

  const before = whoamis();
  const bad = 'not-a-token-the-fileserver-knows';
  const concurrent = await Promise.all(Array.from({ length: 25 }, () => statusOf(bad)));
  const sequential = [];
  for (let i = 0; i < 25; i++) sequential.push(await statusOf(bad));
  for (const r of [...concurrent, ...sequential]) assert.equal(r.status, 401, JSON.stringify(r));
  assert.equal(whoamis() - before, 1, 'fileserver lookups for one unknown token');

  const before2 = whoamis();
  const many = await Promise.all(Array.from({ length: 50 }, (_, i) => statusOf(`unknown-${i}`)));
  assert.ok(whoamis() - before2 <= 5, `${whoamis() - before2} fileserver lookups for 50 unknown tokens from one address`);
  const limited = many.filter((r) => r.status === 429);
  assert.ok(limited.length >= 45, JSON.stringify(many));
  assert.equal(limited[0]!.code, 'SWAY_RATE_LIMITED');
  assert.match(limited[0]!.message, /too many unknown tokens from \S+: try again/);
  // A known token from the same address is still served.
  assert.equal((await statusOf(fs.tokens.alice, {})).status, 400);
});
