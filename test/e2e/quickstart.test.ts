// The seed's quick start, literally, on two hosts: the fileserver in one network
// namespace, the worker (and the developer's CLI) in another, joined only by a veth pair.
// `sway export` builds examples/quickstart with podman and publishes it; `sway run app.py`
// prints the SVD line; an edited app.py runs without a re-export; 8 concurrent runs each
// print only their own token. (test/worker/quickstart.test.ts covers the same app on one
// machine with `sway up`, including stderr, exit status and run isolation.)
//
// Needs what `npm test` installs: the python3+scipy base image, the FUSE addon, runc.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { createHostPair } from '../helpers/netns.js';
import { makeTempDir, REPO_ROOT } from '../helpers/tmp.js';
import { runSway } from '../helpers/cli.js';
import { ADDON_PATH } from '../../ts/worker/fuse/native.js';

const BASE_IMAGE = 'localhost/sway/python-base:bookworm';

function baseImagePresent(): boolean {
  try { execFileSync('podman', ['image', 'exists', BASE_IMAGE], { stdio: 'ignore' }); return true; } catch { return false; }
}

const skip = process.getuid?.() === 0 && existsSync(ADDON_PATH) && baseImagePresent()
  ? false : `needs root, the FUSE addon and ${BASE_IMAGE} (scripts/ensure-base-image.sh)`;

test('quick start on two hosts: export once, run, edit, run again', { skip, timeout: 1_200_000 }, async (t) => {
  const dir = await makeTempDir(t, 'sway-quickstart-');
  const net = await createHostPair(t);
  const fsHost = net.b;
  const workerHost = net.a;

  // The fileserver host: users first (a database operation), then the server.
  const fsData = join(dir, 'fileserver');
  const addUser = async (name: string, role: string) => {
    const r = await runSway(['fileserver', 'adduser', name, '--role', role, '--data-dir', fsData]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim().split('\n').pop()!.trim();
  };
  const aliceToken = await addUser('alice', 'user');
  const workerToken = await addUser('worker-a', 'worker');
  const fileserver = net.spawnSway(fsHost, ['fileserver', '--data-dir', fsData, '--host', fsHost.address, '--port', '8443', '--san', fsHost.address]);
  const fsLine = await fileserver.waitForOutput(/fileserver listening on (\S+) ca=(\S+)/, 120_000);
  const fileserverUrl = fsLine[1]!;
  const fileserverCa = fsLine[2]!;
  assert.equal(fileserverUrl, `https://${fsHost.address}:8443`);

  // The worker host reaches the fileserver only over the veth link.
  const workerData = join(dir, 'worker');
  const worker = net.spawnSway(workerHost, ['worker', '--fileserver', fileserverUrl, '--token', workerToken, '--ca', fileserverCa,
    '--data-dir', workerData, '--host', workerHost.address, '--port', '8444', '--san', workerHost.address]);
  const wLine = await worker.waitForOutput(/worker listening on (\S+) ca=(\S+)/, 120_000);
  const workerUrl = wLine[1]!;

  // Each server made its own CA; the developer trusts both.
  const caBundle = join(dir, 'ca-bundle.pem');
  writeFileSync(caBundle, readFileSync(fileserverCa, 'utf8') + readFileSync(wLine[2]!, 'utf8'));
  const env = { SWAY_FILESERVER: fileserverUrl, SWAY_WORKER: workerUrl, SWAY_TOKEN: aliceToken, SWAY_CA: caBundle, SWAY_USERNAME: 'alice' };

  const project = join(dir, 'quickstart');
  cpSync(join(REPO_ROOT, 'examples', 'quickstart'), project, { recursive: true });

  const exported = await net.execSway(workerHost, ['export', '--json'], { cwd: project, env, timeoutMs: 900_000 });
  assert.equal(exported.code, 0, exported.stderr + exported.stdout);
  const summary = JSON.parse(exported.stdout.trim().split('\n').pop()!) as { image: string; id: string; files: number };
  assert.equal(summary.image, 'alice/quickstart:latest');
  assert.ok(summary.files > 1000, `a python3+scipy image has thousands of files, got ${summary.files}`);
  t.after(() => { try { execFileSync('podman', ['rmi', '-f', 'localhost/alice/quickstart:latest'], { stdio: 'ignore' }); } catch { /* built under another name */ } });

  const run = (args: string[]) => net.execSway(workerHost, ['run', ...args], { cwd: project, env, timeoutMs: 600_000 });

  const first = await run(['app.py']);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.stdout, 'svd: u=(100, 100), s=(100,)\n');

  // Edit and run again: no re-export, the new script is what runs.
  writeFileSync(join(project, 'app.py'), readFileSync(join(project, 'app.py'), 'utf8') + 'print("edited: sum of s is positive:", bool(s.sum() > 0))\n');
  const edited = await run(['app.py']);
  assert.equal(edited.code, 0, edited.stderr);
  assert.equal(edited.stdout, 'svd: u=(100, 100), s=(100,)\nedited: sum of s is positive: True\n');

  // 8 concurrent runs, each with its own token.
  writeFileSync(join(project, 'token.py'), 'import sys, time\nopen("/tmp/token", "w").write(sys.argv[1])\ntime.sleep(0.5)\nprint(open("/tmp/token").read())\n');
  const tokens = Array.from({ length: 8 }, (_, i) => `token-${i}-${Math.random().toString(36).slice(2)}`);
  const results = await Promise.all(tokens.map((tok) => run(['token.py', tok])));
  results.forEach((r, i) => {
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${tokens[i]}\n`);
  });

  const runs = await net.execSway(workerHost, ['runs', '--json', '--limit', '50'], { cwd: project, env });
  assert.equal(runs.code, 0, runs.stderr);
  const logged = (JSON.parse(runs.stdout) as { runs: { user: string }[] }).runs;
  assert.ok(logged.length >= 10 && logged.every((r) => r.user === 'alice'), 'every run is in the run log, as alice\'s');

  await worker.stop(60_000);
  await fileserver.stop();
});
