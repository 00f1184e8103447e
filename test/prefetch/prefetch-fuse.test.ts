// Prefetch on a real FUSE mount from a real fileserver (TLS): profiled blobs arrive through
// POST /v1/blobs/fetch-batch and reads then need no fetch of their own; a reader that
// misses a blob whose batch is in flight joins it (one fetch per blob); a corrupt blob in
// a batch never enters the cache and only that file fails; a fileserver that never answers
// the batch does not hold readers up beyond the join bound.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir } from '../helpers/tmp.js';
import { startFixture, type Fixture } from '../fileserver/fixture.js';
import { fuseAvailable } from '../fuse/fixtures.js';
import { blobRelPath } from '../../ts/fileserver/store/local-store.js';
import { publishRandomImage, type PublishedImage } from './image.js';

const skip = fuseAvailable() ? false : 'needs root and /dev/fuse';
const HELPER = join(dirname(fileURLToPath(import.meta.url)), 'prefetch-helper.js');

class Helper {
  private readonly waiting: ((line: string) => void)[] = [];
  stderr = '';
  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (l) => this.waiting.shift()?.(l));
    child.stderr!.on('data', (d: Buffer) => { this.stderr += d.toString(); });
    child.on('exit', (code, signal) => { if (code !== 0) console.error(`prefetch helper exited (${code ?? signal}): ${this.stderr}`); });
  }
  next(): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      this.waiting.push((l) => resolve(JSON.parse(l) as Record<string, unknown>));
      this.child.once('exit', (code) => reject(new Error(`helper exited ${code}: ${this.stderr}`)));
    });
  }
  async command<T>(cmd: Record<string, unknown>): Promise<T> {
    const answer = this.next();
    this.child.stdin!.write(JSON.stringify(cmd) + '\n');
    const msg = await answer;
    if (msg.error) throw new Error(String(msg.error));
    return msg as T;
  }
}

async function setup(t: TestContext, count: number): Promise<{ fx: Fixture; img: PublishedImage; helper: Helper; root: string; dataDir: string }> {
  const fx = await startFixture(t);
  const img = await publishRandomImage(fx.alice, 'alice/app:latest', count);
  const dir = await makeTempDir(t, 'sway-prefetch-');
  const mountpoint = join(dir, 'mnt');
  await mkdir(mountpoint);
  const manifestFile = join(dir, 'manifest.json');
  await writeFile(manifestFile, JSON.stringify(img.manifest));
  const configFile = join(dir, 'helper.json');
  await writeFile(configFile, JSON.stringify({ mountpoint, cacheDir: join(dir, 'cache'), imageId: img.id, manifestFile, fileserver: { url: fx.server.url, token: fx.tokens.worker, caFile: fx.server.caCertPath } }));
  const helper = new Helper(spawn(process.execPath, [HELPER, configFile], { stdio: ['pipe', 'pipe', 'pipe'] }));
  const ready = await helper.next();
  assert.equal(ready.ready, true);
  // Registered after the fixture's own hook: runs first (hooks run in reverse), unmounting before the server stops.
  t.after(async () => {
    if (helper.child.exitCode === null) await helper.command({ cmd: 'unmount' }).catch(() => {});
  });
  return { fx, img, helper, root: join(mountpoint, img.id), dataDir: fx.dataDir };
}

const blobGets = (fx: Fixture) => fx.logs.filter((l) => /^GET \/v1\/blobs\/[0-9a-f]{64} /.test(l)).length;
const batches = (fx: Fixture) => fx.logs.filter((l) => l.startsWith('POST /v1/blobs/fetch-batch ')).length;
const prefetchCmd = (img: PublishedImage, extra: Record<string, unknown> = {}) =>
  ({ cmd: 'prefetch', hashes: img.files.map((f) => f.hash), sizes: img.files.map((f) => f.content.length), ...extra });

