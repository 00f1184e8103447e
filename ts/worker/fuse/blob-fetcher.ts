// How a missing blob reaches the disk cache: the BlobFetcher contract, an adapter for
// FileserverClient, and the retry policy: attempts go on with capped exponential backoff
// until either the overall deadline passes or the maximum number of attempts is used, so
// a short outage (a fileserver restart) is ridden out while a dead server still gives the
// reader EIO within the deadline. Wrong bytes (hash or size mismatch) and refusals (4xx)
// are not retried: the same server would answer the same. Every failed attempt is told
// to an observer with its kind (metrics, log).
// Deliberately does not: hash (the fetcher must verify and rename only on match, as
// FileserverClient.fetchBlobToFile does), cache, log, or touch the mount.
import { stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { SizeMismatchError, type FileserverClient } from '../../common/fileserver-client.js';
import { HashMismatchError, RemoteError } from '../../common/errors.js';
import { BlobFetchError } from './errors.js';

export interface BlobFetcher {
  /**
   * Put the blob's bytes at destPath, atomically (temp file + rename) and only if they
   * hash to `hash`; on failure nothing may appear at destPath. Must honour `signal`.
   */
  fetch(hash: string, size: number, destPath: string, signal: AbortSignal): Promise<void>;
}

/**
 * The production fetcher: the fileserver's GET /v1/blobs/:hash over pooled HTTPS, taking
 * its gzip copy when it has one (acceptGzip, default on: fewer bytes on the link).
 */
export class FileserverBlobFetcher implements BlobFetcher {
  constructor(private readonly client: FileserverClient, private readonly opts: { acceptGzip?: boolean } = {}) {}
  async fetch(hash: string, size: number, destPath: string, signal: AbortSignal): Promise<void> {
    await this.client.fetchBlobToFile(hash, destPath, { signal, expectedSize: size, acceptGzip: this.opts.acceptGzip ?? true });
  }
}

/**
 * Why an attempt failed:
 * - integrity: the server sent bytes that do not hash to the name (or not the size the
 *   manifest says): a corrupt store or something impersonating it; never retried.
 * - rejected: the server refused this blob (4xx other than 408/429); never retried.
 * - unavailable: refused or reset connection, timeout, 5xx; retried until the deadline.
 */
export type FetchFailureKind = 'integrity' | 'rejected' | 'unavailable';

export interface FetchObserver {
  /** One failed attempt; `willRetry` says whether another attempt follows. */
  attemptFailed(hash: string, kind: FetchFailureKind, err: unknown, willRetry: boolean): void;
}

export interface RetryPolicy {
  /** Attempts after the first one (the bound on attempts; the deadline usually ends them first). */
  retries: number;
  /** Overall deadline for all attempts, from the first byte asked. */
  timeoutMs: number;
  /** Cancels everything (unmount). */
  signal?: AbortSignal;
  /** Told about every failed attempt; must not throw (errors are swallowed). */
  observer?: FetchObserver;
}

/**
 * The worker's defaults: a reader gets EIO at most 8 s after its open (inside the
 * documented 10 s for a refusing fileserver, 15 s for one that never answers: each attempt
 * may use half the deadline); up to 20 retries, 1 s apart at most, ride out a restart.
 */
export const DEFAULT_RETRY_POLICY = { retries: 20, timeoutMs: 8000 } as const;

/**
 * The deadline grows with the blob: a slowest acceptable transfer rate of 10 MB/s adds
 * 100 ms per MB (a 1 GiB blob gets 107 s more, to each attempt and to the whole), so a
 * big file on a slow link is not cut off while its bytes are still arriving. Small blobs,
 * and so the EIO bounds of a fileserver that refuses or never answers, are unchanged.
 */
const SLOWEST_TRANSFER_BYTES_PER_MS = 10_000;

export function transferAllowanceMs(size: number): number {
  return Math.ceil(Math.max(0, size) / SLOWEST_TRANSFER_BYTES_PER_MS);
}

const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 1000;
/** How long aborted attempts may take to remove their temp files before the failure is reported. */
const ABORT_CLEANUP_GRACE_MS = 1000;

export function classifyFetchFailure(err: unknown): FetchFailureKind {
  if (err instanceof HashMismatchError || err instanceof SizeMismatchError) return 'integrity';
  if (err instanceof RemoteError && err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429) return 'rejected';
  return 'unavailable';
}

/**
 * Fetch with retries until the deadline; resolves when destPath holds `size` bytes.
 * Each attempt may use at most half the policy's deadline (plus the blob's transfer
 * allowance), so one server that accepts and never answers still leaves time for
 * another attempt.
 */
export async function fetchWithRetry(fetcher: BlobFetcher, hash: string, size: number, destPath: string, given: RetryPolicy): Promise<void> {
  const allowance = transferAllowanceMs(size);
  const policy = { ...given, timeoutMs: given.timeoutMs + allowance, attemptMs: Math.ceil(given.timeoutMs / 2) + allowance };
  // A ref'd timer (AbortSignal.timeout's is not): a pending fetch keeps the process alive.
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new Error('deadline passed')), policy.timeoutMs);
  try {
    await fetchUntil(fetcher, hash, size, destPath, policy, policy.signal ? AbortSignal.any([deadline.signal, policy.signal]) : deadline.signal);
  } finally {
    clearTimeout(timer);
  }
}

