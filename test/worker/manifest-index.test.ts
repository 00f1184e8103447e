// Path lookups the worker does in a manifest instead of reading the mount: symlinks
// (relative, absolute, in directory components, loops), hard links, absent paths, in a
// decoded ManifestTable; and the manifest store's on-disk copies
// (verified on read, refetched when corrupt, never stored when they do not decode).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { ManifestIndex } from '../../ts/worker/images/manifest-index.js';
import { ManifestStore } from '../../ts/worker/images/manifest-store.js';
import { ImageFormatError } from '../../ts/common/errors.js';
import { decodeManifest, emptyImageConfig, encodeManifest, readManifestTable, type Manifest, type ManifestEntry } from '../../ts/common/manifest.js';
import { sha256, EMPTY_HASH } from '../../ts/common/hash.js';
import { makeTempDir } from '../helpers/tmp.js';

const H = (c: string) => sha256(c);
function manifest(entries: Omit<ManifestEntry, 'mode' | 'uid' | 'gid' | 'mtime'>[]): Manifest {
  return { version: 1, config: emptyImageConfig(), entries: entries.map((e) => ({ mode: 0o755, uid: 0, gid: 0, mtime: 0, ...e })) };
}

const M = manifest([
  { path: '', type: 'dir', size: 0 },
  { path: 'etc', type: 'dir', size: 0 },
  { path: 'etc/group', type: 'hardlink', size: 3, hash: H('grp'), target: 'usr/share/group' },
  { path: 'etc/loop', type: 'symlink', size: 4, target: 'loop' },
  { path: 'etc/passwd', type: 'symlink', size: 20, target: '../usr/share/passwd' },
  { path: 'etc/shadow', type: 'symlink', size: 12, target: '/etc/missing' },
  { path: 'lib', type: 'symlink', size: 7, target: 'usr/lib' },
  { path: 'usr', type: 'dir', size: 0 },
  { path: 'usr/lib', type: 'dir', size: 0 },
  { path: 'usr/lib/os-release', type: 'file', size: 2, hash: H('os') },
  { path: 'usr/share', type: 'dir', size: 0 },
  { path: 'usr/share/group', type: 'file', size: 3, hash: H('grp') },
  { path: 'usr/share/passwd', type: 'file', size: 0, hash: EMPTY_HASH },
]);

test('files are found through relative and absolute symlinks, in any component, and hard links', () => {
  const idx = new ManifestIndex(readManifestTable(encodeManifest(M)));
  assert.equal(idx.resolveFile('etc/passwd')?.path, 'usr/share/passwd');
  assert.equal(idx.resolveFile('etc/group')?.path, 'usr/share/group');
  assert.equal(idx.resolveFile('lib/os-release')?.path, 'usr/lib/os-release');
  assert.equal(idx.resolveFile('etc/../usr/lib/os-release')?.path, 'usr/lib/os-release');
  assert.equal(idx.resolveFile('etc/shadow'), undefined);
  assert.equal(idx.resolveFile('etc/loop'), undefined, 'a symlink loop ends');
  assert.equal(idx.resolveFile('etc'), undefined, 'a directory is not a file');
  assert.equal(idx.resolveFile('nope/passwd'), undefined);
  assert.equal(idx.entry('usr/lib')?.type, 'dir');
  // What the runner reads of an entry: owner, mode, type, content hash, link target.
  for (const want of M.entries) assert.deepEqual(idx.entry(want.path), want, want.path);
});

test('every entry is found by its path, whatever order the manifest was built in', () => {
  // Names around the sort order's edges: '-' (0x2d) sorts before '/' (0x2f), so 'a-b' lies between 'a' and 'a/x'.
  const names = ['a', 'a-b', 'a/x', 'a/x-1', 'a/x/y', 'a.b', 'a0', 'b', 'é', 'z'];
  const entries = [{ path: '', type: 'dir' as const, size: 0 }, ...names.map((path) => ({ path, type: 'dir' as const, size: 0 }))];
  for (const built of [entries, [...entries].reverse()]) {
    const idx = new ManifestIndex(readManifestTable(encodeManifest(manifest(built))));
    for (const e of entries) assert.equal(idx.entry(e.path)?.path, e.path, `${JSON.stringify(e.path)} found`);
    for (const absent of ['a/', 'a-', 'a/x/z', '0', 'zz', 'a/x-']) assert.equal(idx.entry(absent), undefined, `${absent} absent`);
  }
});

test('the manifest store keeps verified copies and refetches a corrupt one', async (t) => {
  const dir = await makeTempDir(t, 'sway-manifests-');
  const blob = encodeManifest(M);
  const id = sha256(blob);
  let fetches = 0;
  const store = new ManifestStore(dir, async () => { fetches++; return blob; }, decodeManifest);
  assert.equal((await store.get(id)).entries.length, M.entries.length);
  assert.equal((await new ManifestStore(dir, async () => { throw new Error('must not fetch'); }, decodeManifest).get(id)).entries.length, M.entries.length, 'a restarted worker reads it from disk');
  assert.equal(fetches, 1);
  await writeFile(join(dir, id), Buffer.from('corrupt'));
  await store.get(id);
  assert.equal(fetches, 2);
  assert.deepEqual(await readFile(join(dir, id)), blob);
  await assert.rejects(store.get('not-a-hash'), /not an image id/);
  const liar = new ManifestStore(dir, async () => Buffer.from('garbage'), decodeManifest);
  await assert.rejects(liar.get('a'.repeat(64)), /manifest hash mismatch/);
  const other = encodeManifest(manifest([{ path: '', type: 'dir', size: 0 }]));
  await assert.rejects(new ManifestStore(dir, async () => other, decodeManifest).get('b'.repeat(64)), /manifest hash mismatch/, 'a valid manifest under the wrong id is refused');
});

test('a manifest that does not decode is refused and not stored', async (t) => {
  const dir = await makeTempDir(t, 'sway-manifests-');
  const notJson = gzipSync(Buffer.from('{"v":1,"entries":['));
  const store = new ManifestStore(dir, async () => notJson, readManifestTable);
  await assert.rejects(store.get(sha256(notJson)), ImageFormatError);
  assert.deepEqual(await readdir(dir).catch(() => []), [], 'nothing stored');
});
