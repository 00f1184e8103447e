// Layer application and archive reading on synthetic archives built in the test
// (test/fixtures/image-archives.ts): every runtime rule of ts/image/layers.ts, both
// archive formats, both member orders, gzip, and every kind of input that must be
// refused with an ImageFormatError.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { readImageArchive, type ImageRead } from '../../ts/image/archive.js';
import { ContentStore } from '../../ts/image/content-store.js';
import { ImageFormatError } from '../../ts/common/errors.js';
import { ArchiveLimitError, DEFAULT_ARCHIVE_LIMITS } from '../../ts/image/archive-limits.js';
import { EMPTY_HASH, sha256 } from '../../ts/common/hash.js';
import { decodeManifest, encodeManifest, type ManifestEntry } from '../../ts/common/manifest.js';
import { makeTar, makeDockerArchive, makeOciArchive, type TarMember, type ArchiveOptions } from '../fixtures/image-archives.js';
import { makeTempDir } from '../helpers/tmp.js';
import type { TestContext } from 'node:test';

async function read(t: TestContext, archive: Buffer): Promise<ImageRead & { byPath: Map<string, ManifestEntry>; store: ContentStore }> {
  const store = new ContentStore(await makeTempDir(t, 'sway-content-'));
  // Feed in small chunks so member boundaries fall mid-chunk as on a real pipe.
  const chunks: Buffer[] = [];
  for (let i = 0; i < archive.length; i += 65536) chunks.push(archive.subarray(i, i + 65536));
  const out = await readImageArchive(Readable.from(chunks), { store });
  // Whatever the reader produced must survive the manifest codec's own validation.
  decodeManifest(encodeManifest(out.manifest));
  return { ...out, store, byPath: new Map(out.manifest.entries.map((e) => [e.path, e])) };
}

function layers(...ls: TarMember[][]): Buffer[] { return ls.map((l) => makeTar(l)); }

async function image(t: TestContext, ls: TarMember[][], opts: ArchiveOptions = {}) {
  return read(t, makeDockerArchive(layers(...ls), opts));
}

async function refused(t: TestContext, archive: Buffer, re: RegExp): Promise<void> {
  await assert.rejects(read(t, archive), (err: unknown) => {
    assert.ok(err instanceof ImageFormatError, `expected ImageFormatError, got ${String(err)}`);
    assert.match((err as Error).message, re);
    assert.ok(!(err as Error).message.includes('\n'), 'one line');
    return true;
  });
}

test('files, dirs, empty files, symlinks, config; contents staged by hash', async (t) => {
  const img = await image(t, [[
    { name: './', type: 'dir', mode: 0o755 },
    { name: './usr/', type: 'dir' }, { name: './usr/bin/', type: 'dir' },
    { name: './usr/bin/tool', content: 'hello', mode: 0o755, uid: 5, gid: 6, mtime: 1234567 },
    { name: './usr/lib/py.typed', content: '' },
    { name: '/bin', type: 'symlink', linkname: 'usr/bin' },
    { name: 'abs', type: 'symlink', linkname: '/etc/../../x' },
  ]]);
  const tool = img.byPath.get('usr/bin/tool')!;
  assert.deepEqual(tool, { path: 'usr/bin/tool', type: 'file', mode: 0o755, uid: 5, gid: 6, mtime: 1234567, size: 5, hash: sha256('hello') });
  assert.equal(readFileSync(img.store.pathOf(tool.hash!), 'utf8'), 'hello');
  assert.equal(img.byPath.get('usr/lib')?.type, 'dir', 'implied parent');
  assert.deepEqual(img.byPath.get('usr/lib/py.typed'), { path: 'usr/lib/py.typed', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1700000000, size: 0, hash: EMPTY_HASH });
  assert.equal(img.byPath.get('bin')?.type, 'symlink');
  assert.equal(img.byPath.get('bin')?.target, 'usr/bin');
  assert.equal(img.byPath.get('abs')?.target, '/etc/../../x', 'symlink targets are kept verbatim');
  assert.equal(img.byPath.get('abs')?.size, Buffer.byteLength('/etc/../../x'));
  assert.deepEqual(img.manifest.config, { env: ['PATH=/usr/bin:/bin'], entrypoint: null, cmd: ['/bin/sh'], workingDir: '/app', user: '1000:1000' });
  assert.equal(img.contents.size, 2);
  assert.equal(img.format, 'docker-archive');
});

