// The disk cache: index rebuilt from the directory (temp files and strays removed),
// least-recently-used eviction under the cap that skips open blobs, verification that
// removes corrupt entries; and, on a real mount, eviction that never takes an open blob
// and refetches an evicted one correctly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile, stat, utimes } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { makeTempDir } from '../helpers/tmp.js';
import { DiskCache } from '../../ts/worker/fuse/disk-cache.js';
import { fanoutPath, sha256 } from '../../ts/common/hash.js';
import { setupFuseEnv, IMAGE_ID } from './env.js';
import { fuseAvailable } from './fixtures.js';
import { runChild } from './run-child.js';

async function putBlob(dir: string, content: Buffer, mtimeSec: number): Promise<string> {
  const hash = sha256(content);
  const path = join(dir, fanoutPath(hash));
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content);
  await utimes(path, mtimeSec, mtimeSec);
  return hash;
}

test('the index is rebuilt from the directory, oldest first, and temp files and strays are removed', async (t) => {
  const dir = await makeTempDir(t, 'sway-cache-');
  const old = await putBlob(dir, randomBytes(100), 1_600_000_000);
  const recent = await putBlob(dir, randomBytes(200), 1_700_000_000);
  const tmp = join(dir, fanoutPath(recent) + '.tmp-123-abc');
  await writeFile(tmp, 'partial');
  await writeFile(join(dir, 'stray.txt'), 'x');
  const misplaced = join(dir, 'ab', 'cd', 'f'.repeat(64));
  await mkdir(dirname(misplaced), { recursive: true });
  await writeFile(misplaced, 'wrong directory');
  const cache = await DiskCache.open(dir, 1000);
  assert.deepEqual(cache.hashes(), [old, recent]);
  assert.equal(cache.totalBytes, 300);
  await assert.rejects(stat(tmp));
  await assert.rejects(stat(misplaced));
  await assert.rejects(stat(join(dir, 'stray.txt')));
});

test('eviction removes least recently used blobs first, skips open ones, and stops under the cap', async (t) => {
  const dir = await makeTempDir(t, 'sway-cache-');
  const cache = await DiskCache.open(dir, 250);
  const hashes: string[] = [];
  for (let i = 0; i < 4; i++) {
    const h = await putBlob(dir, randomBytes(100), 1_700_000_000 + i);
    cache.add(h, 100);
    hashes.push(h);
  }
  cache.touch([hashes[0]!]); // used recently: now the newest
  const removed = await cache.evict(new Set([hashes[1]!])); // hashes[1] is open
  assert.deepEqual(removed, [hashes[2]!, hashes[3]!]);
  assert.equal(cache.totalBytes, 200);
  assert.deepEqual(cache.hashes().sort(), [hashes[0]!, hashes[1]!].sort());
  for (const h of removed) await assert.rejects(stat(cache.pathOf(h)));
});

test('verify removes entries whose bytes do not match their hash', async (t) => {
  const dir = await makeTempDir(t, 'sway-cache-');
  const good = await putBlob(dir, randomBytes(1000), 1_700_000_000);
  const bad = await putBlob(dir, randomBytes(1000), 1_700_000_000);
  await writeFile(join(dir, fanoutPath(bad)), randomBytes(1000)); // bit rot
  const cache = await DiskCache.open(dir, 1 << 30);
  assert.deepEqual(await cache.verify(), { checked: 2, removed: 1 });
  assert.deepEqual(cache.hashes(), [good]);
  await assert.rejects(stat(join(dir, fanoutPath(bad))));
});

const skip = fuseAvailable() ? false : 'needs root and /dev/fuse';

test('on a mount, the cap evicts closed blobs but never an open one, and evicted blobs are refetched', { skip, timeout: 180_000 }, async (t) => {
  const env = await setupFuseEnv(t, { cacheMaxBytes: 2 * 1024 * 1024, noOpen: false });
  const lib = 'usr/lib/libfoo.so.1'; // 3 MiB: alone above the cap
  const libHash = env.hashes.get(lib)!.hash;
  const libCached = join(env.cacheDir, fanoutPath(libHash));
  // Hold the blob open in another process while other fetches trigger evictions.
  const holder = spawn('sh', ['-c', `exec 3<'${join(env.imageRoot, lib)}'; echo opened; exec sleep 600`], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => { holder.kill('SIGKILL'); });
  await once(holder.stdout, 'data');
  for (const rel of env.source.files.small.slice(0, 5)) assert.equal((await runChild(['cat', join(env.imageRoot, rel)])).code, 0);
  await stat(libCached); // still there: open
  holder.kill('SIGKILL');
  await once(holder, 'close');
  // The next fetches evict it (closed now, least recently used, over the cap).
  for (const rel of env.source.files.small.slice(5, 10)) assert.equal((await runChild(['cat', join(env.imageRoot, rel)])).code, 0);
  const usage = (await env.helper.command<{ usage: { bytes: number; maxBytes: number } }>({ cmd: 'usage' })).usage;
  assert.ok(usage.bytes <= usage.maxBytes, `cache holds ${usage.bytes} bytes, cap ${usage.maxBytes}`);
  await assert.rejects(stat(libCached), 'evicted once closed');
  const again = await runChild(['sha256sum', join(env.imageRoot, lib)]);
  assert.equal(again.stdout.split(' ')[0], libHash);
  assert.equal(env.server.count(libHash), 2, 'refetched after eviction');
  const verified = (await env.helper.command<{ verify: { checked: number; removed: number } }>({ cmd: 'verify' })).verify;
  assert.equal(verified.removed, 0);
  assert.ok(verified.checked >= 1);
  const stats = await env.helper.stats(IMAGE_ID);
  assert.equal(stats.eios, 0);
});

