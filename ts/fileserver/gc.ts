// Garbage collection: delete blobs nothing needs any more.
//
// Kept: every blob referenced by an image some name points at (the manifest and its
// contents), every script, and every blob someone relied on within the grace period
// (uploaded, answered "you have it" by sync, or published), so an export in progress,
// whose blobs are uploaded but whose name is not set yet, loses nothing.
// Deletion runs under the GC lock exclusively, in small slices, re-checking each blob
// (mtime, ownership) at that moment; commits and publishes hold the lock shared. A
// deleted blob's ownership rows go with it, so "owned" always implies "stored".
// Deliberately does not: run on a timer (an admin asks: POST /v1/admin/gc).
import type { FileserverContext } from './context.js';

export interface GcOptions {
  /** Blobs relied on more recently than this are kept. */
  graceMs: number;
  /** Report what would be deleted, delete nothing. */
  dryRun?: boolean;
}

export interface GcReport {
  scanned: number;
  referenced: number;
  deleted: number;
  bytesFreed: number;
  dryRun: boolean;
}

const SLICE = 256;

export async function collectGarbage(fs: FileserverContext, opts: GcOptions): Promise<GcReport> {
  const cutoff = Date.now() - opts.graceMs;
  const roots = fs.db.gcRoots();
  const referenced = new Set<string>([...roots.imageIds, ...roots.scripts]);
  for (const id of roots.imageIds) {
    try {
      for (const e of (await fs.manifests.get(id)).manifest.entries) if (e.hash) referenced.add(e.hash);
    } catch (err) {
      // An unreadable manifest: keep everything rather than guess (its id is kept already).
      fs.log(`gc: cannot read manifest ${id} (${(err as Error).message}); collection skipped`);
      return { scanned: 0, referenced: referenced.size, deleted: 0, bytesFreed: 0, dryRun: !!opts.dryRun };
    }
  }
  const candidates: string[] = [];
  let scanned = 0;
  for await (const hash of fs.store.list()) {
    scanned++;
    if (!referenced.has(hash)) candidates.push(hash);
  }
  let deleted = 0, bytesFreed = 0;
  for (let i = 0; i < candidates.length; i += SLICE) {
    await fs.gcLock.exclusive(async () => {
      for (const hash of candidates.slice(i, i + SLICE)) {
        const st = await fs.store.stat(hash);
        if (!st || st.mtimeMs >= cutoff) continue;
        if (opts.dryRun) {
          if (fs.db.reliedOnSince(hash, cutoff)) continue;
        } else {
          if (!fs.db.forgetBlobIfStale(hash, cutoff)) continue;
          await fs.store.delete(hash);
          await fs.gzip?.drop(hash);
        }
        deleted++;
        bytesFreed += st.size;
      }
    });
  }
  fs.log(`gc: scanned ${scanned}, referenced ${referenced.size}, ${opts.dryRun ? 'would delete' : 'deleted'} ${deleted} (${bytesFreed} bytes)`);
  return { scanned, referenced: referenced.size, deleted, bytesFreed, dryRun: !!opts.dryRun };
}