test('whiteouts remove files and whole directories of lower layers', async (t) => {
  const img = await image(t, [
    [{ name: 'a/', type: 'dir' }, { name: 'a/f', content: '1' }, { name: 'a/g', content: '2' }, { name: 'd/', type: 'dir' }, { name: 'd/sub/', type: 'dir' }, { name: 'd/sub/x', content: 'x' }],
    [{ name: 'a/', type: 'dir' }, { name: 'a/.wh.f' }, { name: '.wh.d' }],
  ]);
  assert.deepEqual([...img.byPath.keys()], ['', 'a', 'a/g']);
});

test('opaque directories hide lower contents and keep their own, before or after the marker', async (t) => {
  const img = await image(t, [
    [{ name: 'o/', type: 'dir' }, { name: 'o/old', content: '1' }, { name: 'o/keep/', type: 'dir' }, { name: 'o/keep/old2', content: '2' },
      { name: 'p/', type: 'dir' }, { name: 'p/old', content: '3' }],
    [{ name: 'o/', type: 'dir' }, { name: 'o/.wh..wh..opq' }, { name: 'o/new', content: 'n' },
      { name: 'p/', type: 'dir' }, { name: 'p/new', content: 'n' }, { name: 'p/keep/', type: 'dir' }, { name: 'p/.wh..wh..opq' }],
  ]);
  assert.deepEqual([...img.byPath.keys()], ['', 'o', 'o/new', 'p', 'p/keep', 'p/new']);
});

test('a directory replaced by a file and a file replaced by a directory', async (t) => {
  const img = await image(t, [
    [{ name: 'x/', type: 'dir' }, { name: 'x/inner', content: 'i' }, { name: 'y', content: 'file' }, { name: 'lib', type: 'symlink', linkname: 'usr/lib' }],
    [{ name: 'x', content: 'now a file' }, { name: 'y/', type: 'dir', mode: 0o700 }, { name: 'y/z', content: 'z' }, { name: 'lib/m', content: 'm' }],
  ]);
  assert.equal(img.byPath.get('x')?.type, 'file');
  assert.equal(img.byPath.has('x/inner'), false);
  assert.equal(img.byPath.get('y')?.type, 'dir');
  assert.equal(img.byPath.get('y')?.mode, 0o700);
  assert.equal(img.byPath.get('y/z')?.hash, sha256('z'));
  assert.equal(img.byPath.get('lib')?.type, 'dir', 'a symlink parent is replaced by a directory, never followed');
  assert.equal(img.byPath.has('usr/lib/m'), false);
});

test('hard links within and across layers; target deleted or replaced later', async (t) => {
  const img = await image(t, [
    [{ name: 'a', content: 'shared', mode: 0o4755 }, { name: 'b', type: 'link', linkname: 'a' }, { name: 'c', content: 'C' }, { name: 's', type: 'symlink', linkname: 'a' }],
    [{ name: 'z', type: 'link', linkname: './c' }, { name: 'd', type: 'link', linkname: 'a' }, { name: 's2', type: 'link', linkname: 's' }],
    [{ name: '.wh.a' }, { name: 'c', content: 'new C' }],
  ]);
  // 'a' deleted: 'b' (first remaining path of that inode) becomes the file, 'd' links to it.
  assert.deepEqual(img.byPath.get('b'), { path: 'b', type: 'file', mode: 0o4755, uid: 0, gid: 0, mtime: 1700000000, size: 6, hash: sha256('shared') });
  assert.deepEqual(img.byPath.get('d'), { path: 'd', type: 'hardlink', mode: 0o4755, uid: 0, gid: 0, mtime: 1700000000, size: 6, hash: sha256('shared'), target: 'b' });
  // 'c' replaced by a new file: 'z' keeps the old content and is now a file of its own.
  assert.equal(img.byPath.get('c')?.hash, sha256('new C'));
  assert.equal(img.byPath.get('z')?.type, 'file');
  assert.equal(img.byPath.get('z')?.hash, sha256('C'));
  assert.equal(img.byPath.get('s2')?.type, 'symlink', 'a hard link to a symlink is a symlink');
});

