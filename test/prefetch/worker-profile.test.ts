// Start profiles end to end with a real fileserver (TLS, SQLite) and a real worker (FUSE
// mount, runc): a run records the blobs it read and the worker stores them as the image's
// profile; after a restart on an empty cache, the next run's blobs come through
// fetch-batch while it starts, so its own fetch count drops and no data file is fetched
// on its own; with prefetch turned off the worker fetches one by one again. Profiles are
// the run user's: two users of one image each get their own, recorded by their own runs,
// and runs of theirs that overlap put neither one's reads into the other's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { makeTempDir } from '../helpers/tmp.js';
import { startFixture } from '../fileserver/fixture.js';
import { makeBusyboxRootfs, HAVE_RUNTIME, collectRun } from '../worker/fixtures.js';
import { publishTree } from '../worker/publish.js';
import { startWorker, type Worker } from '../../ts/worker/index.js';
import { WorkerClient } from '../../ts/worker/client.js';
import { ADDON_PATH } from '../../ts/worker/fuse/native.js';
import { sha256 } from '../../ts/common/hash.js';

const skip = HAVE_RUNTIME && existsSync('/dev/fuse') && existsSync(ADDON_PATH) ? false : 'needs root, /dev/fuse, busybox and the built FUSE addon';
const FILES = 30;

test('a run records the image\'s start profile; a cold run with it prefetches through fetch-batch and fetches fewer blobs itself', { skip, timeout: 300_000 }, async (t) => {
  const fx = await startFixture(t);
  const dir = await makeTempDir(t, 'sway-profile-worker-');
  const rootfs = await makeBusyboxRootfs(join(dir, 'rootfs'));
  await mkdir(join(rootfs, 'data'));
  const dataHashes = new Set<string>();
  for (let i = 0; i < FILES; i++) {
    const content = randomBytes(40_000 + i);
    dataHashes.add(sha256(content));
    await writeFile(join(rootfs, 'data', `f${String(i).padStart(2, '0')}`), content);
  }
  const image = await publishTree(fx.alice, rootfs, 'alice/data:latest', { workingDir: '/' });
  const workerDir = join(dir, 'worker');
  let worker: Worker | undefined;
  let client: WorkerClient | undefined;
  const stop = async () => { await client?.close(); await worker?.close(); client = undefined; worker = undefined; };
  t.after(stop);
  const start = async (prefetch: boolean) => {
    worker = await startWorker({ dataDir: workerDir, host: '127.0.0.1', port: 0, fileserverUrl: fx.server.url, token: fx.tokens.worker, caFile: fx.server.caCertPath, prefetch, log: () => {} });
    client = new WorkerClient({ url: worker.url, token: fx.tokens.alice, caFile: worker.caCertPath });
  };
  const coldRestart = async (prefetch: boolean) => {
    await stop();
    await rm(join(workerDir, 'cache'), { recursive: true, force: true });
    await rm(join(workerDir, 'manifests'), { recursive: true, force: true });
    await start(prefetch);
  };
  // The data is read after a pause, so the profile's answer has arrived; readers of blobs
  // whose batch is in flight join it either way.
  const readAll = async () => {
    const r = await collectRun(client!, { image: 'alice/data:latest', command: ['sh', '-c', 'sleep 2; cat /data/* | wc -c'] });
    assert.equal(r.exit, 0, r.stderr);
    assert.equal(r.stdout.trim(), String(Array.from({ length: FILES }, (_, i) => 40_000 + i).reduce((a, b) => a + b, 0)));
    const runs = await client!.http.json<{ runs: { id: string; serverFetches: number; bytesFetched: number; diskHits: number }[] }>('/v1/runs?limit=1');
    return runs.runs[0]!;
  };
  const dataGets = () => fx.logs.filter((l) => { const m = /^GET \/v1\/blobs\/([0-9a-f]{64}) /.exec(l); return m && dataHashes.has(m[1]!); }).length;
  const batchPosts = () => fx.logs.filter((l) => l.startsWith('POST /v1/blobs/fetch-batch ')).length;

  await start(true);
  const first = await readAll();
  assert.ok(first.serverFetches >= FILES, `the first run fetched every data file itself (${first.serverFetches})`);
  assert.equal(dataGets(), FILES);
  assert.equal(batchPosts(), 0, 'no profile yet: nothing to prefetch');

  // The profile is stored after the run ends (in the background): wait for it, bounded.
  let profile: string[] | undefined;
  for (let i = 0; i < 300 && !(profile && [...dataHashes].every((h) => profile!.includes(h))); i++) {
    await new Promise((r) => setTimeout(r, 100));
    profile = await fx.alice.getProfile(image.id);
  }
  assert.ok(profile, 'the run stored a start profile');
  for (const h of dataHashes) assert.ok(profile.includes(h), `profile holds data blob ${h}`);
  // The worker's own reads before the container starts (its user's passwd and group) come first.
  const accountHashes = [sha256(await readFile(join(rootfs, 'etc', 'passwd'))), sha256(await readFile(join(rootfs, 'etc', 'group')))];
  assert.deepEqual(new Set(profile.slice(0, 2)), new Set(accountHashes), 'the profile starts with /etc/passwd and /etc/group');
  const accountGets = () => fx.logs.filter((l) => accountHashes.some((h) => l.startsWith(`GET /v1/blobs/${h} `))).length;

  await coldRestart(true);
  const gotsBefore = dataGets();
  const accountGetsBefore = accountGets();
  const second = await readAll();
  assert.equal(accountGets(), accountGetsBefore, 'passwd and group came with the prefetch, not on their own');
  assert.ok(batchPosts() >= 1, 'the profiled blobs came through fetch-batch');
  assert.equal(dataGets() - gotsBefore, 0, 'no data file was fetched on its own');
  assert.ok(second.serverFetches < first.serverFetches, `fewer fetches of its own (${second.serverFetches} < ${first.serverFetches})`);
  assert.ok(second.serverFetches <= 2, `at most the few blobs read before the prefetch arrived (${second.serverFetches})`);
  assert.ok(second.bytesFetched >= first.bytesFetched, 'prefetched bytes are counted as fetched for the run');

  await coldRestart(false);
  const batchesBefore = batchPosts();
  const third = await readAll();
  assert.equal(batchPosts(), batchesBefore, 'prefetch off: no batch');
  assert.ok(third.serverFetches >= FILES, `prefetch off: every file fetched on its own (${third.serverFetches})`);
});

