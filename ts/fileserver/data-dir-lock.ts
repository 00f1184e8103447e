// One fileserver per data directory: start-up empties tmp/ (staged uploads a crash left
// behind), which would destroy a second live server's uploads in flight.
//
// The lock is a kernel one that dies with its process: SQLite's exclusive lock (fcntl)
// on fileserver.lock.db, held by a connection kept open with a transaction begun for
// the process's life. A killed server (kill -9, power loss) holds nothing, so there is
// no stale lock to judge and nothing is ever unlinked to take one over (a read-pid,
// unlink, re-create protocol lets a late starter unlink a fresh lock: two winners).
// better-sqlite3 is already a dependency; node has no flock. The lock file itself is
// never deleted (a starter may have it open). fileserver.pid says who holds it, for the
// message only. fileserver.lock (the pid file of earlier versions) is removed by the holder.
// Deliberately does not: work across machines sharing a network filesystem.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ConfigError } from '../common/errors.js';

export function lockDataDir(dataDir: string): () => void {
  const pidPath = join(dataDir, 'fileserver.pid');
  const db = new Database(join(dataDir, 'fileserver.lock.db'), { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
    const owner = readFileSafe(pidPath);
    throw new ConfigError(`data directory ${dataDir} is in use by another fileserver${/^\d+$/.test(owner) ? ` (pid ${owner})` : ''}`);
  }
  writeFileSync(pidPath, `${process.pid}\n`, { mode: 0o600 });
  rmSync(join(dataDir, 'fileserver.lock'), { force: true });
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    rmSync(pidPath, { force: true });
    db.close();
  };
}

function readFileSafe(path: string): string {
  try { return readFileSync(path, 'utf8').trim(); } catch { return ''; }
}