test('PAX mtime, uid, gid and binary xattrs; setuid, setgid and sticky modes', async (t) => {
  const cap = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0xff, 0x80, 0x00, 0x00]);
  const longName = 'deep/' + 'n'.repeat(150) + '/é-file';
  const img = await image(t, [[
    { name: 'ping', content: 'p', mode: 0o755, pax: { 'SCHILY.xattr.security.capability': cap, mtime: '1700000123.75', uid: '3000000', gid: '4000000', 'SCHILY.xattr.user.note': 'héllo' } },
    { name: 'su', content: 's', mode: 0o4755 }, { name: 'sg', content: 'g', mode: 0o2755 }, { name: 'tmp/', type: 'dir', mode: 0o1777 },
    { name: longName, content: 'long' },
  ]]);
  const ping = img.byPath.get('ping')!;
  assert.equal(ping.mtime, 1700000123);
  assert.equal(ping.uid, 3000000);
  assert.equal(ping.gid, 4000000);
  assert.equal(ping.xattrs?.['security.capability'], cap.toString('base64'));
  assert.equal(Buffer.from(ping.xattrs!['user.note']!, 'base64').toString('utf8'), 'héllo');
  assert.equal(img.byPath.get('su')?.mode, 0o4755);
  assert.equal(img.byPath.get('sg')?.mode, 0o2755);
  assert.equal(img.byPath.get('tmp')?.mode, 0o1777);
  assert.equal(img.byPath.get(longName)?.hash, sha256('long'));
});

test('device nodes and fifos are skipped with a warning', async (t) => {
  const img = await image(t, [[{ name: 'dev/', type: 'dir' }, { name: 'dev/null', content: 'lower' }], [{ name: 'dev/null', type: 'char' }, { name: 'pipe', type: 'fifo' }]]);
  assert.equal(img.byPath.has('dev/null'), false);
  assert.equal(img.byPath.has('pipe'), false);
  assert.equal(img.warnings.length, 2);
  assert.match(img.warnings[0]!, /dev\/null.*device node/);
});

test('member order, gzip layers, OCI layout: the same image every way', async (t) => {
  // > 4 MiB so that the layer streams through as it arrives rather than being kept in memory.
  const big = randomBytes(5 * 1024 * 1024);
  const ls = layers([{ name: 'big', content: big }, { name: 'etc/', type: 'dir' }, { name: 'etc/x', content: 'x' }], [{ name: 'etc/.wh.x' }, { name: 'etc/y', content: 'y' }]);
  const expected = (await read(t, makeDockerArchive(ls))).manifest;
  assert.equal(expected.entries.find((e) => e.path === 'big')?.hash, sha256(big));
  for (const [name, archive] of [
    ['docker, manifest first', makeDockerArchive(ls, { manifestFirst: true })],
    ['docker, gzip', makeDockerArchive(ls, { gzip: true })],
    ['docker, gzip, manifest first', makeDockerArchive(ls, { gzip: true, manifestFirst: true })],
    ['oci', makeOciArchive(ls)],
    ['oci, gzip, manifest first', makeOciArchive(ls, { gzip: true, manifestFirst: true })],
  ] as const) {
    const img = await read(t, archive);
    assert.deepEqual(img.manifest, expected, name);
    assert.equal(img.format, name.startsWith('oci') ? 'oci' : 'docker-archive');
  }
});

test('refused: paths escaping the root, bad whiteouts, bad links', async (t) => {
  await refused(t, makeDockerArchive(layers([{ name: '../evil', content: 'x' }])), /escapes the root/);
  await refused(t, makeDockerArchive(layers([{ name: 'a/../../evil', content: 'x' }])), /escapes the root/);
  await refused(t, makeDockerArchive(layers([{ name: 'l', type: 'link', linkname: '../../etc/passwd' }])), /escapes the root/);
  await refused(t, makeDockerArchive(layers([{ name: 'l', type: 'link', linkname: 'nowhere' }])), /hard link "l" points at "nowhere"/);
  await refused(t, makeDockerArchive(layers([{ name: 'd/', type: 'dir' }, { name: 'l', type: 'link', linkname: 'd' }])), /points at directory/);
  await refused(t, makeDockerArchive(layers([{ name: 'a/.wh.' }])), /whiteout/);
  await refused(t, makeDockerArchive(layers([{ name: '.wh..' }])), /whiteout/);
  await refused(t, makeDockerArchive(layers([{ name: '.', type: 'symlink', linkname: '/etc' }])), /replaces the image root/);
  await refused(t, makeDockerArchive(layers([{ name: 'sparse', type: 'sparse', content: 'x' }])), /unsupported tar type/);
});

