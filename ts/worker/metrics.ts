// The worker's Prometheus metrics (prom-client), on a Registry of its own so nothing else
// in the process (or a second worker in a test) mixes into it.
//
// Two sources, two metric families, on purpose:
// - sway_worker_runs_total / _run_duration_seconds / _run_cache_* come from recordRun(),
//   i.e. the figures each finished run carries into the run log. Concurrent runs of one
//   image share its counters, so these attribute reads to runs, not count them once.
// - sway_worker_fuse_* are the filesystem's own lifetime totals, read at scrape time from
//   a callback the worker registers (onCollect), so they count every read exactly once.
// - sway_worker_blob_* count the fetcher's failed attempts as they happen (recordFetchAttempt
//   Failure, recordFetchGaveUp): integrity failures (wrong bytes) apart from every
//   other failure, retries, and fetches that ended in EIO, by the kind of their last error.
// Deliberately does not: serve HTTP (dashboard/routes.ts serves /metrics) or know the FUSE
// addon (the callback is given).
import { Registry, Counter, Histogram, collectDefaultMetrics } from 'prom-client';
import type { CacheCounters } from './images/provider.js';
import type { RunRecord, RunState } from './run-log.js';
import type { FetchFailureKind } from './fuse/blob-fetcher.js';

export const METRICS_PREFIX = 'sway_worker_';

/** What recordRun needs of a finished run: a RunRecord fits. */
export type RunFigures = Pick<RunRecord, 'durationMs' | 'memoryHits' | 'diskHits' | 'serverFetches' | 'bytesFetched'>
  & { state: RunState; eios?: number };

/** Live totals of the filesystem; the same shape the image provider reports. */
export type LiveCounters = CacheCounters;
export type LiveCountersSource = () => LiveCounters | Promise<LiveCounters>;

const CACHE_LEVELS = ['memory', 'disk', 'server'] as const;
const FETCH_FAILURE_KINDS: readonly FetchFailureKind[] = ['integrity', 'rejected', 'unavailable'];

