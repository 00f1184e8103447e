// The round trips that warm accesses cost, read from the mount's request counters
// (native/src/counters.h RequestCounts, by FUSE opcode as the daemon reads them off
// /dev/fuse): with open-less files (LazyFilesystem's noOpen, native/src/lazy_fs.h) a warm open, read
// and close of a cached file costs no request at all, and the kernel asks OPEN once per
// connection (answered ENOSYS); with an OPEN per open, it costs exactly one OPEN and one
// RELEASE (no FLUSH: opens reply FOPEN_NOFLUSH; no READ: the page cache is kept across
// opens); a warm stat of every entry costs no request at all, apart from the mount
// root's own one-second revalidations (counted apart as "LOOKUP@root"/"GETATTR@root").
// If someone empties the kernel's caches meanwhile (/proc/sys/vm/drop_caches, which other
// benchmarks on a shared machine do), a warm pass legitimately sends requests: such a
// pass is repeated, a bounded number of times.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setupFuseEnv } from './env.js';
import { fuseAvailable, kernelHasFusePassthrough } from './fixtures.js';
import { runChild } from './run-child.js';
import type { MountHelper } from './helper-client.js';

const skip = fuseAvailable() ? false : 'needs root and /dev/fuse';

function cacheDrops(): number {
  let n = 0;
  for (const m of readFileSync('/proc/vmstat', 'utf8').matchAll(/^drop_(?:pagecache|slab) (\d+)$/gm)) n += Number(m[1]);
  return n;
}

/** Requests sent while `fn` ran, without the mount root's own (its entries live one second). */
async function requestsDuring(helper: MountHelper, fn: () => Promise<void>): Promise<Record<string, number>> {
  const before = await helper.requests();
  await fn();
  const after = await helper.requests();
  const out: Record<string, number> = {};
  for (const [op, n] of Object.entries(after)) {
    if (!op.endsWith('@root') && n !== (before[op] ?? 0)) out[op] = n - (before[op] ?? 0);
  }
  return out;
}

/** Runs a warm pass until one ran with nobody dropping the caches (at most 5 tries). */
async function warmPass(helper: MountHelper, fn: () => Promise<void>): Promise<Record<string, number>> {
  for (let attempt = 0; ; attempt++) {
    const drops = cacheDrops();
    const requests = await requestsDuring(helper, fn);
    if (cacheDrops() === drops || attempt === 4) return requests;
  }
}

/** RELEASE is sent asynchronously after close(): wait (bounded) until `n` more have arrived. */
async function releasesReach(helper: MountHelper, n: number): Promise<number> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const got = (await helper.requests()).RELEASE ?? 0;
    if (got >= n || Date.now() > deadline) return got;
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Unbuffered: a buffered open() in Python asks isatty(), an ioctl (TCGETS) that the
// kernel forwards to the daemon as one more round trip (IOCTL, answered ENOSYS -> ENOTTY).
const OPEN_READ_CLOSE = `
import sys
for _ in range(int(sys.argv[2])):
    with open(sys.argv[1], 'rb', buffering=0) as f:
        f.readall()
`;

test('open-less files: the kernel asks OPEN once per connection, never RELEASE, and a warm open, read and close costs no request', { skip, timeout: 120_000 }, async (t) => {
  const env = await setupFuseEnv(t, { noOpen: true });
  const [one, two] = [env.source.files.small[50]!, env.source.files.small[51]!].map((rel) => join(env.imageRoot, rel));
  const first = await requestsDuring(env.helper, async () => {
    const r = await runChild(['python3', '-c', OPEN_READ_CLOSE, one!, '1']);
    assert.equal(r.code, 0, r.stderr);
  });
  assert.equal(first.OPEN, 1, `the first open asks once (ENOSYS: no open needs a request): ${JSON.stringify(first)}`);
  assert.ok((first.READ ?? 0) >= 1, `the first read fetches and reads through the daemon: ${JSON.stringify(first)}`);
  const second = await requestsDuring(env.helper, async () => {
    const r = await runChild(['python3', '-c', OPEN_READ_CLOSE, two!, '3']);
    assert.equal(r.code, 0, r.stderr);
  });
  assert.equal(second.OPEN, undefined, `another file opens without a request: ${JSON.stringify(second)}`);
  assert.ok((second.READ ?? 0) >= 1, `its first read reaches the daemon: ${JSON.stringify(second)}`);
  // A RELEASE would be sent asynchronously after close(): give any a chance to arrive.
  await new Promise((r) => setTimeout(r, 300));
  const counts = await env.helper.requests();
  assert.equal(counts.RELEASE, undefined, 'no RELEASE, ever');
  // The first close asks FLUSH once (no FOPEN_NOFLUSH without an OPEN reply); libfuse answers
  // ENOSYS and the kernel never asks again.
  assert.ok((counts.FLUSH ?? 0) <= 1, `FLUSH at most once: ${JSON.stringify(counts)}`);

  const requests = await warmPass(env.helper, async () => {
    const warm = await runChild(['python3', '-c', OPEN_READ_CLOSE, one!, '20']);
    assert.equal(warm.code, 0, warm.stderr);
    await new Promise((r) => setTimeout(r, 300));
  });
  assert.deepEqual(requests, {}, 'no OPEN, READ, RELEASE, FLUSH or LOOKUP on warm opens');
  assert.equal((await runChild(['sha256sum', one!])).stdout.split(' ')[0], env.hashes.get(env.source.files.small[50]!)!.hash, 'the bytes are the image\'s');
});

