// The native tree takes what the JS layer lets through (ts/common/manifest.ts bounds every
// size) and must never take the process down with it: a file whose size is over those
// bounds, read by chunk, is answered with EIO instead of a chunk map of 2^37 entries (a
// std::bad_alloc on a FUSE thread, which was std::terminate for every user of the worker).
// The columns go to the addon directly here, past the validation, as a bug in it would
// let them. Every access to the mount is from a child process (the deadlock rule).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { loadAddon, type ImageColumns } from '../../ts/worker/fuse/native.js';
import { makeTempDir } from '../helpers/tmp.js';
import { fuseAvailable } from './fixtures.js';
import { runChild } from './run-child.js';

const skip = fuseAvailable() ? false : 'needs root and /dev/fuse';
const CHUNK = 64 * 1024;

/** Root, plus one file per [name, size], each its own content, read by chunk. */
function columns(files: [string, number][]): ImageColumns {
  const n = files.length + 1;
  const cols: ImageColumns = {
    names: ['', ...files.map(([name]) => name)], parents: Int32Array.from({ length: n }, (_, i) => (i ? 0 : -1)),
    kinds: Uint8Array.from({ length: n }, (_, i) => (i ? 1 : 0)), modes: Uint32Array.from({ length: n }, (_, i) => (i ? 0o644 : 0o755)),
    uids: new Uint32Array(n), gids: new Uint32Array(n), mtimes: new Float64Array(n), sizes: Float64Array.from([0, ...files.map(([, size]) => size)]),
    hashes: ['', ...files.map((_, i) => String(i + 1).repeat(64))], targets: new Array<string>(n).fill(''), linkTo: new Int32Array(n).fill(-1), xattrs: new Array(n).fill(null),
    chunkSizes: Uint32Array.from({ length: n }, (_, i) => (i ? CHUNK : 0)),
  };
  return cols;
}

// Reads the last byte of each file; prints "name errno" (0: read) per file.
const READ_LAST = `
import os, sys
for p in sys.argv[1:]:
    try:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.pread(fd, 1, max(os.fstat(fd).st_size - 1, 0))
            print(os.path.basename(p), 0)
        finally:
            os.close(fd)
    except OSError as e:
        print(os.path.basename(p), e.errno)
`;

test('a file over the promised size bound, read by chunk, gets EIO and the serving process stays up', { skip, timeout: 120_000 }, async (t) => {
  const dir = await makeTempDir(t, 'sway-native-bounds-');
  const mountpoint = join(dir, 'mnt');
  await mkdir(mountpoint);
  const { NativeMount } = loadAddon();
  // Every chunk miss fails at once: no fileserver here, and no chunk needs to arrive.
  const fs = new NativeMount({ mountpoint, cacheDir: join(dir, 'cache'), threads: 2, noOpen: false }, (hash, _size, chunkSize, first, count) => {
    if (chunkSize) fs.chunksReady(hash, first!, count!, osConstants.errno.EIO, 0);
    else fs.blobReady(hash, osConstants.errno.EIO);
  });
  await mkdir(join(dir, 'cache'), { recursive: true });
  fs.mount();
  t.after(() => fs.unmount());
  // 2^53 - 1 bytes: 2^37 chunks of 64 KiB (a 128 GiB chunk map); 2^40 + 1: just over the bound.
  fs.loadImage('img', ['img'], columns([['huge', 2 ** 53 - 1], ['over', 2 ** 40 + CHUNK]]));
  const root = join(mountpoint, 'img');
  const read = await runChild(['python3', '-c', READ_LAST, join(root, 'huge'), join(root, 'over')]);
  assert.equal(read.code, 0, read.stderr);
  assert.equal(read.stdout, `huge ${osConstants.errno.EIO}\nover ${osConstants.errno.EIO}\n`);
  // Still serving: the tree answers, and the failed opens were counted.
  const ls = await runChild(['ls', root]);
  assert.equal(ls.stdout, 'huge\nover\n');
  assert.ok(fs.stats('img')!.eios >= 2);
});