test('a prefetched profile is fetched through fetch-batch, and reads then fetch nothing themselves', { skip, timeout: 120_000 }, async (t) => {
  const { fx, img, helper, root } = await setup(t, 40);
  await helper.command(prefetchCmd(img, { batchBytes: 200_000, concurrency: 2 }));
  const { result } = await helper.command<{ result: { fetched: number; failed: number; bytes: number } }>({ cmd: 'prefetchResult' });
  assert.equal(result.fetched, 40);
  assert.equal(result.failed, 0);
  assert.equal(result.bytes, img.files.reduce((n, f) => n + f.content.length, 0));
  assert.ok(batches(fx) >= 2, `several batches (${batches(fx)})`);
  for (const f of img.files) assert.deepEqual(await readFile(join(root, f.path)), f.content, f.path);
  const { stats } = await helper.command<{ stats: Record<string, number> }>({ cmd: 'stats' });
  assert.equal(stats.serverFetches, 0, 'no read had to fetch');
  assert.equal(stats.diskHits, 40);
  assert.equal(blobGets(fx), 0, 'no single-blob request reached the fileserver');
});

test('a reader that misses a blob of a batch in flight joins that fetch: one fetch per blob', { skip, timeout: 120_000 }, async (t) => {
  const { fx, img, helper, root } = await setup(t, 5);
  await helper.command(prefetchCmd(img, { gate: true, joinTimeoutMs: 60_000, concurrency: 1 }));
  const reading = readFile(join(root, img.files[2]!.path)); // parks on the miss; the batch holds it
  // The reader is parked once the native layer counts the miss.
  for (let i = 0; i < 600; i++) {
    const { stats } = await helper.command<{ stats: Record<string, number> }>({ cmd: 'stats' });
    if (stats.serverFetches === 1) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await helper.command({ cmd: 'release' });
  assert.deepEqual(await reading, img.files[2]!.content);
  const { result } = await helper.command<{ result: { fetched: number; joined: number } }>({ cmd: 'prefetchResult' });
  assert.equal(result.fetched, 5);
  assert.equal(result.joined, 1);
  assert.equal(blobGets(fx), 0, 'the reader did not fetch the blob again');
  assert.equal(batches(fx), 1);
});

test('a corrupt blob in a prefetch batch never enters the cache; only its file fails, the rest are served', { skip, timeout: 120_000 }, async (t) => {
  const { fx, img, helper, root, dataDir } = await setup(t, 6);
  const bad = img.files[3]!;
  // Bit rot on the fileserver's disk: the server sends bytes that do not match the hash.
  const stored = join(dataDir, 'blobs', blobRelPath(bad.hash));
  const rotten = Buffer.from(await readFile(stored));
  rotten[100] = rotten[100]! ^ 0xff;
  await writeFile(stored, rotten);
  await helper.command(prefetchCmd(img));
  const { result } = await helper.command<{ result: { fetched: number; failed: number } }>({ cmd: 'prefetchResult' });
  assert.equal(result.fetched, 5);
  assert.equal(result.failed, 1);
  assert.equal((await helper.command<{ cached: boolean }>({ cmd: 'cached', hash: bad.hash })).cached, false);
  for (const f of img.files) {
    if (f === bad) await assert.rejects(readFile(join(root, f.path)), { code: 'EIO' });
    else assert.deepEqual(await readFile(join(root, f.path)), f.content, f.path);
  }
  assert.equal((await helper.command<{ cached: boolean }>({ cmd: 'cached', hash: bad.hash })).cached, false, 'the retry by the miss path refused it too');
  const { stats } = await helper.command<{ stats: Record<string, number> }>({ cmd: 'stats' });
  assert.equal(stats.eios, 1);
  assert.equal(stats.diskHits, 5);
});

test('a fileserver that never answers the batch holds readers no longer than the join bound', { skip, timeout: 120_000 }, async (t) => {
  const { fx, img, helper, root } = await setup(t, 8);
  // Batches of ~2 blobs, one in flight: the first stalls, the others wait their turn.
  await helper.command(prefetchCmd(img, { stall: true, joinTimeoutMs: 1000, concurrency: 1, batchBytes: 45_000 }));
  const started = Date.now();
  for (const f of img.files) assert.deepEqual(await readFile(join(root, f.path)), f.content, f.path);
  // Correctness bound with a wide margin (the join bound is 1 s; each fetch is ms).
  assert.ok(Date.now() - started < 30_000, `reads took ${Date.now() - started} ms`);
  assert.equal(blobGets(fx), 8, 'every blob was fetched on its own, once');
  const { stats } = await helper.command<{ stats: Record<string, number> }>({ cmd: 'stats' });
  assert.equal(stats.eios, 0);
});