test('a run records its own user\'s profile only: another user of the same image keeps his own, recorded by his runs', { skip, timeout: 300_000 }, async (t) => {
  const fx = await startFixture(t);
  const dir = await makeTempDir(t, 'sway-profile-owner-');
  const rootfs = await makeBusyboxRootfs(join(dir, 'rootfs'));
  await mkdir(join(rootfs, 'data'));
  const content = (name: string) => Buffer.from(`${name}: `.repeat(2000));
  for (const name of ['a0', 'a1', 'a2', 'b0']) await writeFile(join(rootfs, 'data', name), content(name));
  const hash = (name: string) => sha256(content(name));
  // Both export the same tree: one image id.
  const image = await publishTree(fx.alice, rootfs, 'alice/data:latest', { workingDir: '/' });
  assert.equal((await publishTree(fx.bob, rootfs, 'bob/data:latest', { workingDir: '/' })).id, image.id);
  const worker = await startWorker({ dataDir: join(dir, 'worker'), host: '127.0.0.1', port: 0, fileserverUrl: fx.server.url, token: fx.tokens.worker, caFile: fx.server.caCertPath, log: () => {} });
  t.after(() => worker.close());
  const run = async (token: string, image: string, command: string) => {
    const client = new WorkerClient({ url: worker.url, token, caFile: worker.caCertPath });
    try {
      const r = await collectRun(client, { image, command: ['sh', '-c', command] });
      assert.equal(r.exit, 0, r.stderr);
    } finally { await client.close(); }
  };
  // The profile is stored after the run ends (in the background): wait for it, bounded.
  const profileHolding = async (owner: typeof fx.alice, wanted: string[]) => {
    let profile: string[] | undefined;
    for (let i = 0; i < 300 && !(profile && wanted.every((h) => profile!.includes(h))); i++) {
      await new Promise((r) => setTimeout(r, 100));
      profile = await owner.getProfile(image.id);
    }
    assert.ok(profile && wanted.every((h) => profile!.includes(h)), `the run stored its profile (${JSON.stringify(profile)})`);
    return profile;
  };

  await run(fx.tokens.alice, 'alice/data:latest', 'cat /data/a0 /data/a1 /data/a2 >/dev/null');
  const alices = await profileHolding(fx.alice, ['a0', 'a1', 'a2'].map(hash));
  assert.equal(await fx.bob.getStartProfile(image.id), undefined, 'A\'s run recorded nothing for B');

  // B's run of the same image on the same worker (loaded already) records B's profile.
  await run(fx.tokens.bob, 'bob/data:latest', 'cat /data/b0 >/dev/null');
  // With the worker's own reads before the container starts, though those bytes are memoised.
  const accounts = [sha256(await readFile(join(rootfs, 'etc', 'passwd'))), sha256(await readFile(join(rootfs, 'etc', 'group')))];
  const bobs = await profileHolding(fx.bob, [hash('b0'), ...accounts]);
  assert.deepEqual(new Set(bobs.slice(0, 2)), new Set(accounts), `B's profile starts with /etc/passwd and /etc/group (${JSON.stringify(bobs)})`);
  for (const name of ['a0', 'a1', 'a2']) assert.ok(!bobs.includes(hash(name)), `B's profile holds none of A's reads (${name})`);
  assert.deepEqual(await fx.alice.getProfile(image.id), alices, 'B\'s run left A\'s profile as it was');
});

