// Where a run's script comes from: the fileserver, asked WITH THE USER'S TOKEN, so a user
// can run only scripts they uploaded (knowing a hash grants nothing). The bytes are
// verified against the hash by FileserverClient.getScript.
// Deliberately does not: cache scripts (they are small and change with every edit).
import { FileserverClient, type FileserverClientOptions } from '../common/fileserver-client.js';
import { NotFoundError, RemoteError } from '../common/errors.js';
import type { WorkerUser } from './images/provider.js';

export interface ScriptSource {
  fetchScript(hash: string, user: WorkerUser): Promise<Buffer>;
}

export class FileserverScriptSource implements ScriptSource {
  constructor(private readonly fileserver: Pick<FileserverClientOptions, 'url' | 'caFile'>) {}

  async fetchScript(hash: string, user: WorkerUser): Promise<Buffer> {
    const client = new FileserverClient({ ...this.fileserver, token: user.token });
    try {
      return await client.getScript(hash);
    } catch (err) {
      if (err instanceof RemoteError && err.status === 404) throw new NotFoundError(`script ${hash} not found on the fileserver (upload it first)`);
      throw err;
    } finally {
      await client.close();
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
