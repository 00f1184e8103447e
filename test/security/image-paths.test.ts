// Paths that come from an image never lead out of the run's root. A WorkingDir of
// "../../../tmp/x", or a WORKDIR that is a symlink pointing far above the root, must not make
// the worker create, write or chmod anything on the host outside the run's own directories;
// export refuses such a config before publishing, and the worker refuses a hand-made
// manifest that carries one, each with one clear line and exit 125.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { resolveInRoot, type RootNode } from '../../ts/worker/images/in-root.js';
import { checkImageConfig, decodeManifest, emptyImageConfig, encodeManifest } from '../../ts/common/manifest.js';
import { imageConfigOf } from '../../ts/image/archive.js';
import { ImageFormatError } from '../../ts/common/errors.js';
import { sha256 } from '../../ts/common/hash.js';
import { FileserverClient } from '../../ts/common/fileserver-client.js';
import { runSway } from '../helpers/cli.js';
import { makeDockerArchive, makeTar } from '../fixtures/image-archives.js';
import { publishTree } from '../worker/publish.js';
import { CLUSTER_SKIP, startCluster } from './cluster.js';
import { HAVE_RUNTIME, collectRun, startTestWorker } from '../worker/fixtures.js';

/** A root given as path → node, for the resolver alone. */
function rootOf(nodes: Record<string, RootNode>): (p: string) => RootNode | undefined {
  return (p) => (p === '' ? { kind: 'dir' } : nodes[p]);
}

test('resolveInRoot: ".." and symlinks stay inside the root, missing parts are kept, loops and files refused', () => {
  const root = rootOf({
    app: { kind: 'symlink', target: '../../../../../../tmp/escape' },
    abs: { kind: 'symlink', target: '/../../etc' },
    etc: { kind: 'dir' },
    'etc/passwd': { kind: 'other' },
    up: { kind: 'symlink', target: '../../..' },
    loop: { kind: 'symlink', target: 'loop2' },
    loop2: { kind: 'symlink', target: '/loop' },
    srv: { kind: 'dir' },
    'srv/rel': { kind: 'symlink', target: '../etc' },
  });
  assert.equal(resolveInRoot('../../../../../../../../tmp/sway-poc', root), 'tmp/sway-poc');
  assert.equal(resolveInRoot('/app', root), 'tmp/escape');
  assert.equal(resolveInRoot('app/sub/..', root), 'tmp/escape');
  assert.equal(resolveInRoot('abs/x', root), 'etc/x');
  assert.equal(resolveInRoot('up', root), '');
  assert.equal(resolveInRoot('up/../../etc', root), 'etc');
  assert.equal(resolveInRoot('srv/rel/passwd', root), 'etc/passwd');
  assert.equal(resolveInRoot('/srv//./x/', root), 'srv/x');
  assert.equal(resolveInRoot('loop', root), undefined, 'a symlink loop');
  assert.equal(resolveInRoot('etc/passwd/x', root), undefined, 'a file in the middle');
  assert.equal(resolveInRoot('', root), '');
});

test('an image config whose WorkingDir is relative or climbs with ".." is refused at export and on decode', () => {
  for (const wd of ['../../../../tmp/sway-poc', 'app', '/app/../../etc', '/app/..', '/a\0b']) {
    assert.throws(() => imageConfigOf({ WorkingDir: wd }), ImageFormatError, `export of WorkingDir ${JSON.stringify(wd)}`);
    // A hand-made manifest carries what it likes: the decoder checks again.
    const blob = gzipSync(Buffer.from(JSON.stringify({ v: 1, config: { ...emptyImageConfig(), workingDir: wd }, entries: [['', 'd', 0o755, 0, 0, 0, 0, null, null, null]] })));
    assert.throws(() => decodeManifest(blob), /WorkingDir/, `decode of WorkingDir ${JSON.stringify(wd)}`);
  }
  assert.throws(() => checkImageConfig({ ...emptyImageConfig(), user: 'root\n' }), ImageFormatError);
  assert.throws(() => checkImageConfig({ ...emptyImageConfig(), cmd: ['sh', '-c', 'a\0b'] }), ImageFormatError);
  assert.equal(imageConfigOf({ WorkingDir: '/app//./x/' }).workingDir, '/app/x');
  assert.equal(imageConfigOf({ WorkingDir: '/' }).workingDir, '/');
});