test('refused: absurd and negative sizes, truncated layers and archives, corrupt gzip', async (t) => {
  await refused(t, makeDockerArchive(layers([{ name: 'huge', base256Size: 1n << 60n }])), /absurd size/);
  await refused(t, makeDockerArchive(layers([{ name: 'neg', base256Size: -5n }])), /negative\) size/);
  const layer = makeTar([{ name: 'f', content: randomBytes(3000) }]);
  await refused(t, makeDockerArchive([layer.subarray(0, 1500)], { diffIds: [`sha256:${sha256(layer)}`] }), /truncated|not a valid tar/);
  const whole = makeDockerArchive(layers([{ name: 'f', content: 'x' }]));
  await refused(t, whole.subarray(0, whole.length - 2048), /truncated|lacks|not a valid tar|neither manifest/);
  await refused(t, whole.subarray(0, 700), /truncated/);
  const gz = makeDockerArchive(layers([{ name: 'f', content: randomBytes(100000) }]), { gzip: true });
  // Cut the gzip member short inside the archive: rewrite sizes is hard, so damage bytes instead.
  const damaged = Buffer.from(gz); damaged.fill(0x41, 2000, 2100);
  await refused(t, damaged, /./);
  await refused(t, makeTar([{ name: 'hello.txt', content: 'not an image' }]), /neither manifest.json/);
});

test('refused: a layer that does not match its diff_id or its OCI digest', async (t) => {
  const ls = layers([{ name: 'f', content: 'x' }]);
  await refused(t, makeDockerArchive(ls, { diffIds: [`sha256:${'0'.repeat(64)}`] }), /does not match the image config/);
  await refused(t, makeDockerArchive(ls, { diffIds: [] }), /lists 0 layers but the manifest 1/);
  const oci = makeOciArchive(ls);
  const at = oci.indexOf(Buffer.from('f\0'));
  assert.ok(at > 0);
  // Flip one content byte of the layer blob ('x' → 'y'): its digest no longer matches.
  const x = oci.indexOf(Buffer.from('x'), at + 512);
  const tampered = Buffer.from(oci); tampered[x] = 0x79;
  await refused(t, tampered, /does not match/);
});

test('small layers streamed as they arrive (in-memory budget spent) give the same image; whole-archive chunks too', async (t) => {
  // A layer member whose body arrives in the same chunk as its header used to hang the
  // streaming path (tar-stream's streamx body emitted no events to late listeners): the
  // export then ended with exit 0 and nothing published.
  const ls = layers([{ name: 'etc/', type: 'dir' }, { name: 'etc/x', content: 'x' }], [{ name: 'etc/y', content: 'y' }]);
  for (const archive of [makeDockerArchive(ls, { gzip: true }), makeOciArchive(ls)]) {
    const expected = (await read(t, archive)).manifest;
    const store = new ContentStore(await makeTempDir(t, 'sway-content-'));
    const limits = { ...DEFAULT_ARCHIVE_LIMITS, maxInMemoryBytes: 4096 };
    const streamed = await readImageArchive(Readable.from([archive]), { store, limits });
    assert.deepEqual(streamed.manifest, expected);
  }
});

test('limits: entries, path depth, layer bytes, image bytes each end with an ArchiveLimitError', async (t) => {
  const store = new ContentStore(await makeTempDir(t, 'sway-content-'));
  const limited = async (archive: Buffer, limits: Partial<typeof DEFAULT_ARCHIVE_LIMITS>, re: RegExp) => {
    await assert.rejects(readImageArchive(Readable.from([archive]), { store, limits: { ...DEFAULT_ARCHIVE_LIMITS, ...limits } }), (err: unknown) => {
      assert.ok(err instanceof ArchiveLimitError, `expected ArchiveLimitError, got ${String(err)}`);
      assert.equal((err as ArchiveLimitError).code, 'SWAY_ARCHIVE_LIMIT');
      assert.match((err as Error).message, re);
      return true;
    });
  };
  const many = makeDockerArchive(layers(Array.from({ length: 50 }, (_, i) => ({ name: `f${i}`, content: '' }))));
  await limited(many, { maxEntries: 40 }, /more than 40 entries/);
  await limited(makeDockerArchive(layers([{ name: 'a/b/c/d', content: '' }])), { maxPathDepth: 3 }, /4 directories deep/);
  const big = makeDockerArchive(layers([{ name: 'f', content: Buffer.alloc(100_000) }]), { gzip: true });
  await limited(big, { maxLayerBytes: 50_000 }, /claims 100000 bytes/);
  await limited(big, { maxImageBytes: 50_000 }, /image archive decompresses to more than 50000 bytes/);
  // The same archives pass under the defaults.
  for (const ok of [many, big]) await readImageArchive(Readable.from([ok]), { store });
});
