// Images that are plain directories (name → {dir, config}): for tests and for running
// sway's runner without FUSE. Any authenticated user may use any of them.
// Deliberately does not: fetch anything, or count cache figures (all zero).
import { lstatSync, readlinkSync } from 'node:fs';
import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NotFoundError } from '../../common/errors.js';
import { checkImageConfig, emptyImageConfig, isCleanRelativePath, type ImageConfig } from '../../common/manifest.js';
import { resolveInRoot, type RootNode } from './in-root.js';
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
      config: checkImageConfig({ ...emptyImageConfig(), ...image.config }),
      async readFile(path: string) {
        if (!isCleanRelativePath(path)) return undefined;
        try { return await readFile(join(root, path)); } catch { return undefined; }
      },
      async stat(path: string) {
        if (!isCleanRelativePath(path)) return undefined;
        try { const st = await lstat(join(root, path)); return { uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 }; } catch { return undefined; }
      },
      dirInRoot: async (path: string) => dirIn(root, path),
      counters: zeroCounters,
    };
  }

  async close(): Promise<void> {}
}

/** Where directory `path` is or would be, inside `root` (in-root.ts); undefined when an entry on the way is no directory. */
function dirIn(root: string, path: string): string | undefined {
  const lookup = (p: string): RootNode | undefined => {
    try {
      const st = lstatSync(join(root, p));
      return st.isDirectory() ? { kind: 'dir' } : st.isSymbolicLink() ? { kind: 'symlink', target: readlinkSync(join(root, p)) } : { kind: 'other' };
    } catch { return undefined; }
  };
  const real = resolveInRoot(path, lookup);
  return real === undefined || lookup(real)?.kind === 'other' ? undefined : real;
}
