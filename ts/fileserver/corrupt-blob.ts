// A stored blob found not to match its hash (a read that hashed it noticed: bit rot, a
// bad disk) is forgotten like a collected one: bytes, gzip copy and every ownership row
// go, so "owned" still implies "stored and whole", sync asks the next export to upload
// it again, and readers get "missing" instead of bad bytes.
// Deliberately does not: hash every read (clients verify; only readers that hash anyway call this).
import type { FileserverContext } from './context.js';

export async function forgetCorruptBlob(fs: Pick<FileserverContext, 'db' | 'store' | 'gcLock' | 'gzip' | 'log'>, hash: string): Promise<void> {
  await fs.gcLock.exclusive(async () => {
    // Re-checked under the lock: a re-upload may have repaired it meanwhile.
    if (await fs.store.matches(hash) !== false) return;
    fs.db.forgetBlob(hash);
    await fs.store.delete(hash);
    await fs.gzip?.drop(hash);
    fs.log(`blob ${hash}: the stored copy does not match its hash; dropped, the next upload of it stores it again`);
  });
}
