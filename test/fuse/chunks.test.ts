// Partial fetches (issue 5): files whose manifest carries chunk hashes are read chunk by
// chunk from a real fileserver over TLS through a real FUSE mount (mount-helper.ts child;
// readers are python3 children). Bytes are counted at the server's side of a TCP proxy
// in front of it, Range requests in the fileserver's request log (206 answers).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeTempDir } from '../helpers/tmp.js';
import { startCountingRelay, type CountingRelay } from '../helpers/tcp-relay.js';
import { startFixture, type Fixture } from '../fileserver/fixture.js';
import { fanoutPath, sha256 } from '../../ts/common/hash.js';
import { blobRelPath } from '../../ts/fileserver/store/local-store.js';
import { DEFAULT_CHUNK_SIZE, emptyImageConfig, type Manifest, type ManifestEntry } from '../../ts/common/manifest.js';
import { MountHelper, type HelperOptions } from './helper-client.js';
import { runChild } from './run-child.js';
import { fuseAvailable, kernelHasFusePassthrough } from './fixtures.js';

const skip = fuseAvailable() ? false : 'needs root and /dev/fuse';
const MiB = 1024 * 1024;
const CS = DEFAULT_CHUNK_SIZE;

// POSIX_FADV_RANDOM: no kernel readahead, so each pread asks the daemon for exactly its
// bytes and the chunks a test expects are those the daemon chose to fetch for them.
const PREAD = `
import sys, os, hashlib
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
out = []
for spec in sys.argv[2:]:
    off, n = (int(x) for x in spec.split(':'))
    try:
        out.append(hashlib.sha256(os.pread(fd, n, off)).hexdigest())
    except OSError as e:
        out.append('errno%d' % e.errno)
print(' '.join(out))
`;
const MMAP = `
import sys, mmap, hashlib
f = open(sys.argv[1], 'rb')
m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
print(' '.join(hashlib.sha256(m[o:o+n]).hexdigest() for o, n in ((int(x) for x in s.split(':')) for s in sys.argv[2:])))
`;
const WHOLE = `
import sys, hashlib
h = hashlib.sha256()
with open(sys.argv[1], 'rb') as f:
    while True:
        b = f.read(64 * 1024)
        if not b: break
        h.update(b)
print(h.hexdigest())
`;

