// Who is calling the worker: the worker asks the fileserver (GET /v1/whoami with the
// caller's own token) and remembers the answer briefly, keyed by the token's hash, so a
// burst of runs costs one round trip and a revoked token stops working within the TTL.
// While the fileserver is unreachable, a token this worker validated within the last
// hour is still accepted, so runs of cached images go on through an outage.
//
// Unknown tokens must not turn the worker into a free amplifier against the fileserver:
// concurrent requests with one token share one round trip; a refusal is remembered for
// a few seconds (so a user who just got a token waits at most that long); and each client
// address has a small token bucket of lookups that end in a refusal: when it is empty,
// a token the worker does not know is refused with 429 without asking the fileserver.
// Known tokens are never limited; a token that proves valid gives its lookup back.
// Deliberately does not: store tokens (only their SHA-256 is kept in memory).
import { AuthError, RateLimitError, RemoteError, UnreachableError } from '../common/errors.js';
import { FileserverClient, type FileserverClientOptions } from '../common/fileserver-client.js';
import { sha256 } from '../common/hash.js';
import type { WorkerUser } from './images/provider.js';

export interface Authenticator {
  /** The user of `token`, or AuthError; `client` (an address) for rate limiting. */
  authenticate(token: string | undefined, client?: string): Promise<WorkerUser>;
}

const TTL_MS = 30_000;
/** How old a validation may be to stand in while the fileserver is unreachable. */
export const OUTAGE_GRACE_MS = 60 * 60_000;
const MAX_ENTRIES = 10_000;

export interface AuthLimits {
  /** How long a refused token is refused without asking again. */
  refusalTtlMs: number;
  /** Lookups of unknown tokens a client address may fail in a burst… */
  burst: number;
  /** …and how many it gets back per second. */
  perSecond: number;
}
export const DEFAULT_AUTH_LIMITS: AuthLimits = { refusalTtlMs: 5_000, burst: 20, perSecond: 1 };

interface Known { user: string; role: string; expires: number; validatedAt: number }

export class FileserverAuthenticator implements Authenticator {
  private readonly cache = new Map<string, Known>();
  private readonly refused = new Map<string, number>();
  private readonly pending = new Map<string, Promise<Known>>();
  private readonly buckets: TokenBuckets;
  private readonly limits: AuthLimits;

  constructor(private readonly fileserver: Pick<FileserverClientOptions, 'url' | 'caFile' | 'pool'>, limits: Partial<AuthLimits> = {}) {
    this.limits = { ...DEFAULT_AUTH_LIMITS, ...limits };
    this.buckets = new TokenBuckets(this.limits.burst, this.limits.perSecond);
  }

  async authenticate(token: string | undefined, client = '-'): Promise<WorkerUser> {
    if (!token) throw new AuthError('missing bearer token');
    const key = sha256(token);
    const hit = this.cache.get(key);
    if (hit && hit.expires > Date.now()) return { name: hit.user, role: hit.role, token };
    if ((this.refused.get(key) ?? 0) > Date.now()) throw refusal();
    let lookup = this.pending.get(key);
    if (!lookup) {
      if (!hit && !this.buckets.take(client)) {
        throw new RateLimitError(`too many unknown tokens from ${client}: try again in a few seconds`);
      }
      lookup = this.lookup(token, key, hit, client).finally(() => this.pending.delete(key));
      this.pending.set(key, lookup);
    }
    const who = await lookup;
    return { name: who.user, role: who.role, token };
  }

  private async lookup(token: string, key: string, hit: Known | undefined, client: string): Promise<Known> {
    const fsClient = new FileserverClient({ ...this.fileserver, token });
    try {
      const who = await fsClient.whoami();
      this.buckets.giveBack(client);
      const known = { ...who, expires: Date.now() + TTL_MS, validatedAt: Date.now() };
      setBounded(this.cache, key, known);
      return known;
    } catch (err) {
      if (err instanceof RemoteError && err.status === 401) {
        this.cache.delete(key);
        setBounded(this.refused, key, Date.now() + this.limits.refusalTtlMs);
        throw refusal();
      }
      if (err instanceof UnreachableError && hit && Date.now() - hit.validatedAt < OUTAGE_GRACE_MS) return hit;
      throw err;
    } finally {
      await fsClient.close();
    }
  }
}

function refusal(): AuthError {
  return new AuthError('invalid token (the fileserver does not know it)');
}

/** A bounded map: full, it starts over (a flood of new keys must not grow memory). */
function setBounded<V>(map: Map<string, V>, key: string, value: V): void {
  if (map.size >= MAX_ENTRIES && !map.has(key)) map.clear();
  map.set(key, value);
}

/** One token bucket per client address, at most MAX_ENTRIES of them (a full set starts over). */
class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(private readonly burst: number, private readonly perSecond: number) {}

  take(client: string): boolean {
    const now = Date.now();
    const b = this.buckets.get(client) ?? { tokens: this.burst, at: now };
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond);
    b.at = now;
    setBounded(this.buckets, client, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  giveBack(client: string): void {
    const b = this.buckets.get(client);
    if (b) b.tokens = Math.min(this.burst, b.tokens + 1);
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
