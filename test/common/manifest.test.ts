// The manifest codec's validation, entry by entry: what a worker accepts from a blob it
// fetched. Clean paths only (no empty, '.' or '..' component, no NUL; names that merely
// start with dots are fine), known entry types only (not whatever an object's prototype
// answers to), whole non-negative numbers (ids 32-bit); a round trip keeps every field;
// and the decoded table (what a worker loads) holds the same entries, indexed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { decodeManifest, encodeManifest, isCleanRelativePath, emptyImageConfig, readManifestTable, tableEntry, ENTRY_KINDS, type Manifest } from '../../ts/common/manifest.js';
import { EMPTY_HASH } from '../../ts/common/hash.js';

const HASH = 'b'.repeat(64);

test('clean relative paths: dots inside names are fine, empty, "." and ".." components and NUL are not', () => {
  for (const ok of ['', 'a', 'a/b', '.a', '..a', 'a..', 'a/.b/c', '...', 'a/b../c']) assert.equal(isCleanRelativePath(ok), true, JSON.stringify(ok));
  for (const bad of ['/', '/a', 'a/', 'a//b', '.', '..', './a', 'a/.', 'a/..', 'a/./b', 'a/../b', '../a', 'a\0b', '\0']) {
    assert.equal(isCleanRelativePath(bad), false, JSON.stringify(bad));
  }
});

function rawManifest(entries: unknown[]): Buffer {
  return gzipSync(Buffer.from(JSON.stringify({ v: 1, config: emptyImageConfig(), entries })));
}

const ROOT = ['', 'd', 0o755, 0, 0, 1, 0, null, null, null];

test('entries with a bad type or number are refused with the entry named', () => {
  const cases: [unknown[], RegExp][] = [
    [['x', 'constructor', 0o644, 0, 0, 1, 0, EMPTY_HASH, null, null], /entry 1 has a bad path or type/],
    [['x', '__proto__', 0o644, 0, 0, 1, 0, EMPTY_HASH, null, null], /entry 1 has a bad path or type/],
    [['x', 'f', -1, 0, 0, 1, 0, EMPTY_HASH, null, null], /"x" has a bad mode/],
    [['x', 'f', 0o644, 1.5, 0, 1, 0, EMPTY_HASH, null, null], /"x" has a bad uid/],
    [['x', 'f', 0o644, 0, '0', 1, 0, EMPTY_HASH, null, null], /"x" has a bad gid/],
    [['x', 'f', 0o644, 2 ** 32, 0, 1, 0, EMPTY_HASH, null, null], /"x" has a bad uid/],
    [['x', 'f', 0o644, 0, 2 ** 32, 1, 0, EMPTY_HASH, null, null], /"x" has a bad gid/],
    [['x', 'f', 0o644, 0, 0, 2 ** 60, 0, EMPTY_HASH, null, null], /"x" has a bad mtime/],
    [['x', 'f', 0o644, 0, 0, 1, -5, EMPTY_HASH, null, null], /"x" has a bad size/],
    [['x', 'f', 0o10644, 0, 0, 1, 0, EMPTY_HASH, null, null], /"x" has a bad mode/],
    [['a/../x', 'f', 0o644, 0, 0, 1, 0, EMPTY_HASH, null, null], /not a clean relative path/],
  ];
  for (const [entry, why] of cases) assert.throws(() => decodeManifest(rawManifest([ROOT, entry])), why, JSON.stringify(entry));
  // A negative mtime (before 1970) is a real timestamp.
  assert.equal(decodeManifest(rawManifest([ROOT, ['x', 'f', 0o644, 0, 0, -86400, 0, EMPTY_HASH, null, null]])).entries[1]!.mtime, -86400);
});