async function fetchUntil(fetcher: BlobFetcher, hash: string, size: number, destPath: string, policy: RetryPolicy & { attemptMs: number }, overall: AbortSignal): Promise<void> {
  const started = Date.now();
  let lastError: unknown;
  const attempts: Promise<void>[] = [];
  for (let attempt = 0; attempt <= policy.retries; attempt++) {
    // Another miss may have fetched it already (a race between an open and blobReady).
    if (await hasSize(destPath, size)) return;
    if (overall.aborted) break;
    const remaining = policy.timeoutMs - (Date.now() - started);
    const perAttempt = Math.max(1, Math.min(remaining, policy.attemptMs));
    try {
      const attemptSignal = AbortSignal.any([overall, AbortSignal.timeout(perAttempt)]);
      const fetching = fetcher.fetch(hash, size, destPath, attemptSignal);
      attempts.push(fetching);
      // The bound holds even for a fetcher that ignores its signal.
      await Promise.race([fetching, rejectOnAbort(attemptSignal)]);
      if (await hasSize(destPath, size)) return;
      lastError = new Error(`fetcher resolved but ${destPath} does not hold ${size} bytes`);
    } catch (err) {
      lastError = err;
    }
    const kind = classifyFetchFailure(lastError);
    const backoff = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** attempt) * (0.5 + Math.random() / 2);
    // No retry that the deadline would cut off before it starts: it would be counted, not made.
    const timeLeft = policy.timeoutMs - (Date.now() - started);
    const willRetry = kind === 'unavailable' && attempt < policy.retries && !overall.aborted && timeLeft > backoff;
    try { policy.observer?.attemptFailed(hash, kind, lastError, willRetry); } catch { /* an observer must not break fetching */ }
    if (!willRetry) break;
    try { await sleep(backoff, undefined, { signal: overall }); } catch { break; }
  }
  // An aborted fetch removes its temp file as it unwinds: let the attempts finish (briefly)
  // before the reader hears EIO, so a failure never leaves a temp file behind.
  await settledWithin(Promise.allSettled(attempts), ABORT_CLEANUP_GRACE_MS);
  const why = overall.aborted && !lastError ? 'deadline passed' : describe(lastError);
  const kind = lastError ? classifyFetchFailure(lastError) : 'unavailable';
  throw new BlobFetchError(hash, `cannot fetch blob ${hash} (${size} bytes) within ${policy.timeoutMs} ms: ${why}`, { cause: lastError, kind });
}

/** Resolves when `p` settles or after `ms`, whichever is first; never rejects. */
async function settledWithin(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => { timer = setTimeout(resolve, ms); });
  try { await Promise.race([p.then(() => {}, () => {}), late]); } finally { clearTimeout(timer); }
}

function rejectOnAbort(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    const fail = () => reject(new Error(signal.reason instanceof Error ? signal.reason.message : 'aborted'));
    if (signal.aborted) fail();
    else signal.addEventListener('abort', fail, { once: true });
  });
}

async function hasSize(path: string, size: number): Promise<boolean> {
  try { return (await stat(path)).size === size; } catch { return false; }
}

function describe(err: unknown): string {
  if (err instanceof Error) return (err as NodeJS.ErrnoException).code ? `${(err as NodeJS.ErrnoException).code}: ${err.message}` : err.message;
  return String(err);
}
