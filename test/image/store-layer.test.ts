// Reading a layer as podman's store keeps it (ts/image/store-layer.ts): tar-split headers
// plus a diff directory. It must see exactly what the generic tar reader sees in the same
// layer tar (every change, content hash, chunk list and the diff_id), and refuse a store
// whose files or tar-split do not match the tar they claim to be.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFileSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ImageFormatError } from '../../ts/common/errors.js';
import { sha256 } from '../../ts/common/hash.js';
import { CHUNKED_FILE_MIN } from '../../ts/common/manifest.js';
import { ContentStore } from '../../ts/image/content-store.js';
import { readLayer } from '../../ts/image/layer-reader.js';
import { readStoreLayer } from '../../ts/image/store-layer.js';
import { readStoreLayerOffThread } from '../../ts/image/store-layer-thread.js';
import { makeTar, type TarMember } from '../fixtures/image-archives.js';
import { storeLayerOf } from '../fixtures/store-layer.js';
import { runCommand } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/tmp.js';

const big = randomBytes(CHUNKED_FILE_MIN + 700_000);
const after = randomBytes(513);
const cap = Buffer.from([1, 0, 0, 2, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
const longDir = `usr/${'d'.repeat(120)}/${'e'.repeat(90)}`;
const MEMBERS: TarMember[] = [
  { name: './', type: 'dir', mode: 0o755 },
  { name: './usr/', type: 'dir' },
  { name: './usr/bin/', type: 'dir', mode: 0o755, uid: 3, gid: 4, mtime: 1234 },
  { name: './usr/bin/tool', content: 'hello', mode: 0o4755, uid: 5, gid: 6, mtime: 1234567 },
  { name: './usr/bin/ping', content: 'p', mode: 0o755, pax: { 'SCHILY.xattr.security.capability': cap, mtime: '1700000123.75', uid: '3000000' } },
  { name: './usr/lib/py.typed', content: '' },
  { name: './usr/lib/big.bin', content: big },
  { name: `./${longDir}/`, type: 'dir' },
  { name: `./${longDir}/file-with-a-name-past-the-ustar-limits.py`, content: 'x = 1\n' },
  { name: './usr/bin/tool-link', type: 'link', linkname: './usr/bin/tool' },
  { name: './bin', type: 'symlink', linkname: 'usr/bin' },
  { name: './far', type: 'symlink', linkname: `/${'t'.repeat(150)}/target` },
  { name: './etc/.wh.removed', content: '' },
  { name: './opt/.wh..wh..opq', content: '' },
  { name: './dev/fifo', type: 'fifo' },
  { name: './usr/bin/after', content: after },
];

test('a store layer (tar-split + diff dir) reads exactly as its tar does: changes, hashes, chunk lists, diff_id', async (t) => {
  const tar = makeTar(MEMBERS);
  const layer = storeLayerOf(tar, await makeTempDir(t, 'sway-store-layer-'));
  const sink = new ContentStore(await makeTempDir(t, 'sway-content-'));
  const generic = await readLayer(Readable.from([tar]), sink, 'tar');
  const files: string[] = [];
  const store = await readStoreLayer(layer, { onFile: (hash, size, path) => { files.push(`${path}:${size}:${hash}`); } });

  assert.equal(`sha256:${store.diffId}`, layer.diffId, 'the rebuilt bytes are the tar');
  assert.equal(store.diffId, generic.diffId);
  assert.deepEqual(store.changes, generic.changes);
  assert.equal(store.bytes, tar.length);
  assert.equal(store.files, generic.files);
  assert.deepEqual(store.chunks, sink.chunks);
  assert.equal(store.chunks.size, 1, 'the big file has chunk hashes');
  // Each non-empty file once, in tar order, with its path in the diff directory.
  assert.deepEqual(files, [
    `usr/bin/tool:5:${sha256('hello')}`, `usr/bin/ping:1:${sha256('p')}`, `usr/lib/big.bin:${big.length}:${sha256(big)}`,
    `${longDir}/file-with-a-name-past-the-ustar-limits.py:6:${sha256('x = 1\n')}`,
    `usr/bin/after:513:${sha256(after)}`,
  ]);
  const ping = store.changes.find((c) => c.path === 'usr/bin/ping');
  assert.deepEqual(ping, { op: 'file', path: 'usr/bin/ping', size: 1, hash: sha256('p'), mode: 0o755, uid: 3000000, gid: 0, mtime: 1700000123, xattrs: { 'security.capability': cap.toString('base64') } });
});

async function refusedWith(t: import('node:test').TestContext, damage: (layer: ReturnType<typeof storeLayerOf>) => void, re: RegExp): Promise<void> {
  const layer = storeLayerOf(makeTar(MEMBERS), await makeTempDir(t, 'sway-store-layer-'));
  damage(layer);
  await assert.rejects(readStoreLayer(layer), (err: unknown) => {
    assert.ok(err instanceof ImageFormatError, `expected ImageFormatError, got ${String(err)}`);
    assert.match((err as Error).message, re);
    return true;
  });
}

function editRecords(layer: { tarSplit: string }, edit: (records: Record<string, unknown>[]) => Record<string, unknown>[]): void {
  const records = gunzipSync(readFileSync(layer.tarSplit)).toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  writeFileSync(layer.tarSplit, gzipSync(edit(records).map((r) => JSON.stringify(r)).join('\n')));
}

test('a store layer whose files or tar-split do not match the tar is refused with an ImageFormatError', async (t) => {
  await refusedWith(t, (l) => truncateSync(`${l.diffDir}/usr/bin/tool`, 3), /usr\/bin\/tool does not have the 5 bytes/);
  await refusedWith(t, (l) => appendFileSync(`${l.diffDir}/usr/bin/tool`, '!'), /usr\/bin\/tool does not have the 5 bytes/);
  // The end of the tar-split lost: the last file's padding and the end blocks never come.
  await refusedWith(t, (l) => editRecords(l, (r) => r.slice(0, -1)), /truncated/);
  // A body where the headers announced none (a symlink's place).
  await refusedWith(t, (l) => editRecords(l, (r) => r.map((x) => (x.name === './bin' ? { ...x, size: 4 } : x))), /does not describe a tar/);
  // A header rewritten to escape the root: the same path policy as any archive.
  await refusedWith(t, (l) => editRecords(l, (r) => r.map((x) => {
    if (x.type !== 2 || typeof x.payload !== 'string') return x;
    const bytes = Buffer.from(x.payload, 'base64');
    const at = bytes.indexOf('./usr/bin/tool\0');
    if (at === -1) return x;
    bytes.write('../../etc/pwn\0', at, 'utf8');
    const header = bytes.subarray(at, at + 512);
    header.fill(0x20, 148, 156);
    const sum = header.reduce((n, b) => n + b, 0);
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    return { ...x, payload: bytes.toString('base64') };
  })), /escapes the root/);
  await refusedWith(t, (l) => writeFileSync(l.tarSplit, gzipSync('{"type":2,"payload":')), /corrupt/);
  await refusedWith(t, (l) => writeFileSync(l.tarSplit, Buffer.from('not gzip at all')), /corrupt/);
});

test('read on a worker thread, a store layer gives the same result, onFile calls in order, and the same errors', async (t) => {
  const tar = makeTar(MEMBERS);
  const layer = storeLayerOf(tar, await makeTempDir(t, 'sway-store-layer-'));
  const here: string[] = [];
  const there: string[] = [];
  const direct = await readStoreLayer(layer, { onFile: (hash, size, path) => { here.push(`${path}:${size}:${hash}`); } });
  const off = await readStoreLayerOffThread(layer, { onFile: async (hash, size, path) => { await new Promise((r) => setImmediate(r)); there.push(`${path}:${size}:${hash}`); } });
  assert.deepEqual(off, direct);
  assert.deepEqual(there, here);

  // A damaged store: the same class and message as on this thread.
  truncateSync(`${layer.diffDir}/usr/bin/tool`, 3);
  const sameError = await readStoreLayer(layer).catch((err: Error) => err);
  await assert.rejects(readStoreLayerOffThread(layer), (err: Error) => {
    assert.ok(err instanceof ImageFormatError, `expected ImageFormatError, got ${String(err)}`);
    assert.equal(err.message, (sameError as Error).message);
    return true;
  });
});

test('read on a worker thread, onFile runs one file at a time however slow it is, and an onFile failure is the error, with no call after it', async (t) => {
  const members: TarMember[] = [{ name: './data/', type: 'dir' }];
  for (let i = 0; i < 3000; i++) members.push({ name: `./data/f${i}`, content: `file ${i}\n` });
  const layer = storeLayerOf(makeTar(members), await makeTempDir(t, 'sway-store-layer-'));
  let calls = 0;
  const boom = new Error('the upload failed');
  await assert.rejects(readStoreLayerOffThread(layer, {
    onFile: async () => {
      calls++;
      if (calls === 100) { await new Promise((r) => setTimeout(r, 200)); throw boom; }
    },
  }), (err) => err === boom);
  assert.equal(calls, 100, 'no onFile call after the failure');

  // A slow onFile holds the next calls back; the read completes once it returns.
  let seen = 0;
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  const reading = readStoreLayerOffThread(layer, { onFile: async () => { seen++; if (seen === 1) await gate; } });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(seen, 1, 'onFile is called one file at a time');
  release();
  const data = await reading;
  assert.equal(data.files, 3000);
  assert.equal(seen, 3000);
});

test('read on a worker thread in a node started with V8 flags (as `node --trace-gc bin/sway.js export` is)', async (t) => {
  const members: TarMember[] = [{ name: './a', content: 'alpha' }, { name: './b', content: 'beta' }];
  const layer = storeLayerOf(makeTar(members), await makeTempDir(t, 'sway-store-layer-'));
  const reader = new URL('../../ts/image/store-layer-thread.js', import.meta.url).href;
  const script = join(await makeTempDir(t, 'sway-store-layer-script-'), 'read.mjs');
  writeFileSync(script, `const { readStoreLayerOffThread } = await import(${JSON.stringify(reader)});
    const data = await readStoreLayerOffThread(${JSON.stringify(layer)});
    process.stdout.write(JSON.stringify({ files: data.files, diffId: data.diffId }));`);
  const r = await runCommand(process.execPath, ['--stack-size=900', '--heap-growing-percent=100', script], {});
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { files: 2, diffId: sha256(makeTar(members)) });
});
