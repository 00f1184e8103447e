// Resolving a path inside an image root the way the kernel does inside a chroot, as runc's
// securejoin and openat2(RESOLVE_IN_ROOT) do: '..' never climbs above the root, a symlink's
// absolute target starts at the root and a relative one at the link's directory. A
// component that does not exist is taken as it is, so the result also names where a
// directory would be created. The result is always a clean relative path (isCleanRelativePath),
// so joining it under a host directory stays under that directory.
// Deliberately does not: touch the disk (the caller's lookup does), or create anything.

export interface RootNode {
  kind: 'dir' | 'symlink' | 'other';
  /** A symlink's target, verbatim. */
  target?: string;
}

/** What the root holds at a clean relative path ('' is the root), without following a last symlink. */
export type RootLookup = (path: string) => RootNode | undefined;

const MAX_SYMLINK_HOPS = 40;

/**
 * `path` resolved inside the root: '' for the root, 'a/b' otherwise. Undefined when the
 * symlinks loop (more than 40 hops, the kernel's ELOOP) or when a component that is not a
 * directory has more components after it (the kernel's ENOTDIR).
 */
export function resolveInRoot(path: string, lookup: RootLookup): string | undefined {
  const todo = path.split('/').reverse(); // components still to walk, next last
  const done: string[] = [];
  let hops = 0;
  while (todo.length) {
    const part = todo.pop()!;
    if (part === '' || part === '.') continue;
    if (part === '..') { done.pop(); continue; }
    done.push(part);
    const node = lookup(done.join('/'));
    if (!node || node.kind === 'dir') continue;
    if (node.kind === 'other') {
      if (todo.some((p) => p !== '' && p !== '.')) return undefined;
      continue;
    }
    if (++hops > MAX_SYMLINK_HOPS) return undefined;
    done.pop();
    const target = node.target ?? '';
    if (target.startsWith('/')) done.length = 0;
    for (const p of target.split('/').reverse()) todo.push(p);
  }
  return done.join('/');
}