// Open-less files (noOpen): the daemon never learns that a file is closed, nor that
// it is still open; it keeps the blob of a file read lately open until the cache is over
// its cap, then lets go of every blob no read is using. An evicted blob that a process
// still holds open is fetched again at its next read that the page cache cannot answer.
test('open-less files: the cap evicts blobs no read is using, even of a file still open, and a later read of it refetches the right bytes', { skip, timeout: 180_000 }, async (t) => {
  const env = await setupFuseEnv(t, { cacheMaxBytes: 2 * 1024 * 1024, noOpen: true });
  const lib = 'usr/lib/libfoo.so.1'; // 3 MiB: alone above the cap
  const libHash = env.hashes.get(lib)!.hash;
  const libCached = join(env.cacheDir, fanoutPath(libHash));
  // Reads its first 4 KiB, then on a line from stdin drops its own pages and hashes the
  // whole file through the same open descriptor.
  const script = `
import hashlib, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.pread(fd, 4096, 0)
print('read', flush=True)
sys.stdin.readline()
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
print(hashlib.sha256(os.pread(fd, 8 << 20, 0)).hexdigest(), flush=True)
`;
  const holder = spawn('python3', ['-c', script, join(env.imageRoot, lib)], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => { holder.kill('SIGKILL'); });
  const lines = createInterface({ input: holder.stdout! })[Symbol.asyncIterator]();
  assert.equal((await lines.next()).value, 'read');
  // Fetched by that first read. Alone above the cap, it may already be evicted: no read is
  // using it, and the daemon cannot know the file is still open.
  assert.equal(env.server.count(libHash), 1);
  // Other fetches push the cache over its cap: the library's blob goes, though still open.
  for (const rel of env.source.files.small.slice(0, 5)) assert.equal((await runChild(['cat', join(env.imageRoot, rel)])).code, 0);
  const usage = (await env.helper.command<{ usage: { bytes: number; maxBytes: number } }>({ cmd: 'usage' })).usage;
  assert.ok(usage.bytes <= usage.maxBytes, `cache holds ${usage.bytes} bytes, cap ${usage.maxBytes}`);
  await assert.rejects(stat(libCached), 'evicted: no read was using it');
  holder.stdin!.write('go\n');
  assert.equal((await lines.next()).value, libHash, 'the rest read right through the same descriptor');
  assert.equal(env.server.count(libHash), 2, 'refetched after eviction');
  assert.equal((await env.helper.stats(IMAGE_ID)).eios, 0);
});

/** The helper's descriptors (fd numbers) that point at `path`. */
async function descriptorsOf(pid: number, path: string): Promise<string[]> {
  const { readdir, readlink } = await import('node:fs/promises');
  const out: string[] = [];
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    try { if ((await readlink(`/proc/${pid}/fd/${fd}`)) === path) out.push(fd); } catch { /* closed meanwhile */ }
  }
  return out;
}

test('a closed file keeps its blob descriptor for the next open, until verify (or an eviction) lets it go', { skip, timeout: 180_000 }, async (t) => {
  const env = await setupFuseEnv(t, { noOpen: false });
  const rel = env.source.files.small[0]!;
  const hash = env.hashes.get(rel)!.hash;
  const cached = join(env.cacheDir, fanoutPath(hash));
  const pid = env.helper.child.pid!;
  const cat = async () => {
    const r = await runChild(['sha256sum', join(env.imageRoot, rel)]);
    assert.equal(r.stdout.split(' ')[0], hash);
  };
  await cat();
  const kept = await descriptorsOf(pid, cached);
  assert.equal(kept.length, 1, 'one descriptor kept after the file closed');
  await cat();
  assert.deepEqual(await descriptorsOf(pid, cached), kept, 'the next open used the same descriptor, not a new one');
  assert.equal(env.server.count(hash), 1);
  // Verify may remove a blob: no descriptor may keep serving one it removed.
  await env.helper.command({ cmd: 'verify' });
  assert.deepEqual(await descriptorsOf(pid, cached), []);
  await cat();
  assert.equal(env.server.count(hash), 1, 'opened again from the cache');
});
