// A small image published on a real fileserver for the start-profile tests: N files of
// random content (blobs uploaded by `owner`), a manifest, a name. No podman, no rootfs.
import { randomBytes } from 'node:crypto';
import { encodeManifest, emptyImageConfig, MANIFEST_VERSION, type Manifest, type ManifestEntry } from '../../ts/common/manifest.js';
import { sha256 } from '../../ts/common/hash.js';
import type { FileserverClient } from '../../ts/common/fileserver-client.js';

export interface PublishedImage {
  id: string;
  manifest: Manifest;
  /** File paths (relative, no leading slash) and their contents, in path order. */
  files: { path: string; hash: string; content: Buffer }[];
}

export async function publishRandomImage(owner: FileserverClient, name: string, count: number, size = 20_000): Promise<PublishedImage> {
  const files = Array.from({ length: count }, (_, i) => {
    const content = randomBytes(size + i); // distinct sizes and contents: one blob per file
    return { path: `data/f${String(i).padStart(3, '0')}`, hash: sha256(content), content };
  });
  for (const f of files) await owner.putBlob(f.hash, f.content, f.content.length);
  const dir = (path: string): ManifestEntry => ({ path, type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 });
  const manifest: Manifest = {
    version: MANIFEST_VERSION,
    config: emptyImageConfig(),
    entries: [dir(''), dir('data'), ...files.map((f): ManifestEntry => ({ path: f.path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 0, size: f.content.length, hash: f.hash }))],
  };
  const blob = encodeManifest(manifest);
  const id = sha256(blob);
  await owner.putBlob(id, blob, blob.length);
  await owner.setImage(name, id);
  return { id, manifest, files };
}
