// Images that are plain directories (name → {dir, config}): for tests and for running
// sway's runner without FUSE. Any authenticated user may use any of them.
// Deliberately does not: fetch anything, or count cache figures (all zero).
import { lstat, readFile, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { NotFoundError } from '../../common/errors.js';
import { emptyImageConfig, isCleanRelativePath, type ImageConfig } from '../../common/manifest.js';
import { zeroCounters, type ImageRootProvider, type PreparedImage } from './provider.js';

export interface DirectoryImage { dir: string; config?: Partial<ImageConfig> }

export class DirectoryImageProvider implements ImageRootProvider {
  constructor(private readonly images: Record<string, DirectoryImage>) {}

  async ensureImage(ref: string): Promise<PreparedImage> {
    const image = this.images[ref];
    if (!image) throw new NotFoundError(`unknown image ${JSON.stringify(ref)}`);
    const root = image.dir;
    return {
      id: ref,
      ref,
      root,
      config: { ...emptyImageConfig(), ...image.config },
      async readFile(path: string) {
        if (!isCleanRelativePath(path)) return undefined;
        try { return await readFile(join(root, path)); } catch { return undefined; }
      },
      async stat(path: string) {
        if (!isCleanRelativePath(path)) return undefined;
        try { const st = await lstat(join(root, path)); return { uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 }; } catch { return undefined; }
      },
      realDir: (path: string) => realDirIn(root, path),
      counters: zeroCounters,
    };
  }

  async close(): Promise<void> {}
}

/** Follow symlinks inside `root` (absolute targets mean the image root), like the kernel would in a chroot. */
async function realDirIn(root: string, path: string, hops = 0): Promise<string | undefined> {
  const parts = path.split('/').filter((p) => p && p !== '.');
  let current = '';
  for (let i = 0; i < parts.length; i++) {
    current = parts[i] === '..' ? posix.dirname('/' + current).slice(1) : current ? `${current}/${parts[i]}` : parts[i]!;
    let st;
    try { st = await lstat(join(root, current)); } catch { return undefined; }
    if (st.isSymbolicLink()) {
      if (hops >= 40) return undefined;
      const target = await readlink(join(root, current));
      const base = target.startsWith('/') ? target : posix.join('/', posix.dirname('/' + current), target);
      const rest = parts.slice(i + 1).join('/');
      return realDirIn(root, posix.normalize(base + (rest ? '/' + rest : '')).replace(/^\/+/, ''), hops + 1);
    }
  }
  try { return (await lstat(join(root, current))).isDirectory() ? current : undefined; } catch { return undefined; }
}
