// Start profiles and big files fetched by chunk, with a real fileserver and a real worker
// (FUSE, runc): a file a run read whole, chunk by chunk, enters the image's profile (its
// partial copy became a whole blob), so the next cold run gets it whole in a prefetch
// batch and asks for none of its chunks (its bytes still count as the run's fetched
// bytes); a file a run read only in part enters it as the chunks it read, which the next
// cold run prefetches by chunk, so that run's reads fetch nothing themselves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeTempDir } from '../helpers/tmp.js';
import { startFixture } from '../fileserver/fixture.js';
import { makeBusyboxRootfs, HAVE_RUNTIME, collectRun } from '../worker/fixtures.js';
import { publishTree } from '../worker/publish.js';
import { startWorker, type Worker } from '../../ts/worker/index.js';
import { WorkerClient } from '../../ts/worker/client.js';
import { ADDON_PATH } from '../../ts/worker/fuse/native.js';
import { sha256 } from '../../ts/common/hash.js';
import { DEFAULT_CHUNK_SIZE } from '../../ts/common/manifest.js';

const skip = HAVE_RUNTIME && existsSync('/dev/fuse') && existsSync(ADDON_PATH) ? false : 'needs root, /dev/fuse, busybox and the built FUSE addon';
const BIG = 3 * 1024 * 1024; // chunked: over 1 MiB

test('a big file read whole enters the start profile and is prefetched whole; one read in part stays chunked', { skip, timeout: 300_000 }, async (t) => {
  const fx = await startFixture(t);
  const dir = await makeTempDir(t, 'sway-chunked-profile-');
  const rootfs = await makeBusyboxRootfs(join(dir, 'rootfs'));
  await mkdir(join(rootfs, 'data'));
  const whole = randomBytes(BIG);
  const part = randomBytes(BIG);
  await writeFile(join(rootfs, 'data', 'whole.bin'), whole);
  await writeFile(join(rootfs, 'data', 'part.bin'), part);
  const small = randomBytes(5000);
  await writeFile(join(rootfs, 'data', 'small.bin'), small);
  const wholeHash = sha256(whole);
  const partHash = sha256(part);
  const image = await publishTree(fx.alice, rootfs, 'alice/big:latest', { workingDir: '/' });

  const workerDir = join(dir, 'worker');
  let worker: Worker | undefined;
  let client: WorkerClient | undefined;
  const stop = async () => { await client?.close(); await worker?.close(); client = undefined; worker = undefined; };
  t.after(stop);
  const coldStart = async () => {
    await stop();
    await rm(join(workerDir, 'cache'), { recursive: true, force: true });
    await rm(join(workerDir, 'manifests'), { recursive: true, force: true });
    worker = await startWorker({ dataDir: workerDir, host: '127.0.0.1', port: 0, fileserverUrl: fx.server.url, token: fx.tokens.worker, caFile: fx.server.caCertPath, log: (l) => workerLog.push(l) });
    client = new WorkerClient({ url: worker.url, token: fx.tokens.alice, caFile: worker.caCertPath });
  };
  // The pause lets the prefetch (started when the run resolved the image) finish first.
  const run = async (pauseSec: number) => {
    // whole.bin: its first 1000 bytes, then small.bin, then the rest of whole.bin.
    const r = await collectRun(client!, { image: 'alice/big:latest', command: ['sh', '-c',
      `sleep ${pauseSec}; exec 3</data/whole.bin; dd bs=1000 count=1 <&3 >/dev/null 2>&1; cat /data/small.bin >/dev/null; cat <&3 | sha256sum; head -c 100000 /data/part.bin | wc -c`] });
    assert.equal(r.exit, 0, r.stderr);
    assert.equal(r.stdout.split(/\s+/)[0], sha256(whole.subarray(1000)), 'whole.bin read right');
    assert.match(r.stdout, /\n100000\n$/);
    const runs = await client!.http.json<{ runs: { bytesFetched: number; serverFetches: number }[] }>('/v1/runs?limit=1');
    return runs.runs[0]!;
  };
  const workerLog: string[] = [];
  const getsOf = (hash: string) => fx.logs.filter((l) => l.startsWith(`GET /v1/blobs/${hash} `)).length;

  await coldStart();
  await run(1);
  assert.ok(getsOf(wholeHash) >= 1 && getsOf(partHash) >= 1, 'the first run fetched both by chunk');
  let profile: Awaited<ReturnType<typeof fx.alice.getStartProfile>>;
  for (let i = 0; i < 100 && !profile?.blobs.some((b) => b.hash === wholeHash); i++) { await sleep(100); profile = await fx.alice.getStartProfile(image.id); }
  assert.ok(profile?.blobs.some((b) => b.hash === wholeHash), 'the file read whole is in the profile');
  assert.ok(!profile!.blobs.some((b) => b.hash === partHash), 'the file read in part is not, as a blob');
  const at = (hash: string) => profile!.blobs.findIndex((b) => b.hash === hash);
  assert.ok(at(wholeHash) < at(sha256(small)), 'whole.bin takes the place of its first read, before small.bin (read before whole.bin was complete)');
  const partRuns = profile!.chunks.find((c) => c.hash === partHash)?.runs ?? [];
  assert.ok(partRuns.length && partRuns[0]![0] === 0, `its first chunk is among the profile's chunk runs (${JSON.stringify(partRuns)})`);
  const partChunks = partRuns.reduce((n, [, count]) => n + count, 0);
  assert.ok(partChunks < BIG / DEFAULT_CHUNK_SIZE, `only some of its chunks are (${partChunks})`);

  const wholeGets = getsOf(wholeHash);
  const partGets = getsOf(partHash);
  await coldStart();
  const second = await run(3);
  assert.equal(getsOf(wholeHash), wholeGets, 'the cold run asked for no chunk of the prefetched file');
  // Its reads were served from the prefetched whole blob: those bytes are the run's too.
  assert.ok(second.bytesFetched >= BIG + 100_000, `the run's fetched bytes count the prefetched file (${second.bytesFetched})`);
  // The prefetch asked for the profile's chunk runs of part.bin (before the run read, which
  // waits 3 s); the run itself asked only for chunks beyond them (the kernel's readahead).
  const prefetchLine = workerLog.find((l) => l.startsWith('prefetch of image'));
  assert.match(prefetchLine ?? '', / and 1 chunk runs of 1 files read by chunk/, `the worker prefetched part.bin's chunk run (${prefetchLine})`);
  const rangesOf = (hash: string) => fx.logs.filter((l) => l.startsWith(`GET /v1/blobs/${hash} `)).map((l) => / range=bytes=(\d+)-(\d+)/.exec(l)).map((m) => [Number(m![1]), Number(m![2])]);
  const [prefetched, ...byTheRun] = rangesOf(partHash).slice(partGets);
  const profiledEnd = (partRuns.at(-1)![0] + partRuns.at(-1)![1]) * DEFAULT_CHUNK_SIZE;
  assert.deepEqual(prefetched, [partRuns[0]![0] * DEFAULT_CHUNK_SIZE, (partRuns[0]![0] + partRuns[0]![1]) * DEFAULT_CHUNK_SIZE - 1], 'the first request for part.bin is the profile\'s run');
  for (const [start] of byTheRun) assert.ok(start! >= profiledEnd, `the run asked for no chunk the profile holds (range from ${start})`);
});
