// Path lookups in a manifest without touching the mount: an entry by path, and a
// regular file's entry after following symlinks inside the image (as the kernel would,
// with `/` meaning the image root). Used for /etc/passwd, /etc/group and WORKDIR.
// Deliberately does not: read contents (the provider fetches blobs by hash).
import { posix } from 'node:path';
import type { Manifest, ManifestEntry } from '../../common/manifest.js';

const MAX_SYMLINK_HOPS = 40;

export class ManifestIndex {
  private readonly byPath = new Map<string, ManifestEntry>();
  constructor(manifest: Manifest) {
    for (const e of manifest.entries) this.byPath.set(e.path, e);
  }

  entry(path: string): ManifestEntry | undefined {
    return this.byPath.get(path);
  }

  /** The file (or hard link's file) at `path`, following symlinks in every component. */
  resolveFile(path: string): ManifestEntry | undefined {
    const e = this.resolveEntry(path);
    if (!e) return undefined;
    if (e.type === 'hardlink') return this.byPath.get(e.target!);
    return e.type === 'file' ? e : undefined;
  }

  /** The entry at `path` after following symlinks in every component (its `path` is the real one). */
  resolveEntry(path: string): ManifestEntry | undefined {
    return this.resolve(path, 0);
  }

  private resolve(path: string, hops: number): ManifestEntry | undefined {
    let current = '';
    const parts = path.split('/').filter((p) => p && p !== '.');
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      current = part === '..' ? posix.dirname('/' + current).slice(1) : current ? `${current}/${part}` : part;
      const e = this.byPath.get(current);
      if (!e) return undefined;
      if (e.type === 'symlink') {
        if (hops >= MAX_SYMLINK_HOPS) return undefined;
        const target = e.target!;
        const base = target.startsWith('/') ? target : posix.join('/', posix.dirname('/' + current), target);
        const rest = parts.slice(i + 1).join('/');
        return this.resolve(posix.normalize(base + (rest ? '/' + rest : '')).replace(/^\/+/, ''), hops + 1);
      }
    }
    return this.byPath.get(current);
  }
}