test('noOpen auto (the default): OPENs where the kernel offers passthrough, open-less files where it does not', { skip, timeout: 120_000 }, async (t) => {
  const opensOf = async (env: Awaited<ReturnType<typeof setupFuseEnv>>): Promise<Record<string, number>> => {
    const path = join(env.imageRoot, env.source.files.small[60]!);
    const r = await runChild(['python3', '-c', OPEN_READ_CLOSE, path, '3']);
    assert.equal(r.code, 0, r.stderr);
    return env.helper.requests();
  };
  const here = await opensOf(await setupFuseEnv(t));
  assert.equal(here.OPEN, kernelHasFusePassthrough() ? 3 : 1, `this kernel ${kernelHasFusePassthrough() ? 'offers' : 'lacks'} passthrough: ${JSON.stringify(here)}`);
  // The decision as on a kernel without passthrough (before 6.9, e.g. Debian 12's 6.1).
  process.env.SWAY_FUSE_TEST_AS_IF_NO_PASSTHROUGH = '1';
  let without: Awaited<ReturnType<typeof setupFuseEnv>>;
  try { without = await setupFuseEnv(t); } finally { delete process.env.SWAY_FUSE_TEST_AS_IF_NO_PASSTHROUGH; }
  const counts = await opensOf(without);
  assert.equal(counts.OPEN, 1, `one OPEN, answered ENOSYS: ${JSON.stringify(counts)}`);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await without.helper.requests()).RELEASE, undefined, 'no RELEASE');
});

test('an OPEN per open: a warm open and close of a cached file costs one OPEN and one RELEASE: no FLUSH, no READ', { skip, timeout: 120_000 }, async (t) => {
  const env = await setupFuseEnv(t, { noOpen: false });
  const path = join(env.imageRoot, env.source.files.small[50]!);
  // First open: fetched into the disk cache, read once (READ reaches the daemon).
  const first = await runChild(['python3', '-c', OPEN_READ_CLOSE, path, '1']);
  assert.equal(first.code, 0, first.stderr);
  const releasedFirst = await releasesReach(env.helper, 1);
  const counts = await env.helper.requests();
  assert.ok((counts.OPEN ?? 0) >= 1 && (counts.READ ?? 0) >= 1, `first open read through the daemon: ${JSON.stringify(counts)}`);
  assert.equal(releasedFirst, counts.OPEN, 'every open was released');
  // Without FOPEN_NOFLUSH the kernel would send one FLUSH (answered ENOSYS, then never again).
  assert.equal(counts.FLUSH, undefined, 'opens reply FOPEN_NOFLUSH: not one FLUSH');

  const opens = 20;
  const requests = await warmPass(env.helper, async () => {
    const before = (await env.helper.requests()).RELEASE ?? 0;
    const warm = await runChild(['python3', '-c', OPEN_READ_CLOSE, path, String(opens)]);
    assert.equal(warm.code, 0, warm.stderr);
    await releasesReach(env.helper, before + opens);
  });
  assert.deepEqual(requests, { OPEN: opens, RELEASE: opens }, 'no FLUSH, no READ, no LOOKUP on warm opens');
});

test('a warm stat of every entry sends the daemon no request (the mount root\'s own revalidations aside)', { skip, timeout: 120_000 }, async (t) => {
  const env = await setupFuseEnv(t);
  const walk = async (): Promise<void> => {
    const r = await runChild(['python3', '-c', 'import os,sys\nfor d, ds, fs in os.walk(sys.argv[1]):\n    for n in ds + fs: os.lstat(os.path.join(d, n))', env.imageRoot]);
    assert.equal(r.code, 0, r.stderr);
  };
  const first = await requestsDuring(env.helper, walk);
  assert.ok((first.READDIRPLUS ?? 0) > 0, `the first walk listed directories with attributes: ${JSON.stringify(first)}`);
  assert.equal(first.READDIR, undefined, 'every listing is readdirplus');
  assert.deepEqual(await warmPass(env.helper, walk), {}, 'the second walk is served by the kernel alone');
});
