// A local cache of what each layer contributes, keyed by its diff_id:
// <cacheDir>/layers/<hex>.json = {diffId, changes, chunks?} (chunks: content hash →
// chunk hashes of the layer's big files, so a cached layer's chunk hashes need no re-read). A layer whose diff_id was exported
// before is not read again (re-export proportional to the change). The diff_id is a
// content digest, so an entry never goes stale; a damaged file is treated as a miss.
//
// Deliberately does not: hold contents (they are read from podman's store or the
// ContentStore) or evict (delete the directory to reclaim space).
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LayerChange } from './layers.js';

export interface CachedLayer {
  changes: LayerChange[];
  /** Content hash → chunk hashes (unverified hints: publish checks them, chunk-hashes.ts). */
  chunks: Map<string, string[]>;
}

export class LayerCache {
  constructor(readonly dir: string) {}

  private pathOf(diffId: string): string {
    return join(this.dir, 'layers', `${diffId.replace(/^sha256:/, '')}.json`);
  }

  async get(diffId: string): Promise<CachedLayer | null> {
    try {
      const doc = JSON.parse(await readFile(this.pathOf(diffId), 'utf8')) as { diffId?: string; changes?: LayerChange[]; chunks?: unknown };
      if (doc.diffId !== diffId || !Array.isArray(doc.changes)) return null;
      // Entries written before chunk hashes were kept have none: the export computes them.
      const chunks = doc.chunks && typeof doc.chunks === 'object' ? doc.chunks as Record<string, string[]> : {};
      return { changes: doc.changes, chunks: new Map(Object.entries(chunks).filter(([, v]) => Array.isArray(v))) };
    } catch {
      return null;
    }
  }

  async put(diffId: string, layer: CachedLayer): Promise<void> {
    const path = this.pathOf(diffId);
    await mkdir(join(this.dir, 'layers'), { recursive: true });
    const tmp = `${path}.tmp-${process.pid}`;
    await writeFile(tmp, JSON.stringify({ diffId, changes: layer.changes, chunks: Object.fromEntries(layer.chunks) }));
    await rename(tmp, path);
  }
}
