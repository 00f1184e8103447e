// Publish a small directory tree as an image on a real fileserver, the way `sway export`
// does in the end (blobs uploaded, manifest uploaded, name pointed at it), so worker
// tests and benchmarks need no podman. Directories, regular files and symlinks only (a
// hard link becomes a file of its own). Contents go up in batches, only what is missing.
import { createReadStream } from 'node:fs';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { CHUNKED_FILE_MIN, DEFAULT_CHUNK_SIZE, encodeManifest, emptyImageConfig, type ImageConfig, type ManifestEntry } from '../../ts/common/manifest.js';
import { hashChunks } from '../../ts/common/chunk-hasher.js';
import { sha256 } from '../../ts/common/hash.js';
import type { FileserverClient, UploadFile } from '../../ts/common/fileserver-client.js';
import { LIMITS } from '../../ts/common/protocol.js';

export async function publishTree(client: FileserverClient, root: string, name: string, config: Partial<ImageConfig>): Promise<{ id: string; name: string }> {
  const entries: ManifestEntry[] = [];
  const files = new Map<string, { abs: string; size: number }>(); // hash -> one file with that content
  const byBlob: Record<string, string[]> = {}; // chunk hashes of big files, as sway export writes them
  const walk = async (rel: string): Promise<void> => {
    const abs = rel ? join(root, rel) : root;
    const st = await lstat(abs);
    const base = { path: rel, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000) };
    if (st.isDirectory()) {
      entries.push({ ...base, type: 'dir', size: 0 });
      for (const child of (await readdir(abs)).sort()) await walk(rel ? `${rel}/${child}` : child);
    } else if (st.isSymbolicLink()) {
      const target = await readlink(abs);
      entries.push({ ...base, type: 'symlink', size: Buffer.byteLength(target), target });
    } else if (st.isFile()) {
      const content = await readFile(abs);
      const hash = sha256(content);
      if (content.length > CHUNKED_FILE_MIN) byBlob[hash] = (await hashChunks(content, DEFAULT_CHUNK_SIZE)).chunks;
      files.set(hash, { abs, size: content.length });
      entries.push({ ...base, type: 'file', size: content.length, hash });
    }
  };
  await walk('');
  const missing = await client.sync([...files.keys()].map((hash) => ({ key: hash, hash })));
  for (let i = 0; i < missing.length; i += LIMITS.maxFilesPerBatch) {
    const batch: UploadFile[] = missing.slice(i, i + LIMITS.maxFilesPerBatch).map((hash) => {
      const f = files.get(hash)!;
      return { key: hash, hash, size: f.size, open: () => createReadStream(f.abs) };
    });
    await client.batchUpload(batch);
  }
  const chunks = Object.keys(byBlob).length ? { chunks: { chunkSize: DEFAULT_CHUNK_SIZE, byBlob } } : {};
  const blob = encodeManifest({ version: 1, config: { ...emptyImageConfig(), ...config }, entries, ...chunks });
  const id = sha256(blob);
  await client.putBlob(id, blob, blob.length);
  return client.setImage(name, id);
}
