// `sway run` against a worker from before inline scripts: such a worker ignores
// script.content and asks its fileserver for the hash, answering 404 "script … not found
// on the fileserver (upload it first)" for a script never uploaded. The CLI then uploads
// the script and sends the run again. The worker here is a stand-in (an older worker
// build cannot run in this checkout): an HTTPS server that does what the old run endpoint
// did with the script, against a real fileserver over TLS, and streams back the script's
// bytes as the run's stdout. The fileserver, its users and the CLI are the real ones.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:https';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { startFixture } from '../fileserver/fixture.js';
import { ensureTlsMaterial } from '../../ts/common/tls.js';
import { FileserverClient } from '../../ts/common/fileserver-client.js';
import { RemoteError } from '../../ts/common/errors.js';
import { sha256 } from '../../ts/common/hash.js';
import { runSway } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/tmp.js';

test('an old worker that ignores script.content: sway run uploads the script and runs it again', async (t) => {
  const fx = await startFixture(t);
  const tls = ensureTlsMaterial(dirname(fx.server.caCertPath));
  const seen: { content: boolean; status: number }[] = [];
  const oldWorker = createServer({ cert: readFileSync(tls.certPath), key: readFileSync(tls.keyPath) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => void (async () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { script: { hash: string; content?: string } };
      const token = String(req.headers.authorization).replace(/^Bearer /, '');
      const files = new FileserverClient({ url: fx.server.url, token, caFile: fx.server.caCertPath });
      try {
        const script = await files.getScript(body.script.hash); // what the old endpoint did, content or not
        seen.push({ content: body.script.content !== undefined, status: 200 });
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        res.write(JSON.stringify({ runId: 'r1' }) + '\n');
        res.write(JSON.stringify({ stream: 'stdout', data: script.toString('base64') }) + '\n');
        res.end(JSON.stringify({ exit: 0, runId: 'r1', timedOut: false }) + '\n');
      } catch (err) {
        const status = err instanceof RemoteError ? err.status : 500;
        seen.push({ content: body.script.content !== undefined, status });
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'SWAY_NOT_FOUND', message: `script ${body.script.hash} not found on the fileserver (upload it first)` } }));
      } finally {
        await files.close();
      }
    })());
  });
  await new Promise<void>((resolve) => oldWorker.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => oldWorker.close(() => resolve())));

  const dir = await makeTempDir(t, 'sway-old-worker-');
  const script = `echo ${Math.random()}\n`;
  writeFileSync(join(dir, 'app.sh'), script);
  const env = {
    SWAY_FILESERVER: fx.server.url, SWAY_WORKER: `https://127.0.0.1:${(oldWorker.address() as AddressInfo).port}`,
    SWAY_TOKEN: fx.tokens.alice, SWAY_CA: fx.server.caCertPath,
  };
  const r = await runSway(['run', '--image', 'img', 'app.sh'], { cwd: dir, env });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, script);
  assert.equal(r.stderr, '');
  assert.deepEqual(seen, [{ content: true, status: 404 }, { content: false, status: 200 }], 'inline first, then by hash after the upload');
  assert.equal(await fx.alice.hasScript(sha256(Buffer.from(script))), true, 'the CLI uploaded it as alice');

  // A 404 about something else (here: the fileserver has no /v1/runs) is reported as is,
  // in one line, and uploads nothing.
  const otherScript = `echo ${Math.random()}\n`;
  writeFileSync(join(dir, 'other.sh'), otherScript);
  const other = await runSway(['run', '--image', 'img', 'other.sh'], { cwd: dir, env: { ...env, SWAY_WORKER: fx.server.url } });
  assert.equal(other.code, 125, other.stderr);
  assert.match(other.stderr, /^sway: worker: [^\n]+\n$/);
  assert.equal(await fx.alice.hasScript(sha256(Buffer.from(otherScript))), false, 'no upload for another 404');
});
