// `sway export` end to end: a tiny base image made here (Debian's static busybox plus a
// few files, `podman import`), a Dockerfile whose RUN steps delete, replace, re-mode and
// hard-link files of the base, built by real podman (runc), exported by the real CLI
// through a real fileserver over TLS. Every entry the fileserver serves is compared with
// podman's own view of the image (`podman image mount`): type, mode, uid, gid, size,
// content hash, link target, and hard-link groups. Then: a one-file change re-exports
// one blob plus the manifest; `podman save` archives (docker and OCI) give the same
// image id; bad input exits 125 with one line and moves no name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from '../helpers/tmp.js';
import { runSway } from '../helpers/cli.js';
import { writeBusyboxRootfs } from '../helpers/busybox-rootfs.js';
import { startFixture } from '../fileserver/fixture.js';
import { decodeManifest, type ManifestEntry } from '../../ts/common/manifest.js';
import { readExportedImage } from '../../ts/image/exported.js';

const haveTools = spawnSync('podman', ['--version']).status === 0 && existsSync('/bin/busybox') && process.getuid?.() === 0;

function sh(cmd: string, args: string[], input?: Buffer): string {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function makeBaseRootfs(root: string): void {
  writeBusyboxRootfs(root, {
    applets: ['sh', 'ls', 'rm', 'ln', 'echo', 'mkdir', 'chmod', 'touch', 'cat', 'cp', 'true', 'false'],
    dirs: ['data/dir/sub'],
    files: {
      'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n',
      'etc/group': 'root:x:0:\n',
      'data/a.txt': 'a\n', 'data/b.txt': 'b\n', 'data/c.txt': 'c\n', 'data/dir/sub/x': 'x\n',
      'usr/lib/py.typed': '',
    },
  });
}

interface Seen { type: string; mode: number; uid: number; gid: number; size: number; hash?: string; target?: string; ino?: number }

/** podman's view: walk the mounted image rootfs. */
function walkMounted(root: string): Map<string, Seen> {
  const out = new Map<string, Seen>();
  const visit = (rel: string) => {
    const abs = rel ? join(root, rel) : root;
    const st = lstatSync(abs);
    const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
    if (st.isDirectory()) {
      out.set(rel, { type: 'dir', ...base, size: 0 });
      for (const n of readdirSync(abs)) visit(rel ? `${rel}/${n}` : n);
    } else if (st.isSymbolicLink()) {
      const target = readlinkSync(abs);
      out.set(rel, { type: 'symlink', ...base, size: Buffer.byteLength(target), target });
    } else if (st.isFile()) {
      out.set(rel, { type: 'file', ...base, size: st.size, hash: createHash('sha256').update(readFileSync(abs)).digest('hex'), ino: st.nlink > 1 ? st.ino : undefined });
    } else {
      out.set(rel, { type: 'other', ...base, size: 0 });
    }
  };
  visit('');
  return out;
}

test('sway export: podman build → fileserver over TLS matches podman image mount; re-export is one blob; bad input publishes nothing', { skip: !haveTools && 'needs root, podman and /bin/busybox', timeout: 900_000 }, async (t) => {
  const tmp = await makeTempDir(t, 'sway-export-');
  const fx = await startFixture(t);
  const suffix = randomBytes(4).toString('hex');
  const baseRef = `localhost/sway-test/export-base-${suffix}:1`;
  const podmanRefs: string[] = [baseRef];
  t.after(() => { for (const r of podmanRefs.reverse()) spawnSync('podman', ['rmi', '--force', r], { stdio: 'ignore' }); });

  const rootfs = join(tmp, 'rootfs');
  makeBaseRootfs(rootfs);
  const baseTar = spawnSync('tar', ['-C', rootfs, '--numeric-owner', '-c', '.'], { maxBuffer: 64 * 1024 * 1024 });
  assert.equal(baseTar.status, 0);
  sh('podman', ['import', '--change', 'CMD ["/bin/sh"]', '-', baseRef], baseTar.stdout);

  const app = join(tmp, `app-${suffix}`);
  mkdirSync(app);
  writeFileSync(join(app, 'Dockerfile'), [
    `FROM ${baseRef}`,
    'RUN rm /data/a.txt && rm -rf /data/dir && echo new-b > /data/b.txt && ln /data/c.txt /data/c-link && chmod 4755 /data/c.txt',
    'RUN rm /etc/group && mkdir /etc/group && echo g > /etc/group/inner && rm /usr/lib/py.typed && mkdir /usr/lib/py.typed && ln -s ../data/b.txt /sym && touch /empty && ln /bin/busybox /bin/bb2',
    'ENV GREETING=hello',
    'WORKDIR /data',
    'COPY app.txt /app/app.txt',
    'CMD ["/bin/sh", "-c", "cat /app/app.txt"]',
    '',
  ].join('\n'));
  writeFileSync(join(app, 'app.txt'), 'version 1\n');
  const env = { SWAY_FILESERVER: fx.server.url, SWAY_TOKEN: fx.tokens.alice, SWAY_CA: fx.server.caCertPath, SWAY_CACHE_DIR: join(tmp, 'cache') };
  const name = `alice/app-${suffix}:latest`;

  const first = await runSway(['export', app, '--json'], { env, timeoutMs: 600_000 });
  assert.equal(first.code, 0, first.stderr);
  const summary = JSON.parse(first.stdout) as { image: string; id: string; files: number; blobsUploaded: number; podmanImage: string };
  podmanRefs.push(summary.podmanImage);
  assert.equal(summary.image, name);
  assert.deepEqual(readExportedImage(app), { image: name, id: summary.id });

  // What the fileserver serves, by name.
  const { id, blob } = await fx.alice.getManifest(name);
  assert.equal(id, summary.id);
  const manifest = decodeManifest(blob);
  assert.deepEqual(manifest.config.env.includes('GREETING=hello'), true);
  assert.equal(manifest.config.workingDir, '/data');
  assert.deepEqual(manifest.config.cmd, ['/bin/sh', '-c', 'cat /app/app.txt']);
  const served = new Map<string, ManifestEntry>(manifest.entries.map((e) => [e.path, e]));
  for (const e of manifest.entries) {
    if (e.type !== 'file' && e.type !== 'hardlink') continue;
    const { content } = await fx.alice.fetchFile(`${name}/${e.path}`);   // verified against e.hash by the client
    assert.equal(content.length, e.size, e.path);
  }

  // podman's view of the same image.
  const mountPoint = sh('podman', ['image', 'mount', summary.podmanImage]).trim();
  let seen: Map<string, Seen>;
  try { seen = walkMounted(mountPoint); } finally { spawnSync('podman', ['image', 'unmount', summary.podmanImage], { stdio: 'ignore' }); }

  const differences: string[] = [];
  for (const [path, s] of seen) {
    const e = served.get(path);
    if (!e) { differences.push(`${path}: only in podman (${s.type})`); continue; }
    const type = e.type === 'hardlink' ? 'file' : e.type;
    const got = { type, mode: e.mode, uid: e.uid, gid: e.gid, size: e.size, hash: e.hash, target: e.type === 'symlink' ? e.target : undefined };
    const want = { type: s.type, mode: s.mode, uid: s.uid, gid: s.gid, size: s.size, hash: s.hash, target: s.target };
    if (JSON.stringify(got) !== JSON.stringify(want)) differences.push(`${path}: served ${JSON.stringify(got)} podman ${JSON.stringify(want)}`);
  }
  for (const path of served.keys()) if (!seen.has(path)) differences.push(`${path}: only served`);
  // Hard-link groups: paths sharing an inode in podman's view are one file + hardlinks to it.
  const groups = new Map<number, string[]>();
  for (const [path, s] of seen) if (s.ino !== undefined) groups.set(s.ino, [...(groups.get(s.ino) ?? []), path]);
  for (const paths of groups.values()) {
    const files = paths.map((p) => served.get(p)!).filter(Boolean);
    const roots = new Set(files.map((e) => (e.type === 'hardlink' ? e.target : e.path)));
    if (roots.size !== 1) differences.push(`hard-link group ${paths.join(', ')} is not one inode in the manifest`);
  }
  assert.deepEqual(differences, []);
  // The cases the Dockerfile set up really are there.
  assert.equal(served.has('data/a.txt'), false);
  assert.equal(served.has('data/dir'), false);
  assert.equal(served.get('etc/group')?.type, 'dir');
  assert.equal(served.get('usr/lib/py.typed')?.type, 'dir');
  assert.equal(served.get('empty')?.size, 0);
  assert.equal(served.get('data/c.txt')?.mode, 0o4755);
  // 'data/c-link' sorts before 'data/c.txt', so it holds the content and c.txt links to it.
  assert.equal(served.get('data/c-link')?.type, 'file');
  assert.deepEqual([served.get('data/c.txt')?.type, served.get('data/c.txt')?.target], ['hardlink', 'data/c-link']);
  assert.equal(served.get('sym')?.target, '../data/b.txt');

  // The same image saved by podman, read as archives, is the same image id.
  for (const format of ['docker-archive', 'oci-archive']) {
    const archive = join(tmp, `image-${format}.tar`);
    sh('podman', ['image', 'save', '--format', format, '-o', archive, summary.podmanImage]);
    const viaArchive = await runSway(['export', '--image-archive', archive, '--tag', `app-${suffix}:${format}`, '--json'], { env, timeoutMs: 300_000 });
    assert.equal(viaArchive.code, 0, viaArchive.stderr);
    assert.equal((JSON.parse(viaArchive.stdout) as { id: string }).id, summary.id, format);
  }

  // One file changed: one file blob plus the manifest.
  writeFileSync(join(app, 'app.txt'), 'version 2\n');
  const second = await runSway(['export', app, '--json'], { env, timeoutMs: 600_000 });
  assert.equal(second.code, 0, second.stderr);
  const s2 = JSON.parse(second.stdout) as { id: string; blobsUploaded: number; bytesUploaded: number };
  assert.notEqual(s2.id, summary.id);
  assert.equal(s2.blobsUploaded, 2);
  assert.equal((await fx.alice.resolveImage(name)).id, s2.id);
  const { content } = await fx.alice.fetchFile(`${name}/app/app.txt`);
  assert.equal(content.toString(), 'version 2\n');

  // Bad input: one line, exit 125, the name does not move.
  const expectRefused = async (args: string[], re: RegExp) => {
    const r = await runSway(args, { env, timeoutMs: 600_000 });
    assert.equal(r.code, 125, `${args.join(' ')}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('sway:'));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, re);
    assert.equal((await fx.alice.resolveImage(name)).id, s2.id, 'name unchanged');
  };
  const empty = join(tmp, 'empty'); mkdirSync(empty);
  await expectRefused(['export', empty, '--tag', name], /no Dockerfile/);
  writeFileSync(join(app, 'Dockerfile'), `FROM ${baseRef}\nRUN false\n`);
  await expectRefused(['export', app], /build failed/);
  const corrupt = join(tmp, 'corrupt.tar');
  const good = readFileSync(join(tmp, 'image-docker-archive.tar'));
  writeFileSync(corrupt, good.subarray(0, Math.floor(good.length / 2)));
  await expectRefused(['export', '--image-archive', corrupt, '--tag', name], /truncated|not a valid tar|lacks|neither/);
});