export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly runs: Counter<'state'>;
  private readonly duration: Histogram<'state'>;
  private readonly runCacheHits: Counter<'level'>;
  private readonly runBytes: Counter;
  private readonly runEios: Counter;
  private readonly liveSources: LiveCountersSource[] = [];
  private readonly integrityFailures: Counter;
  private readonly fetchAttemptFailures: Counter<'kind'>;
  private readonly fetchRetries: Counter;
  private readonly fetchGaveUp: Counter<'kind'>;

  constructor(opts: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.runs = new Counter({ name: `${METRICS_PREFIX}runs_total`, help: 'Runs finished, by final state', labelNames: ['state'], registers });
    this.duration = new Histogram({
      name: `${METRICS_PREFIX}run_duration_seconds`, help: 'Wall-clock duration of finished runs', labelNames: ['state'], registers,
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
    });
    this.runCacheHits = new Counter({ name: `${METRICS_PREFIX}run_cache_hits_total`, help: 'File reads of finished runs, by where the bytes came from (memory, disk, server)', labelNames: ['level'], registers });
    this.runBytes = new Counter({ name: `${METRICS_PREFIX}run_bytes_fetched_total`, help: 'Bytes fetched from the fileserver during finished runs', registers });
    this.runEios = new Counter({ name: `${METRICS_PREFIX}run_eios_total`, help: 'Reads answered EIO during finished runs', registers });
    this.integrityFailures = new Counter({ name: `${METRICS_PREFIX}blob_integrity_failures_total`, help: 'Blob fetch attempts whose bytes did not match their hash (or size): nothing was cached', registers });
    this.fetchAttemptFailures = new Counter({ name: `${METRICS_PREFIX}blob_fetch_attempt_failures_total`, help: 'Failed blob fetch attempts, by kind (integrity, rejected, unavailable)', labelNames: ['kind'], registers });
    this.fetchRetries = new Counter({ name: `${METRICS_PREFIX}blob_fetch_retries_total`, help: 'Blob fetch attempts retried after an unavailable fileserver', registers });
    this.fetchGaveUp = new Counter({ name: `${METRICS_PREFIX}blob_fetch_failures_total`, help: 'Blob fetches given up (the reader got EIO), by the kind of the last failure', labelNames: ['kind'], registers });

    // Lifetime totals of the filesystem, read at scrape time: reset then add the summed value,
    // the way prom-client lets a counter mirror an external monotonic figure.
    const sum = async (): Promise<LiveCounters> => {
      const total: LiveCounters = { memoryHits: 0, diskHits: 0, serverFetches: 0, bytesFetched: 0, eios: 0 };
      for (const source of this.liveSources) {
        const c = await source();
        for (const k of Object.keys(total) as (keyof LiveCounters)[]) total[k] += c[k] ?? 0;
      }
      return total;
    };
    new Counter({
      name: `${METRICS_PREFIX}fuse_hits_total`, help: 'Filesystem reads since the worker started, by where the bytes came from', labelNames: ['level'], registers,
      async collect() {
        const t = await sum();
        this.reset();
        this.labels({ level: 'memory' }).inc(t.memoryHits);
        this.labels({ level: 'disk' }).inc(t.diskHits);
        this.labels({ level: 'server' }).inc(t.serverFetches);
      },
    });
    new Counter({
      name: `${METRICS_PREFIX}fuse_bytes_fetched_total`, help: 'Bytes the filesystem fetched from the fileserver since the worker started', registers,
      async collect() { const t = await sum(); this.reset(); this.inc(t.bytesFetched); },
    });
    new Counter({
      name: `${METRICS_PREFIX}fuse_eios_total`, help: 'Filesystem reads answered EIO since the worker started', registers,
      async collect() { const t = await sum(); this.reset(); this.inc(t.eios); },
    });

    // Zero series exist before the first run, so dashboards and rate() see them at once.
    for (const level of CACHE_LEVELS) this.runCacheHits.labels({ level }).inc(0);
    for (const kind of FETCH_FAILURE_KINDS) { this.fetchAttemptFailures.labels({ kind }).inc(0); this.fetchGaveUp.labels({ kind }).inc(0); }
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: METRICS_PREFIX });
  }

  /** Count one finished run (call once per run, with the figures written to the run log). */
  recordRun(run: RunFigures): void {
    this.runs.labels({ state: run.state }).inc();
    if (run.durationMs !== null && run.durationMs >= 0) this.duration.labels({ state: run.state }).observe(run.durationMs / 1000);
    this.runCacheHits.labels({ level: 'memory' }).inc(nonNegative(run.memoryHits));
    this.runCacheHits.labels({ level: 'disk' }).inc(nonNegative(run.diskHits));
    this.runCacheHits.labels({ level: 'server' }).inc(nonNegative(run.serverFetches));
    this.runBytes.inc(nonNegative(run.bytesFetched));
    this.runEios.inc(nonNegative(run.eios ?? 0));
  }

  /** One failed fetch attempt (from the fetcher's observer). */
  recordFetchAttemptFailure(kind: FetchFailureKind, willRetry: boolean): void {
    this.fetchAttemptFailures.labels({ kind }).inc();
    if (kind === 'integrity') this.integrityFailures.inc();
    if (willRetry) this.fetchRetries.inc();
  }

  /** One fetch given up: the reader got EIO. */
  recordFetchGaveUp(kind: FetchFailureKind): void {
    this.fetchGaveUp.labels({ kind }).inc();
  }

  /** Add a source of live filesystem totals (e.g. the FUSE addon's counters); sources are summed. */
  onCollect(source: LiveCountersSource): void {
    this.liveSources.push(source);
  }

  /** The Prometheus text exposition of everything above. */
  metricsText(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

function nonNegative(n: number): number {
  return Number.isFinite(n) && n > 0 ? n : 0;
}