test('overlapping runs of one image by two users put neither one\'s reads into the other\'s profile', { skip, timeout: 300_000 }, async (t) => {
  const fx = await startFixture(t);
  const dir = await makeTempDir(t, 'sway-profile-overlap-');
  const rootfs = await makeBusyboxRootfs(join(dir, 'rootfs'));
  await mkdir(join(rootfs, 'data'));
  const content = (name: string) => Buffer.from(`${name}: `.repeat(2000));
  for (const name of ['a0', 'b0']) await writeFile(join(rootfs, 'data', name), content(name));
  const image = await publishTree(fx.alice, rootfs, 'alice/data:latest', { workingDir: '/' });
  assert.equal((await publishTree(fx.bob, rootfs, 'bob/data:latest', { workingDir: '/' })).id, image.id);
  const worker = await startWorker({ dataDir: join(dir, 'worker'), host: '127.0.0.1', port: 0, fileserverUrl: fx.server.url, token: fx.tokens.worker, caFile: fx.server.caCertPath, log: () => {} });
  let closed = false;
  const close = async () => { if (!closed) { closed = true; await worker.close(); } };
  t.after(close);
  const alice = new WorkerClient({ url: worker.url, token: fx.tokens.alice, caFile: worker.caCertPath });
  const bob = new WorkerClient({ url: worker.url, token: fx.tokens.bob, caFile: worker.caCertPath });
  t.after(async () => { await alice.close(); await bob.close(); });

  // A's run reads a0 and waits; B's whole run (it reads b0) happens meanwhile.
  const cancel = new AbortController();
  let aliceRead!: () => void;
  const read = new Promise<void>((resolve) => { aliceRead = resolve; });
  const aliceRun = alice.run({ image: 'alice/data:latest', command: ['sh', '-c', 'cat /data/a0; sleep 120'] }, { onStdout: () => aliceRead(), signal: cancel.signal }).catch(() => undefined);
  await read;
  const b = await collectRun(bob, { image: 'bob/data:latest', command: ['sh', '-c', 'cat /data/b0 >/dev/null'] });
  assert.equal(b.exit, 0, b.stderr);
  cancel.abort();
  await aliceRun;
  await close(); // waits for the profile uploads of both runs
  const alices = await fx.alice.getProfile(image.id);
  const bobs = await fx.bob.getProfile(image.id);
  assert.ok(!alices?.includes(sha256(content('b0'))), `B's read is not in A's profile (${JSON.stringify(alices)})`);
  assert.ok(!bobs?.includes(sha256(content('a0'))), `A's read is not in B's profile (${JSON.stringify(bobs)})`);
});
