// The worker's disk cache of blobs: `<dir>/ab/cd/<hash>` files (fanoutPath), a byte cap
// with least-recently-used eviction, an index rebuilt from the directory at start (temp
// files and strays removed), and a verification pass that re-hashes every entry.
// Deliberately does not: fetch, open blobs for readers (native code does, by path), or
// share state with another process (each worker owns its directory).
//
// Recency: this class sees additions; opens served from disk happen in native code, so
// the owner feeds them in with touch() (from NativeMount.drainAccessed()) before evicting.
// A blob some process has open is never evicted (the owner passes the open set).
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { fanoutPath } from '../../common/hash.js';

const HASH_NAME = /^[0-9a-f]{64}$/;
const FANOUT_NAME = /^[0-9a-f]{2}$/;

export class DiskCache {
  /** hash -> size; Map order is recency order (oldest first). */
  private readonly entries = new Map<string, number>();
  private bytes = 0;

  private constructor(readonly dir: string, readonly maxBytes: number) {}

  /** Open (creating) the cache, rebuilding the index and removing temp files and strays. */
  static async open(dir: string, maxBytes: number): Promise<DiskCache> {
    await mkdir(dir, { recursive: true });
    const cache = new DiskCache(dir, maxBytes);
    const found: { hash: string; size: number; usedMs: number }[] = [];
    for (const a of await readdir(dir)) {
      const aPath = join(dir, a);
      if (!FANOUT_NAME.test(a)) { await removeStray(aPath); continue; }
      for (const b of await safeReaddir(aPath)) {
        const bPath = join(aPath, b);
        if (!FANOUT_NAME.test(b)) { await removeStray(bPath); continue; }
        for (const name of await safeReaddir(bPath)) {
          const path = join(bPath, name);
          const st = await stat(path).catch(() => undefined);
          if (!st?.isFile() || !HASH_NAME.test(name) || name.slice(0, 2) !== a || name.slice(2, 4) !== b) {
            await removeStray(path); // temp files of interrupted fetches, anything foreign
            continue;
          }
          found.push({ hash: name, size: st.size, usedMs: Math.max(st.atimeMs, st.mtimeMs) });
        }
      }
    }
    found.sort((x, y) => x.usedMs - y.usedMs);
    for (const f of found) cache.remember(f.hash, f.size);
    return cache;
  }

  pathOf(hash: string): string { return join(this.dir, fanoutPath(hash)); }
  has(hash: string): boolean { return this.entries.has(hash); }
  get totalBytes(): number { return this.bytes; }
  get count(): number { return this.entries.size; }
  /** Hashes, least recently used first. */
  hashes(): string[] { return [...this.entries.keys()]; }

  /** A blob was just written into place by a fetch. */
  add(hash: string, size: number): void { this.remember(hash, size); }

  /** These blobs were used: move them to the recent end. */
  touch(hashes: Iterable<string>): void {
    for (const h of hashes) {
      const size = this.entries.get(h);
      if (size === undefined) continue;
      this.entries.delete(h);
      this.entries.set(h, size);
    }
  }

  /** Remove least recently used blobs, skipping open ones, until under the cap. */
  async evict(open: ReadonlySet<string>): Promise<string[]> {
    const removed: string[] = [];
    for (const [hash, size] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      if (open.has(hash)) continue;
      this.forget(hash, size);
      await rm(this.pathOf(hash), { force: true });
      removed.push(hash);
    }
    return removed;
  }

  /** Re-hash every entry; remove those whose bytes do not match their name (or vanished). */
  async verify(): Promise<{ checked: number; removed: number }> {
    let checked = 0;
    let removed = 0;
    for (const [hash, size] of [...this.entries]) {
      checked++;
      const actual = await hashFile(this.pathOf(hash)).catch(() => undefined);
      if (actual === hash) continue;
      this.forget(hash, size);
      await rm(this.pathOf(hash), { force: true });
      removed++;
    }
    return { checked, removed };
  }

  private remember(hash: string, size: number): void {
    const old = this.entries.get(hash);
    if (old !== undefined) { this.entries.delete(hash); this.bytes -= old; }
    this.entries.set(hash, size);
    this.bytes += size;
  }

  private forget(hash: string, size: number): void {
    this.entries.delete(hash);
    this.bytes -= size;
  }
}

async function safeReaddir(dir: string): Promise<string[]> {
  try { return await readdir(dir); } catch { return []; }
}

async function removeStray(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}

function hashFile(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path).on('data', (c) => h.update(c)).on('error', reject).on('end', () => resolve(h.digest('hex')));
  });
}
