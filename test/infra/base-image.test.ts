// The locally built base image (scripts/ensure-base-image.sh, which `npm test` runs
// first) and the quick-start example on it: the image has the config the example relies
// on, its rootfs tarball is cached for benchmarks, and examples/quickstart/app.py really
// prints the svd line with the image's python3, numpy and scipy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { makeTempDir, REPO_ROOT } from '../helpers/tmp.js';
import { runCommand } from '../helpers/cli.js';

const IMAGE = 'localhost/sway/python-base:bookworm';
const TARBALL = '/var/cache/sway-test/python-base-bookworm.tar';
const hasPodman = spawnSync('podman', ['--version'], { stdio: 'ignore' }).status === 0;
const skip = process.getuid?.() !== 0 ? 'needs root (podman)' : !hasPodman ? 'podman is not installed (scripts/setup.sh installs it)' : false;

function imageConfig(): { Env?: string[]; Cmd?: string[] } {
  const r = spawnSync('podman', ['image', 'inspect', IMAGE, '--format', '{{json .Config}}'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `${IMAGE} is missing; run scripts/ensure-base-image.sh\n${r.stderr}`);
  return JSON.parse(r.stdout) as { Env?: string[]; Cmd?: string[] };
}

test('the base image exists with PATH, LANG and CMD set, and its rootfs tarball is cached', { skip }, () => {
  const config = imageConfig();
  assert.ok(config.Env?.some((e) => e.startsWith('PATH=') && e.includes('/usr/bin')), `Env: ${config.Env}`);
  assert.ok(config.Env?.includes('LANG=C.UTF-8'), `Env: ${config.Env}`);
  assert.deepEqual(config.Cmd, ['python3']);
  assert.ok(existsSync(TARBALL), `${TARBALL} is missing; run scripts/ensure-base-image.sh`);
});

test('examples/quickstart/app.py prints the svd line on the base image', { skip }, async (t) => {
  // podman build runs the app in a RUN step and shows its output; no registry, no network.
  const context = await makeTempDir(t, 'sway-quickstart-');
  copyFileSync(join(REPO_ROOT, 'examples', 'quickstart', 'app.py'), join(context, 'app.py'));
  writeFileSync(join(context, 'Dockerfile'), `FROM ${IMAGE}\nWORKDIR /app\nCOPY app.py .\nRUN python3 app.py\n`);
  const tag = `localhost/sway-test/quickstart-check:${randomUUID().slice(0, 8)}`;
  t.after(() => void spawnSync('podman', ['rmi', '--force', tag], { stdio: 'ignore' }));
  // runc, not crun (crun fails on this host's cgroups); nofile within the hard limit,
  // which podman would otherwise exceed.
  const nofile = spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim();
  const r = await runCommand('podman', ['build', '--runtime', 'runc', '--network', 'none', '--ulimit', `nofile=${nofile}:${nofile}`, '--no-cache', '-t', tag, context], { timeoutMs: 300_000 });
  assert.equal(r.code, 0, `podman build failed:\n${r.stdout}\n${r.stderr}`);
  assert.match(`${r.stdout}\n${r.stderr}`, /^svd: u=\(100, 100\), s=\(100,\)$/m);
});

test('the quick-start Dockerfile has the seed shape', () => {
  const dockerfile = readFileSync(join(REPO_ROOT, 'examples', 'quickstart', 'Dockerfile'), 'utf8');
  assert.match(dockerfile, /^FROM localhost\/sway\/python-base:bookworm$/m);
  assert.match(dockerfile, /^WORKDIR \/app$/m);
  assert.match(dockerfile, /^COPY requirements\.txt/m);
  assert.match(dockerfile, /^COPY app\.py/m);
  assert.match(dockerfile, /^CMD \["python3", "app\.py"\]$/m);
  assert.doesNotMatch(dockerfile, /pip install/, 'the requirements step must not need the network');
});