/** python3 reads `specs` ("offset:length") of `path`; one sha256 (or errnoN) per spec. */
async function readParts(script: string, path: string, specs: Array<[number, number]>): Promise<string[]> {
  const r = await runChild(['python3', '-c', script, path, ...specs.map(([o, n]) => `${o}:${n}`)]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split(' ');
}

function part(content: Buffer, off: number, n: number): string {
  return sha256(content.subarray(off, off + n));
}

interface Setup {
  fx: Fixture;
  dir: string;
  mnt: string;
  cache: string;
  files: Record<string, Buffer>;
  proxy: CountingRelay;
  start(extra?: Partial<HelperOptions>): Promise<MountHelper>;
  /** Range answers (206) the fileserver gave for this blob so far. */
  rangeRequests(hash: string): number;
  /** Whole-blob answers (200). */
  wholeRequests(hash: string): number;
}

/** An image of `files` (each over 1 MiB gets chunk hashes) published on a real fileserver. */
async function setup(t: TestContext, files: Record<string, Buffer>): Promise<Setup> {
  const fx = await startFixture(t);
  const dir = await makeTempDir(t, 'sway-chunks-');
  const mnt = join(dir, 'mnt');
  const cache = join(dir, 'cache');
  await mkdir(mnt);
  const entries: ManifestEntry[] = [
    { path: '', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 1700000000, size: 0 },
    { path: 'data', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 1700000000, size: 0 },
  ];
  const byBlob: Record<string, string[]> = {};
  for (const [name, content] of Object.entries(files).sort()) {
    const hash = sha256(content);
    entries.push({ path: `data/${name}`, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1700000000, size: content.length, hash });
    const chunks: string[] = [];
    for (let at = 0; at < content.length; at += CS) chunks.push(sha256(content.subarray(at, at + CS)));
    byBlob[hash] = chunks;
    await fx.alice.putBlob(hash, content, content.length);
  }
  const manifest: Manifest = { version: 1, config: emptyImageConfig(), entries, chunks: { chunkSize: CS, byBlob } };
  const manifestFile = join(dir, 'manifest.json');
  await writeFile(manifestFile, JSON.stringify(manifest));
  const proxy = await startCountingRelay(t, fx.server.url);
  const helpers: MountHelper[] = [];
  t.after(async () => { for (const h of helpers) await h.stop(); });
  const count = (hash: string, status: number) => fx.logs.filter((l) => l.startsWith(`GET /v1/blobs/${hash} ${status} `)).length;
  return {
    fx, dir, mnt, cache, files, proxy,
    async start(extra = {}) {
      const helper = await MountHelper.start(dir, {
        mountpoint: mnt, cacheDir: cache, serverUrl: 'unused', retries: 1, fetchTimeoutMs: 10_000,
        fileserver: { url: proxy.url, token: fx.tokens.worker, caFile: fx.server.caCertPath },
        images: [{ id: 'img', manifestFile }], ...extra,
      });
      helpers.push(helper);
      return helper;
    },
    rangeRequests: (hash) => count(hash, 206),
    wholeRequests: (hash) => count(hash, 200),
  };
}

async function usage(h: MountHelper): Promise<{ bytes: number; partialBytes: number; partialBlobs: number; blobs: number }> {
  return (await h.command<{ usage: { bytes: number; partialBytes: number; partialBlobs: number; blobs: number } }>({ cmd: 'usage' })).usage;
}

test('1 MiB read at an offset of a 64 MiB file fetches only its chunks; the bytes are right; mmap works; read whole it becomes a complete blob', { skip, timeout: 240_000 }, async (t) => {
  const big = randomBytes(64 * MiB);
  const lib = randomBytes(6 * MiB + 12345);
  const s = await setup(t, { 'big.bin': big, 'lib.so': lib });
  const bigHash = sha256(big);
  const libHash = sha256(lib);
  const h = await s.start();
  const bigPath = join(s.mnt, 'img/data/big.bin');

  const before = s.proxy.bytesDown;
  const off = 20 * MiB;
  assert.deepEqual(await readParts(PREAD, bigPath, [[off, MiB]]), [part(big, off, MiB)]);
  const sent = s.proxy.bytesDown - before;
  // Exactly the 4 chunks the read touched are in the partial file, from at most 4 requests.
  assert.equal((await usage(h)).partialBytes, MiB);
  assert.equal((await h.command<{ present: number }>({ cmd: 'chunks', hash: bigHash })).present, MiB / CS);
  assert.ok(s.rangeRequests(bigHash) >= 1 && s.rangeRequests(bigHash) <= MiB / CS, `range requests: ${s.rangeRequests(bigHash)}`);
  assert.equal(s.wholeRequests(bigHash), 0);
  // What crossed the link: the chunks plus TLS/HTTP overhead, nowhere near the file.
  assert.ok(sent >= MiB && sent < MiB + 64 * 1024, `bytes sent to the worker: ${sent}`);
  const stats = await h.stats('img');
  assert.equal(stats.bytesFetched, MiB);
  assert.equal(stats.eios, 0);

  // A read across a chunk boundary, not aligned, and the same region again (served locally).
  const requestsBefore = s.rangeRequests(bigHash);
  assert.deepEqual(await readParts(PREAD, bigPath, [[off + CS - 100, 200], [off + 5, 1000]]), [part(big, off + CS - 100, 200), part(big, off + 5, 1000)]);
  assert.equal(s.rangeRequests(bigHash), requestsBefore);

  // mmap of a chunked file: slices at several offsets, the short last chunk included.
  const specs: Array<[number, number]> = [[0, 4096], [3 * CS + 17, 70_000], [lib.length - 5000, 5000], [2 * MiB, 300_000]];
  assert.deepEqual(await readParts(MMAP, join(s.mnt, 'img/data/lib.so'), specs), specs.map(([o, n]) => part(lib, o, n)));
  assert.ok((await h.command<{ present: number }>({ cmd: 'chunks', hash: libHash })).present < Math.ceil(lib.length / CS));

  // Read whole: every chunk arrives, the file is hashed and becomes an ordinary blob.
  const r = await runChild(['python3', '-c', WHOLE, bigPath]);
  assert.equal(r.stdout.trim(), bigHash, r.stderr);
  let u = await usage(h);
  // Hashing 64 MiB before the move takes a moment (longer on a loaded machine).
  for (let i = 0; i < 600 && u.partialBlobs > 1; i++) { await sleep(100); u = await usage(h); }
  assert.equal(u.partialBlobs, 1, 'only lib.so is still partial');
  assert.equal(sha256(await readFile(join(s.cache, fanoutPath(bigHash)))), bigHash);
  assert.equal(s.wholeRequests(bigHash), 0);
  // Sequential reading used readahead runs: far fewer requests than chunks.
  assert.ok(s.rangeRequests(bigHash) < (64 * MiB) / CS / 2, `range requests: ${s.rangeRequests(bigHash)}`);
  assert.equal((await h.stats('img')).bytesFetched, 64 * MiB + (await usage(h)).partialBytes);
  assert.deepEqual((await h.command<{ verify: { checked: number; removed: number } }>({ cmd: 'verify' })).verify, { checked: 2, removed: 0 });
});

test('a chunk whose bytes are wrong is EIO and is not cached; other chunks of the file still read', { skip, timeout: 120_000 }, async (t) => {
  const big = randomBytes(8 * MiB);
  const s = await setup(t, { 'big.bin': big });
  const hash = sha256(big);
  // Corrupt chunk 5 in the fileserver's store (the fileserver serves what it has).
  const stored = join(s.fx.dataDir, 'blobs', blobRelPath(hash));
  const fh = await open(stored, 'r+');
  await fh.write(Buffer.from('corrupt'), 0, 7, 5 * CS + 1000);
  await fh.close();
  const h = await s.start();
  const path = join(s.mnt, 'img/data/big.bin');
  assert.deepEqual(await readParts(PREAD, path, [[5 * CS, 4096]]), ['errno5']);
  assert.equal((await usage(h)).partialBytes, 0);
  assert.equal((await h.command<{ present: number }>({ cmd: 'chunks', hash })).present, 0);
  assert.ok((await h.command<{ errors: string[] }>({ cmd: 'errors' })).errors.some((e) => /chunk 5/.test(e)));
  // Other chunks, before and after, read right.
  assert.deepEqual(await readParts(PREAD, path, [[2 * CS, CS], [7 * CS + 9, 1000]]), [part(big, 2 * CS, CS), part(big, 7 * CS + 9, 1000)]);
  assert.equal((await h.command<{ present: number }>({ cmd: 'chunks', hash })).present, 2);
  // Still EIO on a second try: nothing wrong was kept.
  assert.deepEqual(await readParts(PREAD, path, [[5 * CS + 900, 200]]), ['errno5']);
  const sidecar = await readFile(join(s.cache, 'partial', fanoutPath(hash)) + '.chunks', 'utf8');
  assert.deepEqual(sidecar.trim().split('\n').slice(1).sort(), ['2', '7']);
});

test('a restart keeps verified chunks and serves them without the network; a chunk altered on disk is not served', { skip, timeout: 120_000 }, async (t) => {
  const big = randomBytes(8 * MiB);
  const s = await setup(t, { 'big.bin': big });
  const hash = sha256(big);
  const path = join(s.mnt, 'img/data/big.bin');
  const first = await s.start();
  // Chunk 2 before chunk 1: not a sequential reader, so no readahead.
  assert.deepEqual(await readParts(PREAD, path, [[2 * CS, CS], [CS, CS], [6 * CS, 100]]), [part(big, 2 * CS, CS), part(big, CS, CS), part(big, 6 * CS, 100)]);
  assert.equal((await first.command<{ present: number }>({ cmd: 'chunks', hash })).present, 3);
  await first.kill(); // the crash case: no clean shutdown
  // Alter chunk 2 in the partial file: after the restart it must not count.
  const partialFile = join(s.cache, 'partial', fanoutPath(hash));
  const fh = await open(partialFile, 'r+');
  await fh.write(Buffer.from('altered'), 0, 7, 2 * CS + 10);
  await fh.close();
  await s.proxy.close(); // no network from here on
  const second = await s.start();
  assert.deepEqual(await readParts(PREAD, path, [[CS, CS], [6 * CS, 100]]), [part(big, CS, CS), part(big, 6 * CS, 100)]);
  assert.deepEqual(await readParts(PREAD, path, [[2 * CS + 5, 100]]), ['errno5']);
  assert.equal((await second.command<{ present: number }>({ cmd: 'chunks', hash })).present, 2);
  assert.equal((await usage(second)).partialBytes, 2 * CS);
});

test('readahead only for sequential readers: a miss next to a present chunk gets none unless it continues the previous miss, and a sequential reader\'s readahead doubles', { skip, timeout: 120_000 }, async (t) => {
  const big = randomBytes(32 * MiB);
  const s = await setup(t, { 'big.bin': big });
  const hash = sha256(big);
  const h = await s.start();
  const path = join(s.mnt, 'img/data/big.bin');
  const present = async () => (await h.command<{ present: number }>({ cmd: 'chunks', hash })).present;
  // Chunk 5, then far away, then chunk 6 (next to a present one, as mmap's faults in a
  // shared library often are): each fetches only itself.
  assert.deepEqual(await readParts(PREAD, path, [[5 * CS, 100], [40 * CS, 100], [6 * CS, 100]]), [part(big, 5 * CS, 100), part(big, 40 * CS, 100), part(big, 6 * CS, 100)]);
  assert.equal(await present(), 3);
  // A sequential reader (one chunk at a time from chunk 64): misses at 64, 65 (+2 ahead),
  // 68 (+4), 73 (+8), 82 (+16): 20 chunks read, 35 fetched in 5 requests.
  const reads: Array<[number, number]> = Array.from({ length: 20 }, (_, i) => [(64 + i) * CS, CS]);
  const before = s.rangeRequests(hash);
  assert.deepEqual(await readParts(PREAD, path, reads), reads.map(([o, n]) => part(big, o, n)));
  assert.equal(await present(), 3 + 35);
  assert.equal(s.rangeRequests(hash) - before, 5);
});

test('concurrent readers of one chunk make one request', { skip, timeout: 120_000 }, async (t) => {
  const big = randomBytes(4 * MiB);
  const s = await setup(t, { 'big.bin': big });
  const hash = sha256(big);
  const h = await s.start();
  const path = join(s.mnt, 'img/data/big.bin');
  const off = 9 * CS;
  const results = await Promise.all(Array.from({ length: 8 }, (_, i) => readParts(PREAD, path, [[off + i * 1000, 4096]])));
  results.forEach((r, i) => assert.deepEqual(r, [part(big, off + i * 1000, 4096)]));
  assert.equal(s.rangeRequests(hash), 1);
  assert.equal((await h.command<{ present: number }>({ cmd: 'chunks', hash })).present, 1);
});

/**
 * data/big.bin (8 MiB, read by chunk) held open by a python process: it reads one chunk at
 * `firstOffset` (checked), the whole blob is then prefetched into the cache (checked), and
 * the process runs `afterGo` once a line arrives on its stdin.
 */
async function holdOpenThenPrefetch(t: TestContext, firstOffset: number, afterGo: string, helperOptions: Partial<HelperOptions> = {}) {
  const big = randomBytes(8 * MiB);
  const s = await setup(t, { 'big.bin': big });
  const hash = sha256(big);
  const path = join(s.mnt, 'img/data/big.bin');
  const helper = await s.start(helperOptions);
  const script = `
import hashlib, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
print(hashlib.sha256(os.pread(fd, ${CS}, ${firstOffset})).hexdigest(), flush=True)
sys.stdin.readline()
${afterGo}
`;
  const child = spawn('python3', ['-c', script, path], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.after(() => { child.kill(); });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  assert.equal((await lines.next()).value, part(big, firstOffset, CS));
  const prefetched = await helper.command<{ prefetch: { fetched: number } }>({ cmd: 'prefetch', blobs: [{ hash, size: big.length }] });
  assert.equal(prefetched.prefetch.fetched, 1, 'the whole blob arrived through fetch-batch');
  return { big, s, hash, path, helper, child, exited, lines };
}

test('a whole blob prefetched while its file is read by chunk: later reads come from the whole blob, never from the partial file\'s holes', { skip, timeout: 120_000 }, async (t) => {
  // One process keeps the file open: chunk 1 read now (a partial file with one chunk),
  // then, after the whole blob has been prefetched into the cache, the rest.
  const { big, s, hash, lines, child } = await holdOpenThenPrefetch(t, CS,
    `print(' '.join(hashlib.sha256(os.pread(fd, n, o)).hexdigest() for o, n in ((0, ${CS}), (${3 * CS}, ${2 * CS}), (${8 * MiB - 100}, 100))), flush=True)`);
  assert.ok(existsSync(join(s.cache, fanoutPath(hash))), 'the whole blob is in the cache');
  child.stdin!.write('go\n');
  assert.equal((await lines.next()).value, [part(big, 0, CS), part(big, 3 * CS, 2 * CS), part(big, 8 * MiB - 100, 100)].join(' '));
});

test('an inode open by chunk keeps opening in cached mode after its whole blob arrives (the kernel refuses mixed modes), and passes through once that open is released', { skip, timeout: 120_000 }, async (t) => {
  const { hash, path, helper, child, exited } = await holdOpenThenPrefetch(t, 0, '', { noOpen: false });
  // The chunk-mode open is still there: this open must not pass through (EIO if it did).
  const whileOpen = await runChild(['sha256sum', path]);
  assert.equal(whileOpen.code, 0, whileOpen.stderr);
  assert.equal(whileOpen.stdout.split(' ')[0], hash);
  assert.equal((await helper.stats('img')).passthroughOpens, 0);
  child.stdin!.write('done\n');
  await exited;
  // Its RELEASE reaches the daemon shortly after the process exits (the kernel sends it
  // in the background): until then opens stay in cached mode, and each must read right.
  const passthrough = kernelHasFusePassthrough();
  for (let i = 0; i < 50; i++) {
    const after = await runChild(['sha256sum', path]);
    assert.equal(after.code, 0, after.stderr);
    assert.equal(after.stdout.split(' ')[0], hash);
    if (!passthrough || (await helper.stats('img')).passthroughOpens > 0) break;
    await sleep(100);
  }
  assert.equal((await helper.stats('img')).passthroughOpens, passthrough ? 1 : 0);
});
