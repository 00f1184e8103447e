// The worker's disk cache of blobs: `<dir>/ab/cd/<hash>` files (fanoutPath), a byte cap
// with least-recently-used eviction, an index rebuilt from the directory at start (temp
// files and strays removed), and a verification pass that re-hashes every entry.
// Deliberately does not: fetch, open blobs for readers (native code does, by path), or
// share state with another process (each worker owns its directory).
//
// Recency: this class sees additions; opens served from disk happen in native code, so
// the owner feeds them in with touch() (from NativeMount.drainAccessed()) before evicting.
// A blob some process has open is never evicted (the owner passes the open set).
//
// Durability without an fsync per blob: blobs are written without fsync (it cost ~3 ms of
// every ~10 ms fetch). Instead, a few seconds after additions, one syncfs(2) of the cache's
// filesystem makes everything written so far durable, and `durable-before` records when
// it started. At open, every blob modified after that time (minus a margin) is re-hashed
// and removed when it does not match: after a power cut only the last seconds' blobs can
// be torn, and those are checked. A cache without the file (older versions fsynced every
// blob) is trusted as it is.
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fanoutPath, sha256File } from '../../common/hash.js';

const HASH_NAME = /^[0-9a-f]{64}$/;
const PARTIAL_DIR = 'partial';
const FANOUT_NAME = /^[0-9a-f]{2}$/;
/** `<dir>/durable-before`: ms timestamp; blobs written before it have been synced. */
const CHECKPOINT_FILE = 'durable-before';
/** Slack between the kernel's coarse mtime clock and Date.now() (a jiffy or so), doubled. */
const CHECKPOINT_MARGIN_MS = 100;
/** Additions are made durable this long after the first unsynced one. */
const CHECKPOINT_DELAY_MS = 5000;

export class DiskCache {
  /** hash -> size; Map order is recency order (oldest first). */
  private readonly entries = new Map<string, number>();
  private bytes = 0;
  private dirty = false;
  private checkpointTimer?: NodeJS.Timeout;
  private checkpointing: Promise<void> = Promise.resolve();
  /** Blobs re-hashed at open because they were newer than the last checkpoint, and how many were bad. */
  recheckedAtOpen = { checked: 0, removed: 0 };

  private constructor(readonly dir: string, readonly maxBytes: number) {}

  /** Open (creating) the cache, rebuilding the index and removing temp files and strays. */
  static async open(dir: string, maxBytes: number): Promise<DiskCache> {
    await mkdir(dir, { recursive: true });
    const cache = new DiskCache(dir, maxBytes);
    const found: { hash: string; size: number; usedMs: number }[] = [];
    const durableBefore = await readCheckpoint(dir);
    for (const a of await readdir(dir)) {
      const aPath = join(dir, a);
      if (a === CHECKPOINT_FILE || a === PARTIAL_DIR) continue; // partial blobs: chunk-cache.ts
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
          if (durableBefore !== undefined && st.mtimeMs >= durableBefore - CHECKPOINT_MARGIN_MS) {
            // Written after the last sync: a crash may have torn it.
            cache.recheckedAtOpen.checked++;
            if ((await sha256File(path).catch(() => undefined)) !== name) { cache.recheckedAtOpen.removed++; await removeStray(path); continue; }
          }
          found.push({ hash: name, size: st.size, usedMs: Math.max(st.atimeMs, st.mtimeMs) });
        }
      }
    }
    found.sort((x, y) => x.usedMs - y.usedMs);
    for (const f of found) cache.remember(f.hash, f.size);
    await cache.checkpoint(); // from now on the file exists: a crash is always detectable
    return cache;
  }

  /** Make every blob written so far durable (one syncfs), then record the time. */
  checkpoint(): Promise<void> {
    if (this.checkpointTimer) { clearTimeout(this.checkpointTimer); this.checkpointTimer = undefined; }
    this.checkpointing = this.checkpointing.then(async () => {
      this.dirty = false;
      const startedAt = Date.now();
      await syncfs(this.dir);
      const tmp = join(this.dir, `${CHECKPOINT_FILE}.tmp`);
      await writeFile(tmp, String(startedAt));
      await syncfs(this.dir);
      await rename(tmp, join(this.dir, CHECKPOINT_FILE));
    }).catch(() => { this.dirty = true; /* the next checkpoint retries; until then the old time stands */ });
    return this.checkpointing;
  }

  /** Final checkpoint; the cache may be reopened later. */
  async close(): Promise<void> {
    await this.checkpoint();
  }

  private scheduleCheckpoint(): void {
    this.dirty = true;
    if (this.checkpointTimer) return;
    this.checkpointTimer = setTimeout(() => { this.checkpointTimer = undefined; if (this.dirty) void this.checkpoint(); }, CHECKPOINT_DELAY_MS);
    this.checkpointTimer.unref();
  }

  pathOf(hash: string): string { return join(this.dir, fanoutPath(hash)); }
  has(hash: string): boolean { return this.entries.has(hash); }
  get totalBytes(): number { return this.bytes; }
  get count(): number { return this.entries.size; }
  /** Hashes, least recently used first. */
  hashes(): string[] { return [...this.entries.keys()]; }

  /** A blob was just written into place by a fetch. */
  add(hash: string, size: number): void { this.remember(hash, size); this.scheduleCheckpoint(); }

  /** These blobs were used: move them to the recent end. */
  touch(hashes: Iterable<string>): void {
    for (const h of hashes) {
      const size = this.entries.get(h);
      if (size === undefined) continue;
      this.entries.delete(h);
      this.entries.set(h, size);
    }
  }

  /** Remove least recently used blobs, skipping open ones, until under the cap (or `limit`: the owner's partial blobs share the cap). */
  async evict(open: ReadonlySet<string>, limit = this.maxBytes): Promise<string[]> {
    const removed: string[] = [];
    for (const [hash, size] of this.entries) {
      if (this.bytes <= limit) break;
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
      const actual = await sha256File(this.pathOf(hash)).catch(() => undefined);
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

async function readCheckpoint(dir: string): Promise<number | undefined> {
  const text = await readFile(join(dir, CHECKPOINT_FILE), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const ms = Number(text.trim());
  // Unreadable: treat as "nothing was ever synced", so every blob is re-hashed.
  return Number.isFinite(ms) ? ms : 0;
}

/** syncfs(2) on the filesystem holding `path`, through coreutils `sync -f` (Node has no binding). */
function syncfs(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('sync', ['-f', path], (err) => (err ? reject(err) : resolve()));
  });
}

async function safeReaddir(dir: string): Promise<string[]> {
  try { return await readdir(dir); } catch { return []; }
}

async function removeStray(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}
