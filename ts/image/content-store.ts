// A local directory of file contents by hash (dir/ab/cd/<hash>), where the exporter
// stages what it reads from a layer tar so it can upload it later without re-reading
// the archive. Default location: ~/.cache/sway/content (SWAY_CACHE_DIR overrides the
// ~/.cache/sway part). Small contents are hashed in memory and written only when new;
// large ones stream to a temp file while hashed and are renamed into place.
//
// Deliberately does not: evict (it is a cache a user may delete at any time; a missing
// blob only means the exporter reads the layer again) or fsync (nothing is acknowledged
// from here: the fileserver verifies every upload).
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import { EMPTY_HASH, fanoutPath } from '../common/hash.js';
import { ChunkHasher } from '../common/chunk-hasher.js';
import { CHUNKED_FILE_MIN, DEFAULT_CHUNK_SIZE } from '../common/manifest.js';

const IN_MEMORY_LIMIT = 1024 * 1024;

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.SWAY_CACHE_DIR ?? join(env.HOME ?? homedir(), '.cache', 'sway');
}

/** Where an upload reads one blob from. */
export interface ContentSource {
  size: number;
  open(): NodeJS.ReadableStream | Buffer;
}

/** Where readLayer puts each file's content; returns its hash. */
export interface ContentSink {
  stage(body: Readable, size: number, path: string): Promise<string>;
}

/** True for a file size that gets manifest chunk hashes (ts/common/manifest.ts). */
export function getsChunkHashes(size: number, chunkSize = DEFAULT_CHUNK_SIZE): boolean {
  return size > CHUNKED_FILE_MIN && size > chunkSize;
}

/**
 * Hash a body; a big one (getsChunkHashes) also chunk by chunk in the same pass, its
 * chunk list recorded in `chunks` under the content hash, so the export never reads a
 * big file a second time just for its chunk hashes.
 */
async function hashBody(body: AsyncIterable<unknown>, size: number, chunks: Map<string, string[]>, onChunk: (c: Buffer) => void): Promise<string> {
  if (getsChunkHashes(size)) {
    const h = new ChunkHasher(DEFAULT_CHUNK_SIZE);
    for await (const c of body) { h.update(c as Buffer); onChunk(c as Buffer); }
    const got = h.finish();
    if (h.bytes === size) chunks.set(got.hash, got.chunks);
    return got.hash;
  }
  const h = createHash('sha256');
  for await (const c of body) { h.update(c as Buffer); onChunk(c as Buffer); }
  return h.digest('hex');
}

export class ContentStore implements ContentSink {
  /** Content hash → chunk hashes, for the big files staged so far. */
  readonly chunks = new Map<string, string[]>();
  private readonly known = new Set<string>();
  private readonly madeDirs = new Set<string>();

  constructor(readonly dir: string) {}

  pathOf(hash: string): string {
    return join(this.dir, fanoutPath(hash));
  }

  async has(hash: string): Promise<boolean> {
    if (hash === EMPTY_HASH || this.known.has(hash)) return true;
    try { await stat(this.pathOf(hash)); this.known.add(hash); return true; } catch { return false; }
  }

  source(hash: string, size: number): ContentSource {
    if (size === 0) return { size, open: () => Buffer.alloc(0) };
    const path = this.pathOf(hash);
    // Small contents synchronously: see openContent in store-image.ts for why.
    const small = size <= IN_MEMORY_LIMIT / 4;
    return { size, open: () => (small ? readFileSync(path) : createReadStream(path, { highWaterMark: 1024 * 1024 })) };
  }

  /** Consume `body` (expected `size` bytes), store it by hash, return the hash. */
  async stage(body: Readable, size: number): Promise<string> {
    if (size <= IN_MEMORY_LIMIT) {
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(c as Buffer);
      const content = Buffer.concat(chunks);
      const hash = createHash('sha256').update(content).digest('hex');
      if (!(await this.has(hash))) {
        const path = this.pathOf(hash);
        await this.mkdirFor(path);
        const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
        await writeFile(tmp, content);
        await rename(tmp, path);
        this.known.add(hash);
      }
      return hash;
    }
    await mkdir(join(this.dir, 'tmp'), { recursive: true });
    const tmp = join(this.dir, 'tmp', `${process.pid}-${randomBytes(8).toString('hex')}`);
    const out = createWriteStream(tmp);
    try {
      let drained: Promise<void> | undefined;
      const hash = await hashBody((async function* () {
        for await (const c of body) {
          if (drained) { await drained; drained = undefined; }
          yield c;
        }
      })(), size, this.chunks, (c) => {
        if (!out.write(c)) drained = new Promise<void>((r) => out.once('drain', () => r()));
      });
      out.end();
      await finished(out);
      if (await this.has(hash)) { await rm(tmp, { force: true }); return hash; }
      const path = this.pathOf(hash);
      await this.mkdirFor(path);
      await rename(tmp, path);
      this.known.add(hash);
      return hash;
    } catch (err) {
      out.destroy();
      await rm(tmp, { force: true });
      throw err;
    }
  }

  private async mkdirFor(path: string): Promise<void> {
    const d = dirname(path);
    if (this.madeDirs.has(d)) return;
    await mkdir(d, { recursive: true });
    this.madeDirs.add(d);
  }
}
