// The native tree's columns from a decoded manifest's table (tableToColumns, what every
// image load goes through): names, parents, hard links' files, file-only sizes and
// hashes, symlink-only targets, xattrs as bytes, and the standard directories an image
// lacks (not those it has, of any type).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeManifest, readManifestTable, type Manifest } from '../../ts/common/manifest.js';
import { tableToColumns, STANDARD_DIRS } from '../../ts/worker/fuse/image-columns.js';

const H = (c: string) => c.repeat(64);

test('columns from a decoded table: every column, entry by entry, and the standard directories added', () => {
  const m: Manifest = {
    version: 1,
    config: { env: [], entrypoint: null, cmd: null, workingDir: '/', user: '' },
    entries: [
      { path: '', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 9, size: 0 },
      { path: 'dev', type: 'dir', mode: 0o700, uid: 0, gid: 0, mtime: 5, size: 0 },
      { path: 'etc', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 5, size: 0 },
      { path: 'etc/passwd', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 5, size: 3, hash: H('a') },
      { path: 'etc/shadow', type: 'hardlink', mode: 0o644, uid: 0, gid: 0, mtime: 5, size: 3, hash: H('a'), target: 'etc/passwd' },
      { path: 'ping', type: 'file', mode: 0o755, uid: 0, gid: 0, mtime: 5, size: 4, hash: H('b'), xattrs: { 'security.capability': Buffer.from([1, 0, 0, 2]).toString('base64'), 'user.x': '' } },
      { path: 'tmp', type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 5, size: 7, target: 'var/tmp' },
    ],
  };
  const fromTable = tableToColumns(readManifestTable(encodeManifest(m)));
  // Entries in path order, then proc, sys and run (dev and tmp are the image's own).
  assert.deepEqual(fromTable.names, ['', 'dev', 'etc', 'passwd', 'shadow', 'ping', 'tmp', 'proc', 'sys', 'run']);
  assert.deepEqual([...fromTable.parents], [-1, 0, 0, 2, 2, 0, 0, 0, 0, 0]);
  assert.deepEqual([...fromTable.kinds], [0, 0, 0, 1, 3, 1, 2, 0, 0, 0]);
  assert.deepEqual([...fromTable.modes], [0o755, 0o700, 0o755, 0o644, 0o644, 0o755, 0o777, 0o555, 0o555, 0o755]);
  assert.deepEqual([...fromTable.uids, ...fromTable.gids], new Array(20).fill(0));
  assert.deepEqual([...fromTable.mtimes], [9, 5, 5, 5, 5, 5, 5, 9, 9, 9]);
  assert.deepEqual([...fromTable.sizes], [0, 0, 0, 3, 0, 4, 0, 0, 0, 0], 'sizes of files only');
  assert.deepEqual(fromTable.hashes, ['', '', '', H('a'), '', H('b'), '', '', '', ''], 'hashes of files only');
  assert.deepEqual(fromTable.targets, ['', '', '', '', '', '', 'var/tmp', '', '', ''], 'targets of symlinks only');
  assert.deepEqual([...fromTable.linkTo], [-1, -1, -1, -1, 3, -1, -1, -1, -1, -1]);
  assert.deepEqual(fromTable.xattrs.map((x) => x !== null), [false, false, false, false, false, true, false, false, false, false]);
  // dev and tmp are the image's own; proc, sys and run are added (root-owned, the root's mtime).
  const added = fromTable.names.slice(m.entries.length);
  assert.deepEqual(added.sort(), Object.keys(STANDARD_DIRS).filter((d) => d !== 'dev' && d !== 'tmp').sort());
  const proc = fromTable.names.indexOf('proc');
  assert.deepEqual([fromTable.parents[proc], fromTable.kinds[proc], fromTable.modes[proc], fromTable.mtimes[proc], fromTable.linkTo[proc]], [0, 0, STANDARD_DIRS.proc, 9, -1]);
  assert.equal(fromTable.linkTo[m.entries.findIndex((e) => e.path === 'etc/shadow')], 3, 'the hard link points at its file');
  assert.deepEqual(fromTable.xattrs[5], ['security.capability', Buffer.from([1, 0, 0, 2]), 'user.x', Buffer.alloc(0)]);
});
