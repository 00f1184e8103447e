// Where a run's script comes from: the fileserver, asked WITH THE USER'S TOKEN, so a user
// can run only scripts they uploaded (knowing a hash grants nothing). The bytes are
// verified against the hash by FileserverClient.getScript.
// The last 64 MB of scripts are kept in memory per (token, hash), only to stand in while
// the fileserver is unreachable; otherwise every run asks the fileserver (access may change).
// Deliberately does not: persist scripts.
import { FileserverClient, type FileserverClientOptions } from '../common/fileserver-client.js';
import { NotFoundError, RemoteError, UnreachableError } from '../common/errors.js';
import { sha256 } from '../common/hash.js';
import type { WorkerUser } from './images/provider.js';

export interface ScriptSource {
  fetchScript(hash: string, user: WorkerUser): Promise<Buffer>;
}

const OUTAGE_CACHE_BYTES = 64 * 1024 * 1024;

export class FileserverScriptSource implements ScriptSource {
  private readonly recent = new Map<string, Buffer>(); // insertion order = age
  private recentBytes = 0;

  constructor(private readonly fileserver: Pick<FileserverClientOptions, 'url' | 'caFile' | 'pool'>) {}

  async fetchScript(hash: string, user: WorkerUser): Promise<Buffer> {
    const client = new FileserverClient({ ...this.fileserver, token: user.token });
    const key = `${sha256(user.token)}:${hash}`;
    try {
      const content = await client.getScript(hash);
      this.remember(key, content);
      return content;
    } catch (err) {
      if (err instanceof RemoteError && err.status === 404) throw new NotFoundError(`script ${hash} not found on the fileserver (upload it first)`);
      const known = this.recent.get(key);
      if (err instanceof UnreachableError && known) return known;
      throw err;
    } finally {
      await client.close();
    }
  }

  private remember(key: string, content: Buffer): void {
    const old = this.recent.get(key);
    if (old) { this.recent.delete(key); this.recentBytes -= old.length; }
    this.recent.set(key, content);
    this.recentBytes += content.length;
    for (const [k, v] of this.recent) {
      if (this.recentBytes <= OUTAGE_CACHE_BYTES) break;
      this.recent.delete(k);
      this.recentBytes -= v.length;
    }
  }
}

/** Scripts held in memory by hash: for tests. */
export class MemoryScriptSource implements ScriptSource {
  readonly scripts = new Map<string, Buffer>();
  async fetchScript(hash: string): Promise<Buffer> {
    const s = this.scripts.get(hash);
    if (!s) throw new NotFoundError(`script ${hash} not found`);
    return s;
  }
}
