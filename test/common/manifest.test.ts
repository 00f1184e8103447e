// The manifest codec's validation, entry by entry: what a worker accepts from a blob it
// fetched. Clean paths only (no empty, '.' or '..' component, no NUL; names that merely
// start with dots are fine), known entry types only (not whatever an object's prototype
// answers to), whole non-negative numbers (ids 32-bit); a round trip keeps every field;
// and the decoded table (what a worker loads) holds the same entries, indexed. The bounds
// a hand-made manifest could break (the native tree trusts what decoding lets through):
// one size per content hash, sizes, path and name lengths, symlink targets, xattrs, the
// entry count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import {
  decodeManifest, encodeManifest, isCleanRelativePath, emptyImageConfig, readManifestTable, tableEntry, ENTRY_KINDS, type Manifest,
  MAX_FILE_SIZE, MAX_MANIFEST_ENTRIES, MAX_XATTRS, MAX_XATTR_VALUE_BYTES,
} from '../../ts/common/manifest.js';
import { EMPTY_HASH } from '../../ts/common/hash.js';
import { ImageFormatError } from '../../ts/common/errors.js';

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

const file = (p: string, size: number, hash: string, xattrs: unknown = null) => [p, 'f', 0o644, 0, 0, 1, size, hash, null, xattrs];
const CHUNK = 64 * 1024;
/** A raw manifest with chunk lists (size: the chunk size; one hash per chunk of each listed content). */
function rawWithChunks(entries: unknown[], blobs: Record<string, number>): Buffer {
  const hex = Object.fromEntries(Object.entries(blobs).map(([h, n]) => [h, 'a'.repeat(64 * n)]));
  return gzipSync(Buffer.from(JSON.stringify({ v: 1, config: emptyImageConfig(), entries, chunks: { size: CHUNK, blobs: hex } })));
}

