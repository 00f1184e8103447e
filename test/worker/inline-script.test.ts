// POST /v1/runs with the script inside the request (script.content, what `sway run` sends
// for scripts up to 1 MiB), through `sway run`'s own client (ts/cli/worker-run.ts), on a
// real worker over TLS with real runc on busybox: the inline bytes run without any
// script source lookup, are verified against their hash, and malformed content is refused
// before anything runs. The test worker's script source is in memory and empty, so a
// fetch would answer "script not found".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readdirSync } from 'node:fs';
import { startTestWorker, HAVE_RUNTIME, type TestWorker } from './fixtures.js';
import { sha256 } from '../../ts/common/hash.js';
import { streamRun, type RunRequestBody } from '../../ts/cli/worker-run.js';

const T = { skip: HAVE_RUNTIME ? false : 'needs root and /bin/busybox (busybox-static)', timeout: 180_000 };

async function run(w: TestWorker, body: RunRequestBody, token = w.token) {
  let stdout = '', stderr = '';
  const outcome = await streamRun(body, {
    url: w.server.url, token, caFile: join(w.dir, 'tls', 'ca.pem'),
    onStdout: (b) => { stdout += b.toString(); }, onStderr: (b) => { stderr += b.toString(); },
  });
  return { ...outcome, stdout, stderr };
}

function inline(content: string | Buffer, name = 'main.sh') {
  const buf = Buffer.from(content);
  return { hash: sha256(buf), name, content: buf.toString('base64') };
}

test('a script sent inside the run request runs without being fetched; its output, args and status come back', T, async (t) => {
  const w = await startTestWorker(t);
  assert.equal(w.scripts.scripts.size, 0, 'nothing to fetch from');
  const r = await run(w, { image: 'busybox', script: inline('echo "inline:$1:$(pwd)"\necho err >&2\nexit 4\n'), args: ['arg1'] });
  assert.equal(r.stdout, 'inline:arg1:/app\n');
  assert.equal(r.stderr, 'err\n');
  assert.equal(r.exit, 4);
  assert.ok(r.runId);
  // Without content the same request still asks the script source, as before.
  const { content: _dropped, ...byHash } = inline('echo by-hash\n');
  await assert.rejects(run(w, { image: 'busybox', script: byHash }), (err: Error & { status?: number }) => err.status === 404 && /script .* not found/.test(err.message));
});

test('inline content that does not match its hash, or is not base64, is refused before anything runs', T, async (t) => {
  const w = await startTestWorker(t);
  const good = inline('echo fine\n');
  const other = inline('echo other\n');
  await assert.rejects(run(w, { image: 'busybox', script: { ...good, content: other.content } }),
    (err: Error & { status?: number; remoteCode?: string }) => err.status === 400 && err.remoteCode === 'SWAY_HASH_MISMATCH' && /script hash mismatch/.test(err.message));
  await assert.rejects(run(w, { image: 'busybox', script: { ...good, content: 'not base64!' } }),
    (err: Error & { status?: number }) => err.status === 400 && /script\.content must be base64/.test(err.message));
  await assert.rejects(run(w, { image: 'busybox', script: { ...good, content: 12 as unknown as string } }),
    (err: Error & { status?: number }) => err.status === 400 && /script\.content must be base64/.test(err.message));
  // Authentication still comes first: a bad token with valid content is a 401.
  await assert.rejects(run(w, { image: 'busybox', script: good }, 'wrong-token'), (err: Error & { status?: number }) => err.status === 401);
  assert.deepEqual(readdirSync(w.server.runsDir), [], 'no run was started');
});

test('the CLI client reports an unreachable worker and a plain-http address as one-line sway errors', async () => {
  const opts = { token: 't', onStdout: () => {}, onStderr: () => {} };
  await assert.rejects(streamRun({ image: 'x', command: ['true'] }, { ...opts, url: 'https://127.0.0.1:1' }),
    (err: Error & { code?: string }) => err.code === 'SWAY_UNREACHABLE' && err.message === 'worker unreachable at https://127.0.0.1:1: ECONNREFUSED');
  await assert.rejects(streamRun({ image: 'x', command: ['true'] }, { ...opts, url: 'http://127.0.0.1:1' }),
    (err: Error & { code?: string }) => err.code === 'SWAY_CONFIG' && /must start with https/.test(err.message));
  await assert.rejects(streamRun({ image: 'x', command: ['true'] }, { ...opts, url: 'https://127.0.0.1:1', caFile: '/nonexistent/ca.pem' }),
    (err: Error & { code?: string }) => err.code === 'SWAY_CONFIG' && /cannot read CA certificate \/nonexistent\/ca\.pem: ENOENT/.test(err.message));
});
