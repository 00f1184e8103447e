// Who is calling the worker: the worker asks the fileserver (GET /v1/whoami with the
// caller's own token) and remembers the answer briefly, keyed by the token's hash, so a
// burst of runs costs one round trip and a revoked token stops working within the TTL.
// While the fileserver is unreachable, a token this worker validated within the last
// hour is still accepted, so runs of cached images go on through an outage.
// Deliberately does not: store tokens (only their SHA-256 is kept in memory) or cache
// refusals (a user who just got a token can use it at once).
import { AuthError, RemoteError, UnreachableError } from '../common/errors.js';
import { FileserverClient, type FileserverClientOptions } from '../common/fileserver-client.js';
import { sha256 } from '../common/hash.js';
import type { WorkerUser } from './images/provider.js';

export interface Authenticator {
  /** The user of `token`, or AuthError. */
  authenticate(token: string | undefined): Promise<WorkerUser>;
}

const TTL_MS = 30_000;
/** How old a validation may be to stand in while the fileserver is unreachable. */
export const OUTAGE_GRACE_MS = 60 * 60_000;
const MAX_ENTRIES = 10_000;

export class FileserverAuthenticator implements Authenticator {
  private readonly cache = new Map<string, { user: string; role: string; expires: number; validatedAt: number }>();

  constructor(private readonly fileserver: Pick<FileserverClientOptions, 'url' | 'caFile' | 'pool'>) {}

  async authenticate(token: string | undefined): Promise<WorkerUser> {
    if (!token) throw new AuthError('missing bearer token');
    const key = sha256(token);
    const hit = this.cache.get(key);
    if (hit && hit.expires > Date.now()) return { name: hit.user, role: hit.role, token };
    const client = new FileserverClient({ ...this.fileserver, token });
    try {
      const who = await client.whoami();
      if (this.cache.size >= MAX_ENTRIES) this.cache.clear();
      this.cache.set(key, { ...who, expires: Date.now() + TTL_MS, validatedAt: Date.now() });
      return { name: who.user, role: who.role, token };
    } catch (err) {
      if (err instanceof RemoteError && err.status === 401) { this.cache.delete(key); throw new AuthError('invalid token (the fileserver does not know it)'); }
      if (err instanceof UnreachableError && hit && Date.now() - hit.validatedAt < OUTAGE_GRACE_MS) return { name: hit.user, role: hit.role, token };
      throw err;
    } finally {
      await client.close();
    }
  }
}

/** Fixed tokens → users: for tests and for a worker used without a fileserver. */
export class StaticAuthenticator implements Authenticator {
  constructor(private readonly users: Record<string, string>) {}
  async authenticate(token: string | undefined): Promise<WorkerUser> {
    const name = token ? this.users[token] : undefined;
    if (!token || !name) throw new AuthError();
    return { name, role: 'user', token };
  }
}
