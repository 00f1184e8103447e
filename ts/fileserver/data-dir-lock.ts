// One fileserver per data directory: start-up empties tmp/ (staged uploads a crash left
// behind), which would destroy a second live server's uploads in flight. A lock file
// holds the owner's pid; a lock whose process is gone (kill -9, power loss) is taken over.
// Deliberately does not: work across machines sharing a network filesystem.
import { openSync, writeSync, closeSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../common/errors.js';

export function lockDataDir(dataDir: string): () => void {
  const path = join(dataDir, 'fileserver.lock');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        try { if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path); } catch { /* already gone */ }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number(readFileSafe(path));
    if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) {
      throw new ConfigError(`data directory ${dataDir} is in use by another fileserver (pid ${owner})`);
    }
    // Stale: its process is gone.
    try { unlinkSync(path); } catch { /* raced with another starter: retry */ }
  }
  throw new ConfigError(`cannot lock data directory ${dataDir}: ${path} keeps reappearing`);
}

function readFileSafe(path: string): string {
  try { return readFileSync(path, 'utf8').trim(); } catch { return ''; }
}

function isAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM'; }
}