test('a manifest survives encode and decode with every field', () => {
  const m: Manifest = {
    version: 1,
    config: { env: ['A=1'], entrypoint: ['/bin/sh'], cmd: ['-c', 'true'], workingDir: '/w', user: '1000:1000' },
    entries: [
      { path: '', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 5, size: 0 },
      { path: '..hidden', type: 'file', mode: 0o4755, uid: 3, gid: 4, mtime: 6, size: 7, hash: HASH, xattrs: { 'security.capability': 'AQID' } },
      { path: 'bin', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 7, size: 7, target: 'usr/bin' },
      { path: 'link', type: 'hardlink', mode: 0o4755, uid: 3, gid: 4, mtime: 6, size: 7, hash: HASH, target: '..hidden' },
    ],
  };
  assert.deepEqual(decodeManifest(encodeManifest(m)), m);
});

test('the tree is checked: sorted unique paths, a directory parent for every entry, hard links to files only', () => {
  const dir = (p: string) => [p, 'd', 0o755, 0, 0, 1, 0, null, null, null];
  const file = (p: string) => [p, 'f', 0o644, 0, 0, 1, 0, EMPTY_HASH, null, null];
  const link = (p: string, to: string) => [p, 'h', 0o644, 0, 0, 1, 0, EMPTY_HASH, to, null];
  const cases: [unknown[][], RegExp][] = [
    [[ROOT, file('b'), file('a')], /not sorted and unique at "a"/],
    [[ROOT, file('a'), file('a')], /not sorted and unique at "a"/],
    [[ROOT, file('a/x')], /"a\/x" has no parent directory/],
    [[ROOT, file('a'), file('a/x')], /"a\/x" has no parent directory/],
    [[ROOT, dir('a'), link('a-b', 'a')], /hard link "a-b" does not point at a file/],
    [[ROOT, dir('a'), link('b', 'a/missing')], /hard link "b" does not point at a file/],
    [[file('a')], /has no root directory entry|no parent directory/],
  ];
  for (const [entries, why] of cases) assert.throws(() => decodeManifest(rawManifest(entries)), why, JSON.stringify(entries.map((e) => e[0])));
  // A parent found past a sibling that sorts between it and its child ('a-b' < 'a/x').
  const ok = decodeManifest(rawManifest([ROOT, dir('a'), file('a-b'), file('a.c'), file('a/x'), link('z', 'a/x')]));
  assert.deepEqual(ok.entries.map((e) => e.path), ['', 'a', 'a-b', 'a.c', 'a/x', 'z']);
});

test('a decoded table holds the entries by row, with parents, hard links\' files and chunked sizes by index', () => {
  const big = 3 * 256 * 1024;
  const m: Manifest = {
    version: 1,
    config: { env: ['A=1'], entrypoint: null, cmd: ['python3'], workingDir: '/w', user: '' },
    entries: [
      { path: '', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 5, size: 0 },
      { path: 'a', type: 'dir', mode: 0o700, uid: 1, gid: 2, mtime: 5, size: 0 },
      { path: 'a-b', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 5, size: big, hash: HASH },
      { path: 'a/x', type: 'file', mode: 0o4755, uid: 3, gid: 4, mtime: 6, size: 7, hash: 'c'.repeat(64), xattrs: { 'security.capability': 'AQID' } },
      { path: 'a/y', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 7, size: 1, target: 'x' },
      { path: 'z', type: 'hardlink', mode: 0o4755, uid: 3, gid: 4, mtime: 6, size: 7, hash: 'c'.repeat(64), target: 'a/x' },
    ],
    chunks: { chunkSize: 256 * 1024, byBlob: { [HASH]: ['1', '2', '3'].map((c) => c.repeat(64)) } },
  };
  const t = readManifestTable(encodeManifest(m));
  assert.deepEqual(t.paths.map((_, i) => tableEntry(t, i)), m.entries);
  assert.deepEqual(decodeManifest(encodeManifest(m)), m, 'decodeManifest is the same table as entry objects');
  assert.deepEqual(t.config, m.config);
  assert.deepEqual([...t.parents], [-1, 0, 0, 1, 1, 0]);
  assert.deepEqual([...t.linkTo], [-1, -1, -1, -1, -1, 3]);
  assert.deepEqual([...t.kinds].map((k) => ENTRY_KINDS[k]), m.entries.map((e) => e.type));
  assert.deepEqual(t.chunks, m.chunks);
  assert.deepEqual([...t.chunkedSizes], [[HASH, big]]);
});
