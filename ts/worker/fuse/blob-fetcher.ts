// How a missing blob reaches the disk cache: the BlobFetcher contract, an adapter for
// FileserverClient, and the retry policy (bounded attempts, exponential backoff, one
// overall deadline). Deliberately does not: hash (the fetcher must verify and rename
// only on match, as FileserverClient.fetchBlobToFile does), cache, or touch the mount.
import { stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FileserverClient } from '../../common/fileserver-client.js';
import { BlobFetchError } from './errors.js';

export interface BlobFetcher {
  /**
   * Put the blob's bytes at destPath, atomically (temp file + rename) and only if they
   * hash to `hash`; on failure nothing may appear at destPath. Must honour `signal`.
   */
  fetch(hash: string, size: number, destPath: string, signal: AbortSignal): Promise<void>;
}

/** The production fetcher: the fileserver's GET /v1/blobs/:hash over pooled HTTPS. */
export class FileserverBlobFetcher implements BlobFetcher {
  constructor(private readonly client: FileserverClient) {}
  async fetch(hash: string, size: number, destPath: string, signal: AbortSignal): Promise<void> {
    await this.client.fetchBlobToFile(hash, destPath, { signal, expectedSize: size });
  }
}

export interface RetryPolicy {
  /** Attempts after the first one. */
  retries: number;
  /** Overall deadline for all attempts, from the first byte asked. */
  timeoutMs: number;
  /** Cancels everything (unmount). */
  signal?: AbortSignal;
}

const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 2000;

/**
 * Fetch with retries until the deadline; resolves when destPath holds `size` bytes.
 * Each attempt may use at most half the overall deadline, so one server that accepts
 * and never answers still leaves time for another attempt.
 */
export async function fetchWithRetry(fetcher: BlobFetcher, hash: string, size: number, destPath: string, policy: RetryPolicy): Promise<void> {
  // A ref'd timer (AbortSignal.timeout's is not): a pending fetch keeps the process alive.
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(new Error('deadline passed')), policy.timeoutMs);
  try {
    await fetchUntil(fetcher, hash, size, destPath, policy, policy.signal ? AbortSignal.any([deadline.signal, policy.signal]) : deadline.signal);
  } finally {
    clearTimeout(timer);
  }
}

async function fetchUntil(fetcher: BlobFetcher, hash: string, size: number, destPath: string, policy: RetryPolicy, overall: AbortSignal): Promise<void> {
  const started = Date.now();
  let lastError: unknown;
  for (let attempt = 0; attempt <= policy.retries; attempt++) {
    // Another miss may have fetched it already (a race between an open and blobReady).
    if (await hasSize(destPath, size)) return;
    if (overall.aborted) break;
    const remaining = policy.timeoutMs - (Date.now() - started);
    const perAttempt = Math.max(1, Math.min(remaining, Math.ceil(policy.timeoutMs / 2)));
    try {
      const attemptSignal = AbortSignal.any([overall, AbortSignal.timeout(perAttempt)]);
      // The bound holds even for a fetcher that ignores its signal.
      await Promise.race([fetcher.fetch(hash, size, destPath, attemptSignal), rejectOnAbort(attemptSignal)]);
      if (await hasSize(destPath, size)) return;
      lastError = new Error(`fetcher resolved but ${destPath} does not hold ${size} bytes`);
    } catch (err) {
      lastError = err;
    }
    if (attempt === policy.retries || overall.aborted) break;
    const backoff = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** attempt) * (0.5 + Math.random() / 2);
    try { await sleep(backoff, undefined, { signal: overall }); } catch { break; }
  }
  const why = overall.aborted && !lastError ? 'deadline passed' : describe(lastError);
  throw new BlobFetchError(hash, `cannot fetch blob ${hash} (${size} bytes) within ${policy.timeoutMs} ms: ${why}`, { cause: lastError });
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
