// Test fixtures for the FUSE tests: a source tree with every kind of entry an image has
// (files, empty files, nested dirs, symlinks incl. a dir symlink and a dangling one,
// hard links, setuid/setgid/sticky, odd owners, user.* and security.capability xattrs),
// its manifest, and a blob store holding its contents as the fileserver would.
// Also: snapshots of a tree taken in a child process (python3), never in this process;
// whether FUSE (and FUSE passthrough) is available here.
import * as fsp from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { release } from 'node:os';
import { promisify } from 'node:util';
import { createHash, randomBytes } from 'node:crypto';
import { fanoutPath } from '../../ts/common/hash.js';
import { emptyImageConfig, type Manifest, type ManifestEntry } from '../../ts/common/manifest.js';
import { REPO_ROOT } from '../helpers/tmp.js';

const execFileAsync = promisify(execFile);

export const SNAPSHOT_SCRIPT = join(REPO_ROOT, 'test/fuse/snapshot-tree.py');
/** A capability set as `setcap cap_net_raw+ep` writes it (VFS_CAP_REVISION_2). */
export const CAP_NET_RAW = Buffer.from('0000000200200000000000000000000000000000', 'hex');

export interface SourceTree {
  root: string;
  /** Relative paths of some files, by role. */
  files: { big: string; small: string[]; hardA: string; hardB: string; setuid: string; empty: string };
}

/** Make the source tree under `root` (which must exist and be empty). */
export async function makeSourceTree(root: string, opts: { bigBytes?: number } = {}): Promise<SourceTree> {
  const file = async (rel: string, content: Buffer | string, mode = 0o644, uid = 0, gid = 0): Promise<void> => {
    const p = join(root, rel);
    await fsp.mkdir(dirname(p), { recursive: true });
    await fsp.writeFile(p, content);
    await fsp.chown(p, uid, gid);
    await fsp.chmod(p, mode);
  };
  await file('etc/hostname', 'sway-test\n');
  await file('etc/empty', '');
  await file('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n');
  await fsp.symlink('/nonexistent/target', join(root, 'etc/broken'));
  await file('usr/bin/tool', randomBytes(200_000), 0o4755);
  await file('usr/bin/ping', randomBytes(5000), 0o755);
  await file('usr/lib/libfoo.so.1', randomBytes(3 * 1024 * 1024 + 17));
  await fsp.symlink('libfoo.so.1', join(root, 'usr/lib/libfoo.so'));
  await file('usr/share/doc/a/b/c/deep.txt', 'deep\n'.repeat(1000));
  await fsp.symlink('usr/lib', join(root, 'lib'));
  await file('usr/bin/python3.11', randomBytes(1024 * 1024 + 3), 0o755);
  await fsp.link(join(root, 'usr/bin/python3.11'), join(root, 'usr/bin/python3'));
  await fsp.link(join(root, 'usr/bin/python3.11'), join(root, 'usr/lib/python3-again'));
  await file('var/secret', 'secret\n', 0o600, 1234, 5678);
  await file('var/weird', randomBytes(999), 0o2751, 4242, 4343);
  await fsp.mkdir(join(root, 'var/sticky'));
  await fsp.chmod(join(root, 'var/sticky'), 0o1777);
  await fsp.mkdir(join(root, 'var/private'));
  await fsp.chown(join(root, 'var/private'), 700, 701);
  await fsp.chmod(join(root, 'var/private'), 0o700);
  const small: string[] = [];
  for (let i = 0; i < 100; i++) {
    const rel = `data/small/f${String(i).padStart(3, '0')}`;
    await file(rel, randomBytes(1 + i * 100));
    small.push(rel);
  }
  const bigBytes = opts.bigBytes ?? 8 * 1024 * 1024;
  await file('data/big.bin', randomBytes(bigBytes));
  await setXattr(join(root, 'etc/hostname'), 'user.comment', Buffer.from('hello xattr'));
  await setXattr(join(root, 'usr/bin/ping'), 'security.capability', CAP_NET_RAW);
  await fsp.chmod(root, 0o755);
  // Fixed mtimes so the comparison covers them.
  await execFileAsync('find', [root, '-exec', 'touch', '-h', '-d', '@1700000000', '{}', '+']);
  return {
    root,
    files: { big: 'data/big.bin', small, hardA: 'usr/bin/python3.11', hardB: 'usr/bin/python3', setuid: 'usr/bin/tool', empty: 'etc/empty' },
  };
}

