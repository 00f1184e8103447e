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
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import { EMPTY_HASH, fanoutPath } from '../common/hash.js';

const IN_MEMORY_LIMIT = 1024 * 1024;

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.SWAY_CACHE_DIR ?? join(env.HOME ?? homedir(), '.cache', 'sway');
}

/** Where an upload reads one blob from. */
export interface ContentSource {
  size: number;
  open(): NodeJS.ReadableStream | Buffer;
  /** Small contents only: the whole content, read asynchronously (so an upload can read
   *  several files ahead of the one it sends and overlap their disk latency). */
  read?(): Promise<Buffer>;
}

/** Where readLayer puts each file's content; returns its hash. */
export interface ContentSink {
  stage(body: Readable, size: number, path: string): Promise<string>;
}

/** A sink that only hashes: for layers whose files stay readable where they are (podman's store). */
export const HASH_ONLY: ContentSink = {
  async stage(body: Readable): Promise<string> {
    const h = createHash('sha256');
    for await (const c of body) h.update(c as Buffer);
    return h.digest('hex');
  },
};

export class ContentStore implements ContentSink {
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
    return {
      size,
      open: () => (small ? readFileSync(path) : createReadStream(path, { highWaterMark: 1024 * 1024 })),
      ...(small ? { read: () => readFile(path) } : {}),
    };
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
    const h = createHash('sha256');
    const out = createWriteStream(tmp);
    try {
      for await (const c of body) {
        h.update(c as Buffer);
        if (!out.write(c)) await new Promise<void>((r) => out.once('drain', () => r()));
      }
      out.end();
      await finished(out);
      const hash = h.digest('hex');
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
