// Decoded manifests of recently used images, for the legacy GET /fetch (which looks up
// one path per request). Keyed by image id, so an entry never goes stale: a name that
// moves simply resolves to another id. Small and bounded: a 30,000-file manifest is a
// few MB decoded.
// Deliberately does not: check access (callers resolve and authorise the id first).
import { decodeManifest, parentPath, type Manifest, type ManifestEntry } from '../common/manifest.js';
import type { BlobStore } from './store/blob-store.js';

export interface IndexedManifest {
  manifest: Manifest;
  byPath: Map<string, ManifestEntry>;
  /** Directory path → its direct children, in path order. */
  children: Map<string, ManifestEntry[]>;
}

export class ManifestCache {
  private readonly entries = new Map<string, IndexedManifest>();
  constructor(private readonly store: BlobStore, private readonly maxBytes: number, private readonly capacity = 8) {}

  async get(id: string): Promise<IndexedManifest> {
    const hit = this.entries.get(id);
    if (hit) {
      this.entries.delete(id); // re-insert: Map order is the LRU order
      this.entries.set(id, hit);
      return hit;
    }
    const manifest = decodeManifest(await this.store.readAll(id, this.maxBytes));
    const byPath = new Map<string, ManifestEntry>();
    const children = new Map<string, ManifestEntry[]>();
    for (const e of manifest.entries) {
      byPath.set(e.path, e);
      if (e.path === '') continue;
      const parent = parentPath(e.path);
      let list = children.get(parent);
      if (!list) children.set(parent, (list = []));
      list.push(e);
    }
    const indexed = { manifest, byPath, children };
    this.entries.set(id, indexed);
    while (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
    return indexed;
  }
}