async function setXattr(path: string, name: string, value: Buffer): Promise<void> {
  await execFileAsync('python3', ['-c', 'import os,sys; os.setxattr(sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3]), follow_symlinks=False)', path, name, value.toString('hex')]);
}

export type Snapshot = Record<string, {
  type: string; mode: number; uid: number; gid: number; nlink: number; mtime: number; ino: number;
  size?: number; sha256?: string; target?: string; xattrs: Record<string, string>;
}>;

/** Snapshot a tree from a child process (safe for a FUSE mount this process serves). */
export async function snapshotTree(root: string): Promise<Snapshot> {
  const { stdout } = await execFileAsync('python3', [SNAPSHOT_SCRIPT, root], { maxBuffer: 256 * 1024 * 1024, timeout: 120_000 });
  return JSON.parse(stdout) as Snapshot;
}

/**
 * Manifest of a tree plus its blobs copied into `store/ab/cd/<hash>`. Reads the source
 * through a snapshot (for xattrs) and the files themselves (this is not a mount).
 */
export async function manifestFromTree(root: string, store: string, opts: { linkBlobs?: boolean } = {}): Promise<{ manifest: Manifest; hashes: Map<string, { hash: string; size: number }> }> {
  const snap = await snapshotTree(root);
  const entries: ManifestEntry[] = [];
  const firstPathOfInode = new Map<number, string>();
  const hashes = new Map<string, { hash: string; size: number }>();
  for (const path of Object.keys(snap).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
    const s = snap[path]!;
    const xattrs = Object.keys(s.xattrs).length
      ? Object.fromEntries(Object.entries(s.xattrs).map(([k, v]) => [k, Buffer.from(v, 'hex').toString('base64')]))
      : undefined;
    const base = { path, mode: s.mode, uid: s.uid, gid: s.gid, mtime: s.mtime, xattrs };
    if (s.type === 'd') entries.push({ ...base, type: 'dir', size: 0 });
    else if (s.type === 'l') entries.push({ ...base, type: 'symlink', size: s.target!.length, target: s.target! });
    else if (s.type === 'f') {
      const hash = s.sha256!;
      hashes.set(path, { hash, size: s.size! });
      const first = s.nlink > 1 ? firstPathOfInode.get(s.ino) : undefined;
      if (first !== undefined) { entries.push({ ...base, type: 'hardlink', size: s.size!, hash, target: first }); continue; }
      if (s.nlink > 1) firstPathOfInode.set(s.ino, path);
      entries.push({ ...base, type: 'file', size: s.size!, hash });
      const dest = join(store, fanoutPath(hash));
      await fsp.mkdir(dirname(dest), { recursive: true });
      // linkBlobs: hard-link instead of copying (big trees; changes the source's nlink).
      if (opts.linkBlobs) await fsp.link(join(root, path), dest).catch(() => fsp.copyFile(join(root, path), dest));
      else await fsp.copyFile(join(root, path), dest);
    }
  }
  return { manifest: { version: 1, config: emptyImageConfig(), entries }, hashes };
}

export function sha256Hex(b: Buffer): string { return createHash('sha256').update(b).digest('hex'); }

/** Whether this machine can run the FUSE tests (root and /dev/fuse). */
/** Linux >= 6.9, and CONFIG_FUSE_PASSTHROUGH=y where the kernel config is readable. */
export function kernelHasFusePassthrough(): boolean {
  const [major, minor] = release().split('.').map((n) => Number.parseInt(n, 10));
  if (!(major! > 6 || (major === 6 && minor! >= 9))) return false;
  if (!existsSync('/proc/config.gz')) return true;
  return /^CONFIG_FUSE_PASSTHROUGH=y$/m.test(execFileSync('zcat', ['/proc/config.gz'], { encoding: 'utf8', maxBuffer: 64 << 20 }));
}

export function fuseAvailable(): boolean {
  if (process.getuid?.() !== 0) return false;
  return spawnSync('test', ['-c', '/dev/fuse']).status === 0;
}
