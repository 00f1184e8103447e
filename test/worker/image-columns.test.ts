// The native tree's columns, made two ways: from a Manifest built in memory
// (manifestToColumns, entries in any order) and from a decoded manifest's table
// (tableToColumns, what a worker loads). Both must give the tree the same thing: names,
// parents, hard links' files, file-only sizes and hashes, symlink-only targets, xattrs as
// bytes, and the standard directories an image lacks (not those it has, of any type).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeManifest, readManifestTable, type Manifest } from '../../ts/common/manifest.js';
import { manifestToColumns, tableToColumns, STANDARD_DIRS } from '../../ts/worker/fuse/image-columns.js';

const H = (c: string) => c.repeat(64);

test('columns from a decoded table are the columns of the same manifest in memory', () => {
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
  assert.deepEqual(fromTable, manifestToColumns(m));
  // dev and tmp are the image's own; proc, sys and run are added (root-owned, the root's mtime).
  const added = fromTable.names.slice(m.entries.length);
  assert.deepEqual(added.sort(), Object.keys(STANDARD_DIRS).filter((d) => d !== 'dev' && d !== 'tmp').sort());
  const proc = fromTable.names.indexOf('proc');
  assert.deepEqual([fromTable.parents[proc], fromTable.kinds[proc], fromTable.modes[proc], fromTable.mtimes[proc], fromTable.linkTo[proc]], [0, 0, STANDARD_DIRS.proc, 9, -1]);
  assert.equal(fromTable.linkTo[m.entries.findIndex((e) => e.path === 'etc/shadow')], 3, 'the hard link points at its file');
  assert.deepEqual(fromTable.xattrs[5], ['security.capability', Buffer.from([1, 0, 0, 2]), 'user.x', Buffer.alloc(0)]);
});
