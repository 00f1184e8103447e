// A stored blob found not to match its hash (a read that hashes it noticed: bit rot, a
// bad disk) loses every ownership row, so sync asks the next export of it to upload it
// again, and that upload replaces the bad copy (store commit verifies existing copies).
// The bytes stay until then: readers already verify and refuse them (and a worker keeps
// telling an integrity failure from a missing blob); GC takes them if nobody re-uploads.
// Deliberately does not: hash every read (only readers that hash anyway report here).
import type { FileserverContext } from './context.js';

export async function forgetCorruptBlob(fs: Pick<FileserverContext, 'db' | 'store' | 'gcLock' | 'log'>, hash: string): Promise<void> {
  await fs.gcLock.exclusive(async () => {
    // Re-checked under the lock: a re-upload may have repaired it meanwhile.
    if (await fs.store.matches(hash) !== false) return;
    fs.db.forgetBlob(hash);
    fs.log(`blob ${hash}: the stored copy does not match its hash; nobody owns it now, so the next export uploads it again`);
  });
}
