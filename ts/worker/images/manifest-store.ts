// Image manifests kept on the worker's disk by id (D/manifests/<id>), so a restarted
// worker does not fetch them again. A stored manifest is re-verified (its SHA-256 is its
// name) every time it is read; a bad one is deleted and fetched again. Each read touches
// the file's mtime, so `recent()` lists the images this worker used last (the ones a
// restarted worker loads again before anyone asks).
// What a manifest decodes to is the caller's choice (`decode`: the worker takes the table
// form, readManifestTable); a manifest that does not decode is never stored.
// Deliberately does not: decide who may use an image (the fileserver does, per user).
import { mkdir, readFile, readdir, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { sha256, isHash } from '../../common/hash.js';
import { BadRequestError, HashMismatchError } from '../../common/errors.js';

export class ManifestStore<T> {
  constructor(
    private readonly dir: string,
    private readonly fetchBlob: (id: string) => Promise<Buffer>,
    /** Decode and validate a blob; throws on a bad one (decodeManifest, readManifestTable). */
    private readonly decode: (blob: Buffer) => T,
  ) {}

  async get(id: string): Promise<T> {
    const stored = await this.getStored(id);
    if (stored) return stored;
    const blob = await this.fetchBlob(id);
    const actual = sha256(blob);
    if (actual !== id) throw new HashMismatchError(id, actual, 'manifest');
    const manifest = this.decode(blob); // refuse to store what does not decode
    await mkdir(this.dir, { recursive: true });
    const path = join(this.dir, id);
    const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
    await writeFile(tmp, blob);
    await rename(tmp, path);
    return manifest;
  }

  /** The stored manifest, verified; undefined when absent or bad (a bad one is deleted). Never fetches. */
  async getStored(id: string): Promise<T | undefined> {
    if (!isHash(id)) throw new BadRequestError(`not an image id: ${JSON.stringify(id)}`);
    const path = join(this.dir, id);
    const stored = await readFile(path).catch(() => undefined);
    if (!stored) return undefined;
    if (sha256(stored) !== id) { await rm(path, { force: true }); return undefined; }
    const now = new Date();
    await utimes(path, now, now).catch(() => {}); // recency for recent(); a read-only disk is no reason to fail
    return this.decode(stored);
  }

  /** Ids of stored manifests, most recently used first, at most `limit`. */
  async recent(limit: number): Promise<string[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const dated = await Promise.all(names.filter(isHash).map(async (id) => ({ id, mtime: (await stat(join(this.dir, id)).catch(() => undefined))?.mtimeMs })));
    return dated.filter((d) => d.mtime !== undefined).sort((a, b) => b.mtime! - a.mtime!).slice(0, limit).map((d) => d.id);
  }
}
