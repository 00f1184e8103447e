// Which files of an image an app opens, and how many bytes they hold: the yardstick for
// "bytes fetched cold <= 1.2x the bytes of the files the app opens". Learned from one
// native run under `strace -f -e trace=open,openat,execve` (NativeRunner.run with traceTo):
// every successful open or execve of a path that is a regular file inside the rootfs counts once, with
// its whole size (the app may read only part of it: a partial read still counts the
// file's size here, which is what a whole-file fetch would move). Paths are resolved
// inside the rootfs (symlinks included, absolute ones from the rootfs's root), never on
// the host. runc's own opens before the container's pivot_root are host paths (/proc,
// the bundle) that do not exist as files in the rootfs, so they drop out, mostly; this is
// an estimate, said so in the report.
import { lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { posix } from 'node:path';

export interface OpenedFiles {
  files: number;
  bytes: number;
  /** Distinct file contents would be smaller if two paths hold the same bytes; not deduplicated. */
  paths: string[];
}

/** Successful open/openat calls of the strace output: the path and, for relative ones, nothing else is known. */
export function openedPaths(straceOutput: string): string[] {
  const paths = new Set<string>();
  for (const line of straceOutput.split('\n')) {
    const m = line.match(/\bopen(?:at)?\((?:[^,]+,\s*)?"((?:[^"\\]|\\.)*)",\s*([^)]*)\)\s*=\s*(\d+)/);
    if (m && !m[2]!.includes('O_DIRECTORY')) { paths.add(m[1]!); continue; }
    // An executed file is read too (the interpreter itself): execve's path when it succeeded.
    const x = line.match(/\bexecve\("((?:[^"\\]|\\.)*)",.*\)\s*=\s*0\s*$/);
    if (x) paths.add(x[1]!);
  }
  return [...paths];
}

/** Resolve `path` (absolute, or relative to cwd) inside `rootfs`, following symlinks there. Undefined if absent. */
export function resolveInRootfs(rootfs: string, path: string, cwd = '/'): string | undefined {
  let pending = posix.normalize(posix.isAbsolute(path) ? path : posix.join(cwd, path)).split('/').filter(Boolean);
  let resolved: string[] = [];
  let hops = 0;
  while (pending.length) {
    const part = pending.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = [...resolved, part];
    let stat;
    try {
      stat = lstatSync(posix.join(rootfs, ...candidate));
    } catch {
      return undefined;
    }
    if (stat.isSymbolicLink()) {
      if (++hops > 40) return undefined;
      const target = readlinkSync(posix.join(rootfs, ...candidate));
      if (target.startsWith('/')) resolved = [];
      pending = [...target.split('/').filter(Boolean), ...pending];
      continue;
    }
    resolved = candidate;
  }
  return '/' + resolved.join('/');
}

/** The regular files of `rootfs` among the opened paths, and their total size. */
export function openedFilesIn(rootfs: string, straceFile: string, cwd = '/'): OpenedFiles {
  const seen = new Map<string, number>();
  for (const p of openedPaths(readFileSync(straceFile, 'utf8'))) {
    const inside = resolveInRootfs(rootfs, p, cwd);
    if (!inside || seen.has(inside)) continue;
    const stat = lstatSync(posix.join(rootfs, inside));
    if (stat.isFile()) seen.set(inside, stat.size);
  }
  return { files: seen.size, bytes: [...seen.values()].reduce((a, b) => a + b, 0), paths: [...seen.keys()].sort() };
}
