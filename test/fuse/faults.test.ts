// Fetch faults: server down (connection refused), a server that accepts and never
// answers, a truncated body, wrong bytes. Each gives the reader EIO within the bound
// (never a hang), leaves no cache entry or temp file, is not remembered as "not found",
// and a read after the server recovers succeeds. Cached files keep working meanwhile.
// With open-less files (noOpen) the failure shows at read(2), and the kernel follows
// a READ failed during readahead with a READ of its own: the first miss of a failed blob
// within a second is answered EIO without a fetch (native/src/lazy_fs.cc kRecentFailure),
// so that costs no second fetch, and the read after recovery fetches.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setupFuseEnv, IMAGE_ID } from './env.js';
import { fuseAvailable } from './fixtures.js';
import { runChild } from './run-child.js';
import { fanoutPath } from '../../ts/common/hash.js';

const skip = fuseAvailable() ? false : 'needs root and /dev/fuse';
const FETCH_TIMEOUT_MS = 3000;

for (const noOpen of [false, true]) {
  test(`fetch faults give EIO within the bound, cache nothing, and recover${noOpen ? ' (open-less files: EIO at read)' : ''}`, { skip, timeout: 300_000 }, async (t) => {
    const env = await setupFuseEnv(t, { fetchTimeoutMs: FETCH_TIMEOUT_MS, retries: 2, noOpen });
    // A file read while the server is healthy stays readable through every fault.
    const cachedFile = join(env.imageRoot, 'etc/hostname');
    assert.equal((await runChild(['cat', cachedFile])).stdout, 'sway-test\n');

    const faults = ['refuse', 'hang', 'truncate', 'wrong'] as const;
    for (const [i, fault] of faults.entries()) {
      const rel = env.source.files.small[10 + i]!;
      const { hash } = env.hashes.get(rel)!;
      const before = await env.helper.stats(IMAGE_ID);
      if (fault === 'refuse') await env.server.refuse();
      else env.server.mode = fault;

      // Generous child timeout: the assertion is "EIO, not killed", i.e. never a hang.
      const failed = await runChild(['cat', join(env.imageRoot, rel)], 20 * FETCH_TIMEOUT_MS);
      assert.equal(failed.signal, null, `${fault}: the reader was not left hanging`);
      assert.notEqual(failed.code, 0, `${fault}: the read failed`);
      assert.match(failed.stderr, /Input\/output error/, `${fault}: EIO`);
      const cachedAgain = await runChild(['cat', cachedFile]);
      assert.equal(cachedAgain.stdout, 'sway-test\n', `${fault}: cached files keep working`);

      const blobPath = join(env.cacheDir, fanoutPath(hash));
      await assert.rejects(stat(blobPath), `${fault}: no cache entry`);
      const leftovers = await readdir(dirname(blobPath)).catch(() => []);
      assert.deepEqual(leftovers.filter((n) => n.includes('.tmp')), [], `${fault}: no temp file left`);
      const after = await env.helper.stats(IMAGE_ID);
      assert.equal(after.serverFetches, before.serverFetches! + 1, `${fault}: one fetch, however often the kernel asked`);
      assert.ok(after.eios >= before.eios! + 1, `${fault}: the EIO counted`);

      await env.server.recover();
      const ok = await runChild(['sha256sum', join(env.imageRoot, rel)]);
      assert.equal(ok.code, 0, `${fault}: read after recovery: ${ok.stderr}`);
      assert.equal(ok.stdout.split(' ')[0], hash, `${fault}: right bytes after recovery`);
    }
  });
}
