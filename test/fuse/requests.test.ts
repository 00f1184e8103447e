// The round trips that warm accesses cost, read from the mount's request counters
// (native/src/counters.h RequestCounts, by FUSE opcode as the daemon reads them off
// /dev/fuse): a warm open and close of a cached file costs exactly one OPEN and one
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
import { fuseAvailable } from './fixtures.js';
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

test('a warm open and close of a cached file costs one OPEN and one RELEASE: no FLUSH, no READ', { skip, timeout: 120_000 }, async (t) => {
  const env = await setupFuseEnv(t);
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