test('entries that share a content hash must agree on its size (files and hard links), and a hard link has its file\'s hash', () => {
  const C = 'c'.repeat(64);
  // The published attack: two files of one content, the chunk list sized from the second (smaller) one.
  assert.throws(() => readManifestTable(rawWithChunks([ROOT, file('a-huge', 2 ** 53 - 1, C), file('b-small', 3 * CHUNK, C)], { [C]: 3 })),
    (err: unknown) => err instanceof ImageFormatError && /"b-small" has size 196608, another entry with its content hash c{64} has 9007199254740991|bad size/.test(err.message));
  assert.throws(() => readManifestTable(rawManifest([ROOT, file('a', 5, C), file('b', 6, C)])), /"b" has size 6, another entry with its content hash/);
  assert.throws(() => readManifestTable(rawManifest([ROOT, file('a', 5, C), ['b', 'h', 0o644, 0, 0, 1, 9, C, 'a', null]])), /"b" has size 9/);
  assert.throws(() => readManifestTable(rawManifest([ROOT, file('a', 5, C), ['b', 'h', 0o644, 0, 0, 1, 5, HASH, 'a', null]])), /hard link "b" has another content hash than its file/);
  assert.throws(() => readManifestTable(rawManifest([ROOT, file('a', 5, EMPTY_HASH)])), /"a" has the empty content's hash but 5 bytes/);
  // Same content, same size: fine (a file and its copy, a file and its hard link).
  const ok = readManifestTable(rawManifest([ROOT, file('a', 5, C), file('b', 5, C), ['c', 'h', 0o644, 0, 0, 1, 5, C, 'a', null]]));
  assert.deepEqual([...ok.linkTo], [-1, -1, -1, 1]);
});

test('sizes are bounded (MAX_FILE_SIZE), so the native chunk map of a file stays indexable', () => {
  const C = 'c'.repeat(64);
  for (const size of [MAX_FILE_SIZE + 1, 2 ** 53 - 1]) assert.throws(() => readManifestTable(rawManifest([ROOT, file('a', size, C)])), /"a" has a bad size/);
  assert.equal(readManifestTable(rawManifest([ROOT, file('a', MAX_FILE_SIZE, C)])).sizes[1], MAX_FILE_SIZE);
  // A chunk list for the largest file: 2^24 chunks of 64 KiB.
  assert.throws(() => readManifestTable(rawWithChunks([ROOT, file('a', MAX_FILE_SIZE + 1, C)], { [C]: 2 })), /bad size/);
});

test('paths: names of at most 255 bytes, at most 4096 bytes in all, well-formed text; symlink targets of at most 4095 bytes without NUL', () => {
  const dir = (p: string) => [p, 'd', 0o755, 0, 0, 1, 0, null, null, null];
  const bad: [unknown[][], RegExp][] = [
    [[ROOT, file('x'.repeat(256), 0, EMPTY_HASH)], /has a name over 255 bytes/],
    [[ROOT, file('é'.repeat(128), 0, EMPTY_HASH)], /has a name over 255 bytes/],
    [[ROOT, dir('d'), file(`d/${'€'.repeat(86)}`, 0, EMPTY_HASH)], /has a name over 255 bytes/],
    [[ROOT, file('a\ud800', 0, EMPTY_HASH)], /is not well-formed text/],
    [[ROOT, file('a\udc00b', 0, EMPTY_HASH)], /is not well-formed text/],
    [[ROOT, file('a\0b', 0, EMPTY_HASH)], /has a NUL/],
    [[ROOT, ['l', 'l', 0o777, 0, 0, 1, 4096, null, 'x'.repeat(4096), null]], /symlink "l" has a target/],
    [[ROOT, ['l', 'l', 0o777, 0, 0, 1, 3, null, 'a\0b', null]], /symlink "l" has a target/],
    [[ROOT, ['l', 'l', 0o777, 0, 0, 1, 3, null, 'a\udfffb', null]], /symlink "l" has a target/],
  ];
  for (const [entries, why] of bad) assert.throws(() => readManifestTable(rawManifest(entries)), why, JSON.stringify(entries.map((e) => e[0])).slice(0, 200));
  // 17 levels of 240-byte names: 4096 bytes is the most, 4097 too many.
  const levels = (last: number) => { const names = [...Array.from({ length: 16 }, (_, i) => String(i).padEnd(240, 'n')), 'l'.repeat(last)]; return names.map((_, i) => names.slice(0, i + 1).join('/')); };
  const tree = (last: number) => [ROOT, ...levels(last).slice(0, -1).map(dir), file(levels(last).at(-1)!, 0, EMPTY_HASH)];
  assert.equal(Buffer.byteLength(levels(240).at(-1)!), 4096);
  assert.equal(readManifestTable(rawManifest(tree(240))).paths.length, 18);
  assert.throws(() => readManifestTable(rawManifest(tree(241))), /is over 4096 bytes/);
  // At the bounds, and multi-byte text: accepted.
  const ok = readManifestTable(rawManifest([ROOT, file('x'.repeat(255), 0, EMPTY_HASH), ['z', 'l', 0o777, 0, 0, 1, 4095, null, 'y'.repeat(4095), null], file('é'.repeat(127), 0, EMPTY_HASH), file('😀'.repeat(63), 0, EMPTY_HASH)]));
  assert.equal(ok.paths.length, 5);
});

test('xattrs: string names of sane shape, values base64 strings of at most 64 KiB decoded, a bounded count', () => {
  const C = 'c'.repeat(64);
  const cases: [unknown, RegExp][] = [
    // Buffer.from({length: 2e9}, 'base64') allocated 2 GB and looped over it on the worker's main thread.
    [{ 'user.a': { length: 2_000_000_000 } }, /value of "user.a" is not base64/],
    [{ 'user.a': 5 }, /value of "user.a" is not base64/],
    [{ 'user.a': ['AQID'] }, /value of "user.a" is not base64/],
    [{ 'user.a': 'not base64!' }, /value of "user.a" is not base64/],
    [{ 'user.a': 'AQI' }, /value of "user.a" is not base64/],
    [{ 'user.a': Buffer.alloc(MAX_XATTR_VALUE_BYTES + 1).toString('base64') }, /value of "user.a" is not base64 of at most 65536 bytes|over 65536/],
    [{ '': 'AQID' }, /name "" is not well-formed/],
    [{ 'user.\u0000': 'AQID' }, /name .* is not well-formed/],
    [{ ['user.' + 'n'.repeat(251)]: 'AQID' }, /is not well-formed text without NUL of 1 to 255 bytes/],
    [Object.fromEntries(Array.from({ length: MAX_XATTRS + 1 }, (_, i) => [`user.${i}`, ''])), /more than 1024/],
    [Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`user.${String(i).padEnd(250, 'x')}`, ''])), /names longer than 65536 bytes together/],
    [['AQID'], /not an object/],
    ['AQID', /not an object/],
  ];
  for (const [xattrs, why] of cases) {
    assert.throws(() => readManifestTable(rawManifest([ROOT, file('a', 5, C, xattrs)])), (err: unknown) => err instanceof ImageFormatError && why.test(err.message), JSON.stringify(xattrs).slice(0, 100));
  }
  const max = Buffer.alloc(MAX_XATTR_VALUE_BYTES, 7).toString('base64');
  const ok = readManifestTable(rawManifest([ROOT, file('a', 5, C, { 'security.capability': 'AQIDBA==', 'user.big': max, 'user.empty': '', ['user.' + 'n'.repeat(250)]: 'AQ==' })]));
  assert.equal(ok.xattrs[1]!['user.big'], max);
});

test(`at most MAX_MANIFEST_ENTRIES (${MAX_MANIFEST_ENTRIES}) entries, refused before any is read`, () => {
  const json = `{"v":1,"config":{},"entries":[${JSON.stringify(ROOT)}${',0'.repeat(MAX_MANIFEST_ENTRIES)}]}`;
  // The JSON's own bound (manifest-bounds.test.ts) would refuse it first: lift it to reach the count.
  assert.throws(() => readManifestTable(gzipSync(Buffer.from(json)), json.length + 1), /manifest has 4000001 entries \(at most 4000000\)/);
});