test('an escaping WorkingDir or WORKDIR symlink writes nothing outside the run: export refused, hand-made manifest refused, symlink resolved inside', { skip: CLUSTER_SKIP, timeout: 600_000 }, async (t) => {
  const cluster = await startCluster(t);
  const tag = randomUUID().slice(0, 8);
  const hostTarget = `/tmp/sway-poc-${tag}`;
  const linkTarget = `/tmp/sway-link-${tag}`;
  t.after(async () => { await rm(hostTarget, { recursive: true, force: true }); await rm(linkTarget, { recursive: true, force: true }); });
  const workerData = join(cluster.home, 'worker');
  const modeBefore = statSync(workerData).mode & 0o7777;
  const escaping = `../../../../../../../../../../..${hostTarget}`;

  // 1. sway export of an archive with that config: one line, 125, nothing published.
  const archive = join(cluster.dir, 'evil.tar');
  await writeFile(archive, makeDockerArchive([makeTar([{ name: 'etc/', type: 'dir' }, { name: 'etc/hosts', content: '127.0.0.1 localhost\n' }])], { config: { Cmd: ['/bin/sh'], WorkingDir: escaping } }));
  const exported = await runSway(['export', '--image-archive', archive, '--tag', 'evil-archive'], { env: cluster.env, timeoutMs: 120_000 });
  assert.equal(exported.code, 125, exported.stderr + exported.stdout);
  // Progress lines may come first; the failure is one line, the last.
  assert.match(exported.stderr.trim().split('\n').pop()!, /^sway: image WorkingDir .* must be an absolute path/);
  assert.doesNotMatch(exported.stderr, /\n\s+at /);

  // 2. The same config in a manifest made by hand, past export's checks: the fileserver
  // refuses to name it, and a run of it by id is refused too, with nothing written.
  const token = (JSON.parse(readFileSync(cluster.env.SWAY_CONFIG!, 'utf8')) as { token: string }).token;
  const client = new FileserverClient({ url: cluster.fileserverUrl, token, caFile: cluster.ca });
  t.after(() => client.close());
  await assert.rejects(publishTree(client, cluster.rootfs, 'owner/evil:latest', { workingDir: escaping }), /WorkingDir/);
  const blob = encodeManifest({ version: 1, config: { ...emptyImageConfig(), workingDir: escaping }, entries: [{ path: '', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 }] });
  const id = sha256(blob);
  await client.putBlob(id, blob, blob.length);
  const project = join(cluster.dir, 'project');
  await mkdir(project);
  await writeFile(join(project, 'poc.sh'), '#!/bin/sh\necho ran\n');
  const refused = await runSway(['run', '--image', id, 'poc.sh'], { cwd: project, env: cluster.env, timeoutMs: 120_000 });
  assert.equal(refused.code, 125, refused.stderr + refused.stdout);
  // The fileserver serves no image it cannot decode, so the worker never gets this far.
  assert.match(refused.stderr.trim(), /^sway: [^\n]*image[^\n]*$/);
  assert.equal(existsSync(hostTarget), false, `${hostTarget} was created on the host`);

  // 3. A WORKDIR that is a symlink climbing out of the root: the script lands inside the run.
  const linked = join(cluster.dir, 'linked-rootfs');
  execFileSync('cp', ['-a', `${cluster.rootfs}/.`, linked]);
  await rm(join(linked, 'app'), { recursive: true, force: true });
  await symlink(`../../../../../../../../..${linkTarget}`, join(linked, 'app'));
  await publishTree(client, linked, 'owner/linked:latest', { workingDir: '/app' });
  await writeFile(join(project, 'where.sh'), '#!/bin/sh\necho "in $(pwd -P)"\nls -ld /app\n');
  const ran = await runSway(['run', '--image', 'owner/linked:latest', 'where.sh'], { cwd: project, env: cluster.env, timeoutMs: 120_000 });
  assert.equal(ran.code, 0, ran.stderr + ran.stdout);
  assert.match(ran.stdout, new RegExp(`in ${linkTarget}\\n`));
  assert.match(ran.stdout, /\/app -> /, 'the image\'s symlink stays a symlink');
  assert.equal(existsSync(linkTarget), false, `${linkTarget} was created on the host`);

  assert.equal(statSync(workerData).mode & 0o7777, modeBefore, 'the worker\'s data directory mode changed');
});

test('the runner itself places a script inside the run whatever WorkingDir an image provider hands it', { skip: HAVE_RUNTIME ? false : 'needs root and busybox', timeout: 120_000 }, async (t) => {
  const hostTarget = `/tmp/sway-poc-${randomUUID().slice(0, 8)}`;
  t.after(() => rm(hostTarget, { recursive: true, force: true }));
  const w = await startTestWorker(t, { images: (rootfs) => ({ evil: { dir: rootfs, config: { workingDir: `../../../../../../../../../..${hostTarget}` } } }) });
  const script = w.addScript('#!/bin/sh\necho ran\n');
  const run = collectRun(w.client(), { image: 'evil', script: { hash: script.hash, name: 'poc.sh' } });
  await assert.rejects(run, /WorkingDir/);
  assert.equal(existsSync(hostTarget), false, `${hostTarget} was created on the host`);
});
