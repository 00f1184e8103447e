// FUSE passthrough (native/src/passthrough.h): where the kernel has it (Linux >= 6.9 with
// CONFIG_FUSE_PASSTHROUGH), a file over 1 MiB whose blob is in the disk cache is opened with a
// backing file and the kernel reads the cache file itself: the bytes are exact through
// read(2) and mmap(2), no READ reaches the daemon, and a file opened again after its
// release (whose backing id was closed) passes through again. Where the kernel lacks it,
// the same reads are served by the daemon (the fallback is checked instead). A small file
// (one read request) always opens in cached mode.
// Passthrough is chosen in the OPEN reply, so these mounts send an OPEN per open (the
// default, noOpen: false, said here; open-less files cannot pass through).
// Mixed cached-mode and passthrough opens of one inode are covered in chunks.test.ts.
// A big passthrough file held open has its blob read ahead into the page cache (prefetch.h).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setupFuseEnv, IMAGE_ID } from './env.js';
import { fuseAvailable, kernelHasFusePassthrough } from './fixtures.js';
import { runChild } from './run-child.js';
import { fanoutPath } from '../../ts/common/hash.js';

const skip = fuseAvailable() ? false : 'needs root and /dev/fuse';


const HASH_TWO_WAYS = `
import hashlib, mmap, sys
with open(sys.argv[1], 'rb') as a, open(sys.argv[1], 'rb') as b:
    # two files open on one inode at once: both share the blob's backing file
    m = mmap.mmap(b.fileno(), 0, prot=mmap.PROT_READ)
    print(hashlib.sha256(a.read()).hexdigest(), hashlib.sha256(m).hexdigest())
    m.close()
`;

test('a file over 1 MiB whose blob is in the disk cache is read through FUSE passthrough: exact bytes by read and mmap, no READ reaches the daemon, and again after release', { skip, timeout: 120_000 }, async (t) => {
  const env = await setupFuseEnv(t, { noOpen: false });
  const rel = env.source.files.big;
  const want = env.hashes.get(rel)!.hash;
  const path = join(env.imageRoot, rel);
  const passthrough = kernelHasFusePassthrough();

  // First open: the blob is fetched, then the parked open is answered from the cache.
  const first = await runChild(['sha256sum', path]);
  assert.equal(first.code, 0, first.stderr);
  assert.equal(first.stdout.split(' ')[0], want);
  let stats = await env.helper.stats(IMAGE_ID);
  assert.equal(stats.serverFetches, 1);
  assert.equal(stats.passthroughOpens, passthrough ? 1 : 0);
  assert.equal(stats.reads > 0, !passthrough, `reads that reached the daemon: ${stats.reads}`);

  // Evict the FUSE file's own pages, so a cached-mode read would have to ask the daemon.
  await runChild(['python3', '-c', 'import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)', path]);
  const readsBefore = stats.reads;
  const again = await runChild(['python3', '-c', HASH_TWO_WAYS, path]);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(again.stdout.trim().split(' '), [want, want]);
  stats = await env.helper.stats(IMAGE_ID);
  assert.equal(stats.serverFetches, 1, 'served from the disk cache');
  assert.equal(stats.passthroughOpens, passthrough ? 4 : 0, 'the fadvise open and both opens at once');
  if (passthrough) assert.equal(stats.reads, readsBefore, 'no READ reached the daemon');
  else assert.ok(stats.reads > readsBefore, 'without passthrough the daemon served the reads');
  assert.equal(stats.eios, 0);

  // A small file: cached mode, its READ reaches the daemon, passthrough or not.
  const small = env.source.files.small[99]!;
  const smallRead = await runChild(['sha256sum', join(env.imageRoot, small)]);
  assert.equal(smallRead.stdout.split(' ')[0], env.hashes.get(small)!.hash);
  const afterSmall = await env.helper.stats(IMAGE_ID);
  assert.equal(afterSmall.passthroughOpens, stats.passthroughOpens, 'no passthrough for a one-request file');
  assert.ok(afterSmall.reads > stats.reads, 'its READ reached the daemon');
});

// Holds the FUSE file open (after reading its first page) until the cache blob behind it
// is at least WANT resident in the page cache (fincore), or 10 s pass, then HOLD seconds
// more; prints the fraction.
const HOLD_OPEN_UNTIL_RESIDENT = `
import os, subprocess, sys, time
path, blob, want, hold = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
size = os.path.getsize(blob)
def resident():
    out = subprocess.run(['fincore', '--bytes', '--noheadings', '--output', 'RES', blob], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0]) / size
with open(path, 'rb', buffering=0) as f:
    f.read(4096)
    deadline = time.monotonic() + 10
    while resident() < want and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(hold)
    print(resident())
`;

test('a big passthrough file that stays open has its blob read ahead into the page cache, and a resident blob is not read again', { skip: skip || (kernelHasFusePassthrough() ? false : 'needs FUSE passthrough (Linux >= 6.9)'), timeout: 120_000 }, async (t) => {
  const bigBytes = 48 * 1024 * 1024;
  const env = await setupFuseEnv(t, { noOpen: false }, { bigBytes });
  const rel = env.source.files.big;
  const path = join(env.imageRoot, rel);
  const blob = join(env.cacheDir, fanoutPath(env.hashes.get(rel)!.hash));
  const fetched = await runChild(['cat', path]);
  assert.equal(fetched.code, 0, fetched.stderr);

  // Cold page cache: the reader reads one page and waits; the prefetch reads the rest.
  await runChild(['python3', '-c', 'import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)', blob]);
  const before = (await env.helper.stats(IMAGE_ID)).prefetchedBytes;
  const cold = await runChild(['python3', '-c', HOLD_OPEN_UNTIL_RESIDENT, path, blob, '0.95', '0']);
  assert.equal(cold.code, 0, cold.stderr);
  assert.ok(Number(cold.stdout) >= 0.95, `resident after holding the file open: ${cold.stdout.trim()}`);
  const afterCold = await env.helper.stats(IMAGE_ID);
  assert.ok(afterCold.prefetchedBytes - before >= bigBytes / 2, `prefetched ${afterCold.prefetchedBytes - before} of ${bigBytes} bytes`);

  // Warm: every step is resident, so holding it open again asks for nothing.
  const warm = await runChild(['python3', '-c', HOLD_OPEN_UNTIL_RESIDENT, path, blob, '1', '0.3']);
  assert.equal(warm.code, 0, warm.stderr);
  const afterWarm = await env.helper.stats(IMAGE_ID);
  assert.equal(afterWarm.prefetchedBytes, afterCold.prefetchedBytes, 'nothing asked for a resident blob');
  assert.equal(afterWarm.eios, 0);
});
